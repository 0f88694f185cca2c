"""Live device queues: other users' quantum tasks and hybrid jobs arrive and are served at each
device's rates, so depths and the positions of your own tasks and jobs move over time.

Driven by a clock: ``advance()`` brings every queue up to the clock's time and returns what
started meanwhile (``QueueEvent``). The server calls it from one background asyncio task;
tests pass a ``ManualClock`` and move time themselves, so every run is reproducible (one seeded
generator, the same sequence of calls gives the same queues).

Model, per device (``devices.QueueShape``): three FIFO lines (normal tasks, priority tasks,
hybrid jobs). Other users' items are kept as counts (a block of 3,000 anonymous tasks is one
entry), yours by id, so a position is the number of items ahead of yours. Arrivals are Poisson
with a rate that pulls each line towards its target depth (twice the service rate when empty,
nothing at twice the target), which keeps a busy device busy without drifting away.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from qwidgets.protocol.braket_queues import Kind, Priority
from qwidgets.sim.braket.catalog import DeviceSpec

MAX_STEP_S = 0.1  # simulated seconds per step: short enough for a fast device not to overshoot
PRIORITY_SHARE_LEFT = 0.75  # of a device's rate, left to normal tasks by running jobs' tasks
MAX_STEPS = 3600  # a longer gap (a suspended laptop) is integrated in coarser steps


class ManualClock:
    """A clock that moves only when told (tests, benchmarks)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass(frozen=True)
class QueueEvent:
    """One of your items left its queue and started on ``device_arn``."""

    kind: Kind
    item_id: str
    device_arn: str
    at: float


@dataclass(frozen=True)
class Position:
    device_arn: str
    kind: Kind
    priority: Priority
    ahead: int  # items that start before this one, 0 at the head of its line
    running_jobs: int  # hybrid jobs running on the device (their tasks go first)


@dataclass(frozen=True)
class Depth:
    normal: int
    priority: int
    jobs: int
    running_jobs: int


class Line:
    """A FIFO of anonymous blocks ``[count, None]`` and your items ``[1, id]``.

    Positions are found without walking the line (a dashboard asks for hundreds of them per
    second): every item gets a sequence number when it arrives; the items ahead of one are
    those with a smaller number that were neither served (all served ones had smaller
    numbers: FIFO) nor removed (a sorted list of removed numbers)."""

    def __init__(self) -> None:
        self.items: deque[list[int | str | None]] = deque()
        self.size = 0
        self._arrived = 0
        self._served = 0
        self._removed: list[int] = []
        self._number: dict[str, int] = {}

    def push_anonymous(self, count: int) -> None:
        if count <= 0:
            return
        if self.items and self.items[-1][1] is None:
            self.items[-1][0] = int(self.items[-1][0] or 0) + count
        else:
            self.items.append([count, None])
        self.size += count
        self._arrived += count

    def push(self, item_id: str) -> None:
        self.items.append([1, item_id])
        self._number[item_id] = self._arrived
        self._arrived += 1
        self.size += 1

    def pop(self, count: int) -> list[str]:
        """Serve ``count`` items from the head; return the ids of yours among them."""
        started: list[str] = []
        while count > 0 and self.items:
            head = self.items[0]
            if head[1] is not None:
                self.items.popleft()
                started.append(str(head[1]))
                self._number.pop(str(head[1]), None)
                taken = 1
            else:
                taken = min(count, int(head[0] or 0))
                head[0] = int(head[0] or 0) - taken
                if head[0] == 0:
                    self.items.popleft()
            count -= taken
            self.size -= taken
            self._served += taken
        return started

    def remove(self, item_id: str) -> bool:
        number = self._number.pop(item_id, None)
        if number is None:
            return False
        for index, item in enumerate(self.items):
            if item[1] == item_id:
                del self.items[index]
                break
        self.size -= 1
        bisect.insort(self._removed, number)
        return True

    def ahead(self, item_id: str) -> int | None:
        number = self._number.get(item_id)
        if number is None:
            return None
        return number - self._served - bisect.bisect_left(self._removed, number)


@dataclass
class _Job:
    item_id: str | None  # None: another user's job
    ends_at: float | None  # None: runs until finish_job (yours)


