"""Actions run in order by a Pipeline, each telling what it does through Events.

    pipeline = Pipeline([LoadAction(), TrainAction(), ...], name="demo", checkpoint=True)
    pipeline.add_handler(lambda event: print(event.action, event.state, event.status))
    task = pipeline.start()          # a task on the running loop (Jupyter's)
    await pipeline.stop()            # takes effect inside the running action
    await pipeline.resume()          # continues after the last completed action

Every action goes Preceding -> Running... -> Done | Error | Stopped, and its ``state`` and
``status`` are updated before each event is handed out, so reading them is always current.
Handlers are explicit: one added to an action hears that action only; one added to the
pipeline hears all of its actions and the pipeline's own events (``event.action`` None).

With a checkpoint, the pipeline writes its progress (each completed action's record, and what
a running action needs to be picked up again, such as a model guid) to a small JSON file, so
``restore()`` + ``resume()`` continue after a kernel restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from qwidgets.client.errors import UsageError
from qwidgets.client.pipeline.state import (
    check_name,
    checkpoint_body,
    checkpoint_path,
    json_safe,
    read_checkpoint,
    write_json,
)
from qwidgets.errors import QwidgetsWarning, TrainingCancelled, ValidationError

log = logging.getLogger(__name__)

NOT_STARTED = "NotStarted"
INTERRUPTED = "Interrupted"
# The pipeline keeps this many recent events; a widget shows a window of them.
MAX_EVENTS = 5000


class ActionState(str, enum.Enum):
    Preceding = "Preceding"
    Running = "Running"
    Done = "Done"
    Error = "Error"
    Stopped = "Stopped"

    def __str__(self) -> str:
        return self.value


FINAL_STATES = frozenset({ActionState.Done, ActionState.Error, ActionState.Stopped})


@dataclass(frozen=True)
class Event:
    """One step of an action (``action`` its name) or of the pipeline (``action`` None)."""

    action: str | None
    state: ActionState
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    pipeline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state.value, "status": self.status,
                "data": json_safe(dict(self.data)), "timestamp": self.timestamp,
                "pipeline": self.pipeline}


class PipelineStopped(TrainingCancelled):
    """The pipeline (or one action) ended because ``stop()`` was called."""

    def __init__(self, pipeline: str | None, action: str | None) -> None:
        self.pipeline = pipeline
        self.action = action
        where = f" during {action}" if action else ""
        super().__init__(f"pipeline {pipeline or ''} stopped{where}; resume() continues "
                         "from the last completed action".replace("  ", " "))


class EventHandler:
    """Receives events: subclass and override ``dispatch``, or wrap a function:
    ``EventHandler(print)``. ``dispatch`` may return an awaitable (run as a task)."""

    def __init__(self, function: Callable[[Event], Any] | None = None) -> None:
        self._function = function

    def dispatch(self, event: Event) -> Any:
        if self._function is None:
            raise NotImplementedError("override dispatch(event) or pass a function")
        return self._function(event)

    def __repr__(self) -> str:
        inner = getattr(self._function, "__qualname__", "") if self._function else ""
        return f"{type(self).__name__}({inner})"


HandlerLike = EventHandler | Callable[[Event], Any]


class _Handlers:
    """An ordered set of handlers. One that raises is reported, never allowed to break the
    work it observes; an async one runs as a task kept here until it ends."""

    def __init__(self) -> None:
        self._items: list[HandlerLike] = []
        self._tasks: set[asyncio.Future[Any]] = set()

    def add(self, handler: HandlerLike) -> HandlerLike:
        if not isinstance(handler, EventHandler) and not callable(handler):
            raise ValidationError("handler", handler, "must be an EventHandler or a function "
                                  "taking one Event", "e.g. pipeline.add_handler(print)")
        if handler not in self._items:
            self._items.append(handler)
        return handler

    def remove(self, handler: HandlerLike) -> None:
        with contextlib.suppress(ValueError):
            self._items.remove(handler)

    def __len__(self) -> int:
        return len(self._items)

    def call(self, event: Event) -> None:
        for handler in list(self._items):
            function = handler.dispatch if isinstance(handler, EventHandler) else handler
            try:
                result = function(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._finished)
            except Exception as exc:
                _report(handler, exc)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _report(task, task.exception())


def _report(handler: Any, exc: BaseException | None) -> None:
    log.error("event handler %r raised %r", handler, exc)
    warnings.warn(f"event handler {handler!r} raised {type(exc).__name__}: {exc}",
                  QwidgetsWarning, stacklevel=3)


# ---------------------------------------------------------------- actions


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
        self._handlers = _Handlers()
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
            self._pipeline._receive(event)

    def _restore(self, entry: Mapping[str, Any]) -> None:
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

    def _entry(self) -> dict[str, Any]:
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


# ---------------------------------------------------------------- the pipeline


class _Stopping:
    """What ``stop()`` returns: the request is made at once; awaiting it waits for the end."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def __await__(self) -> Generator[Any, None, None]:
        return self._pipeline.wait().__await__()


