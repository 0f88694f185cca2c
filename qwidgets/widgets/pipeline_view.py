"""``PipelineView``: each action of a pipeline with its state badge and status, a timeline of
its events, and Stop / Resume buttons.

    pipe = TrainingPipeline(client, data=df, ...)
    PipelineView(pipe)
    pipe.start()

The view is a handler of the pipeline's events: it never polls and never talks to a server
itself; Stop and Resume call ``pipeline.stop()`` / ``pipeline.start(resume=True)``. Updates
reach the browser at most ten times a second, and the last state always goes out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from traitlets import Bool, Dict, Float, Int, List, Unicode

from qwidgets.client.pipeline.runner import FINAL_STATES, ActionState, Event, Pipeline
from qwidgets.errors import ValidationError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import QWidget, bundle, escape
from qwidgets.widgets.throttle import Throttle

SYNCED_EVENTS = 50
STATIC_EVENTS = 8


class PipelineView(QWidget):
    """Live view of a ``qwidgets.client.Pipeline`` (a TrainingPipeline or your own)."""

    _bundle_name: ClassVar[str] = "pipeline_view"
    _esm = bundle("pipeline_view")

    title = Unicode("", help="Heading: the pipeline's name").tag(sync=True)
    state = Unicode("", help="Pipeline state: '' before it runs, Running, Done, Error, "
                    "Stopped").tag(sync=True)
    status = Unicode("NotStarted", help="Status of the action running now (or last)").tag(sync=True)
    actions = List(Dict(), help="One row per action: name, state, status, progress, detail"
                   ).tag(sync=True)
    events = List(Dict(), help=f"The last {SYNCED_EVENTS} events: t, action, state, status, "
                  "detail").tag(sync=True)
    event_count = Int(0, help="Events so far (the timeline shows the last ones)").tag(sync=True)
    error = Unicode("", help="Why the pipeline failed, or a Stop/Resume problem").tag(sync=True)

    _t0 = Float(0.0, help="Timestamp of the first event (the timeline's zero)").tag(sync=True)
    _running = Bool(False, help="The pipeline runs now (Stop enabled)").tag(sync=True)

    def __init__(self, pipeline: Pipeline, *, update_interval: float = 0.1,
                 **kwargs: Any) -> None:
        if not isinstance(pipeline, Pipeline):
            raise ValidationError("pipeline", type(pipeline).__name__,
                                  "must be a qwidgets.client.Pipeline",
                                  "e.g. PipelineView(TrainingPipeline(client, ...))")
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self._request_error = ""
        self._progress: dict[str, float] = {}
        self._throttle = Throttle(self._flush, update_interval)
        self._handler = pipeline.add_handler(self._on_event)
        self._requests.register(Request.STOP, self._on_stop)
        self._requests.register(Request.RESUME, self._on_resume)
        self._flush()

    def close(self) -> None:
        # Also reached from __del__ of a view whose __init__ failed half-way.
        pipeline, throttle = getattr(self, "pipeline", None), getattr(self, "_throttle", None)
        if pipeline is not None:
            pipeline.remove_handler(getattr(self, "_handler", None))
        if throttle is not None:
            throttle.cancel()
        super().close()

    # ------------------------------------------------------------ events in, state out

    def _on_event(self, event: Event) -> None:
        if event.action is not None:
            # A Stopped or failed action keeps showing how far it got.
            progress = event.data.get("progress")
            if event.state is ActionState.Preceding:
                self._progress.pop(event.action, None)
            elif isinstance(progress, (int, float)) and not isinstance(progress, bool):
                self._progress[event.action] = float(progress)
        if event.action is None and event.state in FINAL_STATES:
            # The pipeline ended: send now, and leave a static form of the last state.
            self._throttle.request()
            self._throttle.finish()
            self.refresh_static()
            return
        self._throttle.request()

    def _flush(self) -> None:
        p = self.pipeline
        events = list(p.events)
        with self.hold_sync():
            self.title = p.name
            self.state = p.state.value if p.state else ""
            self.status = p.status
            self.actions = [_action_row(a.name, a.state, a.status, a.data,
                                        self._progress.get(a.name)) for a in p.actions]
            self.events = [_event_row(e) for e in events[-SYNCED_EVENTS:]]
            self.event_count = p.snapshot()["event_count"]
            self._t0 = events[0].timestamp if events else 0.0
            self._running = p.running
            self.error = self._request_error or (
                f"{type(p.error).__name__}: {p.error}"
                if p.state is ActionState.Error and p.error else "")

    # ------------------------------------------------------------ Stop / Resume

    async def _on_stop(self) -> dict[str, Any]:
        self._request_error = ""
        await self.pipeline.stop()
        self._throttle.finish()
        return {"state": self.state}

    def _on_resume(self) -> dict[str, Any]:
        self._request_error = ""
        if self.pipeline.running:
            return {"state": "Running"}
        try:
            self.pipeline.start(resume=True)
        except Exception as exc:
            self._request_error = str(exc)
            self._throttle.request()
            raise
        self._throttle.request()
        return {"state": "Running"}

    # ------------------------------------------------------------ static form

    def static_html(self) -> str:
        state = self.state or "Waiting"
        rows = [
            f"<div class='qw-static qw-pipeline-static' data-state='{escape(state)}'>",
            f"<div><strong>{escape(self.title or 'Pipeline')}</strong> "
            f"<span class='qw-badge' data-state='{escape(state)}'>{escape(state)}</span> "
            f"<span>{escape(self.status)}</span></div>",
        ]
        if self.error:
            rows.append(f"<div style='color:#d32f2f'>{escape(self.error)}</div>")
        rows.append("<table class='qw-static-steps'><tbody>")
        for i, row in enumerate(self.actions, 1):
            row_state = row.get("state") or "Waiting"
            rows.append(
                f"<tr><td>{i}.</td><td>{escape(row.get('name'))}</td>"
                f"<td><span class='qw-badge' data-state='{escape(row_state)}'>"
                f"{escape(row_state)}</span></td><td>{escape(row.get('status'))}</td>"
                f"<td>{escape(row.get('detail') or '')}</td></tr>")
        rows.append("</tbody></table>")
        if self.events:
            rows.append("<ol class='qw-static-timeline' style='font-family:monospace'>")
            for e in self.events[-STATIC_EVENTS:]:
                rows.append(f"<li>{escape(_event_text(e, self._t0))}</li>")
            rows.append("</ol>")
        rows.append("</div>")
        return "".join(rows)

    def static_text(self) -> str:
        steps = ", ".join(f"{r.get('name')}: {r.get('state') or 'Waiting'} ({r.get('status')})"
                          for r in self.actions)
        return f"{self.title or 'Pipeline'} {self.state or 'Waiting'}: {steps}"


def _action_row(name: str, state: ActionState | None, status: str,
                data: Mapping[str, Any], last_progress: float | None) -> dict[str, Any]:
    progress = data.get("progress")
    if state is ActionState.Done:
        progress = 100.0
    elif not isinstance(progress, (int, float)) or isinstance(progress, bool):
        progress = last_progress if state is not None else None
    return {"name": name, "state": state.value if state else "", "status": status,
            "progress": progress, "guid": str(data.get("guid") or ""),
            "detail": describe(state, data)}


def _event_row(event: Event) -> dict[str, Any]:
    return {"t": event.timestamp, "action": event.action or "", "state": event.state.value,
            "status": event.status, "detail": describe(event.state, event.data)}


def describe(state: ActionState | None, data: Mapping[str, Any]) -> str:
    """A short line of what an event's data says (progress, loss, guid, error)."""
    if state is ActionState.Error:
        return str(data.get("reason") or data.get("error") or "")
    parts: list[str] = []
    if data.get("num_passes"):
        parts.append(f"pass {min(int(data.get('pass_index') or 0) + 1, int(data['num_passes']))}"
                     f" of {data['num_passes']}")
    if isinstance(data.get("progress"), (int, float)) and state is ActionState.Running:
        parts.append(f"{float(data['progress']):.0f}%")
    if isinstance(data.get("loss"), (int, float)):
        parts.append(f"loss {float(data['loss']):.4g}")
    if data.get("version") is not None and data.get("name"):
        parts.append(f"{data['name']} v{data['version']}")
    if isinstance(data.get("rows"), int):
        parts.append(f"{data['rows']} rows")
    if data.get("server_status") and state is ActionState.Stopped:
        parts.append(f"server: {data['server_status']}")
    if data.get("guid"):
        parts.append(f"guid {str(data['guid'])[:8]}")
    if data.get("error"):
        parts.append(str(data["error"]))
    return " · ".join(parts)


def _event_text(event: Mapping[str, Any], t0: float) -> str:
    t = float(event.get("t") or 0.0)
    clock = time.strftime("%H:%M:%S", time.localtime(t))
    who = event.get("action") or "pipeline"
    detail = f" {event['detail']}" if event.get("detail") else ""
    return (f"{clock} +{max(t - t0, 0.0):.2f}s {who} {event.get('state')} "
            f"{event.get('status')}{detail}")