@dataclass
class _Device:
    spec: DeviceSpec
    lines: dict[tuple[Kind, Priority], Line] = field(default_factory=lambda: {
        ("task", "Normal"): Line(), ("task", "Priority"): Line(), ("job", "Normal"): Line()})
    credit: float = 0.0
    half_credit: float = 0.0
    running: list[_Job] = field(default_factory=list)


def _pull(count: int, target: float) -> float:
    """Arrival factor towards ``target``: 2 when empty, 1 at the target, 0 at twice it."""
    if target <= 0:
        return 0.0
    return min(2.0, max(0.0, 2.0 - count / target))


class DeviceQueues:
    """The queues of every device in ``catalog``; time comes from ``clock`` (seconds) and runs
    ``time_scale`` times faster in the queues (a demo can make a busy QPU's hour pass in
    minutes)."""

    def __init__(self, catalog: Iterable[DeviceSpec], *, clock: Callable[[], float] = time.monotonic,
                 seed: int = 0, time_scale: float = 1.0, prefill: bool = True) -> None:
        if not time_scale > 0 or not math.isfinite(time_scale):
            raise ValueError(f"time_scale must be a positive number, not {time_scale!r}")
        self._clock = clock
        self.time_scale = time_scale
        self._rng = np.random.default_rng(seed)
        self._devices: dict[str, _Device] = {}
        for spec in catalog:
            if spec.arn in self._devices:
                raise ValueError(f"device {spec.arn} is listed twice")
            self._devices[spec.arn] = _Device(spec)
        self._where: dict[str, tuple[str, Kind, Priority]] = {}
        self._time = clock()
        self._sim_time = 0.0
        if prefill:
            self._prefill()

    # ------------------------------------------------------------ catalog

    @property
    def devices(self) -> list[DeviceSpec]:
        return [d.spec for d in self._devices.values()]

    def device(self, arn: str) -> DeviceSpec | None:
        found = self._devices.get(arn)
        return None if found is None else found.spec

    def set_status(self, arn: str, status: str) -> None:
        """Take a device offline or bring it back (its queue keeps what it holds)."""
        dev = self._devices[arn]
        dev.spec = replace(dev.spec, status=status)  # type: ignore[arg-type]

    # ------------------------------------------------------------ your items

    def enqueue(self, device_arn: str, kind: Kind, item_id: str,
                priority: Priority = "Normal") -> Position:
        """Put one of your tasks (``kind="task"``) or jobs at the tail of its line."""
        dev = self._devices.get(device_arn)
        if dev is None:
            raise KeyError(device_arn)
        if dev.spec.status == "RETIRED":
            raise ValueError(f"device {device_arn} is retired and accepts no {kind}s")
        if item_id in self._where:
            raise ValueError(f"{item_id} is already queued")
        if kind == "job":
            priority = "Normal"
        dev.lines[(kind, priority)].push(item_id)
        self._where[item_id] = (device_arn, kind, priority)
        found = self.position(item_id)
        assert found is not None
        return found

    def remove(self, item_id: str) -> bool:
        """Take a queued item out (cancel); False if it is not waiting in a queue."""
        where = self._where.pop(item_id, None)
        if where is None:
            return False
        device_arn, kind, priority = where
        return self._devices[device_arn].lines[(kind, priority)].remove(item_id)

    def position(self, item_id: str) -> Position | None:
        """Where a waiting item stands; None once it started (or was never queued)."""
        where = self._where.get(item_id)
        if where is None:
            return None
        device_arn, kind, priority = where
        dev = self._devices[device_arn]
        ahead = dev.lines[(kind, priority)].ahead(item_id)
        if ahead is None:
            return None
        if kind == "task" and priority == "Normal":
            ahead += dev.lines[("task", "Priority")].size  # priority tasks start first
        return Position(device_arn, kind, priority, ahead, len(dev.running))

    def finish_job(self, item_id: str) -> bool:
        """One of your hybrid jobs ended: free its slot on the device."""
        for dev in self._devices.values():
            for job in dev.running:
                if job.item_id == item_id:
                    dev.running.remove(job)
                    return True
        return False

    def running_job_ids(self, device_arn: str) -> list[str]:
        return [j.item_id for j in self._devices[device_arn].running if j.item_id is not None]

    # ------------------------------------------------------------ depths

    def depth(self, device_arn: str) -> Depth:
        dev = self._devices[device_arn]
        return Depth(dev.lines[("task", "Normal")].size, dev.lines[("task", "Priority")].size,
                     dev.lines[("job", "Normal")].size, len(dev.running))

    # ------------------------------------------------------------ time

    def advance(self, now: float | None = None) -> list[QueueEvent]:
        """Bring every queue to ``now`` (default: the clock); return the items that started."""
        now = self._clock() if now is None else now
        elapsed = (now - self._time) * self.time_scale
        self._time = max(self._time, now)
        if elapsed <= 0:
            return []
        steps = min(MAX_STEPS, max(1, math.ceil(elapsed / MAX_STEP_S)))
        dt = elapsed / steps
        events: list[QueueEvent] = []
        for _ in range(steps):
            self._sim_time += dt
            for dev in self._devices.values():
                self._step(dev, dt, events, now)
        return events

    def _step(self, dev: _Device, dt: float, events: list[QueueEvent], now: float) -> None:
        spec, shape, rng = dev.spec, dev.spec.queue, self._rng
        if spec.status == "RETIRED":
            return
        t = self._sim_time
        dev.running = [j for j in dev.running if j.ends_at is None or j.ends_at > t]
        normal, prio, jobs = (dev.lines[("task", "Normal")], dev.lines[("task", "Priority")],
                              dev.lines[("job", "Normal")])
        # People keep submitting to an offline device, more slowly.
        busy = 1.0 if spec.status == "ONLINE" else 0.25
        mu = shape.task_rate
        # While hybrid jobs run, their tasks (about a quarter of the device) go first and
        # normal tasks get half of what remains; arrivals follow that share so each line
        # settles near its target.
        mu_normal = PRIORITY_SHARE_LEFT * mu / 2 if dev.running else mu
        normal.push_anonymous(int(rng.poisson(
            busy * mu_normal * _pull(normal.size, shape.normal_target) * dt)))
        if dev.running:
            prio.push_anonymous(int(rng.poisson(
                busy * (1 - PRIORITY_SHARE_LEFT) * mu * _pull(prio.size, shape.priority_target)
                * dt)))
        job_rate = shape.job_slots / shape.job_seconds
        jobs.push_anonymous(int(rng.poisson(busy * job_rate * _pull(jobs.size, shape.job_target)
                                            * dt)))
        if spec.status != "ONLINE":
            return
        dev.credit += mu * dt
        budget = int(dev.credit + 1e-9)  # ten steps of 0.1 s make one whole task
        dev.credit -= budget
        waiting = prio.size
        started = prio.pop(budget)
        rest = budget - (waiting - prio.size)
        if dev.running:
            dev.half_credit += rest / 2
            rest = int(dev.half_credit + 1e-9)
            dev.half_credit -= rest
        started += normal.pop(rest)
        if not prio.size and not normal.size:
            dev.credit = min(dev.credit, 1.0)
        while len(dev.running) < shape.job_slots and jobs.size:
            mine = jobs.pop(1)  # empty: another user's job started
            if not mine:
                dev.running.append(_Job(None, t + float(rng.exponential(shape.job_seconds))))
            for item_id in mine:
                dev.running.append(_Job(item_id, None))
                self._where.pop(item_id, None)
                events.append(QueueEvent("job", item_id, spec.arn, now))
        for item_id in started:
            self._where.pop(item_id, None)
            events.append(QueueEvent("task", item_id, spec.arn, now))

    def _prefill(self) -> None:
        """Start from a steady state, so a dashboard opened at once shows busy devices."""
        rng = self._rng
        for dev in self._devices.values():
            shape = dev.spec.queue
            if dev.spec.status == "RETIRED":
                continue
            dev.lines[("task", "Normal")].push_anonymous(int(rng.poisson(shape.normal_target)))
            dev.lines[("job", "Normal")].push_anonymous(int(rng.poisson(shape.job_target)))
            if shape.job_target > 0:
                for _ in range(shape.job_slots):
                    dev.running.append(_Job(None, float(rng.exponential(shape.job_seconds))))
            if dev.running:
                dev.lines[("task", "Priority")].push_anonymous(
                    int(rng.poisson(shape.priority_target)))
