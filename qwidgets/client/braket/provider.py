"""Amazon Braket itself behind the same device API as ``AsyncDeviceClient``, so the gauges and
notebooks work unchanged against real devices. Needs the optional extra::

    pip install "qwidgets[braket]"

    provider = BraketProvider(region="us-east-1")        # boto3's usual credential chain
    DeviceQueueGauges(client=provider)

boto3 blocks, so each call runs in a worker thread (``asyncio.to_thread``) and never on the
kernel's loop; boto3's clients are thread-safe and pool their connections. Results are read
the way amazon-braket-sdk reads them: ``results.json`` in the task's S3 output directory.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from qwidgets.client.braket.records import Device, DeviceSummary, JobStatus, TaskInfo
from qwidgets.client.braket.task_requests import (
    DEFAULT_BUCKET,
    create_task_request,
    device_filters,
    program_source,
)
from qwidgets.client.braket.tasks import QuantumTask, wait_for_task

INSTALL_HINT = 'pip install "qwidgets[braket]"'


def import_boto3() -> Any:
    """boto3, or an ImportError that says how to install it."""
    try:
        import boto3
    except ImportError as exc:
        raise ImportError(f"Amazon Braket support needs boto3, which is not installed. "
                          f"Install it with: {INSTALL_HINT}") from exc
    return boto3


class BraketProvider:
    """Devices, queues and quantum tasks of Amazon Braket (or any endpoint speaking its API)."""

    def __init__(self, *, session: Any = None, region: str | None = None,
                 endpoint_url: str | None = None, s3_endpoint_url: str | None = None,
                 braket_client: Any = None, s3_client: Any = None) -> None:
        """``session``: a ``boto3.Session`` (default: a new one, with boto3's credential chain).
        ``endpoint_url``/``s3_endpoint_url`` point elsewhere than AWS (e.g. a qwidgets server:
        ``url`` and ``url + "/s3"``)."""
        boto3 = import_boto3()
        self._session = session or boto3.Session(region_name=region)
        self._braket = braket_client or self._session.client(
            "braket", region_name=region, endpoint_url=endpoint_url)
        self._s3 = s3_client or self._session.client("s3", region_name=region,
                                                     endpoint_url=s3_endpoint_url)

    def __repr__(self) -> str:
        return f"BraketProvider(region={self._braket.meta.region_name!r})"

    async def _call(self, name: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._braket, name), **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self._braket.close)
        await asyncio.to_thread(self._s3.close)

    async def devices(self, *, statuses: Sequence[str] | None = None,
                      types: Sequence[str] | None = None) -> list[DeviceSummary]:
        filters = device_filters(statuses, types)

        def every_page() -> list[DeviceSummary]:
            pages = self._braket.get_paginator("search_devices").paginate(filters=filters)
            return [DeviceSummary.from_wire(d) for page in pages for d in page["devices"]]

        return await asyncio.to_thread(every_page)

    async def device(self, arn: str) -> Device:
        return Device.from_wire(await self._call("get_device", deviceArn=arn))

    async def create_task(self, device_arn: str, program: Any, shots: int, *,
                          s3_bucket: str = DEFAULT_BUCKET, s3_prefix: str = "tasks",
                          tags: Mapping[str, str] | None = None,
                          client_token: str | None = None) -> QuantumTask:
        """Queue ``program`` (OpenQASM 3 text or a braket ``Circuit``); the results go to
        ``s3://s3_bucket/s3_prefix/<task id>/`` (the bucket must exist and be yours)."""
        request = create_task_request(device_arn, program_source(program), shots,
                                      s3_bucket=s3_bucket, s3_prefix=s3_prefix, tags=tags,
                                      client_token=client_token)
        answer = await self._call("create_quantum_task", **request)
        return QuantumTask(self, str(answer["quantumTaskArn"]))

    async def task(self, arn: str) -> TaskInfo:
        return TaskInfo.from_wire(await self._call(
            "get_quantum_task", quantumTaskArn=arn, additionalAttributeNames=["QueueInfo"]))

    async def cancel(self, arn: str) -> str:
        answer = await self._call("cancel_quantum_task", quantumTaskArn=arn,
                                  clientToken=str(uuid.uuid4()))
        return str(answer["cancellationStatus"])

    async def counts(self, arn: str) -> dict[str, int]:
        """Counts from the task's ``results.json`` (per-shot measurements, or measurement
        probabilities times shots, whichever the device wrote)."""
        task = await self._call("get_quantum_task", quantumTaskArn=arn)
        key = f"{task['outputS3Directory']}/results.json"

        def read() -> bytes:
            return bytes(self._s3.get_object(Bucket=task["outputS3Bucket"], Key=key)["Body"].read())

        return counts_from_result(json.loads(await asyncio.to_thread(read)))

    async def wait(self, arn: str, *, timeout: float | None = None) -> TaskInfo:
        return await wait_for_task(self, arn, timeout=timeout)

    async def job(self, arn: str) -> JobStatus:
        return JobStatus.from_wire(await self._call(
            "get_job", jobArn=arn, additionalAttributeNames=["QueueInfo"]))


def counts_from_result(document: Mapping[str, Any]) -> dict[str, int]:
    """Measurement counts from a GateModelTaskResult document."""
    measurements = document.get("measurements")
    if measurements:
        return dict(sorted(Counter("".join(str(int(b)) for b in shot)
                                   for shot in measurements).items()))
    probabilities = document.get("measurementProbabilities")
    shots = int((document.get("taskMetadata") or {}).get("shots") or 0)
    if probabilities and shots:
        return {k: round(p * shots) for k, p in sorted(probabilities.items())
                if round(p * shots) > 0}
    raise ValueError("the result has neither measurements nor measurement probabilities "
                     "with a shot count (was the task run with shots=0?)")
