"""Braket's hybrid-job routes (``docs/braket-and-federated-wire-formats.md``), so that
boto3's ``braket`` client and amazon-braket-sdk's ``AwsQuantumJob`` work against the simulator:

    POST /job                     CreateJob  -> 201 {jobArn}
    GET  /job/{jobArn}            GetJob (?additionalAttributeNames=QueueInfo adds queueInfo)
    PUT  /job/{jobArn}/cancel     CancelJob  -> {jobArn, cancellationStatus}
    POST /jobs                    SearchJobs -> {jobs, nextToken?}
    GET  /job/{jobArn}/result     qwidgets only: the result and metrics the algorithm produced

Requests are signed with SigV4 (``braket_auth``); each token is its own namespace, and an ARN
of another namespace is answered 404 like an unknown one. Errors come in Braket's shape.

``setup`` also installs what amazon-braket-sdk's job path calls besides Braket: the S3 store
(``s3_routes``), STS, IAM and CloudWatch Logs (``sts_routes``). A source other than the built-in
one runs only on a server set up with ``run_job_code`` (``--run-job-code``); otherwise
CreateJob answers 403 AccessDeniedException naming the flag.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol.hybrid_jobs import (
    BUILTIN_SOURCE,
    JOB_STATES,
    MAX_EVENTS,
    RUN_CODE_FLAG,
    TERMINAL_STATES,
    JobSpec,
    check_runnable,
    dataset_guid,
    runs_uploaded_code,
    validate_create_job,
)
from qwidgets.sim.braket import logs_routes, s3_routes, sts_routes
from qwidgets.sim.braket.auth import CALLER, KEYS, account_id, authenticated
from qwidgets.sim.braket.job_code import CodeRunner
from qwidgets.sim.braket.job_runner import JobRunner
from qwidgets.sim.braket.job_store import JobExistsError
from qwidgets.sim.braket.job_workdir import parse_s3_uri
from qwidgets.sim.braket.queues import QueueEvent
from qwidgets.sim.braket.runtime import RUNTIME
from qwidgets.sim.braket.s3_store import S3Limits, S3Store
from qwidgets.sim.braket.wire import BraketError, epoch, field, invalid, json_body, path_arn
from qwidgets.sim.server.middleware import NS
from qwidgets.sim.server.store import Store

RUNNER = web.AppKey("qwidgets_job_runner", JobRunner)
STORE = web.AppKey("qwidgets_job_store_file", Store)

SEARCH_FILTERS = {
    "jobArn": ("EQUAL", "CONTAINS"),
    "jobName": ("EQUAL", "CONTAINS"),
    "status": ("EQUAL",),
    "device": ("EQUAL", "CONTAINS"),
    "createdAt": ("LT", "LTE", "GT", "GTE", "BETWEEN", "EQUAL"),
}
MAX_SEARCH_RESULTS = 100


def setup(app: web.Application, store: Store, *, workers: int = 2, run_job_code: bool = False,
          s3_limits: S3Limits | None = None) -> None:
    """Register the routes and the job runner, after ``device_routes.setup`` and
    ``auth.install``: jobs wait in ``app[RUNTIME]``'s device queues (looked up when the app
    starts, so a test may replace the runtime before). ``run_job_code``: run uploaded sources
    (in a sandboxed process each)."""
    runtime = app[RUNTIME]
    s3 = S3Store(store, s3_limits)
    runner = JobRunner(store, runtime.queues, workers=workers, s3=s3)
    if run_job_code:
        runner.code = CodeRunner(runner.jobs, app[KEYS], store.directory)
    app[RUNNER] = runner
    app[STORE] = store
    app[s3_routes.S3] = s3
    app[logs_routes.JOBS] = runner.jobs
    sts_routes.add_routes(app)
    app.router.add_post("/job", create_job)
    app.router.add_get("/job/{arn}", get_job)
    app.router.add_put("/job/{arn}/cancel", cancel_job)
    app.router.add_post("/jobs", search_jobs)
    app.router.add_get("/job/{arn}/result", get_result)

    def on_queue_event(event: QueueEvent) -> None:
        if event.kind == "job":
            runner.started(event.item_id)

    async def start(app_: web.Application) -> None:
        current = app_[RUNTIME]
        runner.queue = current.queues
        current.subscribe(on_queue_event)
        current.job_for_token = runner.job_for_token
        runner.recover()

    async def stop(_app: web.Application) -> None:
        # Called directly, like the trainings' shutdown: the jobs notice the stop between
        # chunks of rows, and the threads must end before the store closes.
        runner.shutdown()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)


def job_arn(ns: str, region: str, name: str) -> str:
    """In the caller's account, the same one as its quantum tasks."""
    return f"arn:aws:braket:{region}:{account_id(ns)}:job/{name}"


# ---------------------------------------------------------------- handlers


