"""JobTimeline against the real simulator on loopback: a job followed to its end by one polling
task, Cancel from the browser cancelling on the server, updates throttled at the comm, the
static form of the last state, and no secret in the widget's state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from qwidgets.client import AsyncJobsClient, JobInfo, RetryPolicy
from qwidgets.client.braket.hybrid_jobs import JobEvent, QueuePosition
from qwidgets.sim import SimServer
from qwidgets.widgets.timeline import JobTimeline, _merge
from tests.widget_support import Wire, until

TRAIN = "qwidgets.sim.braket.programs.train:main"
LONG = {"qbits": 5, "num_passes": 5000, "rows": 2000, "batch_size": 250}


@pytest.fixture
async def jobs(server: SimServer) -> AsyncIterator[AsyncJobsClient]:
    client = AsyncJobsClient(server.url, server.token,
                             retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
    yield client
    await client.close()


async def test_the_timeline_follows_a_job_to_its_end(jobs: AsyncJobsClient) -> None:
    arn = await jobs.create_job(entry_point=TRAIN, hyperparameters={"num_passes": 3})
    timeline = JobTimeline(arn, client=jobs, min_interval=0.05)
    assert timeline.task is not None  # one polling task on this loop
    await asyncio.wait_for(timeline.task, 60)
    assert timeline.status == "COMPLETED"
    assert [e["type"] for e in timeline.events] == [
        "QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
        "UPLOADING_RESULTS", "COMPLETED"]
    assert timeline.polling is False
    assert timeline.job_name.startswith("train-")
    assert timeline.device.endswith("/sv1")
    assert timeline.ended_at is not None
    assert timeline.created_at is not None
    assert timeline.ended_at >= timeline.created_at
    assert "COMPLETED status" in timeline.queue_message
    html = timeline.static_html()
    assert "COMPLETED" in html
    assert "UPLOADING_RESULTS" in html
    assert "final loss" in html  # the completion message the server wrote
    assert "COMPLETED (6 events" in timeline.static_text()


async def test_cancel_from_the_browser_cancels_on_the_server(jobs: AsyncJobsClient) -> None:
    arn = await jobs.create_job(entry_point=TRAIN, hyperparameters=LONG)
    timeline = JobTimeline(arn, client=jobs, min_interval=0.05, max_interval=0.2)
    wire = Wire(timeline)
    await until(lambda: timeline.status == "RUNNING", what="RUNNING")
    timeline._requests.receive({"id": "cancel-1", "kind": "cancel_job"}, [])
    await until(lambda: wire.replies(), what="the reply to cancel")
    reply = wire.replies()[0]
    assert reply["ok"] is True, reply
    assert reply["result"]["cancellationStatus"] == "CANCELLING"
    assert timeline.task is not None
    await asyncio.wait_for(timeline.task, 60)
    assert timeline.status == "CANCELLED"
    assert (await jobs.get_job(arn)).status == "CANCELLED"  # the server's truth
    assert timeline.events[-1]["type"] == "CANCELLED"
    # a second cancel is refused by the server, and the widget says so
    timeline._requests.receive({"id": "cancel-2", "kind": "cancel_job"}, [])
    await until(lambda: len(wire.replies()) == 2, what="the second reply")
    assert wire.replies()[1]["ok"] is False
    assert "already CANCELLED" in wire.replies()[1]["error"]


async def test_updates_are_throttled_and_the_last_state_is_sent(jobs: AsyncJobsClient) -> None:
    arn = await jobs.create_job(entry_point=TRAIN, hyperparameters=LONG)
    # polling as fast as the server answers: every poll changes updated_at
    timeline = JobTimeline(arn, client=jobs, min_interval=0.005, max_interval=0.005)
    wire = Wire(timeline)
    await asyncio.sleep(2.0)
    await jobs.cancel_job(arn)
    assert timeline.task is not None
    await asyncio.wait_for(timeline.task, 60)
    updates = wire.timed_updates()
    assert timeline.polls >= 40, timeline.polls
    times = [t for t, _ in updates]
    span = times[-1] - times[0]
    assert len(updates) <= 10 * span + 3, (len(updates), span)
    # the final state reached the browser
    last = {}
    for _, state in updates:
        last.update(state)
    assert last["status"] == "CANCELLED"
    assert last["polling"] is False


async def test_a_missing_job_says_so_and_stops(jobs: AsyncJobsClient) -> None:
    timeline = JobTimeline("arn:aws:braket:us-east-1:000000000000:job/missing", client=jobs)
    assert timeline.task is not None
    await asyncio.wait_for(timeline.task, 30)
    assert "not found" in timeline.error
    assert "polling stopped" in timeline.error
    assert timeline.polling is False


async def test_no_secret_in_the_widget_state(jobs: AsyncJobsClient, server: SimServer) -> None:
    arn = await jobs.create_job(entry_point=TRAIN)
    timeline = JobTimeline(arn, client=jobs, min_interval=0.05)
    assert timeline.task is not None
    await asyncio.wait_for(timeline.task, 60)
    state = str(timeline.get_state())
    assert server.token not in state
    assert server.token not in timeline.static_html()
    assert server.token not in repr(timeline)


def test_static_form_escapes_every_value() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    info = JobInfo(arn="arn:aws:braket:us-east-1:1:job/x", name=hostile, status="FAILED",
                   device="<b>dev</b>", events=(JobEvent("FAILED", 1_700_000_000.0, hostile),),
                   queue=QueuePosition(None, "<script>x</script>"), failure_reason=hostile,
                   created_at=1_700_000_000.0, started_at=None, ended_at=1_700_000_001.0)
    timeline = JobTimeline(info)
    assert timeline.task is None  # an ended job is not polled
    html = timeline.static_html()
    assert "<img" not in html
    assert "<script>" not in html
    assert "<b>dev" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_unknown_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="colour"):
        JobTimeline("arn:aws:braket:us-east-1:1:job/x", colour="red", autostart=False)
    with pytest.raises(ValueError, match="min_interval"):
        JobTimeline("arn:aws:braket:us-east-1:1:job/x", min_interval=0, autostart=False)


def test_events_beyond_the_latest_twenty_are_kept() -> None:
    seen = [{"type": "E", "time": float(i), "message": str(i)} for i in range(20)]
    latest = [{"type": "E", "time": float(i), "message": str(i)} for i in range(5, 25)]
    merged = _merge(seen, latest)
    assert [e["time"] for e in merged] == [float(i) for i in range(25)]
    assert _merge([], latest) == latest


async def test_a_job_watcher_grows_a_timeline_for_each_job(jobs: AsyncJobsClient) -> None:
    from qwidgets.widgets.watcher import JobWatcher

    watcher = JobWatcher()
    try:
        arn = await jobs.create_job(entry_point=TRAIN, hyperparameters={"num_passes": 2})
        assert len(watcher.views) == 1
        view = watcher.views[0]
        assert isinstance(view, JobTimeline)
        assert view.job_arn == arn
        assert view.task is not None
        await asyncio.wait_for(view.task, 60)
        assert view.status == "COMPLETED"
    finally:
        watcher.close()
