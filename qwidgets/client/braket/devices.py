"""Quantum devices and tasks from Python: ``AsyncDeviceClient`` speaks Braket's REST routes
(SigV4-signed, the requests boto3 sends) to the embedded simulator or another qwidgets server.

    devices = await AsyncDeviceClient.create()              # the embedded simulator
    depth = await devices.queue_depth(SV1)                  # depth.normal_tasks.value, .lower_bound
    task = await devices.create_task(SV1, "OPENQASM 3.0; qubit[2] q; h q[0]; cnot q[0], q[1];",
                                     shots=100)
    (await task.queue_position()).position.display()        # '3', '2000+', '–'
    counts = await task.result()                            # waits, then {'00': 52, '11': 48}

One client keeps one pooled aiohttp session, so a dashboard polling many devices and tasks
reuses a few connections. For Amazon Braket itself, ``braket_provider.BraketProvider`` offers
the same methods on top of boto3.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from qwidgets.client.braket.queue_info import QueueDepth, QueueInfo
from qwidgets.client.errors import QwidgetsError, ServiceUnavailableError, UsageError, ValidationError
from qwidgets.client.http import _TRANSIENT, FilePart, HttpClient, _decode_error, _describe
from qwidgets.client.local import local_server
from qwidgets.client.loop_thread import LoopThread, close_at_exit, shared_loop
from qwidgets.client.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from qwidgets.protocol import openqasm
from qwidgets.protocol.sigv4 import access_key_id, sign_request

logger = logging.getLogger("qwidgets.client.braket.devices")

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
DEFAULT_BUCKET = "qwidgets-results"
OPENQASM_HEADER = {"name": "braket.ir.openqasm.program", "version": "1"}


class SignedHttpClient(HttpClient):
    """``HttpClient`` (pooling, retries, coalesced GETs, error mapping) signing every attempt
    with AWS Signature Version 4 instead of a bearer header: secret key = the token, access key
    id = its public id (``braket_auth.access_key_id``)."""

    def __init__(self, base_url: str, token: str, *, region: str = "us-east-1",
                 service: str = "braket", **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self.region = region
        self.service = service
        self._access_key = access_key_id(token)
        parts = urlsplit(self.base_url)
        if parts.hostname is None:
            raise ValidationError("endpoint", base_url, "must be an http(s) URL",
                                  "pass e.g. endpoint='http://127.0.0.1:8765'")
        default = {"http": 80, "https": 443}.get(parts.scheme)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._host = host if parts.port in (None, default) else f"{host}:{parts.port}"
        self._prefix = parts.path.rstrip("/")

    def __repr__(self) -> str:
        return f"SignedHttpClient({self.base_url!r}, region={self.region!r})"

    async def _send(
        self, method: str, path: str, *, json_body: Any = None,
        params: Mapping[str, str] | None = None, file: FilePart | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, bytes]:
        if file is not None:
            raise UsageError("Braket routes take JSON bodies, not files")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        raw_path = f"{self._prefix}/{path.lstrip('/')}"
        raw_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                             for k, v in (params or {}).items())
        url = URL(f"{self.base_url.split('://')[0]}://{self._host}{raw_path}"
                  + (f"?{raw_query}" if raw_query else ""), encoded=True)
        policy = self.retry
        last_cause = ""
        attempt = 0
        for attempt in range(1, policy.attempts + 1):
            session = self._session_for_running_loop()
            # signed per attempt: the date is part of the signature
            headers = sign_request(method, self._host, raw_path, raw_query, body,
                                   access_key=self._access_key, secret=self._token.reveal(),
                                   region=self.region, service=self.service)
            if body:
                headers["Content-Type"] = "application/json"
            retry_after: float | None = None
            self.attempts += 1
            started = time.perf_counter()
            try:
                async with session.request(method, url, data=body or None,
                                           headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except _TRANSIENT as exc:
                last_cause = _describe(exc, self.timeout)
            except aiohttp.ClientError as exc:
                raise ServiceUnavailableError(method, path, attempt, _describe(exc, 0)) from None
            else:
                logger.debug("%s %s -> %s in %.1f ms (attempt %d)", method, path, status,
                             (time.perf_counter() - started) * 1000, attempt)
                if status not in RETRY_STATUSES:
                    return status, raw
                last_cause = f"HTTP {status}: {_decode_error(raw).get('message', '')}"
            if attempt == policy.attempts:
                break
            if retry_after is not None and retry_after > policy.max_retry_after:
                break
            self.retries += 1
            await asyncio.sleep(policy.delay(attempt, retry_after))
        raise ServiceUnavailableError(method, path, attempt, last_cause.strip())


# ---------------------------------------------------------------- what the client returns


@dataclass(frozen=True)
class DeviceSummary:
    arn: str
    name: str
    provider: str
    device_type: str  # QPU or SIMULATOR
    status: str  # ONLINE, OFFLINE or RETIRED

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> DeviceSummary:
        return cls(str(body["deviceArn"]), str(body.get("deviceName", "")),
                   str(body.get("providerName", "")), str(body.get("deviceType", "")),
                   str(body.get("deviceStatus", "")))


@dataclass(frozen=True)
class Device(DeviceSummary):
    queue: QueueDepth
    capabilities: dict[str, Any]

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Device:
        summary = DeviceSummary.from_wire(body)
        try:
            capabilities = json.loads(body.get("deviceCapabilities") or "{}")
        except ValueError:
            capabilities = {}
        return cls(summary.arn, summary.name, summary.provider, summary.device_type,
                   summary.status, QueueDepth.from_wire(body.get("deviceQueueInfo")),
                   capabilities if isinstance(capabilities, dict) else {})

    @property
    def qubits(self) -> int | None:
        paradigm = self.capabilities.get("paradigm")
        count = paradigm.get("qubitCount") if isinstance(paradigm, dict) else None
        return int(count) if isinstance(count, int) else None

    @property
    def poll_interval(self) -> float | None:
        """The device's suggested task polling interval in seconds, if it gives one."""
        service = self.capabilities.get("service")
        millis = service.get("getTaskPollIntervalMillis") if isinstance(service, dict) else None
        return millis / 1000 if isinstance(millis, (int, float)) and millis > 0 else None


