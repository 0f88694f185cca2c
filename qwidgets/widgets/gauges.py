"""``DeviceQueueGauges``: a gauge per device and queue (normal tasks, priority tasks, hybrid
jobs), each device's status and type at a glance, and your own tasks' and jobs' positions
highlighted on them.

    gauges = DeviceQueueGauges()                          # every device of the embedded simulator
    gauges = DeviceQueueGauges(client=BraketProvider())   # Amazon Braket's devices
    gauges.track_task(task)                               # a QuantumTask or an ARN
    gauges

Polling is ONE asyncio task on the kernel's loop for every device, task and job (requests of a
round go out together, over the client's pooled connections), every ``poll_interval`` seconds,
backing off (doubling, up to a minute) while the service fails. At most ``max_devices`` devices
are shown (the devices holding your items first), the rest summed up as "N more". Updates reach
the browser through a throttle: at most 10 per second, the last one always.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode, observe

from qwidgets.client.braket.devices import Device, DeviceApi, DeviceSummary, QuantumTask, TaskInfo
from qwidgets.client.braket.queue_info import QueueCount, QueueDepth, QueueInfo
from qwidgets.client.errors import ApiError, NotFoundError, ServiceUnavailableError
from qwidgets.errors import QwidgetsError, ValidationError
from qwidgets.widgets.base import QWidget, bundle
from qwidgets.widgets.throttle import Throttle, sleep_or_wake

MAX_BACKOFF_S = 60.0
CATALOG_EVERY = 30  # polls between two reads of the device list (statuses change rarely)
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Braket's display caps: a full gauge means "at least this many"
TASK_CAP = 4000
JOB_CAP = 1000
_FAILURES = (ServiceUnavailableError, ApiError, OSError, asyncio.TimeoutError)


class DeviceQueueGauges(QWidget):
    """Live queue depths of quantum devices, with your tasks' and jobs' places in them."""

    _bundle_name = "gauges"
    _esm = bundle("gauges")

    devices = List(Dict(), help="The devices shown: {arn, name, provider, type, status, "
                   "queues: [{key, label, cap, raw, value, lower_bound, approximate, note, "
                   "display}], mine: [your items on it]}.").tag(sync=True)
    more = Int(0, help="Devices not shown because of max_devices.").tag(sync=True)
    max_devices = Int(12, help="Most devices shown at once.").tag(sync=True)
    poll_interval = Float(2.0, help="Seconds between two polls while all is well.").tag(sync=True)
    paused = Bool(False, help="Polling paused (from the Pause button or the kernel).").tag(
        sync=True)
    polling = Bool(False, help="A polling task is running.").tag(sync=True)
    updated_at = Float(None, allow_none=True, help="When the kernel last read the queues "
                       "(epoch seconds).").tag(sync=True)
    error = Unicode("", help="The last polling problem, '' if none.").tag(sync=True)
    tasks = List(Unicode(), help="ARNs of your quantum tasks shown on the gauges.").tag(sync=True)
    jobs = List(Unicode(), help="ARNs of your hybrid jobs shown on the gauges.").tag(sync=True)
    _wake: asyncio.Event | None = None  # set while watching: wakes the poller early
    # class-level defaults: close() also runs (from __del__) on an instance whose __init__ failed
    _task: asyncio.Task[None] | None = None
    _client: DeviceApi | None = None
    _owns_client = False
    _throttle: Throttle

    def __init__(self, *, client: DeviceApi | None = None, device_arns: Sequence[str] | None = None,
                 track_tasks: Iterable[str | QuantumTask] = (), track_jobs: Iterable[str] = (),
                 autostart: bool = True, **kwargs: Any) -> None:
        """``device_arns``: only these devices (default: every device the client lists)."""
        task_arns = [t.arn if isinstance(t, QuantumTask) else str(t) for t in track_tasks]
        kwargs.setdefault("tasks", task_arns)
        kwargs.setdefault("jobs", [str(j) for j in track_jobs])
        super().__init__(**kwargs)
        _check_settings(self.max_devices, self.poll_interval)
        self._client = client
        self._owns_client = client is None
        self._only = list(device_arns) if device_arns is not None else None
        self._catalog: list[DeviceSummary] = []
        self._catalog_age = CATALOG_EVERY
        self._last_device: dict[str, Device] = {}
        self._last_task: dict[str, TaskInfo] = {}
        self._last_job: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self._throttle = Throttle(self._flush, interval=0.1)
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.failures = 0
        self._requests.register("refresh", self._refresh_request)
        if autostart:
            self.start()

    # ------------------------------------------------------------ what is tracked

    def track_task(self, task: str | QuantumTask) -> None:
        arn = task.arn if isinstance(task, QuantumTask) else str(task)
        if arn not in self.tasks:
            self.tasks = [*self.tasks, arn]
        self._poke()

    def track_job(self, arn: str) -> None:
        if arn not in self.jobs:
            self.jobs = [*self.jobs, str(arn)]
        self._poke()

    @observe("max_devices", "poll_interval")
    def _settings_changed(self, change: dict[str, Any]) -> None:
        _check_settings(self.max_devices, self.poll_interval)
        self._poke()

    @observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------ polling

    def start(self) -> asyncio.Task[None] | None:
        """Start polling on the running loop (the kernel's); None without one (then
        ``await gauges.watch()`` or call ``await gauges.refresh()`` yourself)."""
        if self._task is not None and not self._task.done():
            return self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._task = loop.create_task(self.watch())
        return self._task

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def watch(self) -> None:
        """Poll until stopped or closed; back off while the service fails."""
        self._wake = asyncio.Event()
        self.polling = True
        try:
            while True:
                if self.paused:
                    await self._sleep(None)
                    continue
                ok = await self.refresh()
                await self._sleep(self.poll_interval if ok else self.backoff())
        finally:
            self.polling = False
            self._throttle.finish()
            self.refresh_static()

    def backoff(self) -> float:
        """Seconds before the next poll after ``failures`` failed ones in a row (full jitter
        on the doubled interval, so many dashboards do not retry in step)."""
        ceiling = min(MAX_BACKOFF_S, self.poll_interval * 2 ** self.failures)
        return max(self.poll_interval, random.uniform(ceiling / 2, ceiling))

    async def _sleep(self, seconds: float | None) -> None:
        assert self._wake is not None
        await sleep_or_wake(self._wake, seconds)

    async def _source(self) -> DeviceApi:
        if self._client is None:
            from qwidgets.client.braket.devices import AsyncDeviceClient

            self._client = await AsyncDeviceClient.create()
        return self._client

    async def refresh(self) -> bool:
        """Read every shown device, task and job once; False if the service failed."""
        self.polls += 1
        try:
            client = await self._source()
            if self._catalog_age >= CATALOG_EVERY or not self._catalog:
                self._catalog = await self._list_devices(client)
                self._catalog_age = 0
            self._catalog_age += 1
            active_tasks = [a for a in self.tasks
                            if a not in self._last_task or not self._last_task[a].terminal]
            active_jobs = [a for a in self.jobs if self._last_job.get(a, {}).get("status")
                           not in TERMINAL]
            # your items first: where they are decides which devices are shown
            item_answers = await asyncio.gather(
                *(client.task(a) for a in active_tasks), *(client.job(a) for a in active_jobs),
                return_exceptions=True)
            self._remember_items(active_tasks, active_jobs, item_answers)
            shown, more = self._choose()
            device_answers = await asyncio.gather(*(client.device(s.arn) for s in shown),
                                                  return_exceptions=True)
        except (*_FAILURES, ValidationError) as exc:
            return self._failed(exc)
        problems = [a for a in (*item_answers, *device_answers) if isinstance(a, BaseException)]
        for a in problems:
            if not isinstance(a, (*_FAILURES, QwidgetsError)):
                raise a
        if shown and all(isinstance(a, BaseException) for a in device_answers):
            return self._failed(problems[0])
        for summary, answer in zip(shown, device_answers, strict=True):
            if isinstance(answer, Device):
                self._last_device[summary.arn] = answer
        self.failures = 0
        note = f"{len(problems)} request(s) failed; showing their last answers" if problems else ""
        self._update(devices=[self._device_state(s) for s in shown], more=more,
                     updated_at=time.time(), error=note)
        return True

    def _remember_items(self, active_tasks: list[str], active_jobs: list[str],
                        answers: Sequence[Any]) -> None:
        task_answers = answers[:len(active_tasks)]
        job_answers = answers[len(active_tasks):]
        for arn, answer in zip(active_tasks, task_answers, strict=True):
            if isinstance(answer, TaskInfo):
                self._last_task[arn] = answer
            elif isinstance(answer, NotFoundError):
                self._last_task[arn] = TaskInfo(arn, "NOT FOUND", "", 0, None, None, str(answer),
                                                None)
        for arn, answer in zip(active_jobs, job_answers, strict=True):
            if not isinstance(answer, BaseException):
                self._last_job[arn] = {"status": answer.status, "device": answer.device_arn,
                                       "queue": answer.queue, "name": answer.name}
            elif isinstance(answer, NotFoundError):
                self._last_job[arn] = {"status": "NOT FOUND", "device": None, "queue": None,
                                       "name": ""}

    def _failed(self, exc: BaseException) -> bool:
        self.failures += 1
        self._update(error=f"cannot read the queues: {exc}; retrying in a while "
                     f"(attempt {self.failures})")
        return False

    async def _list_devices(self, client: DeviceApi) -> list[DeviceSummary]:
        found = await client.devices()
        if self._only is None:
            return found
        by_arn = {d.arn: d for d in found}
        missing = [a for a in self._only if a not in by_arn]
        if missing:
            raise ValidationError("device_arns", missing, "are not devices of this service",
                                  "pick ARNs from client.devices()")
        return [by_arn[a] for a in self._only]

    def _choose(self) -> tuple[list[DeviceSummary], int]:
        """The devices to show: those holding your items first, in catalog order."""
        wanted = {t.device_arn for t in self._last_task.values()}
        wanted |= {j.get("device") for j in self._last_job.values()}
        order = sorted(range(len(self._catalog)),
                       key=lambda i: (self._catalog[i].arn not in wanted, i))
        keep = sorted(order[:self.max_devices])
        return [self._catalog[i] for i in keep], max(0, len(self._catalog) - self.max_devices)

    # ------------------------------------------------------------ state for the browser

    def _device_state(self, summary: DeviceSummary) -> dict[str, Any]:
        device = self._last_device.get(summary.arn)
        depth = device.queue if device is not None else None
        queues = []
        for key, label, cap in (("normal", "Tasks", TASK_CAP), ("priority", "Priority tasks",
                                                                 TASK_CAP),
                                ("jobs", "Hybrid jobs", JOB_CAP)):
            count = _count_of(depth, key)
            queues.append({"key": key, "label": label, "cap": cap, **count.to_dict()})
        mine = []
        for arn, info in self._last_task.items():
            if info.device_arn != summary.arn or arn not in self.tasks:
                continue
            place = info.queue.checked_against(depth) if info.queue and depth else info.queue
            mine.append(_item("task", arn, info.status, place))
        for arn, job in self._last_job.items():
            if job.get("device") != summary.arn or arn not in self.jobs:
                continue
            place = job["queue"].checked_against(depth) if job["queue"] and depth else job["queue"]
            mine.append(_item("job", arn, job["status"], place, job.get("name") or ""))
        return {"arn": summary.arn, "name": summary.name, "provider": summary.provider,
                "type": summary.device_type,
                "status": device.status if device is not None else summary.status,
                "stale": device is None, "queues": queues, "mine": mine}

    def _update(self, **values: Any) -> None:
        self._pending.update(values)
        self._throttle.request()

    def _flush(self) -> None:
        values, self._pending = self._pending, {}
        with self.hold_sync():
            for key, value in values.items():
                setattr(self, key, value)

    async def _refresh_request(self) -> dict[str, Any]:
        ok = await self.refresh()
        self._throttle.finish()
        return {"ok": ok, "error": self.error}

    def close(self) -> None:
        self.stop()
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.cancel()
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(client.close())
        super().close()

    # ------------------------------------------------------------ static form

    def static_text(self) -> str:
        lines = [f"DeviceQueueGauges: {len(self.devices)} device(s)"
                 + (f", {self.more} more" if self.more else "")]
        for d in self.devices:
            sizes = ", ".join(f"{q['label']} {q['display']}" for q in d["queues"])
            lines.append(f"  {d['name']} [{d['type']}, {d['status']}]: {sizes}")
            for item in d["mine"]:
                lines.append(f"    your {item['kind']} {item['id']}: {_where(item)}")
        return "\n".join(lines)

    def static_html(self) -> str:
        e = html.escape
        rows = []
        for d in self.devices:
            cells = "".join(
                f"<td title='{e(str(q.get('raw')))}'>{e(q['display'])}"
                f"{' (approx.)' if q.get('approximate') else ''}"
                f"{' · ' + e(str(q['note'])) if q.get('note') else ''}</td>"
                for q in d["queues"])
            mine = "<br>".join(f"<strong>your {e(i['kind'])} {e(i['id'])}</strong>: "
                               f"{e(_where(i))}" for i in d["mine"])
            rows.append(f"<tr><td>{e(d['name'])}<br><small>{e(d['provider'])}</small></td>"
                        f"<td>{e(d['type'])}</td><td>{e(d['status'])}</td>{cells}"
                        f"<td>{mine}</td></tr>")
        when = (datetime.fromtimestamp(self.updated_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                if self.updated_at else "never")
        more = f"<div>{self.more} more device(s) not shown</div>" if self.more else ""
        return ("<div class='qw-static qw-gauges-static'>"
                "<table><thead><tr><th>Device</th><th>Type</th><th>Status</th><th>Tasks</th>"
                "<th>Priority tasks</th><th>Hybrid jobs</th><th>Yours</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>{more}"
                f"<div><small>Queues read {e(when)}</small></div></div>")


def _check_settings(max_devices: int, poll_interval: float) -> None:
    if max_devices < 1:
        raise ValidationError("max_devices", max_devices, "must be at least 1",
                              "e.g. max_devices=12")
    if not poll_interval >= 0.5:
        raise ValidationError("poll_interval", poll_interval, "must be at least 0.5 seconds",
                              "poll every few seconds: queues move slowly (e.g. 2.0)")


def _count_of(depth: QueueDepth | None, key: str) -> QueueCount:
    if depth is None:
        return QueueCount(None, None)
    return {"normal": depth.normal_tasks, "priority": depth.priority_tasks,
            "jobs": depth.jobs}[key]


def _item(kind: str, arn: str, status: str, place: QueueInfo | None,
          name: str = "") -> dict[str, Any]:
    queue = "jobs"
    if place is not None and place.queue != "JOBS_QUEUE":
        queue = "priority" if place.priority == "Priority" else "normal"
    elif place is None and kind == "task":
        queue = "normal"
    return {"kind": kind, "arn": arn, "id": name or arn.rsplit("/", 1)[-1][:8], "status": status,
            "queue": queue,
            "position": (place.position if place else QueueCount(None, None)).to_dict(),
            "message": place.message if place else None}


def _where(item: dict[str, Any]) -> str:
    position = item["position"]
    if position.get("value") is None:
        return f"{item['status']}" + (f" ({item['message']})" if item.get("message") else "")
    approx = " (approximate)" if position.get("approximate") else ""
    return f"{item['status']}, position {position['display']}{approx} in {item['queue']} queue"
