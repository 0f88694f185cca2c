"""The whole loop in JupyterLab: the dashboard trains on the embedded simulator, the monitor
reaches completed, the grid shows the forecast and sorts; the dashboard's export renders with
the network blocked. Then a second, long training is cancelled with the monitor's button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
import numpy as np, pandas as pd, qwidgets
rng = np.random.default_rng(5)
df = pd.DataFrame(rng.uniform(-1, 1, (300, 2)), columns=["x", "y"])
df["z"] = 0.7 * df.x - 0.2 * df.y
dash = qwidgets.dashboard(df)
dash.form.value = {"model": {"model_name": "pauli", "operators": ["x", "y", "z"],
                             "target_operators": ["z"]},
                   "batch_size": 100, "num_passes": 4}
dash
"""


def test_dashboard_trains_watches_browses_and_cancels(lab: Lab, page: Any, tmp_path: Path) -> None:
    open_and_run(page, lab.notebook("dashboard.ipynb", [SETUP]))
    form = page.locator(".qw-cf")
    form.wait_for(timeout=60_000)
    form.get_by_role("button", name="Train a model with these parameters").click()

    badge = page.locator(".qw-monitor .qw-badge")
    expect(badge).to_have_text("completed", timeout=90_000)
    grid = page.locator(".qw-grid").first
    grid.locator(".qw-grid-row:not(.qw-grid-loading)").first.wait_for(timeout=60_000)
    expect(grid).to_contain_text("z_actual")
    first_before = grid.locator(".qw-grid-row").first.inner_text()
    grid.get_by_role("button", name="Sort by z", exact=True).click()
    expect(grid.locator(".qw-grid-row").first).not_to_have_text(first_before, timeout=15_000)
    # the kernel agrees: the smallest forecast is at the top of the sorted view
    run_cell_text(page, "print('SORTED', dash.grid.sort_by, "
                  "round(float(dash.forecast['z'].min()), 3))", "SORTED z")
    screenshot(page, "dashboard_completed")

    # Export what is on screen and open it with every network request refused.
    export = tmp_path / "dashboard.html"
    run_cell_text(page, f"dash.save_html({str(export)!r}); print('EXPORTED')", "EXPORTED")
    offline = page.context.new_page()
    requests: list[str] = []

    def refuse_network(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()  # the page itself
            return
        requests.append(route.request.url)
        route.abort()

    offline.route("**/*", refuse_network)
    offline.goto(export.as_uri())
    offline.wait_for_selector("[data-qw-rendered='true'] .qw-grid-row", timeout=15_000)
    assert offline.locator("[data-qw-rendered='error']").count() == 0
    exported = offline.locator(".qw-grid").first
    top = exported.locator(".qw-grid-row").first.inner_text()
    exported.get_by_role("button", name="Sort by z", exact=True).click()
    expect(exported.locator(".qw-grid-row").first).not_to_have_text(top, timeout=10_000)
    expect(offline.locator(".qw-monitor .qw-badge")).to_have_text("completed")
    screenshot(offline, "dashboard_exported")
    assert requests == [], f"the exported page tried to fetch {requests}"
    offline.close()

    # A second, long training, cancelled from the monitor's button.
    run_cell_text(page, "big = pd.concat([df] * 40, ignore_index=True); dash.form.data = big; "
                  "dash.form.value = {**dash.form.value, 'num_passes': 400, 'batch_size': 50}; "
                  "print('READY', dash.form.status)", "READY")
    form.get_by_role("button", name="Train a model with these parameters").click()
    expect(badge).to_have_text("processing", timeout=60_000)
    page.locator(".qw-monitor button.qw-cancel").click()
    expect(badge).to_have_text("cancelled", timeout=60_000)
    run_cell_text(page, "print('SERVER', await dash.monitor.client.status())", "SERVER cancelled")
    screenshot(page, "dashboard_cancelled")
    # The forecast of the earlier model went with the new Train: none on screen, none kept.
    run_cell_text(page, "print('STALE', dash.forecast is None)", "STALE True")