@dataclass(frozen=True)
class TaskInfo:
    arn: str
    status: str
    device_arn: str
    shots: int
    created_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    queue: QueueInfo | None
    job_arn: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> TaskInfo:
        info = body.get("queueInfo")
        return cls(str(body["quantumTaskArn"]), str(body.get("status", "")),
                   str(body.get("deviceArn", "")), int(body.get("shots") or 0),
                   _time(body.get("createdAt")), _time(body.get("endedAt")),
                   body.get("failureReason"),
                   QueueInfo.from_wire(info) if info is not None else None,
                   body.get("jobArn"))


@dataclass(frozen=True)
class JobStatus:
    arn: str
    status: str
    name: str
    device_arn: str | None
    queue: QueueInfo | None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> JobStatus:
        info = body.get("queueInfo")
        device = body.get("deviceConfig")
        return cls(str(body["jobArn"]), str(body.get("status", "")), str(body.get("jobName", "")),
                   device.get("device") if isinstance(device, dict) else None,
                   QueueInfo.from_wire(info) if info is not None else None)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # boto3 parses timestamps itself
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _arn_path(prefix: str, arn: str) -> str:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValidationError("arn", arn, "must be an ARN ('arn:aws:braket:...')",
                              "copy it from devices() or from the task you created")
    return f"{prefix}/{quote(arn, safe='')}"


def program_source(program: Any) -> str:
    """OpenQASM 3 source from a string, or from an amazon-braket-sdk ``Circuit``."""
    if isinstance(program, str):
        return program
    to_ir = getattr(program, "to_ir", None)
    if callable(to_ir):
        from braket.circuits.serialization import IRType

        return str(to_ir(IRType.OPENQASM).source)
    raise ValidationError("program", program, "must be OpenQASM 3 source text or a braket "
                          "Circuit", "pass e.g. 'OPENQASM 3.0; qubit[1] q; h q[0];'")


