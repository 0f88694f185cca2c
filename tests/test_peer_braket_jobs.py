"""Third-party Braket clients, unchanged, against the simulator's job routes on loopback: boto3's
``braket`` client (create_job, get_job, cancel_job, search_jobs) and amazon-braket-sdk's
``AwsQuantumJob`` (state, queue_position, cancel). And the real-Braket job path
(``BraketJobsProvider``) on botocore's Stubber, which checks every request and answer against
the service model. ``AWS_ENDPOINT_URL`` points at loopback, so nothing can leave the machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from qwidgets.client.braket.jobs_provider import BraketJobsProvider
from qwidgets.client.errors import ConflictError, NotFoundError, ServerValidationError
from qwidgets.errors import ValidationError
from qwidgets.protocol.hybrid_jobs import prepare_create_job
from qwidgets.protocol.sigv4 import access_key_id
from qwidgets.sim import SimServer
from qwidgets.widgets.timeline import JobTimeline

pytestmark = pytest.mark.peer

REGION = "us-west-2"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
TRAIN = "qwidgets.sim.braket.programs.train:main"
LONG = {"qbits": 5, "num_passes": 5000, "rows": 2000, "batch_size": 250}


@pytest.fixture(autouse=True)
def loopback_only(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUMMYDUMMYDUMMY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "BRAKET_ENDPOINT", "AWS_ENDPOINT_URL_BRAKET"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def braket(server: SimServer) -> Any:
    """boto3's client signed with the scheme of ``braket_auth``: secret key = the token."""
    return boto3.client("braket", region_name=REGION, endpoint_url=server.url,
                        aws_access_key_id=access_key_id(server.token),
                        aws_secret_access_key=server.token)


def create(braket: Any, name: str, **kwargs: Any) -> str:
    body = prepare_create_job(device=SV1, entry_point=TRAIN, job_name=name, **kwargs)
    return str(braket.create_job(clientToken=f"token-{name}", **body)["jobArn"])


