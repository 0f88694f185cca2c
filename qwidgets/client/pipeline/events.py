"""What a pipeline tells: the states of an action, the events it emits, the handlers that
hear them, and the signal that a pipeline was stopped."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qwidgets.client.pipeline.state import json_safe
from qwidgets.errors import QwidgetsWarning, TrainingCancelled, ValidationError

log = logging.getLogger(__name__)

NOT_STARTED = "NotStarted"
INTERRUPTED = "Interrupted"


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


class HandlerSet:
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
