"""JobTimeline in JupyterLab: a hybrid job on the embedded simulator followed to COMPLETED, then a
queued job's position and a running job cancelled from the keyboard, confirmed by the server;
and the exported page rendering the last state with no kernel."""

from __future__ import annotations

from typing import Any

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
from qwidgets.client import AsyncJobsClient
from qwidgets.widgets import JobTimeline
jobs = await AsyncJobsClient.create()
arn = await jobs.create_job(entry_point="qwidgets.sim.braket.programs.train:main", job_name="browser-quick",
                            hyperparameters={"num_passes": 3})
quick = JobTimeline(arn, client=jobs, min_interval=0.2)
quick
"""

# Seconds per pass (a 32-dim Hilbert space, 2,000 rows): runs until cancelled. SV1 runs one
# hybrid job at a time, so the second one waits in its queue.
QUEUE = """
LONG = {"qbits": 5, "num_passes": 5000, "rows": 2000, "batch_size": 250}
first = await jobs.create_job(entry_point="qwidgets.sim.braket.programs.train:main", job_name="browser-long",
                              hyperparameters=LONG)
second = await jobs.create_job(entry_point="qwidgets.sim.braket.programs.train:main", job_name="browser-next",
                               hyperparameters={"num_passes": 2})
long_view = JobTimeline(first, client=jobs, min_interval=0.2, max_interval=0.5)
next_view = JobTimeline(second, client=jobs, min_interval=0.2, max_interval=0.5)
display(long_view, next_view)
print("two jobs created")
"""


def state_of(page: Any, index: int) -> str:
    return str(page.locator(".qw-timeline .qw-tl-state").nth(index).inner_text())


def wait_state(page: Any, index: int, state: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        f"() => document.querySelectorAll('.qw-timeline .qw-tl-state')[{index}]?.textContent"
        f" === '{state}'", timeout=timeout_ms)


def test_timeline_follows_queues_and_cancels(lab: Lab, page: Any) -> None:
    url = lab.notebook("timeline.ipynb", [SETUP])
    open_and_run(page, url)
    quick = page.locator(".qw-timeline").first
    quick.wait_for(timeout=60_000)
    wait_state(page, 0, "COMPLETED")
    rows = quick.locator("tbody tr")
    assert rows.count() == 6
    assert rows.nth(0).locator("td").nth(1).inner_text() == "Queued"
    assert rows.nth(5).locator("td").nth(1).inner_text() == "Completed"
    assert "final loss" in rows.nth(5).inner_text()
    assert quick.locator(".qw-tl-bar .qw-tl-seg").count() == 6
    assert "running" in str(quick.locator(".qw-tl-bar").get_attribute("aria-label"))
    assert quick.get_by_role("button", name="Cancel the hybrid job on the server").is_disabled()
    assert "browser-quick" in quick.locator(".qw-title").inner_text()
    screenshot(page, "timeline_completed")

    run_cell_text(page, QUEUE, "two jobs created", timeout_ms=60_000)
    page.locator(".qw-timeline").nth(2).wait_for(timeout=30_000)
    long_view = page.locator(".qw-timeline").nth(1)
    next_view = page.locator(".qw-timeline").nth(2)
    wait_state(page, 1, "RUNNING")
    wait_state(page, 2, "QUEUED")
    page.wait_for_function(
        "() => /Queue position: 0/.test(document.querySelectorAll('.qw-timeline .qw-tl-queue')[2]"
        "?.textContent)", timeout=30_000)
    assert "approximate" in next_view.locator(".qw-tl-queue").inner_text()
    screenshot(page, "timeline_queued")
    cancel = long_view.get_by_role("button", name="Cancel the hybrid job on the server")
    page.wait_for_function(
        "() => !document.querySelectorAll('.qw-timeline button.qw-cancel')[1].disabled",
        timeout=10_000)
    cancel.focus()
    page.keyboard.press("Enter")  # the button works from the keyboard
    wait_state(page, 1, "CANCELLED")
    # the queue moved: the next job ran to its end
    wait_state(page, 2, "COMPLETED")
    assert long_view.locator("tbody tr").last.locator("td").nth(1).inner_text() == "Cancelled"
    assert state_of(page, 0) == "COMPLETED"
    screenshot(page, "timeline_cancelled")
    # the kernel side: the server itself reports the job cancelled
    run_cell_text(page, "print('server says', (await jobs.get_job(first)).status, long_view.status)",
                  "server says CANCELLED CANCELLED", timeout_ms=30_000)


def test_exported_timeline_renders_without_a_kernel(page: Any, tmp_path: Any) -> None:
    from qwidgets.client import JobInfo
    from qwidgets.client.braket.hybrid_jobs import JobEvent, QueuePosition
    from qwidgets.widgets import JobTimeline

    t0 = 1_700_000_000.0
    events = tuple(JobEvent(kind, t0 + dt, message) for kind, dt, message in (
        ("QUEUED_FOR_EXECUTION", 0, "queued"), ("STARTING_INSTANCE", 4, ""),
        ("DOWNLOADING_DATA", 5, ""), ("RUNNING", 6, "<b>not bold</b>"),
        ("MAX_RUNTIME_EXCEEDED", 66, "ran longer than 60 s")))
    info = JobInfo(arn="arn:aws:braket:us-east-1:000000000000:job/exported", name="exported",
                   status="FAILED", device="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
                   events=events, queue=QueuePosition(None, "Job is in FAILED status."),
                   failure_reason="ran longer than 60 s", created_at=t0, started_at=t0 + 4,
                   ended_at=t0 + 66)
    path = JobTimeline(info).save_html(tmp_path / "timeline.html")
    page.goto(path.as_uri())
    page.wait_for_selector("[data-qw-rendered='true'] .qw-timeline", timeout=10_000)
    panel = page.locator(".qw-timeline")
    assert panel.locator(".qw-tl-state").inner_text() == "FAILED"
    assert panel.locator("button.qw-cancel").is_hidden()  # nothing to cancel without a kernel
    assert panel.locator("tbody tr").count() == 5
    assert panel.locator("tbody tr").nth(3).locator("td").nth(2).inner_text() == "1 min 0 s"
    assert "<b>not bold</b>" in panel.locator("tbody tr").nth(3).inner_text()
    assert "ran longer than 60 s" in panel.locator(".qw-tl-failure").inner_text()
    assert "no kernel" in panel.locator(".qw-tl-foot").inner_text()
    screenshot(page, "timeline_exported")
