"""Every qcog route's exact shapes, auth and namespaces, idempotent replay, cancel."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from qwidgets.sim.server.app import make_app
from qwidgets.sim.server.store import DB_NAME

from .server_support import (
    OTHER_TOKEN,
    TOKEN,
    Api,
    b64_frame,
    gzip_upload,
    linear_frame,
    quick_params,
    serving,
    slow_params,
    unb64_frame,
)

DATASET_KEYS = {"guid", "format", "source", "project_guid"}
MODEL_KEYS = {"guid", "qcog_version", "dataset_guid", "training_parameters_guid", "status",
              "loss", "training_completion", "current_batch_completion"}


@pytest.fixture
async def api(tmp_path: Path):
    async with serving(tmp_path / "store") as api:
        yield api


@pytest.mark.parametrize("slash", ["", "/"])
async def test_status_answers_json_with_and_without_slash(api: Api, slash: str) -> None:
    status, body = await api.call("GET", "status" + slash)
    assert status == 200
    assert body["status"] == "ok"


@pytest.mark.parametrize("slash", ["", "/"])
async def test_dataset_b64_roundtrip_shapes(api: Api, slash: str) -> None:
    status, body = await api.call("POST", "dataset" + slash, json={
        "format": "dataframe", "source": "client", "project_guid": None,
        "data": b64_frame(linear_frame())})
    assert status == 200
    assert set(body) >= DATASET_KEYS
    assert (body["format"], body["source"], body["project_guid"]) == ("dataframe", "client", None)
    assert body["rows"] == 300
    assert body["columns"] == ["x", "y", "z"]
    status, again = await api.call("GET", f"dataset/{body['guid']}" + slash)
    assert status == 200
    assert again == body


async def test_dataset_with_a_multiindex_is_accepted(api: Api) -> None:
    df = linear_frame(20)
    df.index = pd.MultiIndex.from_arrays([[f"r{i}" for i in range(20)], range(20)],
                                         names=["name", "n"])
    status, body = await api.call("POST", "dataset/", json={"data": b64_frame(df)})
    assert status == 200, body
    assert body["rows"] == 20
    assert body["columns"] == ["x", "y", "z"]


@pytest.mark.parametrize("slash", ["", "/"])
async def test_gzip_multipart_upload(api: Api, slash: str) -> None:
    form = FormData()
    form.add_field("file", gzip_upload(linear_frame(50)), filename="data.csv",
                   content_type="application/gzip")
    status, body = await api.call(
        "POST", f"dataset/upload{slash}?dataset_id=mine&format=dataframe&source=client"
        "&encoding=gzip", data=form)
    assert status == 200, body
    assert set(body) >= DATASET_KEYS
    assert body["rows"] == 50
    assert body["dataset_id"] == "mine"
    status, again = await api.call("GET", f"dataset/{body['guid']}/")
    assert (status, again) == (200, body)


@pytest.mark.parametrize("slash", ["", "/"])
async def test_training_parameters_roundtrip(api: Api, slash: str) -> None:
    params = quick_params(state_kwargs={"state_method": "LOBPCG_FAST", "iterations": 5})
    status, body = await api.call("POST", "training_parameters" + slash,
                                  json={"model": "pauli", "parameters": params})
    assert status == 200, body
    assert set(body) == {"guid", "model", "parameters"}
    assert body["model"] == "pauli"
    # stored normalised: defaults filled in with the wire's names
    assert body["parameters"]["state_kwargs"]["tol"] == 0.2
    assert body["parameters"]["model"]["model_name"] == "pauli"
    status, again = await api.call("GET", f"training_parameters/{body['guid']}" + slash)
    assert (status, again) == (200, body)


async def test_model_lifecycle_shapes_and_inference(api: Api) -> None:
    df = linear_frame()
    created = await api.start_training(df, quick_params(num_passes=4))
    assert set(created) >= MODEL_KEYS
    assert created["status"] == "pending"  # what a client sees right after POST model/
    assert created["qcog_version"] == "0.0.123"
    for slash in ("", "/"):
        status, body = await api.call("GET", f"model/{created['guid']}{slash}")
        assert status == 200
        assert set(body) >= MODEL_KEYS
    done = await api.wait(created["guid"])
    assert done["training_completion"] == 100
    assert done["current_batch_completion"] == 100
    assert isinstance(done["training_completion"], int)
    assert np.array(done["loss"]).shape == (4, 3)  # passes x batches
    assert done["failure_reason"] is None
    progress = done["progress"]
    assert {k: progress[k] for k in ("pass_index", "batch_index", "num_passes",
                                     "num_batches")} == {"pass_index": 3, "batch_index": 2,
                                                         "num_passes": 4, "num_batches": 3}
    # an exact solver: every row of the last batch solved, none left unconverged, no warning
    assert progress["unconverged_rows"] == 0
    assert progress["state_warning"] == ""
    assert progress["solved_rows"] > 0

    status, body = await api.call("POST", f"model/{created['guid']}/inference/", json={
        "data": b64_frame(df[["x", "y"]]), "parameters": {"state_method": "NP_EIGH"}})
    assert status == 200, body
    assert set(body) == {"response"}
    assert set(body["response"]) == {"data"}
    forecast = unb64_frame(body["response"]["data"])
    assert list(forecast.columns) == ["z"]
    assert forecast.index.equals(df.index)
    assert np.corrcoef(forecast["z"], df["z"])[0, 1] > 0.5


async def test_inference_keeps_a_string_index_and_takes_no_parameters(api: Api) -> None:
    df = linear_frame()
    df.index = [f"row{i}" for i in range(len(df))]
    guid = (await api.start_training(df, quick_params()))["guid"]
    await api.wait(guid)
    status, body = await api.call("POST", f"model/{guid}/inference", json={
        "data": b64_frame(df[["x", "y"]].iloc[:10]), "parameters": {}})
    assert status == 200, body
    forecast = unb64_frame(body["response"]["data"])
    assert list(forecast.index) == [f"row{i}" for i in range(10)]


async def test_ensemble_trains_too(api: Api) -> None:
    guid = (await api.start_training(linear_frame(), quick_params("ensemble"), "ensemble"))["guid"]
    done = await api.wait(guid)
    assert np.array(done["loss"]).shape == (3, 3)


async def test_cancel_goes_through_cancelled_pending_to_cancelled(api: Api) -> None:
    guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
    await api.wait(guid, until=("processing",))
    status, body = await api.call("POST", f"model/{guid}/cancel/")
    assert status == 200
    assert body["status"] in ("cancelled_pending", "cancelled")
    done = await api.wait(guid, until=("cancelled",), timeout=30)
    assert done["training_completion"] < 100
    # cancelling again is harmless; inference on a cancelled model is a 409
    status, body = await api.call("POST", f"model/{guid}/cancel")
    assert (status, body["status"]) == (200, "cancelled")
    status, body = await api.call("POST", f"model/{guid}/inference/",
                                  json={"data": b64_frame(linear_frame()[["x", "y"]])})
    assert (status, body["error"], body["field"]) == (409, "conflict", "status")


async def test_cancel_of_a_completed_model_is_a_conflict(api: Api) -> None:
    guid = (await api.start_training(linear_frame(), quick_params()))["guid"]
    await api.wait(guid)
    status, body = await api.call("POST", f"model/{guid}/cancel/")
    assert (status, body["error"], body["field"]) == (409, "conflict", "status")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", "Basic dGVzdA==",
                                    "bearer  "])
async def test_missing_or_wrong_token_is_401_json(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await api.client.get("/api/v1/status/", headers=headers)
    assert response.status == 401
    body = await response.json()
    assert body["error"] == "unauthorized"
    assert body["field"] == "Authorization"
    assert "Bearer" in body["fix"]


async def test_tokens_are_namespaces(api: Api) -> None:
    df = linear_frame()
    created = await api.start_training(df, quick_params())
    await api.wait(created["guid"])
    paths = [("GET", f"dataset/{created['dataset_guid']}/"),
             ("GET", f"training_parameters/{created['training_parameters_guid']}/"),
             ("GET", f"model/{created['guid']}/"),
             ("POST", f"model/{created['guid']}/cancel/")]
    for method, path in paths:
        status, body = await api.call(method, path, token=OTHER_TOKEN)
        assert (status, body["error"]) == (404, "not_found"), path
    status, body = await api.call("POST", f"model/{created['guid']}/inference/",
                                  token=OTHER_TOKEN, json={"data": b64_frame(df[["x", "y"]])})
    assert (status, body["error"]) == (404, "not_found")
    # nor can another token train on this token's dataset
    tp = await api.training_parameters(quick_params(), token=OTHER_TOKEN)
    status, body = await api.call("POST", "model/", token=OTHER_TOKEN, json={
        "training_parameters_guid": tp, "dataset_guid": created["dataset_guid"]})
    assert (status, body["field"]) == (404, "dataset_guid")


def _model_count(store_dir: Path) -> int:
    with sqlite3.connect(store_dir / DB_NAME) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])


async def test_idempotent_post_model_starts_one_training(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    async with serving(store_dir) as api:
        ds = await api.dataset(linear_frame())
        tp = await api.training_parameters(quick_params())
        body = {"training_parameters_guid": tp, "dataset_guid": ds, "qcog_version": "0.0.123"}
        key = {"Idempotency-Key": "op-1"}
        # a retry racing the original, then a late retry
        (s1, b1), (s2, b2) = await asyncio.gather(
            api.call("POST", "model/", json=body, headers=key),
            api.call("POST", "model/", json=body, headers=key))
        s3, b3 = await api.call("POST", "model", json=body, headers=key)
        assert s1 == s2 == s3 == 200
        assert b1 == b2 == b3
        assert b1["status"] == "pending"
        assert _model_count(store_dir) == 1
        # the same key for another request is refused, not replayed
        status, err = await api.call("POST", "model/", json={**body, "qcog_version": "0.0.89"},
                                     headers=key)
        assert (status, err["error"], err["field"]) == (409, "idempotency_conflict",
                                                        "Idempotency-Key")
        # keys are per token: the other token's identical key is a different operation
        status, _ = await api.call("POST", "dataset/", token=OTHER_TOKEN, headers=key,
                                   json={"data": b64_frame(linear_frame())})
        assert status == 200
        # a new key is a new training
        s4, b4 = await api.call("POST", "model/", json=body, headers={"Idempotency-Key": "op-2"})
        assert s4 == 200
        assert b4["guid"] != b1["guid"]
        assert _model_count(store_dir) == 2
        await api.wait(b1["guid"])
        await api.wait(b4["guid"])


async def test_idempotent_replay_of_an_error_and_of_an_upload(api: Api) -> None:
    key = {"Idempotency-Key": "bad-1"}
    first = await api.call("POST", "training_parameters/", headers=key,
                           json={"model": "nope", "parameters": quick_params()})
    again = await api.call("POST", "training_parameters/", headers=key,
                           json={"model": "nope", "parameters": quick_params()})
    assert first == again
    assert first[0] == 422

    def form() -> FormData:
        data = FormData()
        data.add_field("file", gzip_upload(linear_frame(30)), filename="data.csv",
                       content_type="application/gzip")
        return data

    key = {"Idempotency-Key": "upload-1"}
    url = "dataset/upload?dataset_id=d&format=dataframe&source=client&encoding=gzip"
    s1, b1 = await api.call("POST", url, data=form(), headers=key)
    s2, b2 = await api.call("POST", url, data=form(), headers=key)
    assert (s1, s2) == (200, 200)
    assert b1 == b2


async def test_unknown_route_and_method_answer_json(api: Api) -> None:
    status, body = await api.call("GET", "nothing/here/")
    assert (status, body["error"]) == (404, "not_found")
    status, body = await api.call("DELETE", "model/")
    assert (status, body["error"]) == (405, "method_not_allowed")


async def test_unexpected_errors_become_a_500_json_body(tmp_path: Path) -> None:
    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("simulated bug")

    app = make_app(tmp_path / "store", TOKEN)
    app.router.add_get("/api/v1/boom", boom)  # the one route that is meant to break
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/api/v1/boom", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 500
        body = await response.json()
        assert body["error"] == "internal"
        assert "simulated bug" not in body["message"]  # internals stay in the server log
