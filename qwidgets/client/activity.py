"""What this process started: trainings, jobs and tasks, announced by the clients so that a
watcher (``%qw_jobs``, ``qwidgets.watch_jobs()``) can show each one as it begins. The client
only announces; it never imports a widget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from time import time
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Activity:
    kind: str  # "training", "job", "task"
    id: str  # model guid, job ARN, task ARN
    client: Any = field(repr=False, compare=False)
    started_at: float = field(default_factory=time)


Listener = Callable[[Activity], None]
_listeners: list[Listener] = []
history: list[Activity] = []
MAX_HISTORY = 1_000


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` for every activity started from now on; returns the unsubscriber."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe


def started(kind: str, ident: str, client: Any) -> None:
    activity = Activity(kind, ident, client)
    history.append(activity)
    del history[:-MAX_HISTORY]
    for listener in list(_listeners):
        try:
            listener(activity)
        except Exception:  # a broken watcher must never break a training's start
            log.exception("activity listener failed for %s %s", kind, ident)
