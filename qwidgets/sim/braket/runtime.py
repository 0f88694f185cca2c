"""The runtime behind Braket's device and quantum-task routes: the device queues and the tasks
in them, persisted in the store, moved through their states as the queues advance.

Tasks go CREATED -> QUEUED -> RUNNING -> COMPLETED | FAILED, or -> CANCELLING -> CANCELLED.

Device states as Braket's: CreateQuantumTask on an OFFLINE device answers 424
DeviceOfflineException and on a RETIRED one 410 DeviceRetiredException; tasks already queued on a
device that is offline wait in its queue until it serves again (``queues``).

The hybrid-jobs routes share this runtime (``app[RUNTIME]``): its ``queues`` hold their jobs
(``enqueue(device, "job", arn)``, ``position``, ``remove``, ``finish_job``) and ``subscribe``
tells them when one started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol.braket_queues import (
    JOBS_QUEUE,
    TASKS_QUEUE,
    Kind,
    depth_string,
    no_position_message,
    position_string,
)
from qwidgets.sim.braket import circuits
from qwidgets.sim.braket.catalog import DeviceSpec, default_catalog
from qwidgets.sim.braket.device_store import NewTask, TaskStore
from qwidgets.sim.braket.queues import DeviceQueues, QueueEvent
from qwidgets.sim.braket.wire import BraketError, invalid, not_found
from qwidgets.sim.server.store import Store

log = logging.getLogger("qwidgets.sim.braket")

TIME_SCALE_ENV = "QWIDGETS_SIM_TIME_SCALE"
TICK_S = 0.25


class BraketRuntime:
    """Device queues plus the tasks in them, persisted in the store. Everything runs on the
    server's event loop; ``tick()`` is called every ``TICK_S`` by ``start()``'s task."""

    def __init__(self, store: Store, catalog: Iterable[DeviceSpec] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None,
                 time_scale: float | None = None) -> None:
        if time_scale is None:
            time_scale = _env_time_scale()
        self.queues = DeviceQueues(catalog or default_catalog(), clock=clock,
                                   seed=seed if seed is not None else int(time.time()),
                                   time_scale=time_scale)
        self.tasks = TaskStore(store)
        self.time_scale = time_scale
        self._owners: dict[str, str] = {}  # arn -> ns of the tasks this runtime tracks
        self._cancelling: set[str] = set()
        self._created: set[str] = set()
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[QueueEvent], None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self.job_for_token: Callable[[str], str | None] | None = None

    def device(self, arn: str) -> DeviceSpec:
        """The device ``arn`` names, or Braket's ResourceNotFoundException."""
        spec = self.queues.device(arn)
        if spec is None:
            raise not_found("Device", arn)
        return spec

    def subscribe(self, listener: Callable[[QueueEvent], None]) -> None:
        """Call ``listener(event)`` (on the loop) for every job or task that starts."""
        self._listeners.append(listener)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.recover()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        tasks = [t for t in (self._ticker, *self._runs.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._ticker = None

    def recover(self) -> None:
        """Queue again what a previous server left unfinished (a run in progress starts
        over: its counts were never stored)."""
        for ns, row in self.tasks.unfinished():
            arn = row["arn"]
            if row["status"] == "CANCELLING":
                self.tasks.move(ns, arn, "CANCELLED", when=("CANCELLING",))
                continue
            if row["status"] == "RUNNING":
                self.tasks.move(ns, arn, "QUEUED", when=("RUNNING",))
            try:
                self.queues.enqueue(row["device_arn"], "task", arn, row["priority"])
            except (KeyError, ValueError) as exc:
                self.tasks.move(ns, arn, "FAILED", when=("CREATED", "QUEUED"),
                                failure_reason=f"the device is no longer available ({exc})")
                continue
            self._owners[arn] = ns

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # one bad tick must not stop the queues for good
                log.exception("device queue tick failed")
            await asyncio.sleep(TICK_S)

    def tick(self) -> list[QueueEvent]:
        """Advance the queues; promote, start and finish tasks accordingly."""
        for arn in list(self._created):
            self.tasks.move(self._owners.get(arn, ""), arn, "QUEUED", when=("CREATED",))
        self._created.clear()
        for arn in list(self._cancelling):
            ns = self._owners.pop(arn, None)
            if ns is not None:
                self.tasks.move(ns, arn, "CANCELLED", when=("CANCELLING",))
        self._cancelling.clear()
        events = self.queues.advance()
        for event in events:
            if event.kind == "task":
                self._start_task(event)
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("queue listener failed on %s", event)
        return events

    # ------------------------------------------------------------ tasks

    def accepting(self, arn: str) -> DeviceSpec:
        """The device ``arn`` names if it takes new tasks now, else Braket's error for its
        state."""
        spec = self.device(arn)
        if spec.status == "RETIRED":
            raise BraketError(410, "DeviceRetiredException",
                              f"Device {arn} ({spec.name}) is retired and accepts no quantum "
                              "tasks; choose an ONLINE device (SearchDevices)")
        if spec.status == "OFFLINE":
            raise BraketError(424, "DeviceOfflineException",
                              f"Device {arn} ({spec.name}) is currently offline and accepts no "
                              "quantum tasks; retry when its deviceStatus is ONLINE (GetDevice)")
        return spec

    def create(self, ns: str, task: NewTask) -> dict[str, Any]:
        self.accepting(task.device_arn)
        row, new = self.tasks.add(ns, task)
        if new:
            try:
                self.queues.enqueue(task.device_arn, "task", task.arn, task.priority)  # type: ignore[arg-type]
            except ValueError as exc:
                self.tasks.move(ns, task.arn, "FAILED", when=("CREATED",), failure_reason=str(exc))
                raise invalid(str(exc)) from None
            self._owners[task.arn] = ns
            self._created.add(task.arn)
        return row

    def cancel(self, ns: str, arn: str) -> str:
        row = self.tasks.get(ns, arn)
        if row is None:
            raise not_found("Quantum task", arn)
        status = row["status"]
        if status in ("CREATED", "QUEUED"):
            self.queues.remove(arn)
            if self.tasks.move(ns, arn, "CANCELLING", when=("CREATED", "QUEUED")):
                self._created.discard(arn)
                self._cancelling.add(arn)  # CANCELLED at the next tick
                return "CANCELLING"
            return self.cancel(ns, arn)  # it started meanwhile
        if status == "RUNNING":
            if self.tasks.move(ns, arn, "CANCELLING", when=("RUNNING",)):
                return "CANCELLING"  # CANCELLED when the run ends; its counts are dropped
            return self.cancel(ns, arn)
        if status in ("CANCELLING", "CANCELLED"):
            return status
        raise BraketError(409, "ConflictException",
                          f"Quantum task {arn} is in {status} status and cannot be cancelled")

    def _start_task(self, event: QueueEvent) -> None:
        ns = self._owners.get(event.item_id)
        if ns is None:
            return
        self._created.discard(event.item_id)
        if not self.tasks.move(ns, event.item_id, "RUNNING", when=("CREATED", "QUEUED")):
            self._owners.pop(event.item_id, None)
            return
        spec = self.queues.device(event.device_arn)
        run_seconds = (spec.queue.run_seconds if spec else 0.0) / self.time_scale
        run = asyncio.get_running_loop().create_task(self._run(ns, event.item_id, run_seconds))
        self._runs[event.item_id] = run
        run.add_done_callback(functools.partial(self._forget_run, event.item_id))

    def _forget_run(self, arn: str, _run: asyncio.Task[None]) -> None:
        self._runs.pop(arn, None)

    async def _run(self, ns: str, arn: str, run_seconds: float) -> None:
        row = self.tasks.get(ns, arn)
        if row is None:
            return
        started = time.monotonic()
        try:
            action = json.loads(row["action"])
            spec = self.device(row["device_arn"])
            outcome = await asyncio.to_thread(
                circuits.run, action["source"], int(row["shots"]), circuits.seed_for(arn),
                inputs=action.get("inputs") or {}, features=spec.features, device=spec.name)
        except (ValueError, KeyError, TypeError, MemoryError, BraketError) as exc:
            self._owners.pop(arn, None)
            if not self.tasks.move(ns, arn, "FAILED", when=("RUNNING",), failure_reason=str(exc)):
                self.tasks.move(ns, arn, "CANCELLED", when=("CANCELLING",))
            return
        await asyncio.sleep(max(0.0, run_seconds - (time.monotonic() - started)))
        self._owners.pop(arn, None)
        result = outcome.to_json()
        if not self.tasks.move(ns, arn, "COMPLETED", when=("RUNNING",), result=result):
            self.tasks.move(ns, arn, "CANCELLED", when=("CANCELLING",))

    # ------------------------------------------------------------ wire shapes

    def device_queue_info(self, spec: DeviceSpec) -> list[dict[str, str]]:
        depth = self.queues.depth(spec.arn)
        return [
            {"queue": TASKS_QUEUE, "queueSize": depth_string(depth.normal, "task"),
             "queuePriority": "Normal"},
            {"queue": TASKS_QUEUE, "queueSize": depth_string(depth.priority, "task"),
             "queuePriority": "Priority"},
            {"queue": JOBS_QUEUE, "queueSize": depth_string(
                depth.jobs, "job", running_jobs=depth.running_jobs,
                device_type=spec.device_type)},
        ]

    def queue_info(self, kind: Kind, item_id: str, status: str,
                   priority: str = "Normal") -> dict[str, str]:
        """A task's or job's ``queueInfo``: its position while it waits, else ``"None"`` and
        a message (tasks always carry ``queuePriority``: the SDK needs it)."""
        queue = TASKS_QUEUE if kind == "task" else JOBS_QUEUE
        info: dict[str, str] = {"queue": queue}
        if kind == "task":
            info["queuePriority"] = priority
        where = self.queues.position(item_id)
        if where is not None and status in ("CREATED", "QUEUED"):
            info["position"] = position_string(where.ahead, kind)
        else:
            info["position"] = "None"
            info["message"] = no_position_message(kind, status)
        return info


def _env_time_scale() -> float:
    raw = os.environ.get(TIME_SCALE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValidationError(TIME_SCALE_ENV, raw, "must be a positive number",
                              "unset it or use e.g. 10 to run the device queues 10x faster")
    return value


RUNTIME = web.AppKey("qwidgets_braket_runtime", BraketRuntime)
