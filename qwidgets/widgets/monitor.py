"""``TrainingMonitor``: status, progress, ETA, a live loss chart, an event log and a Cancel
button for a training on a qcog service (by default the embedded simulator).

    monitor = TrainingMonitor(client)          # a client that started a training
    monitor = TrainingMonitor.attach(guid)     # after a kernel restart, by model guid

Polling (``PollingPanel``) is one asyncio task on the kernel's running loop, so other cells
run meanwhile and Cancel reaches Python; it stops at a final status, on close(), or after the
connection is lost for good. The whole loss history stays in the kernel; the browser gets a
min/max decimated window of it as float32 buffers, at most eight times a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
from traitlets import Bool, Bytes, Dict, Float, Int, List, Unicode

from qwidgets.client.errors import AuthenticationError, NotFoundError, UsageError
from qwidgets.errors import ValidationError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import bundle
from qwidgets.widgets.decimate import MAX_POINTS, minmax
from qwidgets.widgets.loss_history import LossHistory
from qwidgets.widgets.monitor_static import monitor_html, monitor_text
from qwidgets.widgets.polling import UPDATE_INTERVAL, Pacing, Polled, PollingPanel, PollingRefusedError
from qwidgets.widgets.training_progress import (
    FINAL_STATUSES,
    MAX_FAILURES,
    check_intervals,
    progress_fields,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from qwidgets.client import AsyncQcogClient

SYNCED_EVENTS = 50
# What ``update()`` accepts: the progress fields a caller feeding the monitor may set.
UPDATABLE = ("status", "training_completion", "current_batch_completion", "pass_index",
             "batch_index", "num_passes", "num_batches", "loss", "failure_reason", "error",
             "model_guid", "state_warning")


class TrainingMonitor(PollingPanel["AsyncQcogClient"]):
    """Live view of one training. Feed it a client (polled on the kernel's loop), a guid to
    reattach to, or nothing and call ``push()`` / ``update()`` yourself."""

    _bundle_name: ClassVar[str] = "monitor"
    _esm = bundle("monitor")

    title = Unicode("Training", help="Heading shown above the status").tag(sync=True)
    model_guid = Unicode("", help="Guid of the model being trained").tag(sync=True)
    status = Unicode("idle", help="Server status: pending, processing, completed, failed, "
                     "cancelled_pending, cancelled; or idle, connecting, disconnected").tag(sync=True)
    training_completion = Float(0.0, help="Percent of the whole training done").tag(sync=True)
    current_batch_completion = Float(0.0, help="Percent of the current batch done").tag(sync=True)
    pass_index = Int(0, help="Current pass (0-based)").tag(sync=True)
    batch_index = Int(0, help="Current batch within the pass (0-based)").tag(sync=True)
    num_passes = Int(0, help="Passes in the training").tag(sync=True)
    num_batches = Int(0, help="Batches per pass").tag(sync=True)
    loss = Float(None, allow_none=True, help="Latest loss").tag(sync=True)
    eta_seconds = Float(None, allow_none=True, help="Estimated seconds left").tag(sync=True)
    failure_reason = Unicode("", help="Why the server failed the training").tag(sync=True)
    state_warning = Unicode("", help="The server's word that some states did not converge: "
                            "their share and the fix; empty when all did").tag(sync=True)
    events = List(Dict(), help=f"The last {SYNCED_EVENTS} log events").tag(sync=True)

    _batch_x = Bytes(b"", help="float32 LE positions of the decimated per-batch loss").tag(sync=True)
    _batch_y = Bytes(b"", help="float32 LE values of the decimated per-batch loss").tag(sync=True)
    _pass_x = Bytes(b"", help="float32 LE middle batch of each finished pass").tag(sync=True)
    _pass_y = Bytes(b"", help="float32 LE mean loss of each finished pass").tag(sync=True)
    _points = Int(0, help="Values in the kernel's history (the chart may show fewer)").tag(sync=True)
    _can_cancel = Bool(False, help="A training is attached and still running").tag(sync=True)

    # The client already retried each request: whatever still fails is a lost connection.
    retry_on = (Exception,)
    stop_on = (NotFoundError, AuthenticationError)
    max_failures = MAX_FAILURES
    polled = "the training"
    handle = "monitor"
    failure_text = "lost connection to the service: {exc}"
    refusal_text = "the service refused model {panel.model_guid}: {exc}"

    def __init__(self, client: AsyncQcogClient | None = None, *, guid: str | None = None,
                 poll_interval: float = 0.25, max_interval: float = 2.0,
                 update_interval: float = UPDATE_INTERVAL, **kwargs: Any) -> None:
        _check_client(client)
        check_intervals(poll_interval, max_interval, update_interval)
        if guid is not None and (not isinstance(guid, str) or not guid.strip()):
            raise ValidationError("guid", guid, "must be a model guid string",
                                  "pass client.model_guid of the training to watch")
        if client is not None and guid is None and client.model_guid is None:
            raise ValidationError("client", client, "has not started a training",
                                  "call `await client.train(...)` first, or pass guid=...")
        super().__init__(client=client, update_interval=update_interval, **kwargs)
        self.history = LossHistory()
        self.all_events: list[dict[str, str]] = []
        self._chart_dirty = False
        self._dirty = False
        self._due = 0.0
        self._clock: Callable[[], float] = time.monotonic
        self._eta = _Eta()
        self._guid = guid or (client.model_guid if client else None)
        self._poll_interval, self._max_interval = poll_interval, max_interval
        self._requests.register(Request.STOP_TRAINING, self._on_stop_request)
        if self._guid is not None:
            self._stage(model_guid=self._guid, status="connecting", _can_cancel=True)
            if self._start_if_possible() is None:
                self.log_event("not polling yet (no running event loop): "
                               "`await monitor.wait()` starts it")
            self._throttle_now()

    @classmethod
    def attach(cls, guid: str, client: AsyncQcogClient | None = None,
               **kwargs: Any) -> TrainingMonitor:
        """Reattach to an existing training by model guid (after a kernel restart). With no
        client, the embedded simulator's default client is created."""
        return cls(client, guid=guid, **kwargs)

    @property
    def client(self) -> AsyncQcogClient | None:
        client: AsyncQcogClient | None = self._client
        return client

    # ------------------------------------------------------------ feeding

    def push(self, values: float | npt.ArrayLike) -> None:
        """Append per-batch loss values (one number or an array) to the history."""
        if type(values) is float or type(values) is int:  # the per-step hot path
            self.history.append(values)
        else:
            self.history.extend(values)
        self._chart_dirty = True
        if not self._dirty or self._clock() >= self._due:
            self._request()

    def end_pass(self) -> None:
        """The values pushed so far close a pass (its mean is drawn as a point)."""
        self.history.end_pass()
        self._chart_dirty = True
        self._request()

    def update(self, **fields: Any) -> None:
        """Set progress fields (see ``UPDATABLE``); sent with the next throttled refresh."""
        for name in fields:
            if name not in UPDATABLE:
                raise ValidationError(name, fields[name], f"is not a progress field; known: "
                                      f"{', '.join(UPDATABLE)}", "use one of those names")
        self._stage(**fields)

    def _stage(self, **fields: Any) -> None:
        if "status" in fields and fields["status"] != self._staged("status"):
            self.log_event(f"status: {fields['status']}",
                           "error" if fields["status"] == "failed" else "info")
        if fields.get("state_warning") and not self._staged("state_warning"):
            # Logged as it appears, not per batch: the counts in its text change every poll.
            self.log_event(f"warning: {fields['state_warning']}", "warning")
        if "training_completion" in fields:
            self._pending["eta_seconds"] = self._eta.update(float(fields["training_completion"]),
                                                           self._clock())
        self._dirty = True
        super()._stage(**fields)

    def log_event(self, text: str, level: str = "info") -> None:
        event = {"time": time.strftime("%H:%M:%S"), "level": level, "text": str(text)}
        self.all_events.append(event)
        self._pending["events"] = self.all_events[-SYNCED_EVENTS:]
        self._request()

    def finish(self) -> None:
        """Send the state now, whatever the throttle, and refresh the static form (what a
        saved notebook shows)."""
        self._send_now()

    def _apply(self, progress: dict[str, Any], matrix: Any) -> bool:
        """Take in one poll's answer; True if anything changed."""
        fields = progress_fields(progress)
        fields["state_warning"] = str(progress.get("state_warning") or "")
        final = fields["status"] in FINAL_STATUSES
        added = self.history.sync_matrix(matrix, fields["num_batches"], final)
        if added:
            self._chart_dirty = True
        changed = {k: v for k, v in fields.items() if self._staged(k) != v}
        if changed:
            self._stage(**changed)
        elif added:
            self._request()
        return bool(added or changed)

    # ------------------------------------------------------------ polling

    def pacing(self) -> Pacing:
        return Pacing(fast=self._poll_interval, slow=self._max_interval,
                      max_backoff=self._max_interval)

    def _check_startable(self) -> None:
        if self._guid is None:
            raise UsageError("this monitor watches no training: create it with a client that "
                             "started one, or with guid=...")

    def _no_loop_hint(self) -> str:
        return "use `await monitor.wait()` (in a script: `asyncio.run(monitor.wait())`)"

    def _on_polling(self, active: bool) -> None:
        super()._on_polling(active)
        if active and self._staged("status") == "disconnected":
            self._stage(status="connecting", error="")

    def _on_failure(self, message: str) -> None:
        self._stage(error=message)
        self.log_event(message, "error")

    def _on_recovered(self) -> None:
        self._stage(error="")
        self.log_event("connection back")

    def _on_refusal(self, message: str) -> None:
        self._stage(status="disconnected", error=message, _can_cancel=False)
        self.log_event(message, "error")

    async def _open_client(self) -> AsyncQcogClient:
        from qwidgets.client import AsyncQcogClient

        return await AsyncQcogClient.create()

    async def _attached(self) -> AsyncQcogClient:
        guid = self._guid
        assert guid is not None
        try:
            client = await self._connection()
            if client.model_guid != guid:
                await client.preloaded_model(guid)
        except Exception as exc:
            raise PollingRefusedError(f"could not attach to model {guid}: {exc}") from exc
        return client

    async def _poll(self) -> Polled:
        client = await self._attached()
        progress = await client.progress()
        changed = self._apply(progress, client.trained_model.get("loss"))
        status = str(progress.get("status"))
        if status in FINAL_STATUSES:
            if status == "failed":
                self.log_event(f"failed: {progress.get('failure_reason') or 'no reason'}", "error")
            return Polled.ENDED
        return Polled.CHANGED if changed else Polled.UNCHANGED

    # ------------------------------------------------------------ control

    async def wait(self) -> str:
        """Poll until the training ends (runs the polling here if no task is running, as in a
        script: ``asyncio.run(monitor.wait())``); returns the final status."""
        if self.task is None and self._staged("status") in FINAL_STATUSES:
            return str(self._staged("status"))
        await self.watch()
        return str(self._staged("status"))

    async def cancel(self) -> str:
        """Cancel the training on the server; the status goes cancelled_pending, cancelled."""
        if self._guid is None:
            raise UsageError("nothing to cancel: this monitor watches no training")
        client = await self._attached()
        self.log_event("cancel requested")
        await client.cancel()
        status = str(client.last_status or "cancelled_pending")
        self._stage(status=status, _can_cancel=False)
        self._throttle_now()
        if self.task is not None:
            self.wake()  # see the end of the cancel now, not after a backed-off sleep
        else:
            self._start_if_possible()
        return status

    async def _on_stop_request(self) -> dict[str, str]:
        try:
            return {"status": await self.cancel()}
        except Exception as exc:  # shown in the log as well as next to the button
            self.log_event(f"cancel failed: {exc}", "error")
            self._throttle_now()
            raise

    # ------------------------------------------------------------ views of the history

    def loss_matrix(self) -> list[list[float]]:
        """The history as passes x batches rows, like ``client.loss()``."""
        return self.history.matrix()

    def figure(self) -> go.Figure:
        """A plotly figure of the whole history: per-batch loss and per-pass means."""
        import plotly.graph_objects as go

        values = self.history.values
        scatter = go.Scattergl if len(values) > 20_000 else go.Scatter
        fig = go.Figure()
        fig.add_trace(scatter(x=np.arange(len(values)), y=values.copy(), mode="lines",
                              name="loss per batch"))
        px, py = self.history.pass_means()
        if len(px):
            fig.add_trace(go.Scatter(x=px, y=py, mode="markers+lines", name="mean per pass"))
        fig.update_layout(title=f"{self.title}: {self.status}", xaxis_title="batch",
                          yaxis_title="loss", template="plotly_white")
        return fig

    def static_html(self) -> str:
        return monitor_html(self._state(), self.history.values, self.all_events)

    def static_text(self) -> str:
        return monitor_text(self._state())

    # ------------------------------------------------------------ throttled sending

    def _state(self) -> dict[str, Any]:
        names = ("title", "status", "training_completion", "loss", "model_guid",
                 "failure_reason", "error", "state_warning")
        return {n: self._pending.get(n, getattr(self, n)) for n in names}

    def _request(self) -> None:
        self._dirty = True
        self._throttle.request()

    def _flush(self) -> None:
        self._dirty = False
        self._due = self._clock() + self._throttle.interval
        if self._chart_dirty:
            self._chart_dirty = False
            self._pending.update(self._chart_state())
        if self._pending.get("status") in FINAL_STATUSES:
            self._static_due = True
        super()._flush()

    def _chart_state(self) -> dict[str, Any]:
        values = self.history.values
        small = minmax(values, MAX_POINTS)
        px, py = self.history.pass_means()
        if len(px) > MAX_POINTS:
            keep = minmax(py, MAX_POINTS).x
            px, py = px[keep], py[keep]
        state: dict[str, Any] = {
            "_batch_x": _f32(small.x), "_batch_y": _f32(small.y), "_pass_x": _f32(px),
            "_pass_y": _f32(py), "_points": len(values)}
        if len(values) and "loss" not in self._pending:
            last = float(values[-1])
            state["loss"] = last if np.isfinite(last) else None
        return state


class _Eta:
    """Seconds left from the completion rate since the first progress seen."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None

    def update(self, completion: float, now: float) -> float | None:
        if completion >= 100:
            return 0.0
        if self._start is None or completion < self._start[1]:
            self._start = (now, completion)
            return None
        t0, c0 = self._start
        if completion <= c0:
            return None
        return (now - t0) * (100.0 - completion) / (completion - c0)


def _f32(values: npt.ArrayLike) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def _check_client(client: Any) -> None:
    if client is None:
        return
    from qwidgets.client import AsyncQcogClient, QcogClient

    if isinstance(client, QcogClient):
        raise ValidationError(
            "client", client, "must be an AsyncQcogClient (a QcogClient runs on its own thread)",
            "create one with `client = await AsyncQcogClient.create(...)`, or reattach with "
            "TrainingMonitor.attach(sync_client.model_guid, client=that_async_client)")
    if not isinstance(client, AsyncQcogClient):
        raise ValidationError("client", type(client).__name__, "must be an AsyncQcogClient",
                              "pass the client that started the training")

