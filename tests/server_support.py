"""Helpers for the server tests: a real aiohttp server on loopback, the wire encodings written
out independently of the server's own code, and payload builders."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiohttp.test_utils import TestClient, TestServer

from qwidgets.sim.server.app import make_app

TOKEN = "test-token-alpha"
OTHER_TOKEN = "test-token-beta"
API = "/api/v1"


def b64_frame(frame: pd.DataFrame) -> str:
    payload = {"blob": frame.to_csv(), "indexing": list(range(frame.index.nlevels))}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def b64_raw(blob: Any, indexing: Any) -> str:
    return base64.b64encode(json.dumps({"blob": blob, "indexing": indexing}).encode()).decode()


def unb64_frame(text: str) -> pd.DataFrame:
    payload = json.loads(base64.b64decode(text))
    return pd.read_csv(io.StringIO(payload["blob"]), index_col=payload["indexing"])


def gzip_upload(frame: pd.DataFrame) -> bytes:
    levels = ",".join(str(i) for i in range(frame.index.nlevels))
    return gzip.compress(frame.to_csv().encode() + b"\n---\n" + levels.encode() + b"\r\n")


def linear_frame(rows: int = 300, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df


def quick_params(kind: str = "pauli", **overrides: Any) -> dict[str, Any]:
    """A training of a few milliseconds: 3 passes x 3 batches on 300 rows."""
    body: dict[str, Any] = {
        "model": {"operators": ["x", "y", "z"], "qbits": 2, "pauli_weight": 2}
        if kind == "pauli" else {"operators": ["x", "y", "z"], "dim": 4, "num_axes": 4},
        "batch_size": 100,
        "num_passes": 3,
        "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 2,
                                       "learning_rate": 0.1},
        "state_kwargs": {"state_method": "NP_EIGH"},
    }
    body.update(overrides)
    return body


def training_params(**overrides: Any) -> dict[str, Any]:
    """Exact weights (ANALYTIC) in 3 passes: the engine's and the hybrid jobs' trainings."""
    params: dict[str, Any] = {
        "model": {"operators": ["x", "y", "z"], "qbits": 2, "pauli_weight": 2},
        "batch_size": 100,
        "num_passes": 3,
        "weight_optimization_kwargs": {"optimization_method": "ANALYTIC"},
        "state_kwargs": {"state_method": "NP_EIGH"},
    }
    params.update(overrides)
    return params


def slow_params(num_passes: int = 4) -> dict[str, Any]:
    """A training of seconds (32-dim Hilbert space, 2,000 rows in 8 batches per pass)."""
    params = quick_params(batch_size=250, num_passes=num_passes)
    params["model"] = {"operators": ["x", "y", "z"], "qbits": 5, "pauli_weight": 2}
    return params


class Api:
    """Calls the server with a token; returns (status, JSON body)."""

    def __init__(self, client: TestClient, token: str = TOKEN) -> None:
        self.client = client
        self.token = token

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", **extra}

    async def call(self, method: str, path: str, *, token: str | None = None,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(
            method, API + "/" + path, headers={**self.headers(token), **(headers or {})},
            **kwargs)
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()

    async def dataset(self, frame: pd.DataFrame, token: str | None = None) -> str:
        status, body = await self.call("POST", "dataset/", token=token, json={
            "format": "dataframe", "source": "client", "project_guid": None,
            "data": b64_frame(frame)})
        assert status == 200, body
        return str(body["guid"])

    async def training_parameters(self, params: dict[str, Any], model: str = "pauli",
                                  token: str | None = None) -> str:
        status, body = await self.call("POST", "training_parameters/", token=token,
                                       json={"model": model, "parameters": params})
        assert status == 200, body
        return str(body["guid"])

    async def start_training(self, frame: pd.DataFrame, params: dict[str, Any],
                             model: str = "pauli", token: str | None = None) -> dict[str, Any]:
        ds = await self.dataset(frame, token)
        tp = await self.training_parameters(params, model, token)
        status, body = await self.call("POST", "model/", token=token, json={
            "training_parameters_guid": tp, "dataset_guid": ds, "qcog_version": "0.0.123"})
        assert status == 200, body
        return dict(body)

    async def model(self, guid: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"model/{guid}/")
        assert status == 200, body
        return dict(body)

    async def wait(self, guid: str, until: tuple[str, ...] = ("completed",),
                   timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            row = await self.model(guid)
            if row["status"] in until:
                return row
            assert row["status"] in ("pending", "processing", "cancelled_pending"), row
            assert time.monotonic() < deadline, f"still {row['status']} after {timeout} s"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def serving(store_dir: Path, **kwargs: Any) -> AsyncIterator[Api]:
    """The real app on a loopback port, accepting TOKEN and OTHER_TOKEN."""
    kwargs.setdefault("progress_interval", 0.05)
    app = make_app(store_dir, {TOKEN, OTHER_TOKEN}, **kwargs)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Api(client)
