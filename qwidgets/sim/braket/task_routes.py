"""Braket's quantum-task routes: CreateQuantumTask, GetQuantumTask (with QueueInfo),
CancelQuantumTask, SearchQuantumTasks, and ``GET /quantum-task/{arn}/result``, a qwidgets route
that answers a COMPLETED task's counts as JSON. The tasks themselves live in ``app[RUNTIME]``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.sim.braket import circuits
from qwidgets.sim.braket.auth import CALLER, account_id, authenticated
from qwidgets.sim.braket.device_store import NewTask
from qwidgets.sim.braket.runtime import RUNTIME, BraketRuntime
from qwidgets.sim.braket.wire import (
    BraketError,
    epoch,
    field,
    invalid,
    json_body,
    max_results,
    next_token,
    not_found,
    path_arn,
)

OPENQASM = "braket.ir.openqasm.program"


def add_routes(app: web.Application) -> None:
    app.router.add_post("/quantum-task", create_quantum_task)
    app.router.add_get("/quantum-task/{quantumTaskArn}/result", get_result)
    app.router.add_get("/quantum-task/{quantumTaskArn}", get_quantum_task)
    app.router.add_put("/quantum-task/{quantumTaskArn}/cancel", cancel_quantum_task)
    app.router.add_post("/quantum-tasks", search_quantum_tasks)


@authenticated
async def create_quantum_task(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    caller = request[CALLER]
    body = await json_body(request)
    device_arn = field(body, "deviceArn", str)
    spec = runtime.accepting(device_arn)
    shots = field(body, "shots", int)
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
    inputs = action.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise invalid(f"action.inputs must be an object of parameter values, got {inputs!r}")
    try:
        program = circuits.prepare(action.get("source"), shots, inputs=inputs,
                                   features=spec.features, device=spec.name)
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
    arn = f"arn:aws:braket:{caller.region}:{account_id(caller.ns)}:quantum-task/{task_id}"
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
    limit = max_results(body)
    cursor = next_token(body)
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