def wait_status(braket: Any, arn: str, states: tuple[str, ...], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = braket.get_job(jobArn=arn, additionalAttributeNames=["QueueInfo"])
        if job["status"] in states:
            return job
        assert time.monotonic() < deadline, f"{arn} still {job['status']}"
        time.sleep(0.05)


def test_boto3_runs_a_job_through_every_operation(braket: Any) -> None:
    arn = create(braket, "boto-1", hyperparameters={"num_passes": 3})
    assert arn.startswith(f"arn:aws:braket:{REGION}:")
    job = wait_status(braket, arn, ("COMPLETED", "FAILED"))
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert [e["eventType"] for e in job["events"]] == [
        "QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
        "UPLOADING_RESULTS", "COMPLETED"]
    assert isinstance(job["events"][0]["timeOfEvent"], datetime)  # parsed by botocore
    assert job["createdAt"] <= job["startedAt"] <= job["endedAt"]
    assert job["instanceConfig"] == {"instanceType": "ml.m5.large", "volumeSizeInGb": 30,
                                     "instanceCount": 1}
    assert job["stoppingCondition"] == {"maxRuntimeInSeconds": 432000}
    assert job["hyperParameters"] == {"num_passes": "3"}
    assert job["queueInfo"]["position"] == "None"
    assert job["queueInfo"]["queue"] == "JOBS_QUEUE"
    found = braket.search_jobs(filters=[{"name": "jobArn", "values": [arn],
                                         "operator": "EQUAL"}])["jobs"]
    assert [j["jobArn"] for j in found] == [arn]
    assert found[0]["status"] == "COMPLETED"
    paginator = braket.get_paginator("search_jobs")
    assert arn in [j["jobArn"] for page in paginator.paginate(filters=[]) for j in page["jobs"]]
    # the same clientToken again: boto3's retry after a lost answer creates nothing new
    again = prepare_create_job(device=SV1, entry_point=TRAIN, job_name="boto-1")
    assert braket.create_job(clientToken="token-boto-1", **again)["jobArn"] == arn


def test_boto3_cancels_a_running_job(braket: Any) -> None:
    arn = create(braket, "boto-cancel", hyperparameters=LONG)
    wait_status(braket, arn, ("RUNNING",))
    answer = braket.cancel_job(jobArn=arn)
    assert answer["jobArn"] == arn
    assert answer["cancellationStatus"] == "CANCELLING"
    job = wait_status(braket, arn, ("CANCELLED", "COMPLETED", "FAILED"))
    assert job["status"] == "CANCELLED"
    assert job["events"][-1]["eventType"] == "CANCELLED"
    with pytest.raises(ClientError) as info:
        braket.cancel_job(jobArn=arn)
    assert info.value.response["Error"]["Code"] == "ConflictException"


def test_boto3_sees_brakets_errors(braket: Any) -> None:
    with pytest.raises(ClientError) as info:
        braket.get_job(jobArn=f"arn:aws:braket:{REGION}:123456789012:job/none")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    body = prepare_create_job(device=SV1, entry_point=TRAIN, job_name="fine")
    body["jobName"] = "not_allowed"  # botocore checks lengths, not patterns: the server does
    with pytest.raises(ClientError) as info:
        braket.create_job(clientToken="bad-name", **body)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "jobName" in info.value.response["Error"]["Message"]
    create(braket, "dupe")
    with pytest.raises(ClientError) as info:  # a second job of that name, not a retry
        braket.create_job(clientToken="other", **prepare_create_job(
            device=SV1, entry_point=TRAIN, job_name="dupe"))
    assert info.value.response["Error"]["Code"] == "ConflictException"


def test_braket_sdk_reads_state_and_queue_position(braket: Any) -> None:
    from braket.aws import AwsQuantumJob, AwsSession

    session = AwsSession(boto_session=boto3.Session(region_name=REGION), braket_client=braket)
    first = create(braket, "sdk-first", hyperparameters=LONG)
    second = create(braket, "sdk-second", hyperparameters=LONG)
    wait_status(braket, first, ("RUNNING",))
    running = AwsQuantumJob(first, aws_session=session)
    waiting = AwsQuantumJob(second, aws_session=session)
    assert running.state() == "RUNNING"
    assert waiting.state() == "QUEUED"
    position = waiting.queue_position()
    assert position.queue_position == "0"  # next in SV1's jobs queue
    none = running.queue_position()
    assert none.queue_position is None
    assert "RUNNING status" in none.message
    assert waiting.name == "sdk-second"
    assert waiting.cancel() == "CANCELLED"
    assert waiting.state() == "CANCELLED"
    assert running.cancel() == "CANCELLING"
    wait_status(braket, first, ("CANCELLED",))
    assert running.state() == "CANCELLED"


# ---------------------------------------------------------------- real Braket, stubbed


ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonBraketJobsExecutionRole"
ARN = f"arn:aws:braket:{REGION}:123456789012:job/real-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def job_answer(status: str, events: list[str], position: str = "None",
               message: str | None = None) -> dict[str, Any]:
    queue: dict[str, Any] = {"queue": "JOBS_QUEUE", "position": position}
    if message:
        queue["message"] = message
    return {
        "jobArn": ARN, "jobName": "real-1", "status": status, "roleArn": ROLE,
        "createdAt": T0,
        "algorithmSpecification": {"scriptModeConfig": {
            "entryPoint": "algo.main:start", "s3Uri": "s3://my-bucket/code.tar.gz",
            "compressionType": "GZIP"}},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30,
                           "instanceCount": 1},
        "outputDataConfig": {"s3Path": "s3://amazon-braket-us-west-2-123456789012/jobs/real-1/data"},
        "deviceConfig": {"device": SV1},
        "events": [{"eventType": e, "timeOfEvent": T0 + timedelta(seconds=10 * i),
                    "message": f"{e.lower()}"} for i, e in enumerate(events)],
        "queueInfo": queue,
    }


@pytest.fixture
def stubbed() -> Iterator[tuple[BraketJobsProvider, Stubber]]:
    client = boto3.client("braket", region_name=REGION, aws_access_key_id="AKIDUMMY",
                          aws_secret_access_key="dummy")
    with Stubber(client) as stub:
        yield BraketJobsProvider(braket_client=client), stub
        stub.assert_no_pending_responses()


