"""Braket's public clients, unchanged, against our loopback server: boto3's ``braket`` client and
amazon-braket-sdk (``AwsDevice``, ``AwsQuantumTask``), including ``AwsDevice.run`` to completion
with the SDK downloading ``results.json`` through boto3's S3 client (our ``/s3`` route).

Every AWS endpoint is pointed at the loopback server and the shared config files are disabled,
so nothing leaves the machine."""

from __future__ import annotations

from typing import Any

import pytest

from qwidgets.sim import SimServer
from tests.braket_sdk_support import aws_environment

pytestmark = pytest.mark.peer

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
AURORA = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12"
CEDAR = "arn:aws:braket:us-west-1::device/qpu/qwidgets/Cedar-8"
BELL = ("OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n"
        "b[0] = measure q[0];\nb[1] = measure q[1];")
ACTION = ('{"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"}, '
          '"source": %s}')


@pytest.fixture
def aws(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    aws_environment(server, monkeypatch)
    return server


def braket_client() -> Any:
    import boto3

    return boto3.Session(region_name="us-east-1").client("braket")


def test_boto3_reads_devices_and_queues(aws: SimServer) -> None:
    client = braket_client()
    device = client.get_device(deviceArn=AURORA)
    assert device["deviceType"] == "QPU"
    sizes = {(q["queue"], q.get("queuePriority")): q["queueSize"] for q in device["deviceQueueInfo"]}
    assert sizes[("QUANTUM_TASKS_QUEUE", "Normal")] == ">4000"
    pages = client.get_paginator("search_devices").paginate(
        filters=[{"name": "deviceType", "values": ["SIMULATOR"]}], PaginationConfig={"PageSize": 2})
    names = [d["deviceName"] for page in pages for d in page["devices"]]
    assert names == ["SV1", "DM1", "TN1"]


def test_boto3_creates_polls_and_cancels_tasks(aws: SimServer) -> None:
    import json

    client = braket_client()
    arn = client.create_quantum_task(
        deviceArn=AURORA, shots=10, action=ACTION % json.dumps("OPENQASM 3.0; qubit q; h q;"),
        outputS3Bucket="my-results", outputS3KeyPrefix="peer")["quantumTaskArn"]
    task = client.get_quantum_task(quantumTaskArn=arn, additionalAttributeNames=["QueueInfo"])
    assert task["status"] in ("CREATED", "QUEUED")
    assert task["queueInfo"] == {"queue": "QUANTUM_TASKS_QUEUE", "position": ">2000",
                                 "queuePriority": "Normal"}
    assert task["createdAt"].year >= 2024  # a real timestamp, parsed by botocore
    answer = client.cancel_quantum_task(quantumTaskArn=arn)
    assert answer["cancellationStatus"] == "CANCELLING"
    found = client.search_quantum_tasks(filters=[
        {"name": "deviceArn", "operator": "EQUAL", "values": [AURORA]}])["quantumTasks"]
    assert arn in [t["quantumTaskArn"] for t in found]


def test_boto3_sees_braket_shaped_errors(aws: SimServer) -> None:
    import boto3
    from botocore.exceptions import ClientError

    client = braket_client()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_device(deviceArn=SV1 + "x")
    with pytest.raises(client.exceptions.ValidationException, match="line 1"):
        client.create_quantum_task(deviceArn=SV1, shots=1, action=ACTION % '"OPENQASM 3.0; foo;"',
                                   outputS3Bucket="my-results", outputS3KeyPrefix="peer")
    stranger = boto3.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                             aws_secret_access_key="x", region_name="us-east-1").client("braket")
    with pytest.raises(ClientError) as caught:
        stranger.get_device(deviceArn=SV1)
    assert caught.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def sdk_session() -> Any:
    import boto3
    from braket.aws import AwsSession

    return AwsSession(boto_session=boto3.Session(region_name="us-east-1"))


def test_sdk_queue_depth_and_task_position(aws: SimServer) -> None:
    from braket.aws import AwsDevice, AwsQuantumTask
    from braket.aws.queue_information import QueueType
    from braket.circuits import Circuit

    session = sdk_session()
    busy = AwsDevice(AURORA, aws_session=session)
    depth = busy.queue_depth()
    assert depth.quantum_tasks[QueueType.NORMAL] == ">4000"
    assert depth.jobs == ">1000"
    assert AwsDevice(SV1, aws_session=session).properties.paradigm.qubitCount == 34
    task = busy.run(Circuit().h(0).cnot(0, 1), shots=10,
                    s3_destination_folder=("my-results", "sdk"))
    place = AwsQuantumTask(task.id, aws_session=session).queue_position()
    assert place.queue_type == QueueType.NORMAL
    assert place.queue_position == ">2000"
    assert place.message is None
    task.cancel()
    assert task.state() in ("CANCELLING", "CANCELLED")


def test_sdk_runs_a_circuit_to_completion_and_downloads_results(aws: SimServer) -> None:
    from braket.aws import AwsDevice, AwsQuantumTask
    from braket.circuits import Circuit

    from qwidgets.client.braket.devices import DeviceClient

    session = sdk_session()
    device = AwsDevice(SV1, aws_session=session)
    task = device.run(Circuit().h(0).cnot(0, 1), shots=400,
                      s3_destination_folder=("my-results", "sdk"), poll_interval_seconds=0.1,
                      poll_timeout_seconds=60)
    result = task.result()
    assert task.state() == "COMPLETED"
    counts = dict(result.measurement_counts)
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 400
    with DeviceClient.create(endpoint=aws.url, token=aws.token) as ours:
        assert ours.result(task.id, timeout=10) == counts  # the server's stored counts
    after = AwsQuantumTask(task.id, aws_session=session).queue_position()
    assert after.queue_position is None
    assert "COMPLETED" in after.message


def test_sdk_task_on_a_qpu_with_a_queue(aws: SimServer) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    device = AwsDevice(CEDAR, aws_session=sdk_session())
    task = device.run(Circuit().x(0), shots=5, s3_destination_folder=("my-results", "sdk"))
    place = task.queue_position()
    assert place.queue_position is not None
    assert int(place.queue_position) > 10  # Cedar keeps about 120 tasks waiting
    task.cancel()
    assert task.state() in ("CANCELLING", "CANCELLED")
