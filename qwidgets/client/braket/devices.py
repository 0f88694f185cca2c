"""Quantum devices and tasks from Python: ``AsyncDeviceClient`` speaks Braket's REST routes
(SigV4-signed, the requests boto3 sends) to the embedded simulator or another qwidgets server.

    devices = await AsyncDeviceClient.create()              # the embedded simulator
    depth = await devices.queue_depth(SV1)                  # depth.normal_tasks.value, .lower_bound
    task = await devices.create_task(SV1, "OPENQASM 3.0; qubit[2] q; h q[0]; cnot q[0], q[1];",
                                     shots=100)
    (await task.queue_position()).position.display()        # '3', '2000+', '–'
    counts = await task.result()                            # waits, then {'00': 52, '11': 48}

One client keeps one pooled aiohttp session, so a dashboard polling many devices and tasks
reuses a few connections. For Amazon Braket itself, ``provider.BraketProvider`` offers
the same methods on top of boto3.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

from qwidgets.client.braket.queue_info import QueueDepth
from qwidgets.client.braket.records import (
    DM1,
    SV1,
    TERMINAL,
    TN1,
    Device,
    DeviceSummary,
    JobStatus,
    TaskInfo,
)
from qwidgets.client.braket.signed_http import SignedHttpClient
from qwidgets.client.braket.task_requests import (
    DEFAULT_BUCKET,
    OPENQASM_HEADER,
    create_task_request,
    device_filters,
    program_source,
)
from qwidgets.client.braket.tasks import DeviceApi, QuantumTask, TaskFailedError, wait_for_task
from qwidgets.client.errors import ValidationError
from qwidgets.client.local import local_server
from qwidgets.client.loop_thread import LoopThread, close_at_exit, shared_loop
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol import openqasm

# The names this module has always offered; each lives in the module named for what it holds.
__all__ = [
    "DEFAULT_BUCKET", "DM1", "OPENQASM_HEADER", "SV1", "TERMINAL", "TN1", "AsyncDeviceClient",
    "Device", "DeviceApi", "DeviceClient", "DeviceSummary", "JobStatus", "QuantumTask",
    "SignedHttpClient", "TaskFailedError", "TaskInfo", "program_source", "wait_for_task",
]


def _arn_path(prefix: str, arn: str) -> str:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValidationError("arn", arn, "must be an ARN ('arn:aws:braket:...')",
                              "copy it from devices() or from the task you created")
    return f"{prefix}/{quote(arn, safe='')}"


class AsyncDeviceClient:
    """Devices, their queues and quantum tasks of a Braket-compatible endpoint."""

    def __init__(self, http: SignedHttpClient) -> None:
        self._http = http

    @classmethod
    async def create(cls, *, endpoint: str | None = None, token: str | None = None,
                     region: str = "us-east-1", timeout: float = 30.0,
                     retry: RetryPolicy | int | None = None,
                     max_connections: int = 100) -> AsyncDeviceClient:
        """``endpoint=None``: the embedded simulator (its token is read for you). Otherwise the
        URL of a qwidgets server (``http://127.0.0.1:8765``) and one of its tokens."""
        if endpoint is None:
            server = await local_server()
            endpoint, token = server.url, token or server.token
        if not token:
            raise ValidationError("token", token, f"is needed for {endpoint}",
                                  "pass the token the server was started with (or printed)")
        policy = RetryPolicy(attempts=retry) if isinstance(retry, int) else retry
        return cls(SignedHttpClient(endpoint, token, region=region, timeout=timeout,
                                    retry=policy, max_connections=max_connections))

    @property
    def http_client(self) -> SignedHttpClient:
        return self._http

    def __repr__(self) -> str:
        return f"AsyncDeviceClient({self._http.base_url!r})"

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncDeviceClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # ------------------------------------------------------------ devices

    async def devices(self, *, statuses: Sequence[str] | None = None,
                      types: Sequence[str] | None = None) -> list[DeviceSummary]:
        """Every device (SearchDevices, all pages), optionally only some statuses/types."""
        filters = device_filters(statuses, types)
        found: list[DeviceSummary] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {"filters": filters}
            if token:
                body["nextToken"] = token
            page = await self._http.post("devices", body)
            found.extend(DeviceSummary.from_wire(d) for d in page.get("devices", []))
            token = page.get("nextToken")
            if not token:
                return found

    async def device(self, arn: str) -> Device:
        return Device.from_wire(await self._http.get(_arn_path("device", arn)))

    async def queue_depth(self, arn: str) -> QueueDepth:
        return (await self.device(arn)).queue

    # ------------------------------------------------------------ tasks

    async def create_task(self, device_arn: str, program: Any, shots: int, *,
                          s3_bucket: str = DEFAULT_BUCKET, s3_prefix: str = "tasks",
                          tags: Mapping[str, str] | None = None,
                          client_token: str | None = None) -> QuantumTask:
        """Queue ``program`` (OpenQASM 3 text or a braket ``Circuit``) on a device. Checked
        here first, so a typo fails at once with the line it is on."""
        source = program_source(program)
        openqasm.parse(source)
        body = create_task_request(device_arn, source, shots, s3_bucket=s3_bucket,
                                   s3_prefix=s3_prefix, tags=tags, client_token=client_token)
        answer = await self._http.post("quantum-task", body)
        return QuantumTask(self, str(answer["quantumTaskArn"]))

    def task_handle(self, arn: str) -> QuantumTask:
        """A handle on an existing task (no request)."""
        _arn_path("quantum-task", arn)
        return QuantumTask(self, arn)

    async def task(self, arn: str) -> TaskInfo:
        """Status and queue position (GetQuantumTask with QueueInfo)."""
        body = await self._http.get(_arn_path("quantum-task", arn),
                                    params={"additionalAttributeNames": "QueueInfo"})
        return TaskInfo.from_wire(body)

    async def cancel(self, arn: str) -> str:
        """Ask to cancel; returns ``CANCELLING`` or ``CANCELLED``."""
        body = await self._http.request("PUT", _arn_path("quantum-task", arn) + "/cancel",
                                        json_body={"clientToken": str(uuid.uuid4())})
        return str(body["cancellationStatus"])

    async def counts(self, arn: str) -> dict[str, int]:
        """The measurement counts of a COMPLETED task (ConflictError before)."""
        body = await self._http.get(_arn_path("quantum-task", arn) + "/result")
        return {str(k): int(v) for k, v in body["counts"].items()}

    async def tasks(self, *, statuses: Sequence[str] | None = None,
                    device_arn: str | None = None, limit: int = 100) -> list[TaskInfo]:
        """Your tasks, newest first (SearchQuantumTasks; no queue positions)."""
        filters: list[dict[str, Any]] = []
        if statuses:
            filters.append({"name": "status", "operator": "EQUAL", "values": list(statuses)})
        if device_arn:
            filters.append({"name": "deviceArn", "operator": "EQUAL", "values": [device_arn]})
        found: list[TaskInfo] = []
        token: str | None = None
        while len(found) < limit:
            body: dict[str, Any] = {"filters": filters, "maxResults": min(100, limit - len(found))}
            if token:
                body["nextToken"] = token
            page = await self._http.post("quantum-tasks", body)
            found.extend(TaskInfo.from_wire(t) for t in page.get("quantumTasks", []))
            token = page.get("nextToken")
            if not token:
                break
        return found

    async def wait(self, arn: str, *, timeout: float | None = None, min_interval: float = 0.1,
                   max_interval: float = 2.0) -> TaskInfo:
        """Poll until the task ends: quickly at first, then backing off to ``max_interval``."""
        return await wait_for_task(self, arn, timeout=timeout, min_interval=min_interval,
                                   max_interval=max_interval)

    # ------------------------------------------------------------ hybrid jobs

    async def job(self, arn: str) -> JobStatus:
        """A hybrid job's status and queue position (GetJob with QueueInfo)."""
        body = await self._http.get(_arn_path("job", arn),
                                    params={"additionalAttributeNames": "QueueInfo"})
        return JobStatus.from_wire(body)


class DeviceClient:
    """``AsyncDeviceClient`` without ``await`` (scripts, or a notebook cell that may block):
    every call runs on the private loop thread the blocking qcog client uses."""

    def __init__(self, client: AsyncDeviceClient, loop: LoopThread | None = None) -> None:
        self._client = client
        self._loop = loop or shared_loop()
        close_at_exit(client.http_client)

    @classmethod
    def create(cls, **options: Any) -> DeviceClient:
        """Takes the arguments of ``AsyncDeviceClient.create``."""
        loop = shared_loop()
        return cls(loop.run(AsyncDeviceClient.create(**options)), loop)

    @property
    def async_client(self) -> AsyncDeviceClient:
        return self._client

    def __repr__(self) -> str:
        return f"DeviceClient({self._client.http_client.base_url!r})"

    def close(self) -> None:
        self._loop.run(self._client.close())

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def devices(self, **filters: Any) -> list[DeviceSummary]:
        return self._loop.run(self._client.devices(**filters))

    def device(self, arn: str) -> Device:
        return self._loop.run(self._client.device(arn))

    def queue_depth(self, arn: str) -> QueueDepth:
        return self._loop.run(self._client.queue_depth(arn))

    def create_task(self, device_arn: str, program: Any, shots: int, **options: Any) -> str:
        """Queue a task; returns its ARN."""
        return self._loop.run(self._client.create_task(device_arn, program, shots,
                                                       **options)).arn

    def task(self, arn: str) -> TaskInfo:
        return self._loop.run(self._client.task(arn))

    def cancel(self, arn: str) -> str:
        return self._loop.run(self._client.cancel(arn))

    def result(self, arn: str, timeout: float | None = None) -> dict[str, int]:
        return self._loop.run(self._client.task_handle(arn).result(timeout))

    def tasks(self, **filters: Any) -> list[TaskInfo]:
        return self._loop.run(self._client.tasks(**filters))

    def job(self, arn: str) -> JobStatus:
        return self._loop.run(self._client.job(arn))
