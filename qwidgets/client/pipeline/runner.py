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
from collections import deque
from collections.abc import Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from qwidgets.client.errors import UsageError
from qwidgets.client.pipeline.action import Action, FunctionAction
from qwidgets.client.pipeline.events import (
    FINAL_STATES,
    INTERRUPTED,
    NOT_STARTED,
    ActionState,
    Event,
    EventHandler,
    HandlerLike,
    HandlerSet,
    PipelineStopped,
)
from qwidgets.client.pipeline.state import (
    check_name,
    checkpoint_body,
    checkpoint_path,
    json_safe,
    read_checkpoint,
    write_json,
)
from qwidgets.errors import ValidationError

# What this module has always offered; actions and events live in modules of their own.
__all__ = [
    "FINAL_STATES", "MAX_EVENTS", "Action", "ActionState", "Event", "EventHandler",
    "FunctionAction", "HandlerLike", "Pipeline", "PipelineStopped",
]

# The pipeline keeps this many recent events; a widget shows a window of them.
MAX_EVENTS = 5000


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
            if action.pipeline is not None:
                raise ValidationError("actions", action.name, "this action already belongs to "
                                      f"pipeline {action.pipeline.name}", "create a new one")
        self.actions = actions
        for action in actions:
            action.attach(self)
        self.checkpoint_path = self.resolve_checkpoint(self.name, checkpoint)
        self.events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._handlers = HandlerSet()
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

    def receive(self, event: Event) -> None:
        """An event of one of its actions (they call this): state first, checkpoint, then the
        handlers."""
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
            [a.checkpoint_entry() for a in self.actions]))

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
            action.restore_entry(entries[action.name])
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
