"""The qcog routes under ``/api/v1/`` (``docs/qcog-wire-format.md``), each with and
without the trailing slash the public client appends, plus ``model/{guid}/cancel/``.

Parsing and numpy work on large bodies runs in a thread, so a 100 MB upload never stalls the
status polls of other clients. An upload is streamed: its file part is hashed (for
idempotency) and spooled as it arrives, then inflated a chunk at a time against the dataset
limits, so neither its compressed nor its inflated form is ever held whole before it is known
to fit.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from aiohttp import BodyPartReader, http_exceptions, web

from qwidgets.errors import DataValidationError, ValidationError
from qwidgets.protocol.data import numeric_matrix, training_matrix
from qwidgets.protocol.model_memory import check_training_memory
from qwidgets.protocol.params import MODELS, validate_training_parameters
from qwidgets.protocol.qcog_wire import (
    CsvPayload,
    MalformedInputError,
    check_version,
    decode_b64,
    decode_upload,
    encode_frame,
    get_str,
    parse_json_object,
)
from qwidgets.protocol.strict_json import has_surrogate
from qwidgets.sim import engine
from qwidgets.sim.engine import TrainedModel
from qwidgets.sim.server.limits import ServerLimits
from qwidgets.sim.server.middleware import NS, REPLAY, ApiError, Replay, json_response
from qwidgets.sim.server.recent import Recent
from qwidgets.sim.server.store import Store
from qwidgets.sim.server.trainings import TrainingJobs
from qwidgets.version import __version__

API = "/api/v1"
DEFAULT_QCOG_VERSION = "0.0.123"
MODEL_KEYS = ("guid", "qcog_version", "dataset_guid", "training_parameters_guid", "status",
              "loss", "training_completion", "current_batch_completion", "failure_reason",
              "progress")
DATASET_KEYS = ("guid", "format", "source", "project_guid")
UPLOAD_CHUNK = 64 * 1024
MAX_QUERY_VALUE = 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Context:
    store: Store
    jobs: TrainingJobs
    limits: ServerLimits
    recent: Recent = field(default_factory=Recent)


CONTEXT = web.AppKey("qwidgets_context", Context)


def add_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "status", status),
        ("POST", "dataset", post_dataset),
        ("POST", "dataset/upload", upload_dataset),
        ("GET", "dataset/{guid}", get_dataset),
        ("POST", "training_parameters", post_training_parameters),
        ("GET", "training_parameters/{guid}", get_training_parameters),
        ("POST", "model", post_model),
        ("GET", "model/{guid}", get_model),
        ("POST", "model/{guid}/inference", inference),
        ("POST", "model/{guid}/cancel", cancel),
    ]
    for method, path, handler in routes:
        for suffix in ("", "/"):
            app.router.add_route(method, f"{API}/{path}{suffix}", handler)


# ---------------------------------------------------------------- helpers


def _ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > 1 << 20:
        return await asyncio.to_thread(parse_json_object, raw)
    return parse_json_object(raw)


def _not_found(kind: str, guid: str, field: str = "guid") -> ApiError:
    return ApiError(404, f"no {kind} with guid {guid[:100]!r} for this token", field=field,
                    fix=f"check the guid; a {kind} is only visible to the token that created it")


def _path_guid(request: web.Request, kind: str) -> str:
    """The guid in the path; one that cannot be a guid (too long, not valid text) is a 404
    without a lookup."""
    guid = request.match_info["guid"]
    if len(guid) > 100 or has_surrogate(guid):
        raise _not_found(kind, guid)
    return guid


def _query_text(request: web.Request, key: str, default: str | None) -> str | None:
    value = request.query.get(key, default)
    if value is not None and (len(value) > MAX_QUERY_VALUE or has_surrogate(value)):
        raise ValidationError(key, value, f"must be text of at most {MAX_QUERY_VALUE} "
                              "characters", f"send ?{key}= as UTF-8 text")
    return value


def _dataset_view(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in DATASET_KEYS}
    out.update(rows=row["n_rows"], columns=row["columns"])
    if row.get("name") is not None:
        out["dataset_id"] = row["name"]
    return out


def _model_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in MODEL_KEYS}


def _check_frame(payload: CsvPayload, field: str) -> tuple[int, list[str]]:
    """Parse and validate a dataset; returns (rows, columns)."""
    frame = payload.frame(field)
    _, names = numeric_matrix(frame, field)
    return len(frame), names


# ---------------------------------------------------------------- status


async def status(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "service": "qwidgets-sim", "version": __version__,
                              "models": sorted(MODELS)})


# ---------------------------------------------------------------- datasets


async def post_dataset(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    body = await _json_body(request)
    fmt = get_str(body, "format", default="dataframe")
    if fmt != "dataframe":
        raise ValidationError("format", fmt, "must be 'dataframe'", "send format='dataframe'")
    source = get_str(body, "source", default="client")
    project_guid = get_str(body, "project_guid", default=None, nullable=True)
    if "data" not in body:
        raise ValidationError("data", None, "is required", "add the B64-encoded DataFrame")
    quotas = ctx.limits.quotas
    ctx.store.check_dataset_quota(request[NS], 0, quotas)

    def work() -> dict[str, Any]:
        payload = decode_b64(body.pop("data"), "data", ctx.limits.datasets)
        rows, columns = _check_frame(payload, "data")
        return ctx.store.add_dataset(request[NS], csv=payload.csv, indexing=payload.indexing,
                                     n_rows=rows, columns=columns, format=fmt, source=source,
                                     project_guid=project_guid, quotas=quotas)

    return json_response(_dataset_view(await asyncio.to_thread(work)))


async def upload_dataset(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    name = _query_text(request, "dataset_id", None)
    fmt = _query_text(request, "format", "dataframe")
    if fmt != "dataframe":
        raise ValidationError("format", fmt, "must be 'dataframe'", "use ?format=dataframe")
    encoding = _query_text(request, "encoding", "gzip")
    if encoding != "gzip":
        raise ValidationError("encoding", encoding, "must be 'gzip'", "use ?encoding=gzip")
    source = _query_text(request, "source", "client")
    if request.content_type != "multipart/form-data":
        raise MalformedInputError("file", request.content_type, "must come as multipart/form-data",
                                  "post a form with a file field 'file' (gzip CSV)")
    quotas = ctx.limits.quotas
    ctx.store.check_dataset_quota(request[NS], 0, quotas)
    limit, option = ctx.limits.body_limit(request.method, request.path)
    spool, digest = await _stream_file_part(request, limit, option)
    try:
        replay = request.get(REPLAY)
        if isinstance(replay, Replay):
            answer = replay.check(digest)
            if answer is not None:
                return answer

        def work() -> dict[str, Any]:
            payload = decode_upload(_chunks(spool), ctx.limits.datasets, "file")
            rows, columns = _check_frame(payload, "file")
            return ctx.store.add_dataset(request[NS], csv=payload.csv,
                                         indexing=payload.indexing, n_rows=rows,
                                         columns=columns, format="dataframe",
                                         source=source or "client", name=name, quotas=quotas)

        return json_response(_dataset_view(await asyncio.to_thread(work)))
    finally:
        spool.close()


async def _stream_file_part(request: web.Request, limit: int, option: str
                            ) -> tuple[IO[bytes], str]:
    """The form's ``file`` part, decoded (Content-Transfer-Encoding) into a spool, and the
    SHA-256 of what it holds; every other part is drained. At most ``limit`` bytes are taken
    in all, whatever the form declares."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
    digest = hashlib.sha256()
    found = False
    taken = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise MalformedInputError("file", "a nested multipart part", "is not "
                                          "accepted", "post one flat form with a field 'file'")
            keep = part.name == "file" and part.filename is not None and not found
            found = found or keep
            while chunk := await part.read_chunk(UPLOAD_CHUNK):
                taken += len(chunk)
                if taken > limit:
                    raise ApiError(413, f"the request body is larger than this route's limit "
                                   f"of {limit} bytes", field="body", fix="send a smaller "
                                   f"dataset, or ask the server's operator for a larger "
                                   f"{option}")
                if keep:
                    data = part.decode(chunk)
                    digest.update(data)
                    spool.write(data)
    except (ValueError, AssertionError, LookupError, RuntimeError,
            http_exceptions.HttpProcessingError) as exc:
        spool.close()
        # a missing or broken boundary, an unknown Content-Transfer-Encoding (RuntimeError),
        # a part's header that is not HTTP (HttpProcessingError)
        raise MalformedInputError("file", str(exc)[:120], "is not a readable multipart form",
                                  "post a form with a file field 'file' (plain binary, "
                                  "no Content-Transfer-Encoding)") from None
    except BaseException:
        spool.close()
        raise
    if not found:
        spool.close()
        raise ValidationError("file", None, "is required as a file field",
                              "post the gzip CSV as form field 'file'")
    spool.seek(0)
    return spool, digest.hexdigest()


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1 << 20):
        yield chunk


