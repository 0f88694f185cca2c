"""The qcog routes under ``/api/v1/`` (``docs/qcog-wire-format.md``), each with and
without the trailing slash the public client appends, plus ``model/{guid}/cancel/``.

Parsing and numpy work on large bodies runs in a thread, so a 100 MB upload never stalls the
status polls of other clients.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from aiohttp import web
from aiohttp.web_request import FileField

from qwidgets.errors import DataValidationError, ValidationError
from qwidgets.protocol.data import numeric_matrix, training_matrix
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
from qwidgets.sim import engine
from qwidgets.sim.engine import TrainedModel
from qwidgets.sim.server.middleware import NS, ApiError
from qwidgets.sim.server.store import Store
from qwidgets.sim.server.trainings import TrainingJobs
from qwidgets.version import __version__

API = "/api/v1"
DEFAULT_QCOG_VERSION = "0.0.123"
MODEL_KEYS = ("guid", "qcog_version", "dataset_guid", "training_parameters_guid", "status",
              "loss", "training_completion", "current_batch_completion", "failure_reason",
              "progress")
DATASET_KEYS = ("guid", "format", "source", "project_guid")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Context:
    store: Store
    jobs: TrainingJobs
    max_body_bytes: int


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
    return ApiError(404, f"no {kind} with guid {guid!r} for this token", field=field,
                    fix=f"check the guid; a {kind} is only visible to the token that created it")


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
    return web.json_response({"status": "ok", "service": "qwidgets-sim", "version": __version__,
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

    def work() -> dict[str, Any]:
        payload = decode_b64(body["data"], "data")
        rows, columns = _check_frame(payload, "data")
        return ctx.store.add_dataset(request[NS], csv=payload.csv, indexing=payload.indexing,
                                     n_rows=rows, columns=columns, format=fmt, source=source,
                                     project_guid=project_guid)

    return web.json_response(_dataset_view(await asyncio.to_thread(work)))


async def upload_dataset(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    query = request.query
    name = query.get("dataset_id")
    fmt = query.get("format", "dataframe")
    if fmt != "dataframe":
        raise ValidationError("format", fmt, "must be 'dataframe'", "use ?format=dataframe")
    encoding = query.get("encoding", "gzip")
    if encoding != "gzip":
        raise ValidationError("encoding", encoding, "must be 'gzip'", "use ?encoding=gzip")
    if request.content_type != "multipart/form-data":
        raise MalformedInputError("file", request.content_type, "must come as multipart/form-data",
                             "post a form with a file field 'file' (gzip CSV)")
    try:
        form = await request.post()
    except (ValueError, AssertionError) as exc:
        raise MalformedInputError("file", str(exc), "is not a readable multipart form",
                             "post a form with a file field 'file'") from exc
    upload = form.get("file")
    if not isinstance(upload, FileField):
        raise ValidationError("file", None, "is required as a file field",
                              "post the gzip CSV as form field 'file'")

    def work() -> dict[str, Any]:
        try:
            compressed = upload.file.read()
        finally:
            upload.file.close()
        payload = decode_upload(compressed, ctx.max_body_bytes, "file")
        rows, columns = _check_frame(payload, "file")
        return ctx.store.add_dataset(request[NS], csv=payload.csv, indexing=payload.indexing,
                                     n_rows=rows, columns=columns, format=fmt,
                                     source=query.get("source", "client"), name=name)

    return web.json_response(_dataset_view(await asyncio.to_thread(work)))


async def get_dataset(request: web.Request) -> web.Response:
    guid = request.match_info["guid"]
    row = _ctx(request).store.dataset(request[NS], guid)
    if row is None:
        raise _not_found("dataset", guid)
    return web.json_response(_dataset_view(row))


# ---------------------------------------------------------------- training parameters


async def post_training_parameters(request: web.Request) -> web.Response:
    body = await _json_body(request)
    model = get_str(body, "model")
    if "parameters" not in body:
        raise ValidationError("parameters", None, "is required",
                              "send {'model': ..., 'parameters': {'model': {...}, ...}}")
    params = validate_training_parameters(model, body["parameters"])
    return web.json_response(
        _ctx(request).store.add_training_parameters(request[NS], model, params))


async def get_training_parameters(request: web.Request) -> web.Response:
    guid = request.match_info["guid"]
    row = _ctx(request).store.training_parameters(request[NS], guid)
    if row is None:
        raise _not_found("training_parameters", guid)
    return web.json_response(row)


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

    def check_columns() -> None:
        stored = ctx.store.dataset_csv(ns, ds_guid)
        assert stored is not None
        try:
            training_matrix(CsvPayload(*stored).frame(), params["model"]["operators"])
        except DataValidationError as exc:
            raise ValidationError("dataset_guid", exc.columns,
                                  f"the dataset does not fit training parameters {tp_guid}: "
                                  f"{exc.allowed}", exc.fix) from exc

    # refuse now what could only fail later, so the caller gets a 422 instead of a failed model
    await asyncio.to_thread(check_columns)
    progress = {"pass_index": 0, "batch_index": 0, "num_passes": params["num_passes"],
                "num_batches": math.ceil(dataset["n_rows"] / params["batch_size"])}
    row = ctx.store.add_model(ns, dataset_guid=ds_guid, training_parameters_guid=tp_guid,
                              qcog_version=version, progress=progress)
    ctx.jobs.submit(ns, row["guid"])
    return web.json_response(_model_view(row))


def _model_row(request: web.Request) -> dict[str, Any]:
    guid = request.match_info["guid"]
    row = _ctx(request).store.model(request[NS], guid)
    if row is None:
        raise _not_found("model", guid)
    return row


async def get_model(request: web.Request) -> web.Response:
    return web.json_response(_model_view(_model_row(request)))


async def cancel(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    row = _model_row(request)
    if row["status"] in ("completed", "failed"):
        raise ApiError(409, f"model {row['guid']} is already {row['status']}", field="status",
                       fix="only a pending or processing training can be cancelled")
    ctx.jobs.cancel(request[NS], row["guid"])
    latest = ctx.store.model(request[NS], row["guid"])
    assert latest is not None
    return web.json_response(_model_view(latest))


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

    def work() -> str:
        frame: pd.DataFrame = decode_b64(body["data"], "data").frame("data")
        forecast = engine.infer(TrainedModel.from_bytes(blob), frame, parameters)
        return encode_frame(forecast)

    return web.json_response({"response": {"data": await asyncio.to_thread(work)}})
