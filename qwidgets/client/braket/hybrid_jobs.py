"""Hybrid jobs from Python: ``AsyncJobsClient`` talks Braket's job routes (SigV4-signed, so the
same requests boto3 sends) to the embedded simulator or another server speaking them.

    jobs = await AsyncJobsClient.create()          # the embedded simulator
    arn = await jobs.create_job(device=SV1, entry_point="qwidgets.sim.braket.programs.train:main",
                                hyperparameters={"num_passes": 5})
    info = await jobs.wait(arn)                     # polls with backoff
    info.status, [e.type for e in info.events], (await jobs.result(arn))["final_loss"]

A request is checked locally first, with the rules the server applies
(``qwidgets.protocol.hybrid_jobs``), so a bad job name or entry point fails before anything is sent,
with a ValidationError (a ValueError) naming the argument.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

from qwidgets.client import activity
from qwidgets.client.braket.records import SV1
from qwidgets.client.braket.signed_http import SignedHttpClient
from qwidgets.client.errors import AuthenticationError, ServerValidationError, ValidationError
from qwidgets.client.local import local_server
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol.braket_queues import JOBS_QUEUE
from qwidgets.protocol.hybrid_jobs import (
    BUILTIN_SOURCE,
    DATASET_BUCKET,
    TERMINAL_STATES,
    check_runnable,
    prepare_create_job,
    validate_create_job,
)

logger = logging.getLogger("qwidgets.client.braket.hybrid_jobs")

__all__ = ["SV1", "AsyncJobsClient", "JobEvent", "JobInfo", "JobsApi", "QueuePosition",
           "dataset_uri", "wait_for_job"]


# ---------------------------------------------------------------- what a job looks like


@dataclass(frozen=True)
class JobEvent:
    type: str  # QUEUED_FOR_EXECUTION, STARTING_INSTANCE, ... (Braket's eventType)
    time: float  # epoch seconds
    message: str = ""


@dataclass(frozen=True)
class QueuePosition:
    """Braket's queue information: ``position`` is a string ('3', '>15') and approximate, or
    None when the job is not waiting (``message`` then says why)."""

    position: str | None
    message: str | None = None
    queue: str = JOBS_QUEUE


@dataclass(frozen=True)
class JobInfo:
    arn: str
    name: str
    status: str
    device: str
    events: tuple[JobEvent, ...]
    queue: QueuePosition | None
    failure_reason: str | None
    created_at: float | None
    started_at: float | None
    ended_at: float | None
    hyperparameters: dict[str, str] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> JobInfo:
        """From GetJob's answer: our server's JSON or boto3's dict (datetimes)."""
        queue = body.get("queueInfo")
        position = None
        if isinstance(queue, Mapping):
            shown = queue.get("position")
            position = QueuePosition(None if shown in (None, "None") else str(shown),
                                     queue.get("message"), str(queue.get("queue", JOBS_QUEUE)))
        return cls(
            arn=str(body["jobArn"]), name=str(body.get("jobName", "")),
            status=str(body["status"]),
            device=str((body.get("deviceConfig") or {}).get("device", "")),
            events=tuple(JobEvent(str(e["eventType"]), _epoch(e.get("timeOfEvent")) or 0.0,
                                  str(e.get("message", ""))) for e in body.get("events") or ()),
            queue=position, failure_reason=body.get("failureReason"),
            created_at=_epoch(body.get("createdAt")), started_at=_epoch(body.get("startedAt")),
            ended_at=_epoch(body.get("endedAt")),
            hyperparameters=dict(body.get("hyperParameters") or {}))

    def to_state(self) -> dict[str, Any]:
        """A JSON-able view (what a widget shows)."""
        return {
            "job_arn": self.arn, "job_name": self.name, "status": self.status,
            "device": self.device,
            "events": [{"type": e.type, "time": e.time, "message": e.message}
                       for e in self.events],
            "queue_position": (self.queue.position or "") if self.queue else "",
            "queue_message": (self.queue.message or "") if self.queue else "",
            "failure_reason": self.failure_reason or "",
            "created_at": self.created_at, "started_at": self.started_at,
            "ended_at": self.ended_at,
        }


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def dataset_uri(dataset_guid: str) -> str:
    """The input-data URI of a dataset uploaded to the simulator with the qcog client."""
    return f"s3://{DATASET_BUCKET}/{dataset_guid}"


