"""DeviceQueueGauges in JupyterLab against the kernel's embedded simulator: cards with status,
type and gauges ('4000+' lower bounds), the "N more" cap, your queued task highlighted with a
marker, Pause/Refresh driving the kernel, and your cancel showing up live."""

from __future__ import annotations

from typing import Any

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
from qwidgets.client.braket.devices import AsyncDeviceClient
from qwidgets.widgets import DeviceQueueGauges
CEDAR = "arn:aws:braket:us-west-1::device/qpu/qwidgets/Cedar-8"
client = await AsyncDeviceClient.create()
task = await client.create_task(CEDAR, "OPENQASM 3.0; qubit q; h q;", shots=5)
gauges = DeviceQueueGauges(client=client, max_devices=5, poll_interval=1.0, track_tasks=[task])
gauges
"""


def card(page: Any, name: str) -> Any:
    return page.locator(".qw-gauges .qw-card").filter(has=page.locator(".qw-name", has_text=name))


def test_gauges_show_queues_and_your_task(lab: Lab, page: Any) -> None:
    url = lab.notebook("gauges.ipynb", [SETUP])
    open_and_run(page, url)
    root = page.locator(".qw-gauges").first
    root.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-gauges .qw-card').length === 5", timeout=30_000)
    assert root.locator(".qw-more").inner_text() == "2 more devices not shown"

    aurora = card(page, "Aurora-12")
    meter = aurora.get_by_role("meter", name="Aurora-12 tasks queue")
    assert meter.get_attribute("aria-valuetext") == "Tasks: more than 4000"
    assert aurora.locator(".qw-gauge[data-key='normal'] .qw-value").inner_text() == "4000+"
    assert aurora.locator(".qw-type").inner_text() == "QPU"
    assert aurora.locator(".qw-status").inner_text() == "ONLINE"

    cedar = card(page, "Cedar-8")
    assert cedar.get_attribute("data-mine") == ""
    mine = cedar.locator(".qw-mine li")
    mine.first.wait_for(timeout=20_000)
    assert "Your task" in mine.first.inner_text()
    assert "position" in mine.first.inner_text()
    assert cedar.locator(".qw-gauge[data-key='normal'] .qw-marker").count() == 1
    screenshot(page, "gauges")

    # Pause from the browser reaches the kernel; Resume and Refresh too
    pause = root.get_by_role("button", name="Pause or resume live polling")
    pause.click()
    assert pause.inner_text() == "Resume"
    run_cell_text(page, "print('paused is', gauges.paused)", "paused is True")
    pause.click()
    run_cell_text(page, "print('now paused', gauges.paused)", "now paused False")
    root.get_by_role("button", name="Read the queues now").click()
    page.wait_for_function(
        "() => /updated (just now|1 s ago)/.test(document.querySelector('.qw-gauges .qw-updated')"
        ".textContent)", timeout=10_000)

    # the keyboard reaches every card
    cedar.focus()
    assert page.evaluate("document.activeElement.classList.contains('qw-card')")

    # a cancel in the kernel shows on the highlighted row
    run_cell_text(page, "print('cancel:', await task.cancel())", "cancel: CANCELLING")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.qw-gauges .qw-mine li')]"
        ".some(li => /CANCELL/.test(li.textContent))", timeout=20_000)
    assert cedar.locator(".qw-marker").count() == 0
