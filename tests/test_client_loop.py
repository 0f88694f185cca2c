"""The client against the real simulator server on loopback: the whole create -> model ->
data -> train -> wait -> inference loop, reattaching, cancelling, and the error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pandas as pd
import pytest

from qwidgets import (
    AnalyticOptimizationParameters,
    AsyncQcogClient,
    InferenceParameters,
    LOBPCGFastStateParameters,
    NPEIGHStateParameters,
)
from qwidgets.client import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServerValidationError,
    TrainingCancelledError,
    TrainingFailedError,
)
from qwidgets.sim import start
from tests.client_support import client_for, count_rows
from tests.fault_proxy import FaultProxy


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


@pytest.fixture
def proxy(server) -> Iterator[FaultProxy]:
    running = FaultProxy(server.url)
    yield running
    running.stop()


def _errors(forecast: pd.DataFrame, truth: pd.DataFrame, column: str) -> float:
    return float(np.sqrt(np.mean((forecast[column].to_numpy() - truth[column].to_numpy()) ** 2)))


async def test_pauli_loop(client, linear_frame):
    client.pauli(["x", "y", "z"], qbits=2, pauli_weight=2)
    await client.data(linear_frame)
    await client.train(100, 3, AnalyticOptimizationParameters(), NPEIGHStateParameters())
    assert client.last_status == "pending"
    await client.wait_for_training(poll_time=0.2)
    assert await client.status() == "completed"
    forecast = await client.inference(linear_frame[["x", "y"]], InferenceParameters())
    assert list(forecast.columns) == ["z"]
    assert len(forecast) == len(linear_frame)
    # better than always answering the mean: the model learnt something from the data
    assert _errors(forecast, linear_frame, "z") < linear_frame["z"].std()
    progress = await client.progress()
    assert progress["status"] == "completed"
    assert progress["training_completion"] == 100
    assert (progress["num_passes"], progress["num_batches"]) == (3, 4)
    loss = await client.loss()
    assert len(loss) == 3
    assert all(len(row) == 4 for row in loss)
    assert progress["loss"] == pytest.approx(loss[-1][-1])


async def test_ensemble_loop_with_plain_dicts(client, linear_frame):
    client.ensemble(["x", "y", "z"], dim=4, num_axes=3, seed=3)
    await client.data(linear_frame)
    await client.train(200, 2, {"optimization_method": "ADAM", "iterations": 3},
                       {"state_method": "LOBPCG_FAST", "iterations": 10})
    await client.wait_for_training(poll_time=0.2)
    forecast = await client.inference(
        linear_frame[["x", "y"]],
        {"operators_to_forecast": None,
         "state_parameters": {"state_method": "LOBPCG_FAST", "iterations": 10}})
    assert list(forecast.columns) == ["z"]
    assert np.isfinite(forecast["z"].to_numpy()).all()
    assert len(await client.loss()) == 2


async def test_operators_to_forecast_drops_the_target_from_the_data(client, linear_frame):
    client.pauli(["x", "y", "z"])
    await client.data(linear_frame)
    await client.train(400, 1, {}, {})
    await client.wait_for_training(poll_time=0.2)
    # The whole frame goes in; the client must not send z (the server would forecast nothing).
    forecast = await client.inference(
        linear_frame, InferenceParameters(operators_to_forecast=["z"],
                                          state_parameters=NPEIGHStateParameters()))
    assert list(forecast.columns) == ["z"]


async def test_large_frames_upload_gzip_multipart(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token, upload_threshold=1000) as client:
        await client.data(linear_frame)
        uploads = proxy.executed("POST", "/api/v1/dataset/upload")
        assert len(uploads) == 1
        assert "encoding=gzip" in uploads[0].path
        assert proxy.executed("POST", "/api/v1/dataset/") == []
        assert client.dataset["rows"] == len(linear_frame)
    async with await client_for(proxy.url, server.token) as client:
        await client.data(linear_frame)
        assert len(proxy.executed("POST", "/api/v1/dataset/")) == 1


async def test_wire_compatible_payloads(server, proxy, linear_frame):
    """The same bodies as qcog-python-client 0.4.5: empty kwargs left out, str operators."""
    async with await client_for(proxy.url, server.token) as client:
        client.pauli([0, 1, 2], target_operator=[2])
        await client.data(linear_frame.set_axis([0, 1, 2], axis=1))
        await client.train(100, 1, {}, LOBPCGFastStateParameters(iterations=5))
    (tp,) = proxy.executed("POST", "/api/v1/training_parameters/")
    body = json.loads(tp.request_body)
    assert body["model"] == "pauli"
    assert body["parameters"]["model"] == {
        "operators": ["0", "1", "2"], "qbits": 2, "pauli_weight": 2, "sigma_sq": {},
        "sigma_sq_optimization_kwargs": {}, "seed": 42, "target_operators": ["2"],
        "model_name": "pauli"}
    assert "weight_optimization_kwargs" not in body["parameters"]
    assert body["parameters"]["state_kwargs"]["state_method"] == "LOBPCG_FAST"
    (model,) = proxy.executed("POST", "/api/v1/model/")
    assert set(json.loads(model.request_body)) == {"training_parameters_guid", "dataset_guid",
                                                   "qcog_version"}
    (dataset,) = proxy.executed("POST", "/api/v1/dataset/")
    assert set(json.loads(dataset.request_body)) == {"format", "source", "project_guid", "data"}


async def test_reattach_with_preloaded_model(server, client, linear_frame):
    client.pauli(["x", "y", "z"])
    await client.data(linear_frame)
    await client.train(100, 2, {}, {})
    await client.wait_for_training(poll_time=0.2)
    expected = await client.inference(linear_frame[["x", "y"]], InferenceParameters())
    async with await client_for(server.url, server.token) as again:
        await again.preloaded_model(client.model_guid)
        assert again.model == client.model
        assert again.dataset_guid == client.dataset_guid
        assert again.training_parameters_guid == client.training_parameters_guid
        forecast = await again.inference(linear_frame[["x", "y"]], InferenceParameters())
        pd.testing.assert_frame_equal(forecast, expected)
        await again.preloaded_data(client.dataset_guid)
        await again.preloaded_training_parameters(client.training_parameters_guid, rebuild=True)
        assert again.model == client.model


async def test_cancel(client):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.uniform(-1, 1, (2000, 3)), columns=["x", "y", "z"])
    client.ensemble(["x", "y", "z"], dim=32, num_axes=8)
    await client.data(frame)
    await client.train(100, 1000, {"optimization_method": "GRAD", "iterations": 10,
                                   "learning_rate": 1e-3}, {"state_method": "NP_EIGH"})
    await client.cancel()
    assert client.last_status in ("cancelled_pending", "cancelled")
    with pytest.raises(TrainingCancelledError) as info:
        await client.wait_for_training(poll_time=0.1)
    assert info.value.model_guid == client.model_guid
    assert await client.status() == "cancelled"
    with pytest.raises(ConflictError):
        await client.inference(frame[["x", "y"]], InferenceParameters())


async def test_failed_training_carries_the_servers_reason(client, linear_frame):
    client.pauli(["x", "y", "z"])
    await client.data(linear_frame)
    # A step this large overflows the weights: the server fails the training with a reason.
    await client.train(100, 3, {"optimization_method": "GRAD", "iterations": 10,
                                "learning_rate": 1e300}, {"state_method": "EIGH"})
    with pytest.raises(TrainingFailedError) as info:
        await client.wait_for_training(poll_time=0.1)
    assert info.value.status == "failed"
    assert "weight_optimization_kwargs.learning_rate" in info.value.reason
    assert "lower learning_rate" in info.value.reason
    assert info.value.reason == (await client.progress())["failure_reason"]


async def test_wrong_token_is_an_authentication_error(server):
    async with await client_for(server.url, "not-the-token") as client:
        with pytest.raises(AuthenticationError) as info:
            await client.preloaded_data("anything")
    assert info.value.status == 401
    assert client.http_client.attempts == 1  # never retried


async def test_unknown_guids_are_not_found(client):
    with pytest.raises(NotFoundError) as info:
        await client.preloaded_model("00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404
    with pytest.raises(NotFoundError):
        await client.preloaded_data("00000000-0000-0000-0000-000000000000")


async def test_each_token_has_its_own_namespace(linear_frame):
    with start(token="alice") as shared:
        async with await client_for(shared.url, "alice") as alice:
            await alice.data(linear_frame)
        assert count_rows(shared, "datasets") == 1


async def test_server_side_validation_names_the_field(server, proxy, client, linear_frame):
    """A mismatch only the server can see (a preloaded dataset's columns) comes back as a
    ValidationError naming the field, and a 4xx is never retried."""
    await client.data(linear_frame[["x", "y"]])
    async with await client_for(proxy.url, server.token) as other:
        await other.preloaded_data(client.dataset_guid)
        other.pauli(["x", "y", "z"])
        with pytest.raises(ServerValidationError) as info:
            await other.train(100, 1, {}, {})
    assert info.value.status == 422
    assert info.value.field == "dataset_guid"
    assert len(proxy.reached("POST", "/api/v1/model/")) == 1
