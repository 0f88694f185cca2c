"""Bad input never answers 500: each case gets a 4xx JSON body naming the field, and none of
them reaches the catch-all (which logs every exception it turns into a 500)."""

from __future__ import annotations

import base64
import gzip
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from aiohttp import FormData

from .server_support import (
    Api,
    b64_frame,
    b64_raw,
    gzip_upload,
    linear_frame,
    quick_params,
    serving,
)

LIMIT = 256 * 1024


@pytest.fixture
async def api(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Api]:
    caplog.set_level(logging.ERROR, logger="qwidgets")
    async with serving(tmp_path / "store", max_body_bytes=LIMIT) as api:
        yield api
    # nothing went through the catch-all
    assert not [r for r in caplog.records if r.name.startswith("qwidgets")], caplog.text


def ds(data: Any, **extra: Any) -> dict[str, Any]:
    return {"format": "dataframe", "source": "client", "project_guid": None, "data": data,
            **extra}


TEXT_COLUMN = linear_frame(5).assign(label=["a", "b", "c", "d", "e"])
NAN_FRAME = linear_frame(5).assign(z=[1.0, np.nan, 2.0, 3.0, 4.0])
DUPES = pd.DataFrame([[1.0, 2.0]], columns=["x", "x"])

# (name, JSON body or raw bytes, expected status, expected field)
DATASET_CASES: list[tuple[str, Any, int, str]] = [
    ("malformed json", b"{not json", 400, "body"),
    ("json list", b"[1, 2]", 422, "body"),
    ("binary garbage", b"\xff\xfe\x00", 400, "body"),
    ("data missing", {"format": "dataframe"}, 422, "data"),
    ("data not a string", ds(12), 422, "data"),
    ("bad base64", ds("%%% not base64 %%%"), 400, "data"),
    ("base64 of not json", ds(base64.b64encode(b"hello").decode()), 400, "data"),
    ("base64 of a json list", ds(base64.b64encode(b"[1]").decode()), 422, "data"),
    ("blob not a string", ds(b64_raw(5, [0])), 422, "data.blob"),
    ("indexing missing", ds(b64_raw("a,b\n1,2\n", None)), 422, "data.indexing"),
    ("indexing of strings", ds(b64_raw("a,b\n1,2\n", ["a"])), 422, "data.indexing"),
    ("indexing negative", ds(b64_raw("a,b\n1,2\n", [-1])), 422, "data.indexing"),
    ("indexing of bools", ds(b64_raw("a,b\n1,2\n", [True])), 422, "data.indexing"),
    ("index past the columns", ds(b64_raw("a,b\n1,2\n", [7])), 400, "data.blob"),
    ("empty csv", ds(b64_raw("", [0])), 400, "data.blob"),
    ("text column", ds(b64_frame(TEXT_COLUMN)), 422, "data"),
    ("NaN values", ds(b64_frame(NAN_FRAME)), 422, "data"),
    ("duplicate columns", ds(b64_raw(DUPES.to_csv(), [0])), 422, "data"),
    ("header only", ds(b64_raw(",x,y\n", [0])), 422, "data"),
    ("wrong format", ds(b64_frame(linear_frame(5)), format="parquet"), 422, "format"),
    ("project_guid not a string", ds(b64_frame(linear_frame(5)), project_guid=3), 422,
     "project_guid"),
]


async def _send(api: Api, path: str, body: Any) -> tuple[int, Any]:
    if isinstance(body, bytes):
        return await api.call("POST", path, data=body,
                              headers={"Content-Type": "application/json"})
    return await api.call("POST", path, json=body)


def _check(status: int, body: dict[str, Any], expected: int, field: str) -> None:
    assert status == expected, body
    assert body["field"] == field, body
    assert body["message"]
    assert body["error"] in ("validation", "not_found", "conflict", "payload_too_large")


@pytest.mark.parametrize(("name", "body", "expected", "field"), DATASET_CASES,
                         ids=[c[0] for c in DATASET_CASES])
async def test_bad_dataset(api: Api, name: str, body: Any, expected: int, field: str) -> None:
    status, answer = await _send(api, "dataset/", body)
    _check(status, answer, expected, field)


def _form(payload: bytes | None, field: str = "file") -> FormData:
    form = FormData(default_to_multipart=True)
    if payload is not None:
        form.add_field(field, payload, filename="data.csv", content_type="application/gzip")
    else:
        form.add_field("other", "value")
    return form


