"""``DeviceQueueGauges``: a gauge per device and queue (normal tasks, priority tasks, hybrid
jobs), each device's status and type at a glance, and your own tasks' and jobs' positions
highlighted on them.

    gauges = DeviceQueueGauges()                          # every device of the embedded simulator
    gauges = DeviceQueueGauges(client=BraketProvider())   # Amazon Braket's devices
    gauges.track_task(task)                               # a QuantumTask or an ARN
    gauges

Polling (``PollingPanel``) is ONE asyncio task on the kernel's loop for every device, task and
job (requests of a round go out together, over the client's pooled connections), every
``poll_interval`` seconds, backing off (doubling with jitter, up to a minute) while the service
fails. At most ``max_devices`` devices are shown (the devices holding your items first), the
rest summed up as "N more".
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode, observe

from qwidgets.client.braket.devices import Device, DeviceApi, DeviceSummary, QuantumTask, TaskInfo
from qwidgets.client.braket.queue_info import QueueCount, QueueDepth, QueueInfo
from qwidgets.client.errors import ApiError, NotFoundError, ServiceUnavailableError
from qwidgets.errors import QwidgetsError, ValidationError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import bundle
from qwidgets.widgets.polling import Pacing, Polled, PollingPanel

MAX_BACKOFF_S = 60.0
CATALOG_EVERY = 30  # polls between two reads of the device list (statuses change rarely)
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# Braket's display caps: a full gauge means "at least this many"
TASK_CAP = 4000
JOB_CAP = 1000


class DeviceQueueGauges(PollingPanel[DeviceApi]):
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
    updated_at = Float(None, allow_none=True, help="When the kernel last read the queues "
                       "(epoch seconds).").tag(sync=True)
    tasks = List(Unicode(), help="ARNs of your quantum tasks shown on the gauges.").tag(sync=True)
    jobs = List(Unicode(), help="ARNs of your hybrid jobs shown on the gauges.").tag(sync=True)
    retry_on = (ServiceUnavailableError, ApiError, OSError, asyncio.TimeoutError, ValidationError)
    polled = "the queues"
    handle = "gauges"

    def __init__(self, *, client: DeviceApi | None = None, device_arns: Sequence[str] | None = None,
                 track_tasks: Iterable[str | QuantumTask] = (), track_jobs: Iterable[str] = (),
                 autostart: bool = True, **kwargs: Any) -> None:
        """``device_arns``: only these devices (default: every device the client lists)."""
        task_arns = [t.arn if isinstance(t, QuantumTask) else str(t) for t in track_tasks]
        kwargs.setdefault("tasks", task_arns)
        kwargs.setdefault("jobs", [str(j) for j in track_jobs])
        super().__init__(client=client, **kwargs)
        _check_settings(self.max_devices, self.poll_interval)
        self._only = list(device_arns) if device_arns is not None else None
        self._catalog: list[DeviceSummary] = []
        self._catalog_age = CATALOG_EVERY
        self._last_device: dict[str, Device] = {}
        self._last_task: dict[str, TaskInfo] = {}
        self._last_job: dict[str, Any] = {}
        self._requests.register(Request.REFRESH, self._refresh_request)
        if autostart:
            self._start_if_possible()

    # ------------------------------------------------------------ what is tracked

    def track_task(self, task: str | QuantumTask) -> None:
        arn = task.arn if isinstance(task, QuantumTask) else str(task)
        if arn not in self.tasks:
            self.tasks = [*self.tasks, arn]
        self.wake()

    def track_job(self, arn: str) -> None:
        if arn not in self.jobs:
            self.jobs = [*self.jobs, str(arn)]
        self.wake()

    @observe("max_devices", "poll_interval")
    def _settings_changed(self, change: dict[str, Any]) -> None:
        _check_settings(self.max_devices, self.poll_interval)
        self.wake()

    @observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        self.wake()

    # ------------------------------------------------------------ polling

    def pacing(self) -> Pacing:
        # queues move slowly: no faster polling after a change, only a backoff on failures
        return Pacing(fast=self.poll_interval, slow=self.poll_interval,
                      max_backoff=MAX_BACKOFF_S, jitter=True)

    def _paused(self) -> bool:
        return self.paused

    async def _open_client(self) -> DeviceApi:
        from qwidgets.client.braket.devices import AsyncDeviceClient

        return await AsyncDeviceClient.create()

    async def _poll(self) -> Polled:
        """Read every shown device, task and job once."""
        client = await self._connection()
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
        problems = [a for a in (*item_answers, *device_answers) if isinstance(a, BaseException)]
        for a in problems:
            if not isinstance(a, (*self.retry_on, QwidgetsError)):
                raise a
        if shown and all(isinstance(a, BaseException) for a in device_answers):
            raise problems[0]
        for summary, answer in zip(shown, device_answers, strict=True):
            if isinstance(answer, Device):
                self._last_device[summary.arn] = answer
        note = f"{len(problems)} request(s) failed; showing their last answers" if problems else ""
        self._stage(devices=[self._device_state(s) for s in shown], more=more,
                    updated_at=time.time(), error=note)
        return Polled.CHANGED

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

    async def _refresh_request(self) -> dict[str, Any]:
        ok = await self.refresh()
        return {"ok": ok, "error": self.error}

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
