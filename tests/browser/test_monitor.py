"""TrainingMonitor in JupyterLab: a training on the embedded simulator watched to completion (chart
drawn, hover tooltip), then a long one cancelled with the button and confirmed by the server."""

from __future__ import annotations

from typing import Any

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
import numpy as np, pandas as pd
from qwidgets.client import AsyncQcogClient
from qwidgets.widgets import TrainingMonitor

def frame(rows, seed=7):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df

GRAD = {"optimization_method": "GRAD", "iterations": 2, "learning_rate": 0.1}
client = await AsyncQcogClient.create()
client.pauli(["x", "y", "z"], qbits=2, pauli_weight=2)
await client.data(frame(600))
await client.train(100, 8, GRAD, {"state_method": "NP_EIGH"})
monitor = TrainingMonitor(client, title="first training")
monitor
"""

# Seconds per pass (a 32-dim Hilbert space, 2,000 rows): it runs until cancelled.
LONG = """
client2 = await AsyncQcogClient.create()
client2.pauli(["x", "y", "z"], qbits=5, pauli_weight=2)
await client2.data(frame(2000, seed=3))
await client2.train(250, 300, GRAD, {"state_method": "NP_EIGH"})
monitor2 = TrainingMonitor(client2, title="long training")
display(monitor2)
print("second training started")
"""

CANVAS_INK = """(canvas) => {
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink++;
  return {ink, width: canvas.width, height: canvas.height, css: canvas.clientWidth};
}"""


def badge(page: Any, index: int) -> Any:
    return page.locator(".qw-monitor").nth(index).locator(".qw-badge")


def test_monitor_completes_draws_and_cancels(lab: Lab, page: Any) -> None:
    url = lab.notebook("monitor.ipynb", [SETUP])
    open_and_run(page, url)
    first = page.locator(".qw-monitor").first
    first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('.qw-monitor .qw-badge')?.textContent === 'completed'",
        timeout=60_000)
    assert first.get_by_role("progressbar", name="Training").get_attribute("aria-valuenow") == "100"
    canvas = first.locator("canvas.qw-chart-canvas")
    page.wait_for_function(
        "() => /48 points per batch/.test(document.querySelector('.qw-monitor canvas')"
        ".getAttribute('aria-label'))", timeout=10_000)
    page.wait_for_timeout(200)  # the redraw runs on the next animation frame
    ink = canvas.evaluate(CANVAS_INK)
    assert ink["width"] >= ink["css"] > 100  # backing store sized for devicePixelRatio
    assert ink["ink"] > 2_000, ink  # axes, ticks, line and pass points were drawn
    assert "48 values" in first.locator(".qw-points").inner_text()

    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tooltip = first.locator(".qw-tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert "loss" in tooltip.inner_text()
    assert "batch" in tooltip.inner_text()
    canvas.focus()
    page.keyboard.press("End")  # the keyboard reaches every point too
    page.wait_for_function(
        "() => document.querySelector('.qw-monitor .qw-tooltip').textContent.startsWith('batch 47')",
        timeout=5_000)
    assert first.locator("button.qw-cancel").is_disabled()
    assert "status: completed" in first.locator(".qw-log").inner_text()
    screenshot(page, "monitor_completed")

    run_cell_text(page, LONG, "second training started", timeout_ms=60_000)
    second = page.locator(".qw-monitor").nth(1)
    second.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-monitor .qw-badge')[1]?.textContent === 'processing'",
        timeout=60_000)
    cancel = second.get_by_role("button", name="Cancel the training on the server")
    cancel.wait_for(timeout=10_000)
    page.wait_for_function(
        "() => !document.querySelectorAll('.qw-monitor button.qw-cancel')[1].disabled", timeout=10_000)
    cancel.click()
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-monitor .qw-badge')[1]?.textContent === 'cancelled'",
        timeout=60_000)
    assert "cancel requested" in second.locator(".qw-log").inner_text()
    assert badge(page, 0).inner_text() == "completed"
    screenshot(page, "monitor_cancelled")
    # the kernel side: the server itself reports the training cancelled
    run_cell_text(page, "print('server says', await client2.status(), monitor2.status)",
                  "server says cancelled cancelled", timeout_ms=30_000)


def test_exported_monitor_renders_and_hovers_without_a_kernel(page: Any, tmp_path: Any) -> None:
    import numpy as np

    from qwidgets.widgets import TrainingMonitor

    monitor = TrainingMonitor(title="exported")
    for values in np.split(np.linspace(1.0, 0.1, 60_000) + 0.05 * np.sin(np.arange(60_000)), 6):
        monitor.push(values)
        monitor.end_pass()
    monitor.update(status="completed", training_completion=100.0, num_passes=6,
                   num_batches=10_000,
                   state_warning="LOBPCG_FAST stopped at its iteration budget for 3% of rows")
    monitor.finish()
    path = monitor.save_html(tmp_path / "monitor.html")
    page.goto(path.as_uri())
    page.wait_for_selector("[data-qw-rendered='true'] .qw-monitor", timeout=10_000)
    panel = page.locator(".qw-monitor")
    assert panel.locator(".qw-badge").inner_text() == "completed"
    assert panel.locator("button.qw-cancel").is_hidden()  # nothing to cancel without a kernel
    assert "60 000 values, 4 000 drawn" in panel.locator(".qw-points").inner_text()
    warning = panel.get_by_role("status", name="solver warning")
    assert warning.inner_text() == "Warning: LOBPCG_FAST stopped at its iteration budget for 3% of rows"
    assert "warning: LOBPCG_FAST" in panel.locator(".qw-log").inner_text()
    canvas = panel.locator("canvas")
    page.wait_for_timeout(200)
    assert canvas.evaluate(CANVAS_INK)["ink"] > 2_000
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    tooltip = panel.locator(".qw-tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert tooltip.inner_text().startswith("batch ")
    screenshot(page, "monitor_exported")