UPLOAD = "dataset/upload/?dataset_id=x&format=dataframe&source=client&encoding=gzip"
UPLOAD_CASES: list[tuple[str, Callable[[], Any], str, int, str]] = [
    ("not gzip", lambda: _form(b"plain text"), UPLOAD, 400, "file"),
    ("no separator", lambda: _form(gzip.compress(b"a,b\n1,2\n")), UPLOAD, 400, "file"),
    ("bad index row", lambda: _form(gzip.compress(b",a,b\n0,1,2\n---\nzero\n")), UPLOAD, 422,
     "file.indexing"),
    ("truncated gzip", lambda: _form(gzip_upload(linear_frame(50))[:-12]), UPLOAD, 400,
     "file"),
    ("text column", lambda: _form(gzip_upload(TEXT_COLUMN)), UPLOAD, 422, "file"),
    ("no file field", lambda: _form(None), UPLOAD, 422, "file"),
    ("file under another name", lambda: _form(gzip_upload(linear_frame(5)), "data"), UPLOAD,
     422, "file"),
    ("not multipart", lambda: b"{}", UPLOAD, 400, "file"),
    ("unknown encoding", lambda: _form(gzip_upload(linear_frame(5))),
     UPLOAD.replace("gzip", "zstd"), 422, "encoding"),
    ("unknown format", lambda: _form(gzip_upload(linear_frame(5))),
     UPLOAD.replace("format=dataframe", "format=arrow"), 422, "format"),
    # a gzip bomb: 32 KiB on the wire, 8 MiB once inflated
    ("gzip bomb", lambda: _form(gzip.compress(b"0" * (8 << 20))), UPLOAD, 413, "file"),
]


@pytest.mark.parametrize(("name", "make", "path", "expected", "field"), UPLOAD_CASES,
                         ids=[c[0] for c in UPLOAD_CASES])
async def test_bad_upload(api: Api, name: str, make: Callable[[], Any], path: str,
                          expected: int, field: str) -> None:
    status, answer = await api.call("POST", path, data=make())
    _check(status, answer, expected, field)


def tp(model_name: Any = "pauli", **overrides: Any) -> dict[str, Any]:
    return {"model": model_name, "parameters": quick_params(**overrides)}


TP_CASES: list[tuple[str, Any, int, str]] = [
    ("unknown model", tp("quantum-magic"), 422, "model"),
    ("model not a string", tp(7), 422, "model"),
    ("model missing", {"parameters": quick_params()}, 422, "model"),
    ("parameters missing", {"model": "pauli"}, 422, "parameters"),
    ("parameters a list", {"model": "pauli", "parameters": [1]}, 422, "parameters"),
    ("batch_size a string", tp(batch_size="ten"), 422, "parameters.batch_size"),
    ("num_passes zero", tp(num_passes=0), 422, "parameters.num_passes"),
    ("unknown parameter", tp(learning_rate=0.1), 422, "parameters.learning_rate"),
    ("unknown state method", tp(state_kwargs={"state_method": "MAGIC"}), 422,
     "state_kwargs.state_method"),
    ("state iterations missing", tp(state_kwargs={"state_method": "LOBPCG_FAST"}), 422,
     "state_kwargs.iterations"),
    ("negative learning rate", tp(weight_optimization_kwargs={
        "optimization_method": "GRAD", "iterations": 1, "learning_rate": -1}), 422,
     "weight_optimization_kwargs.learning_rate"),
    ("operators not a list", tp(model={"operators": "xyz"}), 422, "model.operators"),
    ("pauli_weight above qbits", tp(model={"operators": ["x"], "qbits": 1,
                                           "pauli_weight": 3}), 422, "model.pauli_weight"),
]


@pytest.mark.parametrize(("name", "body", "expected", "field"), TP_CASES,
                         ids=[c[0] for c in TP_CASES])
async def test_bad_training_parameters(api: Api, name: str, body: Any, expected: int,
                                       field: str) -> None:
    status, answer = await _send(api, "training_parameters/", body)
    _check(status, answer, expected, field)


