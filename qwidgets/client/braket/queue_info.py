"""Braket's queue sizes and positions, which travel as strings (``'>4000'``, ``'12'``,
``'0 (1 prioritized job(s) running)'``, ``"None"`` with a message), turned into numbers a
gauge can draw, with what kind of number each one is.

- ``lower_bound``: the true value is larger (``'>4000'`` -> 4000);
- ``approximate``: not an exact count (a lower bound, a ``~``/``≈`` prefix,
  or a position found larger than its queue's depth, which users of the real service have
  seen: the two are counted at different moments);
- ``value`` None: there is no position (the task left the queue; read ``message``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

_COUNT = re.compile(r"^\s*(>=|>|~|≈)?\s*(\d+)\s*(?:\((.*)\))?\s*$")
_PRIORITIZED = re.compile(r"(\d+)\s+prioritized job")


@dataclass(frozen=True)
class QueueCount:
    raw: str | None
    value: int | None
    lower_bound: bool = False
    approximate: bool = False
    note: str | None = None  # the parenthesised part, e.g. '1 prioritized job(s) running'

    @property
    def prioritized_jobs(self) -> int:
        """Hybrid jobs running with priority on the device, from the note (0 if none)."""
        found = _PRIORITIZED.search(self.note or "")
        return int(found.group(1)) if found else 0

    def display(self) -> str:
        """``'4000+'``, ``'≈12'``, ``'12'``, or ``'–'`` when there is no value."""
        if self.value is None:
            return "–"
        if self.lower_bound:
            return f"{self.value}+"
        return f"≈{self.value}" if self.approximate else str(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "value": self.value, "lower_bound": self.lower_bound,
                "approximate": self.approximate, "note": self.note,
                "display": self.display()}


def parse_count(raw: object) -> QueueCount:
    """Parse one size or position string. Never raises: a string of an unknown form keeps its
    text in ``note`` with no value, so one odd answer cannot break a dashboard."""
    if raw is None:
        return QueueCount(None, None)
    if isinstance(raw, bool):
        return QueueCount(str(raw), None, approximate=True, note=str(raw))
    if isinstance(raw, int):
        return QueueCount(str(raw), raw if raw >= 0 else None)
    text = str(raw)
    if text.strip() in ("None", "", "null"):
        return QueueCount(text, None)
    match = _COUNT.match(text)
    if match is None:
        return QueueCount(text, None, approximate=True, note=text.strip())
    prefix, number, note = match.groups()
    lower = prefix in (">", ">=")
    return QueueCount(text, int(number), lower_bound=lower,
                      approximate=lower or prefix in ("~", "≈"),
                      note=note.strip() if note else None)


@dataclass(frozen=True)
class QueueDepth:
    """A device's queues (GetDevice ``deviceQueueInfo``)."""

    normal_tasks: QueueCount
    priority_tasks: QueueCount
    jobs: QueueCount

    @classmethod
    def from_wire(cls, entries: Any) -> QueueDepth:
        normal = priority = jobs = QueueCount(None, None)
        for entry in entries or []:
            if not isinstance(entry, dict):
                continue
            count = parse_count(entry.get("queueSize"))
            if entry.get("queue") == "JOBS_QUEUE":
                jobs = count
            elif entry.get("queuePriority") == "Priority":
                priority = count
            else:
                normal = count
        return cls(normal, priority, jobs)

    def for_queue(self, queue: str, priority: str | None) -> QueueCount:
        if queue == "JOBS_QUEUE":
            return self.jobs
        return self.priority_tasks if priority == "Priority" else self.normal_tasks

    def to_dict(self) -> dict[str, Any]:
        return {"normal_tasks": self.normal_tasks.to_dict(),
                "priority_tasks": self.priority_tasks.to_dict(), "jobs": self.jobs.to_dict()}


@dataclass(frozen=True)
class QueueInfo:
    """A task's or job's place (``queueInfo``); ``position.value`` None once it left."""

    queue: str  # QUANTUM_TASKS_QUEUE or JOBS_QUEUE
    priority: str | None  # Normal / Priority (tasks only)
    position: QueueCount
    message: str | None = None

    @classmethod
    def from_wire(cls, info: Any) -> QueueInfo:
        info = info if isinstance(info, dict) else {}
        return cls(str(info.get("queue") or "QUANTUM_TASKS_QUEUE"), info.get("queuePriority"),
                   parse_count(info.get("position")), info.get("message"))

    @property
    def waiting(self) -> bool:
        return self.position.value is not None

    def checked_against(self, depth: QueueDepth) -> QueueInfo:
        """This position, marked approximate if it is beyond its queue's depth."""
        queue_depth = depth.for_queue(self.queue, self.priority)
        if (self.position.value is not None and queue_depth.value is not None
                and not queue_depth.lower_bound and self.position.value > queue_depth.value):
            return replace(self, position=replace(self.position, approximate=True))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"queue": self.queue, "priority": self.priority,
                "position": self.position.to_dict(), "message": self.message}