# ---------------------------------------------------------------- the API


class DeviceApi(Protocol):
    """What widgets and ``QuantumTask`` need: ``AsyncDeviceClient`` (our servers) and
    ``braket_provider.BraketProvider`` (Amazon Braket) both provide it."""

    async def devices(self, *, statuses: Sequence[str] | None = None,
                      types: Sequence[str] | None = None) -> list[DeviceSummary]: ...

    async def device(self, arn: str) -> Device: ...

    async def task(self, arn: str) -> TaskInfo: ...

    async def cancel(self, arn: str) -> str: ...

    async def counts(self, arn: str) -> dict[str, int]: ...

    async def job(self, arn: str) -> JobStatus: ...

    async def close(self) -> None: ...


async def wait_for_task(api: DeviceApi, arn: str, *, timeout: float | None = None,
                        min_interval: float = 0.1, max_interval: float = 2.0) -> TaskInfo:
    """Poll until the task ends: quickly at first, then backing off to ``max_interval``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = min_interval
    while True:
        info = await api.task(arn)
        if info.terminal:
            return info
        if deadline is not None and time.monotonic() + interval > deadline:
            raise TimeoutError(f"task {arn} is still {info.status} after {timeout} s")
        await asyncio.sleep(interval)
        interval = min(max_interval, interval * 1.5)


# ---------------------------------------------------------------- the client


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
        filters: list[dict[str, Any]] = []
        if statuses:
            filters.append({"name": "deviceStatus", "values": list(statuses)})
        if types:
            filters.append({"name": "deviceType", "values": list(types)})
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
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValidationError("shots", shots, "must be a whole number >= 1",
                                  "e.g. shots=100")
        body: dict[str, Any] = {
            "deviceArn": device_arn, "shots": shots,
            "action": json.dumps({"braketSchemaHeader": OPENQASM_HEADER, "source": source,
                                  "inputs": {}}),
            "deviceParameters": json.dumps({}), "outputS3Bucket": s3_bucket,
            "outputS3KeyPrefix": s3_prefix, "clientToken": client_token or str(uuid.uuid4())}
        if tags:
            body["tags"] = dict(tags)
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


class QuantumTask:
    """A handle on one task; every method asks the server (nothing is cached)."""

    def __init__(self, client: DeviceApi, arn: str) -> None:
        self._client = client
        self.arn = arn

    def __repr__(self) -> str:
        return f"QuantumTask({self.arn!r})"

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    async def info(self) -> TaskInfo:
        return await self._client.task(self.arn)

    async def status(self) -> str:
        return (await self.info()).status

    async def queue_position(self) -> QueueInfo:
        info = await self.info()
        assert info.queue is not None  # asked for with QueueInfo
        return info.queue

    async def cancel(self) -> str:
        return await self._client.cancel(self.arn)

    async def wait(self, timeout: float | None = None) -> TaskInfo:
        return await wait_for_task(self._client, self.arn, timeout=timeout)

    async def result(self, timeout: float | None = None) -> dict[str, int]:
        """Wait for the task to end; its counts if it COMPLETED, else ``TaskFailedError``."""
        info = await self.wait(timeout)
        if info.status != "COMPLETED":
            raise TaskFailedError(self.arn, info.status, info.failure_reason)
        return await self._client.counts(self.arn)


class TaskFailedError(QwidgetsError, RuntimeError):
    """The task ended FAILED or CANCELLED: no counts."""

    def __init__(self, arn: str, status: str, reason: str | None) -> None:
        self.arn = arn
        self.status = status
        self.reason = reason
        super().__init__(f"quantum task {arn} ended {status}"
                         + (f": {reason}" if reason else ""))


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