# ---------------------------------------------------------------- the client


Update = Callable[[JobInfo], Awaitable[None] | None]


class AsyncJobsClient:
    """Client of Braket's hybrid-job routes on ``endpoint`` (``http://host:port``), over the
    signed, pooled transport of the device client (``signed_http.SignedHttpClient``)."""

    def __init__(self, endpoint: str, token: str, *, region: str = "us-east-1",
                 timeout: float = 30.0, retry: RetryPolicy | None = None,
                 check_locally: bool = True) -> None:
        if not token:
            raise AuthenticationError(None, "no token: pass the server's token")
        self._http = SignedHttpClient(endpoint, token, region=region, timeout=timeout,
                                      retry=retry)
        # a simulator only runs its built-in sources: refuse others before sending
        self.check_locally = check_locally

    def __repr__(self) -> str:
        return f"AsyncJobsClient({self._http.base_url!r}, region={self._http.region!r})"

    @property
    def attempts(self) -> int:
        """HTTP requests sent (retries included)."""
        return self._http.attempts

    @classmethod
    async def create(cls, *, endpoint: str | None = None, token: str | None = None,
                     **options: Any) -> AsyncJobsClient:
        """Without ``endpoint``: the embedded simulator (started if needed) and its token."""
        if endpoint is None:
            server = await local_server()
            endpoint, token = server.url, token or server.token
        if token is None:
            raise AuthenticationError(None, f"no token for {endpoint}: pass token=...")
        return cls(endpoint, token, **options)

    # ------------------------------------------------------------ operations

    async def create_job(
        self, *, device: str = SV1, entry_point: str | None = None,
        source_module: str = BUILTIN_SOURCE, job_name: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        input_data: str | Mapping[str, str] | None = None,
        instance_config: Mapping[str, Any] | None = None,
        stopping_condition: Mapping[str, Any] | int | None = None,
        role_arn: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a hybrid job; return its ARN. Arguments as amazon-braket-sdk's
        ``prepare_quantum_job``; ``stopping_condition`` may be the seconds alone."""
        body = prepare_create_job(
            device=device, source_module=source_module, entry_point=entry_point,
            job_name=job_name, hyperparameters=hyperparameters, input_data=input_data,
            instance_config=instance_config, stopping_condition=stopping_condition,
            role_arn=role_arn, tags=tags)
        if self.check_locally:
            check_runnable(validate_create_job(body))
        # one token per logical call, reused by retries: the server creates the job once
        body["clientToken"] = str(uuid.uuid4())
        answer = await self._call("POST", "/job", body=body)
        arn = str(answer["jobArn"])
        activity.started("job", arn, self)  # a %qw_jobs watcher shows it
        return arn

    async def get_job(self, arn: str) -> JobInfo:
        body = await self._call("GET", f"/job/{_arn(arn)}",
                                query={"additionalAttributeNames": "QueueInfo"})
        return JobInfo.from_wire(body)

    async def events(self, arn: str) -> list[JobEvent]:
        """The job's latest events (at most 20), oldest first."""
        return list((await self.get_job(arn)).events)

    async def queue_position(self, arn: str) -> QueuePosition:
        info = await self.get_job(arn)
        assert info.queue is not None
        return info.queue

    async def cancel_job(self, arn: str) -> str:
        """``CANCELLING`` (a running job stops at its next check) or ``CANCELLED``."""
        body = await self._call("PUT", f"/job/{_arn(arn)}/cancel")
        return str(body["cancellationStatus"])

    async def search_jobs(self, *, status: str | None = None, name_contains: str | None = None,
                          max_results: int = 100) -> list[dict[str, Any]]:
        """This token's jobs, newest first (every page)."""
        filters = []
        if status is not None:
            filters.append({"name": "status", "values": [status], "operator": "EQUAL"})
        if name_contains is not None:
            filters.append({"name": "jobName", "values": [name_contains], "operator": "CONTAINS"})
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {"filters": filters, "maxResults": min(100, max_results)}
            if token:
                body["nextToken"] = token
            page = await self._call("POST", "/jobs", body=body)
            found.extend(page["jobs"])
            token = page.get("nextToken")
            if not token or len(found) >= max_results:
                return found[:max_results]

    async def result(self, arn: str) -> dict[str, Any]:
        """What the algorithm returned (None until it completed) and the metrics it logged:
        ``{"jobArn", "status", "result", "metrics": {name: [[iteration, value, time], ...]}}``
        (a simulator route: Braket keeps results in S3)."""
        return dict(await self._call("GET", f"/job/{_arn(arn)}/result"))

    async def wait(self, arn: str, *, timeout: float | None = None, min_interval: float = 0.25,
                   max_interval: float = 5.0, on_update: Update | None = None) -> JobInfo:
        """Poll until the job ends (see ``wait_for_job``)."""
        return await wait_for_job(self, arn, timeout=timeout, min_interval=min_interval,
                                  max_interval=max_interval, on_update=on_update)

    # ------------------------------------------------------------ transport

    async def _call(self, method: str, path: str, *, body: Any = None,
                    query: Mapping[str, str] | None = None) -> Any:
        try:
            return await self._http.request(method, path, json_body=body, params=query)
        except ServerValidationError as exc:
            raise _validation_error(exc) from None

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncJobsClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


class JobsApi(Protocol):
    """What reads a job: ``AsyncJobsClient``, or ``BraketJobsProvider`` for Amazon Braket."""

    async def get_job(self, arn: str) -> JobInfo: ...

    async def cancel_job(self, arn: str) -> str: ...


async def wait_for_job(api: JobsApi, arn: str, *, timeout: float | None = None,
                       min_interval: float = 0.25, max_interval: float = 5.0,
                       on_update: Update | None = None) -> JobInfo:
    """Poll until the job ends; the interval grows by half while nothing changes (up to
    ``max_interval``) and drops back when something does. ``on_update(info)`` sees every
    change. Raises ``TimeoutError`` after ``timeout`` seconds."""
    if min_interval <= 0 or max_interval < min_interval:
        raise ValueError("need 0 < min_interval <= max_interval")
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = min_interval
    seen: tuple[Any, ...] | None = None
    while True:
        info = await api.get_job(arn)
        mark = (info.status, len(info.events), info.events[-1:], info.queue)
        if mark != seen:
            seen = mark
            interval = min_interval
            if on_update is not None:
                outcome = on_update(info)
                if asyncio.iscoroutine(outcome):
                    await outcome
        else:
            interval = min(max_interval, interval * 1.5)
        if info.terminal:
            return info
        if deadline is not None and time.monotonic() + interval > deadline:
            raise TimeoutError(f"job {arn} is still {info.status} after {timeout:g} s")
        await asyncio.sleep(interval)


def _arn(arn: str) -> str:
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise ValidationError("arn", arn, "must be a job ARN 'arn:aws:braket:...:job/<name>'",
                              "pass what create_job returned")
    return quote(arn, safe="")


def _validation_error(exc: ServerValidationError) -> ServerValidationError:
    """Braket's ValidationException carries only a message; ours read "<field>: got <value>;
    <allowed>. Fix: <fix>", so the field can be named again."""
    message = str(exc.body.get("message") or "")
    name, got, rest = message.partition(": got ")
    shown, _, allowed = rest.partition("; ")
    allowed, _, fix = allowed.partition(". Fix: ")
    if not got or not allowed or len(name) > 100:
        return exc
    return ServerValidationError(exc.status, {"error": exc.body.get("code") or exc.kind,
                                              "field": name, "value": shown, "allowed": allowed,
                                              "fix": fix or None})
