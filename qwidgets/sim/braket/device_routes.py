"""Braket's device and quantum-task routes (GetDevice, SearchDevices, CreateQuantumTask,
GetQuantumTask with QueueInfo, CancelQuantumTask, SearchQuantumTasks), the result of a task, and
the runtime that moves tasks through their states as the device queues advance.

Tasks go CREATED -> QUEUED -> RUNNING -> COMPLETED | FAILED, or -> CANCELLING -> CANCELLED.
Results: ``GET /quantum-task/{arn}/result`` (a qwidgets route: counts as JSON), and the
``results.json`` object amazon-braket-sdk downloads, served as a minimal S3 GetObject under
``/s3/{bucket}/{key}`` (point boto3's S3 endpoint at ``<server>/s3``). Both are computed from
the stored counts; nothing else of S3 exists here.

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
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol import openqasm
from qwidgets.protocol.braket_queues import (
    JOBS_QUEUE,
    TASKS_QUEUE,
    Kind,
    depth_string,
    no_position_message,
    position_string,
)
from qwidgets.sim.braket import circuits
from qwidgets.sim.braket.auth import CALLER, authenticated, braket_namespace
from qwidgets.sim.braket.catalog import DeviceSpec, default_catalog
from qwidgets.sim.braket.device_store import NewTask, TaskStore
from qwidgets.sim.braket.queues import DeviceQueues, QueueEvent
from qwidgets.sim.braket.wire import BraketError, epoch, field, invalid, json_body, not_found, path_arn
from qwidgets.sim.server.store import Store

log = logging.getLogger("qwidgets.sim.braket")

TIME_SCALE_ENV = "QWIDGETS_SIM_TIME_SCALE"
TICK_S = 0.25
RESULTS_FILE = "results.json"
MAX_RESULTS = 100
OPENQASM = "braket.ir.openqasm.program"


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

    def create(self, ns: str, task: NewTask) -> dict[str, Any]:
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
            source = json.loads(row["action"])["source"]
            counts = await asyncio.to_thread(circuits.run, source, int(row["shots"]),
                                             circuits.seed_for(arn))
        except (ValueError, KeyError, MemoryError) as exc:
            self._owners.pop(arn, None)
            if not self.tasks.move(ns, arn, "FAILED", when=("RUNNING",), failure_reason=str(exc)):
                self.tasks.move(ns, arn, "CANCELLED", when=("CANCELLING",))
            return
        await asyncio.sleep(max(0.0, run_seconds - (time.monotonic() - started)))
        self._owners.pop(arn, None)
        result = {"counts": counts.counts, "measuredQubits": list(counts.measured_qubits),
                  "shots": counts.shots}
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


# ---------------------------------------------------------------- routes


def setup(app: web.Application, store: Store) -> None:
    """Register the routes and the runtime (started and stopped with the app). A test may
    replace ``app[RUNTIME]`` before the app starts (a manual clock, a custom catalog)."""
    app[RUNTIME] = BraketRuntime(store)
    app.router.add_get("/device/{deviceArn}", get_device)
    app.router.add_post("/devices", search_devices)
    app.router.add_post("/quantum-task", create_quantum_task)
    app.router.add_get("/quantum-task/{quantumTaskArn}/result", get_result)
    app.router.add_get("/quantum-task/{quantumTaskArn}", get_quantum_task)
    app.router.add_put("/quantum-task/{quantumTaskArn}/cancel", cancel_quantum_task)
    app.router.add_post("/quantum-tasks", search_quantum_tasks)
    app.router.add_get("/s3/{bucket}/{key:.+}", s3_get_object)

    async def start(app_: web.Application) -> None:
        await app_[RUNTIME].start()

    async def stop(app_: web.Application) -> None:
        await app_[RUNTIME].stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)  # before the store closes


def _device(request: web.Request, arn: str) -> DeviceSpec:
    spec = request.app[RUNTIME].queues.device(arn)
    if spec is None:
        raise not_found("Device", arn)
    return spec


def _device_json(runtime: BraketRuntime, spec: DeviceSpec) -> dict[str, Any]:
    return {"deviceArn": spec.arn, "deviceName": spec.name, "providerName": spec.provider,
            "deviceType": spec.device_type, "deviceStatus": spec.status,
            "deviceCapabilities": spec.capabilities_json(),
            "deviceQueueInfo": runtime.device_queue_info(spec)}


@authenticated
async def get_device(request: web.Request) -> web.Response:
    spec = _device(request, path_arn(request, "deviceArn"))
    return web.json_response(_device_json(request.app[RUNTIME], spec))


_DEVICE_FILTERS = {"deviceArn": "arn", "deviceName": "name", "deviceType": "device_type",
                   "deviceStatus": "status", "providerName": "provider"}


@authenticated
async def search_devices(request: web.Request) -> web.Response:
    body = await json_body(request)
    filters = field(body, "filters", list, required=False, default=[])
    limit = _max_results(body)
    start = _next_token(body)
    specs = request.app[RUNTIME].queues.devices
    for item in filters:
        if not isinstance(item, dict) or item.get("name") not in _DEVICE_FILTERS:
            raise invalid(f"filters: unknown filter {item!r}; names: {', '.join(_DEVICE_FILTERS)}")
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise invalid(f"filters[{item['name']}].values must be a non-empty list")
        attr = _DEVICE_FILTERS[item["name"]]
        specs = [s for s in specs if getattr(s, attr) in values]
    page = specs[start:start + limit]
    answer: dict[str, Any] = {"devices": [
        {"deviceArn": s.arn, "deviceName": s.name, "providerName": s.provider,
         "deviceType": s.device_type, "deviceStatus": s.status} for s in page]}
    if start + limit < len(specs):
        answer["nextToken"] = str(start + limit)
    return web.json_response(answer)


def _max_results(body: dict[str, Any]) -> int:
    limit = field(body, "maxResults", int, required=False, default=MAX_RESULTS)
    if not 1 <= limit <= MAX_RESULTS:
        raise invalid(f"maxResults must be between 1 and {MAX_RESULTS}, got {limit}")
    return int(limit)


def _next_token(body: dict[str, Any]) -> int:
    token = field(body, "nextToken", str, required=False, default="0")
    if not token.isdigit():
        raise invalid(f"nextToken {token!r} is not one this server issued")
    return int(token)


def _account(ns: str) -> str:
    """A stable 12-digit account id per namespace (ARNs need one)."""
    return f"{int(ns[:12], 16) % 10**12:012d}"


@authenticated
async def create_quantum_task(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    caller = request[CALLER]
    body = await json_body(request)
    device_arn = field(body, "deviceArn", str)
    spec = _device(request, device_arn)
    if spec.status == "RETIRED":
        raise invalid(f"Device {device_arn} is retired and accepts no quantum tasks; "
                      "choose an ONLINE device (SearchDevices)")
    shots = field(body, "shots", int)
    if not 1 <= shots <= spec.max_shots:
        raise invalid(f"shots: got {shots}; must be between 1 and {spec.max_shots} on "
                      f"{spec.name} (the embedded simulator samples measurements)")
    action_text = field(body, "action", str)
    try:
        action = json.loads(action_text)
    except ValueError:
        raise invalid("action must be a JSON document (an OpenQASM program: "
                      '{"braketSchemaHeader": {"name": "braket.ir.openqasm.program", ...}, '
                      '"source": "OPENQASM 3.0; ..."})') from None
    header = action.get("braketSchemaHeader", {}) if isinstance(action, dict) else {}
    if not isinstance(header, dict) or header.get("name") != OPENQASM:
        raise invalid(f"action: braketSchemaHeader.name must be {OPENQASM!r}, got "
                      f"{header.get('name') if isinstance(header, dict) else header!r}; "
                      "send the circuit as OpenQASM 3 (the SDK's default)")
    if action.get("inputs"):
        raise invalid("action.inputs: free parameters are not supported; bind them before "
                      "sending (circuit.make_bound_circuit)")
    try:
        program = openqasm.parse(action.get("source"))
    except ValidationError as exc:
        raise invalid(str(exc)) from None
    if program.qubit_count > spec.qubits:
        raise invalid(f"the circuit uses {program.qubit_count} qubits; {spec.name} has "
                      f"{spec.qubits}")
    bucket = field(body, "outputS3Bucket", str)
    prefix = field(body, "outputS3KeyPrefix", str)
    tags = field(body, "tags", dict, required=False, default={})
    job_token = field(body, "jobToken", str, required=False)
    task_id = str(uuid.uuid4())
    arn = f"arn:aws:braket:{caller.region}:{_account(caller.ns)}:quantum-task/{task_id}"
    row = runtime.create(caller.ns, NewTask(
        arn=arn, device_arn=device_arn, shots=shots, action=action_text,
        device_parameters=field(body, "deviceParameters", str, required=False, default="{}"),
        output_bucket=bucket, output_directory=f"{prefix.rstrip('/')}/{task_id}",
        client_token=field(body, "clientToken", str), tags={str(k): str(v) for k, v in tags.items()},
        priority="Priority" if job_token else "Normal", job_token=job_token))
    return web.json_response({"quantumTaskArn": row["arn"]}, status=201)


def _task(request: web.Request) -> tuple[str, dict[str, Any]]:
    arn = path_arn(request, "quantumTaskArn")
    row = request.app[RUNTIME].tasks.get(request[CALLER].ns, arn)
    if row is None:
        raise not_found("Quantum task", arn)
    return arn, row


def _task_json(runtime: BraketRuntime, row: dict[str, Any], *, queue_info: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "quantumTaskArn": row["arn"], "status": row["status"], "deviceArn": row["device_arn"],
        "deviceParameters": row["device_parameters"], "shots": row["shots"],
        "outputS3Bucket": row["output_bucket"], "outputS3Directory": row["output_directory"],
        "createdAt": epoch(row["created"]), "tags": row["tags"]}
    if row["ended"] is not None:
        out["endedAt"] = epoch(row["ended"])
    if row["failure_reason"]:
        out["failureReason"] = row["failure_reason"]
    if row["job_token"] and runtime.job_for_token is not None:
        job_arn = runtime.job_for_token(row["job_token"])
        if job_arn:
            out["jobArn"] = job_arn
    if row["status"] == "COMPLETED":
        out["numSuccessfulShots"] = row["shots"]
    if queue_info:
        out["queueInfo"] = runtime.queue_info("task", row["arn"], row["status"], row["priority"])
    return out


@authenticated
async def get_quantum_task(request: web.Request) -> web.Response:
    _arn, row = _task(request)
    wanted = request.query.getall("additionalAttributeNames", [])
    unknown = [w for w in wanted if w != "QueueInfo"]
    if unknown:
        raise invalid(f"additionalAttributeNames: {unknown} not supported; use QueueInfo")
    return web.json_response(_task_json(request.app[RUNTIME], row,
                                        queue_info="QueueInfo" in wanted))


@authenticated
async def cancel_quantum_task(request: web.Request) -> web.Response:
    arn, _row = _task(request)
    body = await json_body(request)
    field(body, "clientToken", str)
    status = request.app[RUNTIME].cancel(request[CALLER].ns, arn)
    return web.json_response({"quantumTaskArn": arn, "cancellationStatus": status})


@authenticated
async def get_result(request: web.Request) -> web.Response:
    """qwidgets' own route: the measurement counts of a COMPLETED task."""
    arn, row = _task(request)
    if row["status"] != "COMPLETED" or row["result"] is None:
        raise BraketError(409, "ConflictException",
                          f"Quantum task {arn} is {row['status']}; counts exist once it is "
                          "COMPLETED" + (f" (failure: {row['failure_reason']})"
                                         if row["failure_reason"] else ""))
    return web.json_response({"quantumTaskArn": arn, "status": row["status"], **row["result"]})


