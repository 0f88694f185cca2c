"""AsyncJobsClient against the real simulator on loopback: local validation before any request,
the job's lifecycle, queue positions, cancel, polling with backoff, and the errors it maps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qwidgets.client import AsyncJobsClient, JobInfo, RetryPolicy
from qwidgets.client.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServerValidationError,
)
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer, start
from tests.fixtures import StartSim

TRAIN = "qwidgets.sim.braket.programs.train:main"
LONG = {"qbits": 5, "num_passes": 5000, "rows": 2000, "batch_size": 250}
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    # One server per test: long jobs left queued by one test would hold the next one's back.
    return start_sim()


@pytest.fixture
async def jobs(server: SimServer) -> AsyncIterator[AsyncJobsClient]:
    client = AsyncJobsClient(server.url, server.token, retry=FAST)
    yield client
    await client.close()


async def test_bad_requests_fail_locally_before_anything_is_sent(jobs: AsyncJobsClient) -> None:
    with pytest.raises(ValueError, match="job_name: got 'my_job'") as info:
        await jobs.create_job(entry_point=TRAIN, job_name="my_job")
    assert isinstance(info.value, ValidationError)
    with pytest.raises(ValidationError, match="is required when the source is an S3 URI") as info:
        await jobs.create_job(source_module="s3://bucket/code.tar.gz")
    assert info.value.field == "entry_point"
    with pytest.raises(ValidationError, match="not importable") as info:
        await jobs.create_job(entry_point="qwidgets.sim.braket.programs.nothing:main")
    with pytest.raises(ValidationError) as info:
        await jobs.create_job(entry_point=TRAIN, hyperparameters={"qbits": "many"})
    assert info.value.field == "hyperParameters.qbits"
    assert jobs.attempts == 0


async def test_a_job_runs_to_completion_with_its_events(jobs: AsyncJobsClient) -> None:
    arn = await jobs.create_job(entry_point=TRAIN, job_name="full-run",
                                hyperparameters={"num_passes": 4, "learning_rate": 0.2,
                                                 "iterations": 2, "optimization_method": "GRAD"})
    seen: list[str] = []
    info = await jobs.wait(arn, min_interval=0.05, on_update=lambda i: seen.append(i.status))
    assert info.status == "COMPLETED"
    assert info.terminal
    assert seen[-1] == "COMPLETED"
    assert [e.type for e in info.events] == [
        "QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
        "UPLOADING_RESULTS", "COMPLETED"]
    assert info.hyperparameters["num_passes"] == "4"
    assert info.created_at is not None
    assert info.started_at is not None
    assert info.ended_at is not None
    assert info.created_at <= info.started_at <= info.ended_at
    assert info.queue is not None
    assert info.queue.position is None
    assert "COMPLETED status" in (info.queue.message or "")
    answer = await jobs.result(arn)
    assert len(answer["result"]["loss"]) == 4
    assert len(answer["metrics"]["loss"]) == 4 * 4  # 400 rows in batches of 100
    assert (await jobs.events(arn))[-1].type == "COMPLETED"
    listed = await jobs.search_jobs(status="COMPLETED")
    assert [j["jobArn"] for j in listed] == [arn]


async def test_queue_position_while_waiting_then_cancel(jobs: AsyncJobsClient) -> None:
    first = await jobs.create_job(entry_point=TRAIN, job_name="first", hyperparameters=LONG)
    second = await jobs.create_job(entry_point=TRAIN, job_name="second", hyperparameters=LONG)
    third = await jobs.create_job(entry_point=TRAIN, job_name="third")
    deadline = time.monotonic() + 30
    while (await jobs.get_job(first)).status != "RUNNING":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    # SV1 runs one hybrid job at a time: the others wait in its jobs queue, in order
    assert (await jobs.queue_position(second)).position == "0"
    assert (await jobs.queue_position(third)).position == "1"
    running = await jobs.queue_position(first)
    assert running.position is None
    assert "RUNNING status" in (running.message or "")
    assert await jobs.cancel_job(second) == "CANCELLED"
    assert (await jobs.queue_position(third)).position == "0"
    assert await jobs.cancel_job(first) == "CANCELLING"
    ended = await jobs.wait(first, min_interval=0.05, timeout=60)
    assert ended.status == "CANCELLED"
    assert ended.events[-1].type == "CANCELLED"
    with pytest.raises(ConflictError, match="already CANCELLED"):
        await jobs.cancel_job(first)
    assert (await jobs.wait(third, min_interval=0.05, timeout=60)).status == "COMPLETED"


async def test_polling_backs_off_while_nothing_changes(jobs: AsyncJobsClient) -> None:
    arn = await jobs.create_job(entry_point=TRAIN, job_name="slow", hyperparameters=LONG)
    before = jobs.attempts
    with pytest.raises(TimeoutError, match="still RUNNING"):
        await jobs.wait(arn, min_interval=0.02, max_interval=0.3, timeout=2.0)
    polls = jobs.attempts - before
    # a fixed 0.02 s interval would have polled about 100 times in 2 s
    assert 3 <= polls <= 25
    await jobs.cancel_job(arn)


async def test_server_side_errors_come_back_as_our_exceptions(jobs: AsyncJobsClient,
                                                              server: SimServer) -> None:
    with pytest.raises(ServerValidationError) as info:
        await jobs.create_job(device="arn:aws:braket:::device/quantum-simulator/acme/none",
                              entry_point=TRAIN)
    assert info.value.field == "deviceConfig.device"
    assert "sv1" in str(info.value)
    missing = "arn:aws:braket:us-east-1:000000000000:job/never-created"
    with pytest.raises(NotFoundError, match="not found"):
        await jobs.get_job(missing)
    with pytest.raises(ValidationError):
        await jobs.get_job("not-an-arn")
    await jobs.create_job(entry_point=TRAIN, job_name="twice")
    with pytest.raises(ConflictError, match="already exists"):
        await jobs.create_job(entry_point=TRAIN, job_name="twice")
    stranger = AsyncJobsClient(server.url, "not-the-token", retry=FAST)
    try:
        with pytest.raises(AuthenticationError, match="security token included in the request is invalid"):
            await stranger.get_job(missing)
    finally:
        await stranger.close()


async def test_the_token_never_shows(jobs: AsyncJobsClient, server: SimServer) -> None:
    assert server.token not in repr(jobs)
    assert server.token not in str(vars(jobs))


def test_job_info_reads_boto3_and_json_shapes() -> None:
    from datetime import datetime, timezone

    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    boto = {"jobArn": "arn:aws:braket:us-east-1:1:job/a", "jobName": "a", "status": "QUEUED",
            "createdAt": when, "deviceConfig": {"device": "d"},
            "events": [{"eventType": "QUEUED_FOR_EXECUTION", "timeOfEvent": when}],
            "queueInfo": {"queue": "JOBS_QUEUE", "position": ">15"}}
    info = JobInfo.from_wire(boto)
    assert info.created_at == when.timestamp()
    assert info.events[0].time == when.timestamp()
    assert info.queue is not None
    assert info.queue.position == ">15"
    wire = {**boto, "createdAt": when.timestamp(), "events": [], "queueInfo": {
        "queue": "JOBS_QUEUE", "position": "None", "message": "Job is in RUNNING status."}}
    again = JobInfo.from_wire(wire)
    assert again.created_at == info.created_at
    assert again.queue is not None
    assert again.queue.position is None
    assert again.to_state()["queue_message"] == "Job is in RUNNING status."


async def test_a_job_running_when_the_server_stops_runs_on_the_next_one(tmp_path: Path) -> None:
    hyper = {"qbits": 5, "num_passes": 2, "rows": 800, "batch_size": 200}
    with start(data_dir=tmp_path, token="restart-token") as first:
        jobs = AsyncJobsClient(first.url, "restart-token", retry=FAST)
        arn = await jobs.create_job(entry_point=TRAIN, job_name="survivor",
                                    hyperparameters=hyper)
        deadline = time.monotonic() + 30
        while "RUNNING" not in [e.type for e in await jobs.events(arn)]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await jobs.close()
    with start(data_dir=tmp_path, token="restart-token") as second:
        jobs = AsyncJobsClient(second.url, "restart-token", retry=FAST)
        try:
            info = await jobs.wait(arn, min_interval=0.05, timeout=120)
        finally:
            await jobs.close()
    assert info.status == "COMPLETED"
    messages = [e.message for e in info.events]
    assert any(m.startswith("Queued again: the simulator stopped") for m in messages)
    assert [e.type for e in info.events].count("RUNNING") == 2


async def test_creating_a_job_announces_it(jobs: AsyncJobsClient) -> None:
    from qwidgets.client import activity

    seen: list[activity.Activity] = []
    unsubscribe = activity.subscribe(seen.append)
    try:
        arn = await jobs.create_job(entry_point=TRAIN)
    finally:
        unsubscribe()
    assert [(a.kind, a.id) for a in seen] == [("job", arn)]
    assert seen[0].client is jobs