async def test_the_real_braket_job_path_on_stubber(stubbed) -> None:
    provider, stub = stubbed
    stub.add_response("create_job", {"jobArn": ARN}, expected_params={
        "clientToken": ANY, "jobName": "real-1", "roleArn": ROLE,
        "algorithmSpecification": {"scriptModeConfig": {
            "entryPoint": "algo.main:start", "s3Uri": "s3://my-bucket/code.tar.gz",
            "compressionType": "GZIP"}},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 30,
                           "instanceCount": 1},
        "stoppingCondition": {"maxRuntimeInSeconds": 3600},
        "outputDataConfig": {"s3Path": "s3://amazon-braket-us-west-2-123456789012/jobs/real-1/data"},
        "checkpointConfig": {"s3Uri": "s3://amazon-braket-us-west-2-123456789012/jobs/real-1/"
                                      "checkpoints", "localPath": "/opt/jobs/checkpoints"},
        "hyperParameters": {"shots": "100", "lr": "0.1"},
        "deviceConfig": {"device": SV1}, "tags": {}})
    arn = await provider.create_job(
        source_module="s3://my-bucket/code.tar.gz", entry_point="algo.main:start",
        role_arn=ROLE, job_name="real-1", hyperparameters={"shots": 100, "lr": 0.1},
        stopping_condition=3600)
    assert arn == ARN
    stub.add_response("get_job", job_answer("QUEUED", ["QUEUED_FOR_EXECUTION"], position="3"),
                      expected_params={"jobArn": ARN, "additionalAttributeNames": ["QueueInfo"]})
    info = await provider.get_job(ARN)
    assert info.status == "QUEUED"
    assert info.queue is not None
    assert info.queue.position == "3"
    assert info.events[0].time == T0.timestamp()
    stub.add_response("cancel_job", {"jobArn": ARN, "cancellationStatus": "CANCELLING"},
                      expected_params={"jobArn": ARN})
    assert await provider.cancel_job(ARN) == "CANCELLING"
    stub.add_response("search_jobs", {"jobs": [{"jobArn": ARN, "jobName": "real-1",
                                                "status": "CANCELLING", "device": SV1,
                                                "createdAt": T0}]},
                      expected_params={"filters": [{"name": "status", "values": ["CANCELLING"],
                                                    "operator": "EQUAL"}]})
    assert [j["jobArn"] for j in await provider.search_jobs(status="CANCELLING")] == [ARN]


async def test_the_real_braket_path_checks_locally_and_maps_errors(stubbed) -> None:
    provider, stub = stubbed
    # a timeline on the real service polls at the SDK's pace, not the simulator's
    timeline = JobTimeline(ARN, client=provider, autostart=False)
    assert (timeline.min_interval, timeline.max_interval) == (5.0, 30.0)
    with pytest.raises(ValidationError) as info:
        await provider.create_job(source_module="s3://my-bucket/code.zip",
                                  entry_point="algo.main:start", role_arn=ROLE)
    assert info.value.field == "source_module"
    with pytest.raises(ValidationError) as info:
        await provider.create_job(source_module="s3://my-bucket/code.tar.gz",
                                  entry_point="algo.main:start", role_arn="my-role")
    assert info.value.field == "role_arn"
    stub.add_client_error("get_job", service_error_code="ResourceNotFoundException",
                          service_message="Job not found", http_status_code=404)
    with pytest.raises(NotFoundError, match="Job not found"):
        await provider.get_job(ARN)
    stub.add_client_error("cancel_job", service_error_code="ConflictException",
                          service_message="job is COMPLETED", http_status_code=409)
    with pytest.raises(ConflictError):
        await provider.cancel_job(ARN)
    stub.add_client_error("create_job", service_error_code="ValidationException",
                          service_message="device is not available", http_status_code=400)
    with pytest.raises(ServerValidationError, match="device is not available"):
        await provider.create_job(source_module="s3://my-bucket/code.tar.gz",
                                  entry_point="algo.main:start", role_arn=ROLE,
                                  job_name="real-2")


async def test_the_timeline_follows_a_real_braket_job(stubbed) -> None:
    provider, stub = stubbed
    steps = [
        job_answer("QUEUED", ["QUEUED_FOR_EXECUTION"], position=">15"),
        job_answer("RUNNING", ["QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "RUNNING"],
                   message="Job is in RUNNING status."),
        job_answer("COMPLETED", ["QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "RUNNING",
                                 "COMPLETED"], message="Job is in COMPLETED status."),
    ]
    for answer in steps:
        stub.add_response("get_job", answer)
    # polls slower than the 10/s throttle, so that every state reaches the traits
    timeline = JobTimeline(ARN, client=provider, min_interval=0.15, max_interval=0.3)
    seen: list[str] = []
    timeline.observe(lambda change: seen.append(change["new"]), names="status")
    assert timeline._task is not None
    await asyncio.wait_for(timeline._task, 30)
    assert timeline.status == "COMPLETED"
    assert seen == ["QUEUED", "RUNNING", "COMPLETED"]
    assert [e["type"] for e in timeline.events][-1] == "COMPLETED"
    assert timeline.events[0]["time"] == T0.timestamp()
    assert timeline.queue_message == "Job is in COMPLETED status."
