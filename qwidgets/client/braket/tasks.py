"""Quantum tasks: the API a task handle needs (``DeviceApi``, which our client and the boto3
provider both offer), waiting for a task to end, and the handle itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from qwidgets.client.braket.queue_info import QueueInfo
from qwidgets.client.braket.records import Device, DeviceSummary, JobStatus, TaskInfo
from qwidgets.client.errors import QwidgetsError


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