async def test_bad_model_requests(api: Api) -> None:
    ds_guid = await api.dataset(linear_frame())
    tp_guid = await api.training_parameters(quick_params())
    other = quick_params()
    other["model"] = {"operators": ["a", "b"], "qbits": 2}
    mismatched = await api.training_parameters(other)
    good = {"training_parameters_guid": tp_guid, "dataset_guid": ds_guid,
            "qcog_version": "0.0.123"}
    cases: list[tuple[Any, int, str]] = [
        (b"nope", 400, "body"),
        ({**good, "dataset_guid": None}, 422, "dataset_guid"),
        ({k: v for k, v in good.items() if k != "training_parameters_guid"}, 422,
         "training_parameters_guid"),
        ({**good, "dataset_guid": 12}, 422, "dataset_guid"),
        ({**good, "dataset_guid": "no-such-guid"}, 404, "dataset_guid"),
        ({**good, "training_parameters_guid": "no-such-guid"}, 404, "training_parameters_guid"),
        ({**good, "qcog_version": "latest"}, 422, "qcog_version"),
        ({**good, "qcog_version": 123}, 422, "qcog_version"),
        ({**good, "training_parameters_guid": mismatched}, 422, "dataset_guid"),
    ]
    for body, expected, field in cases:
        status, answer = await _send(api, "model/", body)
        _check(status, answer, expected, field)


async def test_bad_inference_requests(api: Api) -> None:
    df = linear_frame()
    created = await api.start_training(df, quick_params())
    guid = created["guid"]
    await api.wait(guid)
    good = b64_frame(df[["x", "y"]])
    cases: list[tuple[Any, int, str]] = [
        (b"{", 400, "body"),
        ({"parameters": {}}, 422, "data"),
        ({"data": "@@@"}, 400, "data"),
        ({"data": good, "parameters": [1]}, 422, "parameters"),
        ({"data": good, "parameters": {"state_method": "MAGIC"}}, 422,
         "parameters.state_parameters.state_method"),
        ({"data": good, "parameters": {"state_method": "LOBPCG_FAST", "iterations": -1}}, 422,
         "parameters.state_parameters.iterations"),
        ({"data": b64_frame(df.assign(w=1.0))}, 422, "data"),  # a column the model lacks
        ({"data": b64_frame(df)}, 422, "data"),  # nothing left to forecast
        ({"data": b64_frame(df[["x", "y"]].assign(x=np.inf))}, 422, "data"),
    ]
    for body, expected, field in cases:
        status, answer = await _send(api, f"model/{guid}/inference/", body)
        _check(status, answer, expected, field)
    status, answer = await _send(api, "model/no-such-model/inference/", {"data": good})
    _check(status, answer, 404, "guid")


async def test_inference_before_training_ends_is_a_conflict(api: Api) -> None:
    from .server_support import slow_params

    created = await api.start_training(linear_frame(2000), slow_params(1000))
    status, answer = await _send(api, f"model/{created['guid']}/inference/",
                                 {"data": b64_frame(linear_frame()[["x", "y"]])})
    _check(status, answer, 409, "status")
    await api.call("POST", f"model/{created['guid']}/cancel/")
    await api.wait(created["guid"], until=("cancelled",))


async def test_unknown_guids_are_404(api: Api) -> None:
    for path in ("dataset/nope/", "training_parameters/nope", "model/nope/"):
        status, answer = await api.call("GET", path)
        _check(status, answer, 404, "guid")
    status, answer = await api.call("POST", "model/nope/cancel/")
    _check(status, answer, 404, "guid")


async def test_declared_oversized_body_is_413(api: Api) -> None:
    big = ds(base64.b64encode(os.urandom(LIMIT)).decode())
    status, answer = await api.call("POST", "dataset/", json=big)
    _check(status, answer, 413, "body")


async def test_undeclared_oversized_body_is_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to check first
        for _ in range(8):
            yield b"x" * (LIMIT // 4)

    status, answer = await api.call("POST", "dataset/", data=chunks(),
                                    headers={"Content-Type": "application/json"})
    _check(status, answer, 413, "body")


async def test_oversized_multipart_upload_is_413(api: Api) -> None:
    status, answer = await api.call("POST", UPLOAD, data=_form(os.urandom(2 * LIMIT)))
    _check(status, answer, 413, "body")


async def test_bad_idempotency_key(api: Api) -> None:
    status, answer = await api.call("POST", "dataset/", json=ds(b64_frame(linear_frame(5))),
                                    headers={"Idempotency-Key": "k" * 300})
    _check(status, answer, 422, "Idempotency-Key")
