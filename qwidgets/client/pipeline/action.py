"""One step of a pipeline: ``Action`` (subclass it) and ``FunctionAction`` (wrap a function).
An action runs its ``execute`` as a child task that ``stop()`` can cancel, and tells each step
through an ``Event`` to its own handlers and to its pipeline."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from qwidgets.client.errors import UsageError
from qwidgets.client.pipeline.events import (
    INTERRUPTED,
    NOT_STARTED,
    ActionState,
    Event,
    HandlerLike,
    HandlerSet,
    PipelineStopped,
)
from qwidgets.client.pipeline.state import check_name, json_safe
from qwidgets.errors import TrainingCancelled

if TYPE_CHECKING:
    from qwidgets.client.pipeline.runner import Pipeline

log = logging.getLogger(__name__)


class Action:
    """One step of a pipeline. Subclasses override ``execute(input) -> output`` and, when
    stopping must undo something outside this process, ``on_stop()``.

    Inside ``execute``: ``report(status, **data)`` tells progress (a Running event) and
    ``remember(**progress)`` records what a resume needs (written to the checkpoint at once).
    ``statuses`` names the status string of each state (``{ActionState.Done: "Loaded"}``).
    """

    statuses: ClassVar[Mapping[ActionState, str]] = {}
    default_name: ClassVar[str] = ""
    # How long on_stop may take before the action is marked Stopped anyway.
    stop_timeout: ClassVar[float] = 60.0

    def __init__(self, name: str | None = None) -> None:
        self.name = check_name(name or self.default_name or type(self).__name__, "name")
        self._handlers = HandlerSet()
        self._pipeline: Pipeline | None = None
        self._body: asyncio.Future[Any] | None = None
        self._stop_requested = False
        self.reset()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.state or NOT_STARTED}: {self.status}>"

    # ------------------------------------------------------------ what it is now

    @property
    def state(self) -> ActionState | None:
        """None before it first runs."""
        return self._state

    @property
    def status(self) -> str:
        return self._status

    @property
    def data(self) -> dict[str, Any]:
        """The data of its latest event."""
        return dict(self._data)

    @property
    def running(self) -> bool:
        return self._body is not None

    @property
    def pipeline(self) -> Pipeline | None:
        return self._pipeline

    def attach(self, pipeline: Pipeline) -> None:
        """Become one of ``pipeline``'s actions (its constructor calls this once it has
        checked them all): events go to the pipeline too, and progress to its checkpoint."""
        self._pipeline = pipeline

    def reset(self, *, keep_progress: bool = False) -> None:
        if self.running:
            raise UsageError(f"action {self.name} is running; stop it first")
        self._state: ActionState | None = None
        self._status = NOT_STARTED
        self._data: dict[str, Any] = {}
        self.output: Any = None
        self.record: Any = None
        self.error: BaseException | None = None
        self.started: float | None = None
        self.finished: float | None = None
        if not keep_progress:
            self.progress: dict[str, Any] = {}

    # ------------------------------------------------------------ handlers

    def add_handler(self, handler: HandlerLike) -> HandlerLike:
        """``handler(event)`` is called for this action's events only."""
        return self._handlers.add(handler)

    def remove_handler(self, handler: HandlerLike) -> None:
        self._handlers.remove(handler)

    # ------------------------------------------------------------ to override

    async def execute(self, input: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.execute(input) is not implemented")

    async def on_stop(self) -> Mapping[str, Any]:
        """Undo what outlives the cancelled ``execute`` (a server-side job); returns data for
        the Stopped event."""
        return {}

    def to_record(self, output: Any) -> Any:
        """What the checkpoint keeps of the output (JSON); ``from_record`` rebuilds it."""
        return output

    def from_record(self, record: Any) -> Any:
        return record

    def done_data(self, output: Any) -> Mapping[str, Any]:
        return {}

    def error_data(self, exc: BaseException) -> Mapping[str, Any]:
        data: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
        reason = getattr(exc, "reason", None)
        if reason:
            data["reason"] = reason
        return data

    def status_for(self, state: ActionState) -> str:
        return self.statuses.get(state, state.value)

    # ------------------------------------------------------------ used by execute

    def report(self, status: str | None = None, **data: Any) -> None:
        """A Running event (progress); repeated statuses are fine, each is an event."""
        self._emit(ActionState.Running, status or self.status_for(ActionState.Running), data)

    def remember(self, **progress: Any) -> None:
        """Keep what a resume needs (``model_guid=...``); saved to the checkpoint now."""
        self.progress.update(json_safe(progress))
        if self._pipeline is not None:
            self._pipeline.save()

    # ------------------------------------------------------------ running

    async def run(self, input: Any = None) -> Any:
        """Run ``execute`` as a child task, so ``stop()`` can cancel it mid-way."""
        if self.running:
            raise UsageError(f"action {self.name} is already running")
        self._stop_requested = False
        self.error = None
        self.started, self.finished = time.time(), None
        self._emit(ActionState.Preceding, self.status_for(ActionState.Preceding), {})
        body = asyncio.ensure_future(self.execute(input))
        self._body = body
        try:
            output = await body
        except (asyncio.CancelledError, TrainingCancelled) as exc:
            # stop() cancelled the body, the enclosing task was cancelled, or the work was
            # cancelled elsewhere (a server-side cancel): all end Stopped.
            body.cancel()
            await asyncio.wait([body])
            data = await self._stopped_data()
            self.finished = time.time()
            self._body = None
            self._emit(ActionState.Stopped, self.status_for(ActionState.Stopped), data)
            if isinstance(exc, asyncio.CancelledError) and not self._stop_requested:
                raise
            stopped = PipelineStopped(self._pipeline.name if self._pipeline else None,
                                      self.name)
            self.error = stopped
            raise stopped from (exc if isinstance(exc, TrainingCancelled) else None)
        except Exception as exc:
            self.error = exc
            self.finished = time.time()
            self._body = None
            self._emit(ActionState.Error, self.status_for(ActionState.Error),
                       self.error_data(exc))
            raise
        self._body = None
        self.output = output
        self.record = json_safe(self.to_record(output))
        self.finished = time.time()
        self._emit(ActionState.Done, self.status_for(ActionState.Done),
                   {**self.done_data(output), "elapsed": self.finished - self.started})
        return output

    def stop(self) -> bool:
        """Cancel the running ``execute`` (then ``on_stop`` runs); False if not running."""
        if self._body is None or self._body.done():
            return False
        self._stop_requested = True
        self._body.cancel()
        return True

    async def _stopped_data(self) -> dict[str, Any]:
        try:
            return dict(await asyncio.wait_for(self.on_stop(), self.stop_timeout))
        except asyncio.TimeoutError:
            return {"error": f"on_stop took more than {self.stop_timeout} s"}
        except Exception as exc:
            log.exception("on_stop of %s failed", self.name)
            return {"error": f"on_stop failed: {type(exc).__name__}: {exc}"}

    def _emit(self, state: ActionState, status: str, data: Mapping[str, Any]) -> None:
        self._state, self._status, self._data = state, status, dict(data)
        event = Event(self.name, state, status, self._data,
                      pipeline=self._pipeline.name if self._pipeline else None)
        self._handlers.call(event)
        if self._pipeline is not None:
            self._pipeline.receive(event)

    def restore_entry(self, entry: Mapping[str, Any]) -> None:
        """Take the state a checkpoint recorded (a running action becomes Interrupted)."""
        self.reset()
        self.progress = dict(entry.get("progress") or {})
        state = entry.get("state")
        if state == ActionState.Done.value:
            self._state = ActionState.Done
            self._status = str(entry.get("status") or self.status_for(ActionState.Done))
            self.record = entry.get("record")
            self.output = self.from_record(self.record)
        elif state in (ActionState.Preceding.value, ActionState.Running.value):
            self._state, self._status = ActionState.Stopped, INTERRUPTED
        elif state in (ActionState.Error.value, ActionState.Stopped.value):
            self._state, self._status = ActionState(state), str(entry.get("status") or state)
        self._data = dict(entry.get("data") or {})

    def checkpoint_entry(self) -> dict[str, Any]:
        """What the pipeline's checkpoint keeps of this action (``restore_entry`` reads it)."""
        return {"name": self.name, "state": self._state.value if self._state else None,
                "status": self._status, "record": self.record if self._state is
                ActionState.Done else None, "progress": self.progress,
                "data": json_safe(self._data)}


class FunctionAction(Action):
    """An action made of an async (or plain) function of the previous output."""

    def __init__(self, function: Callable[[Any], Any], name: str | None = None) -> None:
        super().__init__(name or getattr(function, "__name__", None))
        self._function = function

    async def execute(self, input: Any) -> Any:
        result = self._function(input)
        if inspect.isawaitable(result):
            result = await result
        return result