async def get_dataset(request: web.Request) -> web.Response:
    guid = _path_guid(request, "dataset")
    row = _ctx(request).store.dataset(request[NS], guid)
    if row is None:
        raise _not_found("dataset", guid)
    return json_response(_dataset_view(row))


# ---------------------------------------------------------------- training parameters


async def post_training_parameters(request: web.Request) -> web.Response:
    body = await _json_body(request)
    model = get_str(body, "model")
    if "parameters" not in body:
        raise ValidationError("parameters", None, "is required",
                              "send {'model': ..., 'parameters': {'model': {...}, ...}}")
    params = validate_training_parameters(model, body["parameters"])
    ctx = _ctx(request)
    # refused now, with the estimate, rather than failing (or taking the machine) later
    check_training_memory(model, params, ctx.limits.max_model_memory)
    return json_response(ctx.store.add_training_parameters(request[NS], model, params))


async def get_training_parameters(request: web.Request) -> web.Response:
    guid = _path_guid(request, "training_parameters")
    row = _ctx(request).store.training_parameters(request[NS], guid)
    if row is None:
        raise _not_found("training_parameters", guid)
    return json_response(row)


# ---------------------------------------------------------------- models


async def post_model(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    ns = request[NS]
    body = await _json_body(request)
    tp_guid = get_str(body, "training_parameters_guid")
    ds_guid = get_str(body, "dataset_guid")
    version = check_version(get_str(body, "qcog_version", default=DEFAULT_QCOG_VERSION))
    tp = ctx.store.training_parameters(ns, tp_guid)
    if tp is None:
        raise _not_found("training_parameters", tp_guid, "training_parameters_guid")
    dataset = ctx.store.dataset(ns, ds_guid)
    if dataset is None:
        raise _not_found("dataset", ds_guid, "dataset_guid")
    params = tp["parameters"]
    check_training_memory(tp["model"], params, ctx.limits.max_model_memory,
                          rows=int(dataset["n_rows"]), field="dataset_guid")
    ctx.store.check_model_quota(ns, ctx.limits.quotas)

    operators = params["model"]["operators"]
    fit = (ns, ds_guid, tuple(map(str, operators)))

    def check_columns() -> None:
        stored = ctx.store.dataset_csv(ns, ds_guid)
        assert stored is not None
        try:
            training_matrix(CsvPayload(*stored).frame(), operators)
        except DataValidationError as exc:
            raise ValidationError("dataset_guid", exc.columns,
                                  f"the dataset does not fit training parameters {tp_guid}: "
                                  f"{exc.allowed}", exc.fix) from exc
        ctx.recent.remember_fit(fit)

    # refuse now what could only fail later, so the caller gets a 422 instead of a failed model
    if not ctx.recent.fits(fit):
        await asyncio.to_thread(check_columns)
    # Again after the await: concurrent POSTs all passed the first check while this one
    # waited, and nothing awaits between this check and the insert.
    ctx.store.check_model_quota(ns, ctx.limits.quotas)
    progress = {"pass_index": 0, "batch_index": 0, "num_passes": params["num_passes"],
                "num_batches": math.ceil(dataset["n_rows"] / params["batch_size"])}
    row = ctx.store.add_model(ns, dataset_guid=ds_guid, training_parameters_guid=tp_guid,
                              qcog_version=version, progress=progress)
    ctx.jobs.submit(ns, row["guid"])
    return json_response(_model_view(row))


def _model_row(request: web.Request) -> dict[str, Any]:
    guid = _path_guid(request, "model")
    row = _ctx(request).store.model(request[NS], guid)
    if row is None:
        raise _not_found("model", guid)
    return row


async def get_model(request: web.Request) -> web.Response:
    return json_response(_model_view(_model_row(request)))


async def cancel(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    row = _model_row(request)
    if row["status"] in ("completed", "failed"):
        raise ApiError(409, f"model {row['guid']} is already {row['status']}", field="status",
                       fix="only a pending or processing training can be cancelled")
    ctx.jobs.cancel(request[NS], row["guid"])
    latest = ctx.store.model(request[NS], row["guid"])
    assert latest is not None
    return json_response(_model_view(latest))


async def inference(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    row = _model_row(request)
    if row["status"] != "completed":
        raise ApiError(409, f"model {row['guid']} is {row['status']}; inference needs a "
                       "completed training", field="status",
                       fix="wait_for_training() until the status is 'completed'")
    body = await _json_body(request)
    if "data" not in body:
        raise ValidationError("data", None, "is required", "add the B64-encoded DataFrame")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError("parameters", parameters, "must be a JSON object of state "
                              "parameters or null", "send e.g. {'state_method': 'NP_EIGH'}")
    blob = ctx.store.weights(request[NS], row["guid"])
    if blob is None:
        raise ApiError(409, f"model {row['guid']} has no stored weights", field="guid")

    payload = body.pop("data")

    def work() -> str:
        frame = ctx.recent.frame(payload, lambda: decode_b64(
            payload, "data", ctx.limits.datasets).frame("data"))
        forecast = engine.infer(TrainedModel.from_bytes(blob), frame, parameters)
        return encode_frame(forecast)

    return json_response({"response": {"data": await asyncio.to_thread(work)}})
