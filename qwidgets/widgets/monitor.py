"""``TrainingMonitor``: status, progress, ETA, a live loss chart, an event log and a Cancel
button for a training on a qcog service (by default the embedded simulator).

    monitor = TrainingMonitor(client)          # a client that started a training
    monitor = TrainingMonitor.attach(guid)     # after a kernel restart, by model guid

Polling is one asyncio task on the kernel's running loop, so other cells run meanwhile and
Cancel reaches Python. The whole loss history stays in the kernel; the browser gets a min/max
decimated window of it as float32 buffers, at most ten times a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
from traitlets import Bool, Bytes, Dict, Float, Int, List, Unicode

from qwidgets.errors import ValidationError
from qwidgets.widgets.base import QWidget, bundle
from qwidgets.widgets.decimate import MAX_POINTS, minmax
from qwidgets.widgets.loss_history import LossHistory
from qwidgets.widgets.monitor_poll import FINAL_STATUSES, Poller, check_intervals, progress_fields
from qwidgets.widgets.monitor_static import monitor_html, monitor_text
from qwidgets.widgets.throttle import Throttle

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from qwidgets.client import AsyncQcogClient

SYNCED_EVENTS = 50
# Eight refreshes a second, not ten: the first and the final state go out at once, outside the
# rhythm, and the total must stay under Jupyter's ten messages a second.
UPDATE_INTERVAL = 0.125
# What ``update()`` accepts: the progress fields a caller feeding the monitor may set.
UPDATABLE = ("status", "training_completion", "current_batch_completion", "pass_index",
             "batch_index", "num_passes", "num_batches", "loss", "failure_reason", "error",
             "model_guid")


class TrainingMonitor(QWidget):
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
    error = Unicode("", help="A problem on our side (lost connection...)").tag(sync=True)
    events = List(Dict(), help=f"The last {SYNCED_EVENTS} log events").tag(sync=True)

    _batch_x = Bytes(b"", help="float32 LE positions of the decimated per-batch loss").tag(sync=True)
    _batch_y = Bytes(b"", help="float32 LE values of the decimated per-batch loss").tag(sync=True)
    _pass_x = Bytes(b"", help="float32 LE middle batch of each finished pass").tag(sync=True)
    _pass_y = Bytes(b"", help="float32 LE mean loss of each finished pass").tag(sync=True)
    _points = Int(0, help="Values in the kernel's history (the chart may show fewer)").tag(sync=True)
    _can_cancel = Bool(False, help="A training is attached and still running").tag(sync=True)

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
        super().__init__(**kwargs)
        self.history = LossHistory()
        self.all_events: list[dict[str, str]] = []
        self._pending: dict[str, Any] = {}
        self._chart_dirty = False
        self._dirty = False
        self._force_static = False
        self._due = 0.0
        self._clock: Callable[[], float] = time.monotonic
        self._throttle = Throttle(self._flush, update_interval)
        self._eta = _Eta()
        self._poller = Poller(self, client, guid or (client.model_guid if client else None),
                              poll_interval, max_interval)
        self._requests.register("stop_training", self._on_stop_request)
        if self._poller.guid is not None:
            self._set(model_guid=self._poller.guid, status="connecting", _can_cancel=True)
            self._poller.start(quiet=True)
            self._throttle.finish()

    @classmethod
    def attach(cls, guid: str, client: AsyncQcogClient | None = None,
               **kwargs: Any) -> TrainingMonitor:
        """Reattach to an existing training by model guid (after a kernel restart). With no
        client, the embedded simulator's default client is created."""
        return cls(client, guid=guid, **kwargs)

    @property
    def client(self) -> AsyncQcogClient | None:
        return self._poller.client

    @property
    def task(self) -> asyncio.Task[str] | None:
        """The polling task (None before it starts and in a loop-less script)."""
        return self._poller.task

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
        self._set(**fields)

    def _set(self, **fields: Any) -> None:
        if "status" in fields and fields["status"] != self._pending.get("status", self.status):
            self.log_event(f"status: {fields['status']}",
                           "error" if fields["status"] == "failed" else "info")
        if "training_completion" in fields:
            self._pending["eta_seconds"] = self._eta.update(float(fields["training_completion"]),
                                                           self._clock())
        self._pending.update(fields)
        self._request()

    def log_event(self, text: str, level: str = "info") -> None:
        event = {"time": time.strftime("%H:%M:%S"), "level": level, "text": str(text)}
        self.all_events.append(event)
        self._pending["events"] = self.all_events[-SYNCED_EVENTS:]
        self._request()

    def finish(self) -> None:
        """Send the state now, whatever the throttle, and refresh the static form (what a
        saved notebook shows)."""
        self._force_static = True
        self._request()
        self._throttle.finish()

    def _apply(self, progress: dict[str, Any], matrix: Any) -> bool:
        """Take in one poll's answer; True if anything changed."""
        fields = progress_fields(progress)
        final = fields["status"] in FINAL_STATUSES
        added = self.history.sync_matrix(matrix, fields["num_batches"], final)
        if added:
            self._chart_dirty = True
        changed = {k: v for k, v in fields.items() if self._pending.get(k, getattr(self, k)) != v}
        if changed:
            self._set(**changed)
        elif added:
            self._request()
        return bool(added or changed)

    # ------------------------------------------------------------ control

    def start(self) -> None:
        """Start (or restart, after a lost connection) polling on the running loop."""
        self._poller.start()

    async def wait(self) -> str:
        """Poll until the training ends (runs the polling here if no task is running, as in a
        script: ``asyncio.run(monitor.wait())``); returns the final status."""
        return await self._poller.wait()

    async def cancel(self) -> str:
        """Cancel the training on the server; the status goes cancelled_pending, cancelled."""
        return await self._poller.cancel()

    async def _on_stop_request(self) -> dict[str, str]:
        try:
            return {"status": await self.cancel()}
        except Exception as exc:  # shown in the log as well as next to the button
            self.log_event(f"cancel failed: {exc}", "error")
            self._throttle.finish()
            raise

    def close(self) -> None:
        # getattr: close() also runs from __del__ of an instance whose __init__ raised
        poller, throttle = getattr(self, "_poller", None), getattr(self, "_throttle", None)
        if poller is not None:
            poller.stop()
        if throttle is not None:
            throttle.cancel()
        super().close()

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
                 "failure_reason", "error")
        return {n: self._pending.get(n, getattr(self, n)) for n in names}

    def _request(self) -> None:
        self._dirty = True
        self._throttle.request()

    def _flush(self) -> None:
        self._dirty = False
        self._due = self._clock() + self._throttle.interval
        pending, self._pending = self._pending, {}
        if self._chart_dirty:
            self._chart_dirty = False
            pending.update(self._chart_state())
        with self.hold_sync():
            for name, value in pending.items():
                setattr(self, name, value)
        if self._force_static or pending.get("status") in FINAL_STATUSES:
            self._force_static = False
            self.refresh_static()

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