_TASK_FILTERS = ("status", "deviceArn", "quantumTaskArn", "createdAt")


@authenticated
async def search_quantum_tasks(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await json_body(request)
    filters = field(body, "filters", list, required=False, default=[])
    limit = _max_results(body)
    cursor = _next_token(body)
    statuses: tuple[str, ...] | None = None
    device: str | None = None
    arns: set[str] | None = None
    after = before = None
    for item in filters:
        if not isinstance(item, dict) or item.get("name") not in _TASK_FILTERS:
            raise invalid(f"filters: unknown filter {item!r}; names: {', '.join(_TASK_FILTERS)}")
        values, op = item.get("values"), item.get("operator", "EQUAL")
        if not isinstance(values, list) or not values:
            raise invalid(f"filters[{item['name']}].values must be a non-empty list")
        if item["name"] == "createdAt":
            after, before = _time_range(op, values)
            continue
        if op != "EQUAL":
            raise invalid(f"filters[{item['name']}].operator must be EQUAL, got {op!r}")
        if item["name"] == "status":
            statuses = tuple(str(v) for v in values)
        elif item["name"] == "deviceArn":
            if len(values) != 1:
                raise invalid("filters[deviceArn] takes one value")
            device = str(values[0])
        else:
            arns = {str(v) for v in values}
    rows, more = runtime.tasks.search(request[CALLER].ns, statuses=statuses, device_arn=device,
                                      created_after=after, created_before=before,
                                      after_rowid=cursor, limit=limit)
    if arns is not None:
        rows = [r for r in rows if r["arn"] in arns]
    answer: dict[str, Any] = {"quantumTasks": [
        {k: v for k, v in _task_json(runtime, r, queue_info=False).items()
         if k in ("quantumTaskArn", "status", "deviceArn", "shots", "outputS3Bucket",
                  "outputS3Directory", "createdAt", "endedAt", "tags")} for r in rows]}
    if more is not None:
        answer["nextToken"] = str(more)
    return web.json_response(answer)


def _time_range(op: str, values: list[Any]) -> tuple[float | None, float | None]:
    try:
        times = [float(v) for v in values]
    except (TypeError, ValueError):
        raise invalid(f"filters[createdAt].values must be epoch seconds, got {values!r}") from None
    if op == "BETWEEN":
        if len(times) != 2:
            raise invalid("filters[createdAt] BETWEEN takes two values")
        return times[0], times[1]
    if op in ("GT", "GTE"):
        return times[0], None
    if op in ("LT", "LTE"):
        return None, times[0]
    if op == "EQUAL":
        return times[0], times[0]
    raise invalid(f"filters[createdAt].operator {op!r} is not one of LT LTE EQUAL GT GTE BETWEEN")


# ---------------------------------------------------------------- S3 results (GetObject only)


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{xml_escape(message)}</Message></Error>")
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


async def s3_get_object(request: web.Request) -> web.Response:
    """``results.json`` of a COMPLETED task, in braket-schemas' GateModelTaskResult shape, for
    amazon-braket-sdk's ``task.result()``; the exact counts travel as measurement
    probabilities (count / shots), from which the SDK rebuilds the same counts."""
    try:
        ns = await braket_namespace(request)
    except BraketError as exc:
        return _s3_error(403, "AccessDenied" if exc.code != "InvalidSignatureException"
                         else "SignatureDoesNotMatch", exc.message)
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    directory, _, name = key.rpartition("/")
    row = request.app[RUNTIME].tasks.by_output(ns, bucket, directory)
    if row is None or name != RESULTS_FILE or row["result"] is None:
        return _s3_error(404, "NoSuchKey", f"The specified key does not exist: {key}")
    return web.json_response(_result_document(row))


def _result_document(row: dict[str, Any]) -> dict[str, Any]:
    result = row["result"]
    shots = int(result["shots"])
    action = json.loads(row["action"])
    return {
        "braketSchemaHeader": {"name": "braket.task_result.gate_model_task_result", "version": "1"},
        "measurementProbabilities": {k: v / shots for k, v in result["counts"].items()},
        "measuredQubits": result["measuredQubits"],
        "measurementsCopiedFromDevice": False,
        "measurementProbabilitiesCopiedFromDevice": True,
        "taskMetadata": {
            "braketSchemaHeader": {"name": "braket.task_result.task_metadata", "version": "1"},
            "id": row["arn"], "shots": shots, "deviceId": row["device_arn"],
            "createdAt": _iso(row["created"]), "endedAt": _iso(row["ended"]),
            "status": "COMPLETED"},
        "additionalMetadata": {"action": action},
    }


def _iso(value: float | None) -> str | None:
    """ISO 8601 with milliseconds: braket-schemas allows at most 24 characters."""
    if value is None:
        return None
    when = datetime.fromtimestamp(value, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
