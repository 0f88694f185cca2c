"""The device client against a real simulator server: queue strings parsed into numbers, tasks
from creation to counts, cancel, errors, one pooled session for many polls, the blocking
wrapper, and the boto3-based provider speaking to the same server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qwidgets.client.braket.devices import (
    SV1,
    AsyncDeviceClient,
    DeviceClient,
    TaskFailedError,
)
from qwidgets.client.braket.queue_info import QueueCount, QueueDepth, QueueInfo, parse_count
from qwidgets.client.errors import ApiError, AuthenticationError, NotFoundError, ValidationError
from qwidgets.client.retry import RetryPolicy
from qwidgets.sim import SimServer

AURORA = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12"
BELL = "OPENQASM 3.0; bit[2] b; qubit[2] q; h q[0]; cnot q[0], q[1]; b = measure q;"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[AsyncDeviceClient]:
    async with await AsyncDeviceClient.create(endpoint=server.url, token=server.token,
                                              retry=FAST) as the_client:
        yield the_client


# ---------------------------------------------------------------- queue strings


@pytest.mark.parametrize(("raw", "value", "lower", "approx", "note", "shown"), [
    (">4000", 4000, True, True, None, "4000+"),
    (">15", 15, True, True, None, "15+"),
    ("12", 12, False, False, None, "12"),
    ("0 (1 prioritized job(s) running)", 0, False, False, "1 prioritized job(s) running", "0"),
    ("~7", 7, False, True, None, "≈7"),
    ("None", None, False, False, None, "–"),
    (None, None, False, False, None, "–"),
    (3, 3, False, False, None, "3"),
    ("lots", None, False, True, "lots", "–"),
])
def test_parse_count(raw: object, value: int | None, lower: bool, approx: bool,
                     note: str | None, shown: str) -> None:
    count = parse_count(raw)
    assert (count.value, count.lower_bound, count.approximate, count.note) == (
        value, lower, approx, note)
    assert count.display() == shown


def test_prioritized_jobs_are_read_from_the_note() -> None:
    assert parse_count("0 (2 prioritized job(s) running)").prioritized_jobs == 2
    assert parse_count("5").prioritized_jobs == 0


def test_a_position_beyond_its_queue_is_marked_approximate() -> None:
    depth = QueueDepth.from_wire([
        {"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Normal", "queueSize": "10"},
        {"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Priority", "queueSize": ">4000"},
        {"queue": "JOBS_QUEUE", "queueSize": "2"}])
    assert (depth.normal_tasks.value, depth.priority_tasks.lower_bound, depth.jobs.value) == (
        10, True, 2)
    beyond = QueueInfo.from_wire({"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Normal",
                                  "position": "12"})
    assert beyond.checked_against(depth).position.approximate is True
    inside = QueueInfo("QUANTUM_TASKS_QUEUE", "Normal", QueueCount("9", 9))
    assert inside.checked_against(depth).position.approximate is False
    capped = QueueInfo("QUANTUM_TASKS_QUEUE", "Priority", QueueCount("5000", 5000))
    assert capped.checked_against(depth).position.approximate is False  # depth is '>4000'
    gone = QueueInfo.from_wire({"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Normal",
                                "position": "None", "message": "Task is in COMPLETED status."})
    assert not gone.waiting
    assert gone.message == "Task is in COMPLETED status."


# ---------------------------------------------------------------- the client


async def test_devices_and_their_queues(client: AsyncDeviceClient) -> None:
    devices = await client.devices()
    assert len(devices) == 7
    assert {d.status for d in devices} == {"ONLINE", "OFFLINE", "RETIRED"}
    online_qpus = await client.devices(statuses=["ONLINE"], types=["QPU"])
    assert [d.name for d in online_qpus] == ["Aurora-12", "Cedar-8"]
    sv1 = await client.device(SV1)
    assert (sv1.name, sv1.device_type, sv1.qubits, sv1.poll_interval) == (
        "SV1", "SIMULATOR", 34, 0.5)
    depth = await client.queue_depth(AURORA)
    assert depth.normal_tasks.value == 4000
    assert depth.normal_tasks.lower_bound
    assert depth.jobs.display() == "1000+"


async def test_a_task_from_creation_to_counts(client: AsyncDeviceClient) -> None:
    task = await client.create_task(SV1, BELL, shots=300, tags={"course": "qc101"})
    place = await task.queue_position()
    assert place.queue == "QUANTUM_TASKS_QUEUE"
    assert place.priority == "Normal"
    counts = await task.result(timeout=30)
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 300
    info = await task.info()
    assert info.status == "COMPLETED"
    assert info.created_at is not None
    assert info.ended_at >= info.created_at
    assert not info.queue.waiting
    assert "COMPLETED" in info.queue.message
    assert await client.counts(task.arn) == counts  # stored: the same every time
    listed = await client.tasks(statuses=["COMPLETED"], device_arn=SV1)
    assert task.arn in [t.arn for t in listed]


async def test_the_client_accepts_a_braket_circuit(client: AsyncDeviceClient) -> None:
    from braket.circuits import Circuit

    task = await client.create_task(SV1, Circuit().x(0).x(1), shots=20)
    assert await task.result(timeout=30) == {"11": 20}


async def test_cancel_a_waiting_task(client: AsyncDeviceClient) -> None:
    task = await client.create_task(AURORA, "OPENQASM 3.0; qubit q; h q;", shots=5)
    place = await task.queue_position()
    assert place.position.lower_bound  # behind thousands of others
    assert place.position.display() == "2000+"
    assert await task.cancel() == "CANCELLING"
    with pytest.raises(TaskFailedError, match="CANCELLED") as caught:
        await task.result(timeout=10)
    assert caught.value.status == "CANCELLED"


async def test_bad_input_fails_before_any_request(client: AsyncDeviceClient) -> None:
    before = client.http_client.attempts
    with pytest.raises(ValidationError, match=r"line 1.*'hadamard'"):
        await client.create_task(SV1, "OPENQASM 3.0; qubit q; hadamard q;", shots=1)
    with pytest.raises(ValidationError, match="shots"):
        await client.create_task(SV1, BELL, shots=0)
    with pytest.raises(ValidationError, match="ARN"):
        await client.task("not-an-arn")
    assert client.http_client.attempts == before


async def test_server_errors_become_client_exceptions(client: AsyncDeviceClient,
                                                      server: SimServer) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        await client.device(SV1 + "-missing")
    with pytest.raises(ApiError, match="retired") as retired:  # DeviceRetiredException
        await client.create_task("arn:aws:braket:us-east-1::device/qpu/qwidgets/Ember-5",
                                 BELL, shots=1)
    assert retired.value.status == 410
    async with await AsyncDeviceClient.create(endpoint=server.url, token="wrong",
                                              retry=FAST) as stranger:
        with pytest.raises(AuthenticationError, match="403"):
            await stranger.devices()


async def test_many_polls_share_a_few_connections(client: AsyncDeviceClient) -> None:
    tasks = [await client.create_task(AURORA, "OPENQASM 3.0; qubit q;", shots=1)
             for _ in range(10)]
    for _ in range(10):
        infos = await asyncio.gather(*(t.info() for t in tasks))
        assert all(i.status in ("CREATED", "QUEUED") for i in infos)
    assert client.http_client.attempts >= 110
    assert client.http_client.connections_opened <= 10
    await asyncio.gather(*(t.cancel() for t in tasks))


def test_the_blocking_client(server: SimServer) -> None:
    with DeviceClient.create(endpoint=server.url, token=server.token) as blocking:
        arn = blocking.create_task(SV1, "OPENQASM 3.0; qubit[1] q; x q[0];", 8)
        assert blocking.result(arn, timeout=30) == {"1": 8}
        assert blocking.task(arn).status == "COMPLETED"
        assert blocking.queue_depth(SV1).normal_tasks.value is not None


# ---------------------------------------------------------------- Amazon Braket via boto3


async def test_the_boto3_provider_speaks_to_the_same_api(server: SimServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from qwidgets.client.braket.provider import BraketProvider
    from qwidgets.protocol.sigv4 import access_key_id

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)  # nothing may leave loopback
    session = boto3.Session(aws_access_key_id=access_key_id(server.token),
                            aws_secret_access_key=server.token, region_name="us-east-1")
    provider = BraketProvider(session=session, endpoint_url=server.url,
                              s3_endpoint_url=server.url + "/s3")
    devices = await provider.devices(types=["SIMULATOR"])
    assert [d.name for d in devices] == ["SV1", "DM1", "TN1"]
    depth = (await provider.device(AURORA)).queue
    assert depth.normal_tasks.lower_bound
    task = await provider.create_task(SV1, BELL, shots=50, s3_bucket="my-results")
    counts = await task.result(timeout=30)
    assert sum(counts.values()) == 50
    assert set(counts) <= {"00", "11"}
    info = await provider.task(task.arn)
    assert info.created_at is not None
    assert info.status == "COMPLETED"
    await provider.close()


def test_the_provider_says_how_to_install_boto3(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    from qwidgets.client.braket import provider as braket_provider

    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r'pip install "qwidgets\[braket\]"'):
        braket_provider.BraketProvider(region="us-east-1")
