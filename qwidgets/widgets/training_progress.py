"""The TrainingMonitor's polling: one asyncio task on the kernel's running loop that asks the
service for progress, quickly while things change and backing off while they do not, and
stops at a final status, on close(), or after the connection is lost for good."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from qwidgets.client.errors import AuthenticationError, NotFoundError, UsageError
from qwidgets.errors import ValidationError
from qwidgets.widgets.throttle import sleep_or_wake

if TYPE_CHECKING:
    from qwidgets.client import AsyncQcogClient
    from qwidgets.widgets.monitor import TrainingMonitor

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
CANCELLABLE = frozenset({"pending", "processing"})
# Consecutive failed polls (each already retried by the client) before giving up.
MAX_FAILURES = 5


class Poller:
    def __init__(self, monitor: TrainingMonitor, client: AsyncQcogClient | None,
                 guid: str | None, interval: float, max_interval: float) -> None:
        check_intervals(interval, max_interval)
        self.monitor = monitor
        self.client = client
        self.guid = guid
        self.interval = interval
        self.max_interval = max_interval
        self.task: asyncio.Task[str] | None = None
        self.polls = 0
        self._owns_client = client is None
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------ control

    def start(self, quiet: bool = False) -> None:
        if self.guid is None:
            raise UsageError("this monitor watches no training: create it with a client that "
                             "started one, or with guid=...")
        if self.task is not None and not self.task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if not quiet:
                raise UsageError("no running event loop to poll on: use `await monitor.wait()` "
                                 "(in a script: `asyncio.run(monitor.wait())`)") from None
            self.monitor.log_event("not polling yet (no running event loop): "
                                   "`await monitor.wait()` starts it")
            return
        # The handle is kept so the task is neither garbage collected nor left running.
        self.task = loop.create_task(self._run(), name=f"qwidgets-monitor-{self.guid}")

    async def wait(self) -> str:
        if self.task is None or (self.task.done()
                                 and self.monitor.status not in FINAL_STATUSES):
            self.start()
        assert self.task is not None
        # shield: cancelling a wait() (Ctrl-C on a cell) must not stop the monitor itself.
        return await asyncio.shield(self.task)

    async def cancel(self) -> str:
        monitor = self.monitor
        if self.guid is None:
            raise UsageError("nothing to cancel: this monitor watches no training")
        client = await self._connect()
        monitor.log_event("cancel requested")
        await client.cancel()
        status = str(client.last_status or "cancelled_pending")
        monitor._set(status=status, _can_cancel=False)
        monitor._throttle.finish()
        if self._wake is not None:
            self._wake.set()  # see the end of the cancel now, not after a backed-off sleep
        if self.task is None or self.task.done():
            self.start(quiet=True)
        return status

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self._owns_client and self.client is not None:
            client, self.client = self.client, None
            with contextlib.suppress(RuntimeError):  # no loop left: the process is ending
                asyncio.get_running_loop().create_task(client.close())

    # ------------------------------------------------------------ the task

    async def _connect(self) -> AsyncQcogClient:
        if self.client is None:
            from qwidgets.client import AsyncQcogClient

            self.client = await AsyncQcogClient.create()
        if self.client.model_guid != self.guid:
            assert self.guid is not None
            await self.client.preloaded_model(self.guid)
        return self.client

    async def _run(self) -> str:
        monitor = self.monitor
        self._wake = asyncio.Event()
        if monitor.status == "disconnected":
            monitor._set(status="connecting", error="")
        try:
            client = await self._connect()
        except Exception as exc:
            return self._give_up(f"could not attach to model {self.guid}: {exc}")
        interval, failures = self.interval, 0
        while True:
            try:
                progress = await client.progress()
                matrix = client.trained_model.get("loss")
            except (NotFoundError, AuthenticationError) as exc:
                return self._give_up(f"the service refused model {self.guid}: {exc}")
            except Exception as exc:
                failures += 1
                message = f"lost connection to the service: {exc}"
                if failures >= MAX_FAILURES:
                    return self._give_up(f"{message} ({failures} polls failed; "
                                         "`monitor.start()` tries again)")
                monitor._set(error=f"{message}; retrying")
                monitor.log_event(f"{message} (retrying)", "error")
                await self._sleep(self.max_interval)
                continue
            self.polls += 1
            if failures:
                failures = 0
                monitor._set(error="")
                monitor.log_event("connection back")
            changed = monitor._apply(progress, matrix)
            status = str(progress.get("status"))
            if status in FINAL_STATUSES:
                if status == "failed":
                    monitor.log_event(f"failed: {progress.get('failure_reason') or 'no reason'}",
                                      "error")
                monitor.finish()
                return status
            interval = self.interval if changed else min(self.max_interval, interval * 1.5)
            await self._sleep(interval)

    def _give_up(self, message: str) -> str:
        monitor = self.monitor
        monitor._set(status="disconnected", error=message, _can_cancel=False)
        monitor.log_event(message, "error")
        monitor.finish()
        return "disconnected"

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None
        await sleep_or_wake(self._wake, seconds)


def check_intervals(poll_interval: float, max_interval: float,
                    update_interval: float = 0.1) -> None:
    for name, value in (("poll_interval", poll_interval), ("update_interval", update_interval)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValidationError(name, value, "must be positive seconds", f"e.g. {name}=0.25")
    if not (isinstance(max_interval, (int, float)) and max_interval >= poll_interval):
        raise ValidationError("max_interval", max_interval,
                              f"must be at least poll_interval ({poll_interval}) seconds",
                              "e.g. max_interval=2.0")


def progress_fields(progress: dict[str, Any]) -> dict[str, Any]:
    """The monitor's traits from ``client.progress()``."""
    status = str(progress.get("status") or "unknown")
    fields: dict[str, Any] = {
        "status": status,
        "training_completion": float(progress.get("training_completion") or 0),
        "current_batch_completion": float(progress.get("current_batch_completion") or 0),
        "failure_reason": str(progress.get("failure_reason") or ""),
        "_can_cancel": status in CANCELLABLE,
    }
    for key in ("pass_index", "batch_index", "num_passes", "num_batches"):
        fields[key] = int(progress.get(key) or 0)
    if isinstance(progress.get("loss"), (int, float)):
        fields["loss"] = float(progress["loss"])
    return fields
