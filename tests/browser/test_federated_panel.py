"""FederatedPanel in JupyterLab: a simulated federation on the embedded simulator watched live
(clients, rounds table, score curve), driven from the keyboard (Live off, Refresh) and with the
mouse (Aggregate now on a stalled round), then the exported page rendered without a kernel."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
import asyncio
from qwidgets.client import AsyncFederatedClient, simulate_clients
from qwidgets.widgets import FederatedPanel

fed = await AsyncFederatedClient.create()
model = await fed.create_model("browser-demo", aggregation="fedavg", score_key="r2",
                               initial_artifact={"w": [0.0, 0.0, 0.0], "b": 0.0})
panel = FederatedPanel(model["id"], client=fed, interval=0.2)
panel.start()
simulation = asyncio.ensure_future(
    simulate_clients(fed, model["id"], clients=3, rounds=6, delay=0.4))
panel
"""

STALL = """
late = fed.web_client(model["id"])
await late.register()
await late.send_update({"w": [0.0, 0.0, 0.0], "b": 0.0}, num_samples=5)
await panel.refresh()
print("late update sent", (await simulation).r2[-1] > 0.9)
"""

ROWS = "(n) => document.querySelectorAll('.qw-fed .qw-aggregates tbody tr').length === n"


def test_panel_follows_a_federation(lab: Lab, page: Any) -> None:
    url = lab.notebook("federated.ipynb", [SETUP])
    open_and_run(page, url)
    panel = page.locator(".qw-fed").first
    panel.wait_for(timeout=60_000)
    page.wait_for_function(ROWS, arg=6, timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.qw-fed .qw-chart-title').textContent.includes(':')",
        timeout=30_000)
    first_row = panel.locator(".qw-aggregates tbody tr").first
    assert first_row.locator("td").first.inner_text() == "6"  # latest first
    assert panel.locator(".qw-clients tbody tr").count() == 3
    # six scored versions, one line; a version's score can land a poll after its row
    page.wait_for_function(
        "() => (document.querySelector('.qw-fed svg.qw-chart path.qw-line')"
        "?.getAttribute('d') ?? '').split('L').length - 1 >= 5", timeout=30_000)
    label = panel.locator("svg.qw-chart").get_attribute("aria-label")
    assert "latest" in label
    assert "version 6" in label
    assert "Round 7" in panel.locator(".qw-round").inner_text()
    assert panel.locator(".qw-badge").inner_text() == "live"
    screenshot(page, "federated_panel_live")

    live = panel.get_by_role("button", name="Poll the service live")
    assert live.get_attribute("aria-pressed") == "true"
    live.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.qw-fed .qw-badge').textContent === 'stopped'",
        timeout=15_000)
    assert live.get_attribute("aria-pressed") == "false"

    run_cell_text(page, STALL, "late update sent True", timeout_ms=60_000)
    page.wait_for_function(
        "() => /1 update pending, 1 of 4 clients sent/.test("
        "document.querySelector('.qw-fed .qw-round').textContent)", timeout=15_000)
    refresh = panel.get_by_role("button", name="Refresh now")
    refresh.focus()
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.querySelector('.qw-fed .qw-refresh').disabled",
                           timeout=15_000)
    panel.get_by_role("button", name="Aggregate the pending updates now").click()
    page.wait_for_function(ROWS, arg=7, timeout=30_000)
    assert "manual" in first_row.inner_text()
    screenshot(page, "federated_panel_manual")
    run_cell_text(page, "print('kernel', panel.live, len(panel.aggregates_all), "
                  "panel.aggregates_all[-1]['trigger'])", "kernel False 7 manual",
                  timeout_ms=30_000)


def _finished_panel(tmp_path: Path) -> Any:
    """A panel with the last state of a real federation (built off the page's thread)."""
    from qwidgets.client import AsyncFederatedClient, simulate_clients
    from qwidgets.sim import start
    from qwidgets.widgets import FederatedPanel

    async def build() -> Any:
        with start(data_dir=tmp_path / "sim") as server:
            async with await AsyncFederatedClient.create(
                    token=server.token, hostname="127.0.0.1", port=server.port) as fed:
                report = await simulate_clients(fed, clients=3, rounds=5, delay=0.0)
                panel = FederatedPanel(report.federated_model_id, client=fed)
                await panel.refresh()
                return panel

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, build()).result(120)


def test_exported_panel_renders_without_a_kernel(page: Any, tmp_path: Path) -> None:
    panel = _finished_panel(tmp_path)
    path = panel.save_html(tmp_path / "federated.html")
    page.goto(path.as_uri())
    page.wait_for_selector("[data-qw-rendered='true'] .qw-fed", timeout=10_000)
    view = page.locator(".qw-fed")
    assert view.locator(".qw-aggregates tbody tr").count() == 5
    assert view.locator(".qw-clients tbody tr").count() == 3
    assert view.locator("svg.qw-chart circle").count() == 5
    for name in ("Poll the service live", "Refresh now", "Aggregate the pending updates now"):
        assert view.get_by_role("button", name=name).is_disabled()
    screenshot(page, "federated_panel_exported")