class Pipeline:
    """Actions run in order, each output the next one's input."""

    kind: ClassVar[str] = "pipeline"

    def __init__(self, actions: Sequence[Action], *, name: str = "pipeline",
                 checkpoint: str | Path | bool = False,
                 handlers: Iterable[HandlerLike] = ()) -> None:
        self.name = check_name(name)
        actions = tuple(actions)
        if not actions:
            raise ValidationError("actions", [], "must list at least one Action")
        names = [a.name for a in actions]
        for action in actions:
            if not isinstance(action, Action):
                raise ValidationError("actions", action, "must be Action instances",
                                      "wrap a function in FunctionAction(fn)")
            if names.count(action.name) > 1:
                raise ValidationError("actions", names, "action names must be unique",
                                      "pass name=... to the actions")
            if action._pipeline is not None:
                raise ValidationError("actions", action.name, "this action already belongs to "
                                      f"pipeline {action._pipeline.name}", "create a new one")
        self.actions = actions
        for action in actions:
            action._pipeline = self
        self.checkpoint_path = self.resolve_checkpoint(self.name, checkpoint)
        self.events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._handlers = _Handlers()
        for handler in handlers:
            self._handlers.add(handler)
        self._state: ActionState | None = None
        self._status = NOT_STARTED
        self._current: Action | None = None
        self._running = False
        self._ended: asyncio.Event | None = None
        self._stop_requested = False
        self._task: asyncio.Task[Any] | None = None
        self._event_count = 0
        self.result: Any = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} {self.state or NOT_STARTED}: "
                f"{self.status}; " + ", ".join(f"{a.name}={a.state or '-'}"
                                                 for a in self.actions) + ">")

    @staticmethod
    def resolve_checkpoint(name: str, checkpoint: str | Path | bool | None) -> Path | None:
        """True: the default path for ``name``; False/None: no checkpoint; else that path."""
        if checkpoint is True:
            return checkpoint_path(name)
        if checkpoint is False or checkpoint is None:
            return None
        return Path(checkpoint).expanduser()

    # ------------------------------------------------------------ what it is now

    @property
    def state(self) -> ActionState | None:
        """Running while it runs, then Done, Error or Stopped; None before the first run."""
        return self._state

    @property
    def status(self) -> str:
        """The status of the action running now (or of the last one that ran)."""
        return self._status

    @property
    def running(self) -> bool:
        return self._running

    @property
    def current(self) -> Action | None:
        return self._current

    @property
    def task(self) -> asyncio.Task[Any] | None:
        return self._task

    def action(self, name: str) -> Action:
        for action in self.actions:
            if action.name == name:
                return action
        raise ValidationError("name", name, f"must be one of {[a.name for a in self.actions]}")

    @property
    def outputs(self) -> dict[str, Any]:
        return {a.name: a.output for a in self.actions if a.state is ActionState.Done}

    def snapshot(self) -> dict[str, Any]:
        """JSON of the state now (what a widget shows)."""
        return {"name": self.name, "state": self._state.value if self._state else None,
                "status": self._status, "running": self._running,
                "current": self._current.name if self._current else None,
                "actions": [{"name": a.name, "state": a.state.value if a.state else None,
                             "status": a.status, "data": json_safe(a.data)}
                            for a in self.actions],
                "event_count": self._event_count}

    # ------------------------------------------------------------ handlers

    def add_handler(self, handler: HandlerLike) -> HandlerLike:
        """``handler(event)`` hears every event of this pipeline's actions and its own."""
        return self._handlers.add(handler)

    def remove_handler(self, handler: HandlerLike) -> None:
        self._handlers.remove(handler)

    # ------------------------------------------------------------ running

    async def run(self, input: Any = None) -> Any:
        """Run every action from the first (forgetting earlier progress)."""
        self._check_idle()
        for action in self.actions:
            action.reset()
        return await self._run(0, input, resumed=False)

    async def resume(self, input: Any = None) -> Any:
        """Continue from the first action not Done; ``input`` feeds it only if it is the
        first action. Returns the last output at once if everything is done."""
        self._check_idle()
        first = next((i for i, a in enumerate(self.actions) if a.state is not ActionState.Done),
                     None)
        if first is None:
            self.result = self.actions[-1].output
            return self.result
        for action in self.actions[first:]:
            action.reset(keep_progress=True)
        value = self.actions[first - 1].output if first else input
        return await self._run(first, value, resumed=True)

    def start(self, input: Any = None, *, resume: bool = False) -> asyncio.Task[Any]:
        """``run()`` (or ``resume()``) as a task on the running loop; returns the task."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError("start() needs a running event loop (Jupyter has one); in a "
                             "script use asyncio.run(pipeline.run())") from None
        self._check_idle()
        task = loop.create_task(self.resume(input) if resume else self.run(input),
                                name=f"pipeline {self.name}")
        # The outcome is in the events, state and error; nobody has to await the task.
        task.add_done_callback(_retrieve)
        self._task = task
        return task

    def stop(self) -> _Stopping:
        """Stop now, inside the running action (its ``on_stop`` undoes server-side work).
        ``await pipeline.stop()`` returns once it has ended."""
        if self._running:
            self._stop_requested = True
            self._emit_own(ActionState.Running, "StopRequested",
                           {"action": self._current.name if self._current else None})
            if self._current is not None:
                self._current.stop()
        return _Stopping(self)

    async def wait(self) -> None:
        """Until the current run ends (at once if none)."""
        if self._running and self._ended is not None:
            await self._ended.wait()

    def _check_idle(self) -> None:
        if self._running:
            raise UsageError(f"pipeline {self.name} is already running: await it, or stop() "
                             "it first")

    async def _run(self, first: int, value: Any, *, resumed: bool) -> Any:
        self._running, self._stop_requested = True, False
        self._ended = asyncio.Event()
        self.result, self.error = None, None
        self._state = ActionState.Running
        self._emit_own(ActionState.Running, "Resumed" if resumed else "Started",
                       {"from": self.actions[first].name})
        try:
            for action in self.actions[first:]:
                if self._stop_requested:
                    raise PipelineStopped(self.name, None)
                self._current = action
                value = await action.run(value)
        except (PipelineStopped, asyncio.CancelledError) as exc:
            self.error = exc if isinstance(exc, PipelineStopped) else None
            self._end(ActionState.Stopped, "Stopped", {"action": getattr(exc, "action", None)})
            raise
        except Exception as exc:
            self.error = exc
            self._end(ActionState.Error, "Failed",
                      {"action": self._current.name if self._current else None,
                       "error": str(exc), "type": type(exc).__name__})
            raise
        self.result = value
        self._end(ActionState.Done, "Finished", {})
        return value

    def _end(self, state: ActionState, status: str, data: dict[str, Any]) -> None:
        self._state = state
        self._running = False
        self.save()
        self._emit_own(state, status, data)
        if self._ended is not None:
            self._ended.set()

    # ------------------------------------------------------------ events

    def _receive(self, event: Event) -> None:
        """An event of one of its actions: state first, checkpoint, then the handlers."""
        self._status = event.status
        self.events.append(event)
        self._event_count += 1
        if event.state is not ActionState.Running:
            self.save()
        self._handlers.call(event)

    def _emit_own(self, state: ActionState, status: str, data: Mapping[str, Any]) -> None:
        event = Event(None, state, status, dict(data), pipeline=self.name)
        self.events.append(event)
        self._event_count += 1
        self._handlers.call(event)

    # ------------------------------------------------------------ checkpoint

    def config(self) -> dict[str, Any]:
        """What a subclass needs to rebuild itself from a checkpoint (JSON)."""
        return {}

    def save(self) -> None:
        """Write the checkpoint (if this pipeline has one)."""
        if self.checkpoint_path is None:
            return
        write_json(self.checkpoint_path, checkpoint_body(
            self.name, self.kind, self._state.value if self._state else None, self.config(),
            [a._entry() for a in self.actions]))

    def restore(self, path: str | Path | None = None) -> Pipeline:
        """Take the progress recorded in a checkpoint (default: this pipeline's); then
        ``resume()`` skips the actions it lists as done."""
        self._check_idle()
        where = Path(path).expanduser() if path is not None else self.checkpoint_path
        if where is None:
            raise UsageError(f"pipeline {self.name} has no checkpoint: pass restore(path)")
        body = read_checkpoint(where)
        entries = {str(e.get("name")): e for e in body["actions"] if isinstance(e, dict)}
        names = [a.name for a in self.actions]
        if sorted(entries) != sorted(names):
            raise ValidationError("checkpoint.actions", sorted(entries),
                                  f"must list this pipeline's actions {names}",
                                  f"{where} was written by another pipeline")
        for action in self.actions:
            action._restore(entries[action.name])
        stored = body.get("state")
        if stored == ActionState.Running.value:
            self._state, self._status = ActionState.Stopped, INTERRUPTED
        else:
            self._state = ActionState(stored) if stored else None
            last = [a for a in self.actions if a.state is not None]
            self._status = last[-1].status if last else NOT_STARTED
        self._current = None
        return self


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
