"""Inference inputs encoded once (``encode_inference``) against the real simulator: the same
forecast as from the frame, refused for a model with other operators, units or targets; and
the server's memo of parsed payloads and column checks, which must never change an answer
nor let a bad request through."""

from __future__ import annotations

import base64
import json

import aiohttp
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from qwidgets.client import AsyncQcogClient
from qwidgets.client.errors import UsageError
from qwidgets.sim import SimServer
from qwidgets.sim.server.recent import Recent
from tests.client_support import client_for

STATE = {"state_method": "NP_EIGH"}


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


async def trained(server: SimServer, frame: pd.DataFrame, *,
                  standardize: bool = True) -> AsyncQcogClient:
    client = await client_for(server.url, server.token)
    await client.data(frame, standardize=standardize, classes=["target"], warn=False)
    client.pauli(operators=[str(c) for c in frame.columns], qbits=2, pauli_weight=1)
    await client.train(batch_size=50, num_passes=1, weight_optimization={
        "optimization_method": "ANALYTIC"})
    await client.wait_for_training(poll_time=0.05)
    return client


async def test_encoded_inputs_forecast_as_the_frame_does(server: SimServer,
                                                         iris: pd.DataFrame) -> None:
    client = await trained(server, iris)
    rows = iris.iloc[::7]
    async with client:
        encoded = client.encode_inference(rows, ["target"])
        from_frame = await client.inference(rows, {"operators_to_forecast": ["target"],
                                                   "state_parameters": STATE})
        for _ in range(2):  # the second time from the server's memo of the payload
            again = await client.inference(encoded, {"operators_to_forecast": ["target"],
                                                     "state_parameters": STATE})
            pd.testing.assert_frame_equal(again, from_frame)
    assert list(from_frame.columns) == ["target"]
    assert set(from_frame["target"]) <= {0, 1, 2}


async def test_encoded_inputs_are_refused_by_an_unlike_model(server: SimServer,
                                                            iris: pd.DataFrame) -> None:
    standardized = await trained(server, iris)
    raw_units = await trained(server, iris, standardize=False)
    fewer = await trained(server, iris.drop(columns=["petal width (cm)"]))
    params = {"operators_to_forecast": ["target"], "state_parameters": STATE}
    async with standardized, raw_units, fewer:
        encoded = standardized.encode_inference(iris.iloc[:5], ["target"])
        with pytest.raises(UsageError, match=r"other units.*encode_inference"):
            await raw_units.inference(encoded, params)
        with pytest.raises(UsageError, match=r"operators.*encode_inference"):
            await fewer.inference(encoded, params)
        with pytest.raises(UsageError, match="to forecast"):
            await standardized.inference(encoded, {"state_parameters": STATE})


async def test_a_bad_payload_is_refused_every_time(server: SimServer,
                                                   iris: pd.DataFrame) -> None:
    client = await trained(server, iris)
    guid = client.model_guid
    bad = base64.b64encode(json.dumps({"blob": "a,b\n1,x\n", "indexing": [0]}).encode())
    url = f"{server.url}/api/v1/model/{guid}/inference/"
    answers = []
    async with client, aiohttp.ClientSession(
            headers={"Authorization": f"Token {server.token}"}) as session:
        for _ in range(2):
            async with session.post(url, json={"data": bad.decode(), "parameters": None}) as r:
                answers.append((r.status, await r.text()))
    assert answers[0][0] // 100 == 4
    assert answers[0] == answers[1]


def test_the_memo_returns_copies_and_keeps_no_errors() -> None:
    memo = Recent(max_frames=2)
    parsed: list[str] = []

    def parse(text: str) -> pd.DataFrame:
        parsed.append(text)
        return pd.DataFrame({"x": [1.0, 2.0]})

    first = memo.frame("A", lambda: parse("A"))
    first.loc[0, "x"] = 99.0  # a caller's change must not reach the next caller
    assert memo.frame("A", lambda: parse("A"))["x"].tolist() == [1.0, 2.0]
    assert parsed == ["A"]
    memo.frame("B", lambda: parse("B"))
    memo.frame("C", lambda: parse("C"))  # A, the oldest, leaves
    memo.frame("A", lambda: parse("A"))
    assert parsed == ["A", "B", "C", "A"]

    def fail() -> pd.DataFrame:
        parsed.append("bad")
        raise ValueError("unreadable")

    for _ in range(2):
        with pytest.raises(ValueError, match="unreadable"):
            memo.frame("bad", fail)
    assert parsed[-2:] == ["bad", "bad"]
