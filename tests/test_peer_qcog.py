"""The public qcog-python-client 0.4.5, unchanged, against our server on 127.0.0.1.

Install it with ``pip install qcog-python-client==0.4.5``; the test is skipped without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import qwidgets.sim as sim

from .server_support import linear_frame

qcog = pytest.importorskip("qcog_python_client")
schema = pytest.importorskip("qcog_python_client.schema")

pytestmark = [
    pytest.mark.peer,
    # the public client's own pydantic models warn about its enum and string fields
    pytest.mark.filterwarnings("ignore::UserWarning:pydantic"),
]


def _forecast_quality(forecast: pd.DataFrame, truth: pd.DataFrame) -> float:
    return float(np.corrcoef(forecast["z"], truth["z"])[0, 1])


@pytest.mark.parametrize("kind", ["pauli", "ensemble"])
async def test_async_client_trains_and_infers(server: sim.SimServer, kind: str) -> None:
    df = linear_frame(400)
    client = await qcog.AsyncQcogClient.create(
        token=server.token, hostname="127.0.0.1", port=server.port, safe_mode=True)
    if kind == "pauli":
        client.pauli(operators=["x", "y", "z"], qbits=2, pauli_weight=2)
    else:
        client.ensemble(operators=["x", "y", "z"], dim=8, num_axes=8)
    await client.data(df)
    await client.train(
        batch_size=100, num_passes=4,
        weight_optimization=schema.GradOptimizationParameters(iterations=3, learning_rate=0.1),
        get_states_extra=schema.LOBPCGFastStateParameters(iterations=20))
    await client.wait_for_training(poll_time=1)
    assert await client.status() == schema.TrainingStatus.completed
    loss: Any = await client.get_loss()
    assert np.array(loss).shape == (4, 4)
    progress = await client.progress()
    assert progress["training_completion"] == 100

    params = schema.InferenceParameters(
        operators_to_forecast=None,
        state_parameters=schema.LOBPCGFastStateParameters(iterations=20))
    forecast = await client.inference(df[["x", "y"]], params)
    assert isinstance(forecast, pd.DataFrame)
    assert list(forecast.columns) == ["z"]
    assert forecast.index.equals(df.index)
    assert _forecast_quality(forecast, df) > 0.5

    # a second client finds everything again by guid
    again = await qcog.AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                             port=server.port)
    await again.preloaded_model(client.trained_model["guid"])
    await again.preloaded_data(client.dataset["guid"])
    assert again.model.model_name == kind
    same = await again.inference(df[["x", "y"]], params)
    pd.testing.assert_frame_equal(same, forecast)


async def test_async_client_streams_a_gzip_upload(server: sim.SimServer) -> None:
    df = linear_frame(200)
    client = await qcog.AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                              port=server.port)
    await client.upload_data(df, "stream-1")
    assert client.dataset["guid"]
    client.pauli(operators=["x", "y", "z"])
    await client.train(batch_size=50, num_passes=2,
                       weight_optimization=schema.AnalyticOptimizationParameters(),
                       get_states_extra=schema.NPEIGHStateParameters())
    await client.wait_for_training(poll_time=1)
    assert await client.status() == schema.TrainingStatus.completed


def test_sync_client_in_a_plain_script(server: sim.SimServer) -> None:
    df = linear_frame(200)
    client = qcog.QcogClient.create(token=server.token, hostname="127.0.0.1", port=server.port)
    client.pauli(operators=["x", "y", "z"])
    client.data(df)
    client.train(batch_size=100, num_passes=2,
                 weight_optimization=schema.AdamOptimizationParameters(iterations=3),
                 get_states_extra=schema.EIGHStateParameters())
    client.wait_for_training(poll_time=1)
    forecast = client.inference(df[["x", "y"]], schema.InferenceParameters(
        operators_to_forecast=None, state_parameters=schema.EIGHStateParameters()))
    assert list(forecast.columns) == ["z"]


async def test_public_client_sees_a_wrong_token_as_an_http_error(
        server: sim.SimServer) -> None:
    import aiohttp

    client = await qcog.AsyncQcogClient.create(token="wrong", hostname="127.0.0.1",
                                              port=server.port)
    client.http_client.retries = 1  # its retry loop sleeps 1-5 s per attempt on any 4xx
    with pytest.raises(aiohttp.ClientResponseError) as info:
        await client.data(linear_frame(10))
    assert info.value.status == 401