@authenticated
async def create_job(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    ns = request[NS]
    body = await json_body(request)
    token = field(body, "clientToken", str, required=False)
    if token is not None:
        previous = runner.jobs.by_client_token(ns, token)
        if previous is not None:  # a retry of a request that already created its job
            return web.json_response({"jobArn": previous["arn"]}, status=201)
    spec = validate_create_job(body)
    if runs_uploaded_code(spec):
        if runner.code is None:
            raise BraketError(403, "AccessDeniedException",
                              f"this server does not run uploaded job code (source "
                              f"{spec.source}): start it with `python -m qwidgets.sim serve "
                              f"{RUN_CODE_FLAG}` (in Python: qwidgets.sim.start(run_job_code="
                              f"True)) to run it; the built-in source {BUILTIN_SOURCE} runs "
                              "without it")
        if not runner.code.sandbox_abi:
            raise BraketError(403, "AccessDeniedException",
                              "this machine cannot sandbox job code (it needs Linux 5.13 or "
                              "later with Landlock enabled), so uploaded sources do not run "
                              f"here; the built-in source {BUILTIN_SOURCE} does")
        _check_source(request, spec)
    check_runnable(spec)
    _check_device(request, spec)
    _check_inputs(request, spec.input_data_config)
    if runner.endpoint is None:  # a server whose caller did not say where it listens
        runner.endpoint = f"{request.scheme}://{request.host}"
    arn = job_arn(ns, request[CALLER].region, spec.name)
    try:
        runner.create(ns, arn, spec, token)
    except JobExistsError:
        raise BraketError(409, "ConflictException",
                          f"a job named {spec.name!r} already exists: job names are unique per "
                          "account; choose another jobName") from None
    return web.json_response({"jobArn": arn}, status=201)


@authenticated
async def get_job(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    row = _job(request)
    out = dict(row["spec"])
    if not out.get("inputDataConfig"):
        out.pop("inputDataConfig", None)
    out.update(jobArn=row["arn"], status=row["status"], createdAt=epoch(row["created"]))
    if row["started"] is not None:
        out["startedAt"] = epoch(row["started"])
    if row["ended"] is not None:
        out["endedAt"] = epoch(row["ended"])
    if row["failure_reason"]:
        out["failureReason"] = row["failure_reason"]
    out["events"] = [{"eventType": e["type"], "timeOfEvent": epoch(e["time"]),
                      "message": e["message"]} for e in runner.jobs.events(row["arn"], MAX_EVENTS)]
    if "QueueInfo" in request.query.getall("additionalAttributeNames", []):
        out["queueInfo"] = request.app[RUNTIME].queue_info("job", row["arn"], row["status"])
    return web.json_response(out)


@authenticated
async def cancel_job(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    row = _job(request)
    if row["status"] in TERMINAL_STATES:
        raise BraketError(409, "ConflictException",
                          f"job {row['arn']} is already {row['status']}: only a QUEUED or "
                          "RUNNING job can be cancelled")
    status = runner.cancel(row["arn"])
    if status is None:  # it ended between the read above and the cancel
        latest = runner.jobs.job(row["arn"])
        raise BraketError(409, "ConflictException",
                          f"job {row['arn']} is already {latest['status'] if latest else 'gone'}")
    return web.json_response({"jobArn": row["arn"], "cancellationStatus": status})


@authenticated
async def search_jobs(request: web.Request) -> web.Response:
    runner = request.app[RUNNER]
    body = await json_body(request)
    filters = field(body, "filters", list)
    limit = field(body, "maxResults", int, required=False, default=MAX_SEARCH_RESULTS)
    if not 1 <= limit <= MAX_SEARCH_RESULTS:
        raise invalid(f"maxResults must be 1 to {MAX_SEARCH_RESULTS}, got {limit}")
    after = _page_token(field(body, "nextToken", str, required=False))
    checks = [_filter(f, i) for i, f in enumerate(filters)]
    matched: list[dict[str, Any]] = []
    more = False
    for row in runner.jobs.search(request[NS], after=after, limit=100_000):
        if all(check(row) for check in checks):
            if len(matched) == limit:
                more = True
                break
            matched.append(row)
    out: dict[str, Any] = {"jobs": [_summary(r) for r in matched]}
    if more:
        out["nextToken"] = str(matched[-1]["seq"])
    return web.json_response(out)


@authenticated
async def get_result(request: web.Request) -> web.Response:
    row = _job(request)
    return web.json_response({"jobArn": row["arn"], "status": row["status"],
                              "result": row["result"], "metrics": row["metrics"]})


# ---------------------------------------------------------------- helpers


def _job(request: web.Request) -> dict[str, Any]:
    arn = path_arn(request, "arn")
    row = request.app[RUNNER].jobs.job(arn, request[NS])
    if row is None:
        raise BraketError(404, "ResourceNotFoundException",
                          f"Job {arn} not found (it does not exist, or belongs to other "
                          "credentials)")
    return row


def _check_device(request: web.Request, spec: JobSpec) -> None:
    queues = request.app[RUNTIME].queues
    device = queues.device(spec.device)
    if device is None:
        known = sorted(d.arn for d in queues.devices if d.status != "RETIRED")
        raise ValidationError("deviceConfig.device", spec.device,
                              "is not a device of this simulator", f"use one of {known}")
    if device.status == "RETIRED":
        raise BraketError(410, "DeviceRetiredException",
                          f"Device {spec.device} is retired and accepts no hybrid jobs; choose "
                          "an ONLINE device (SearchDevices)")


def _check_source(request: web.Request, spec: JobSpec) -> None:
    bucket, key = parse_s3_uri(spec.source)
    if request.app[s3_routes.S3].head(request[NS], bucket, key) is None:
        raise ValidationError("algorithmSpecification.scriptModeConfig.s3Uri", spec.source,
                              "names no object in this server's S3 for these credentials",
                              "upload the tar.gz first (AwsQuantumJob.create does it for a local "
                              "source_module)")


def _check_inputs(request: web.Request, channels: list[dict[str, Any]]) -> None:
    store = request.app[STORE]
    s3 = request.app[s3_routes.S3]
    for i, channel in enumerate(channels):
        uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
        where = f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri"
        guid = dataset_guid(uri)
        if guid is None:  # an uploaded source's channel: objects of the caller's S3
            if not uri.startswith("s3://"):
                raise ValidationError(where, uri, "must be an s3:// URI of this server's S3")
            bucket, prefix = parse_s3_uri(uri if "/" in uri[5:] else uri + "/")
            if s3.bucket(request[NS], bucket) is None or not s3.list(request[NS], bucket,
                                                                      prefix, "", 1):
                raise ValidationError(where, uri, "names no objects in this server's S3 for "
                                      "these credentials", "upload the input data first")
        elif store.dataset(request[NS], guid) is None:
            raise ValidationError(where, uri, "names no dataset of these credentials",
                                  "upload the dataset with the same token first")


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"status": row["status"], "jobArn": row["arn"], "jobName": row["name"],
                           "device": row["device"], "createdAt": epoch(row["created"])}
    if row["started"] is not None:
        out["startedAt"] = epoch(row["started"])
    if row["ended"] is not None:
        out["endedAt"] = epoch(row["ended"])
    tags = row["spec"].get("tags")
    if tags:
        out["tags"] = tags
    return out


def _page_token(token: str | None) -> int:
    if token is None:
        return 0
    # isdigit alone accepts "²", which int() refuses
    if not (token.isascii() and token.isdigit() and len(token) <= 18) or int(token) < 1:
        raise invalid(f"nextToken {token!r} is not a token this server gave")
    return int(token)


def _filter(spec: Any, index: int) -> Any:
    where = f"filters[{index}]"
    if not isinstance(spec, dict):
        raise invalid(f"{where} must be an object {{name, values, operator}}")
    name, values, operator = spec.get("name"), spec.get("values"), spec.get("operator")
    if not isinstance(name, str) or name not in SEARCH_FILTERS:
        raise invalid(f"{where}.name {name!r} is not supported; use one of "
                      f"{sorted(SEARCH_FILTERS)}")
    if operator not in SEARCH_FILTERS[name]:
        raise invalid(f"{where}.operator {operator!r} does not apply to {name}; use one of "
                      f"{list(SEARCH_FILTERS[name])}")
    if not isinstance(values, list) or not 1 <= len(values) <= 10 \
            or not all(isinstance(v, str) for v in values):
        raise invalid(f"{where}.values must be a list of 1 to 10 strings")
    if name == "status":
        bad = [v for v in values if v not in JOB_STATES]
        if bad:
            raise invalid(f"{where}.values {bad} are not job states {list(JOB_STATES)}")
    if name == "createdAt":
        return _time_filter(values, operator, where)
    column = {"jobArn": "arn", "jobName": "name", "status": "status", "device": "device"}[name]
    if operator == "CONTAINS":
        return lambda row: any(v in row[column] for v in values)
    return lambda row: row[column] in values


def _time_filter(values: list[str], operator: str, where: str) -> Any:
    try:
        times = [_instant(v) for v in values]
    except ValueError:
        raise invalid(f"{where}.values must be ISO 8601 times or epoch seconds, got "
                      f"{values}") from None
    if operator == "BETWEEN":
        if len(times) != 2:
            raise invalid(f"{where}: BETWEEN takes two values, got {len(times)}")
        low, high = sorted(times)
        return lambda row: low <= row["created"] <= high
    first = times[0]
    compare = {"LT": float.__lt__, "LTE": float.__le__, "GT": float.__gt__,
               "GTE": float.__ge__, "EQUAL": lambda a, b: abs(a - b) < 1e-3}[operator]
    return lambda row: compare(float(row["created"]), first)


def _instant(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()
