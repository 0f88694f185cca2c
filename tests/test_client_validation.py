"""Local validation: bad input fails before any request, with an error naming the field.

The client here points at a port nobody listens on, so any request would surface as
ServiceUnavailableError instead of the ValidationError the tests expect; the request counter
of the transport must also stay at zero.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import numpy as np
import pandas as pd
import pytest

from qwidgets import (
    AdamOptimizationParameters,
    AsyncQcogClient,
    GradStateParameters,
    InferenceParameters,
    LOBPCGStateParameters,
    NPEIGHStateParameters,
)
from qwidgets.client import AuthenticationError, UsageError
from qwidgets.errors import DataValidationError, ValidationError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def offline() -> AsyncIterator[AsyncQcogClient]:
    client = await AsyncQcogClient.create(token="t", hostname="127.0.0.1", port=_free_port())
    yield client
    assert client.http_client.attempts == 0, "validation must not send any request"
    await client.close()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.pauli([]), "model.operators"),
        (lambda c: c.pauli(["x", "y"], qbits=2, pauli_weight=3), "model.pauli_weight"),
        (lambda c: c.pauli(["x", "y"], qbits=9), "model.qbits"),
        (lambda c: c.pauli(["x", "y"], target_operator=["q"]), "model.target_operators"),
        (lambda c: c.pauli(["x", "y"], sigma_sq={"x": -1.0}), "model.sigma_sq.x"),
        (lambda c: c.ensemble(["x", "y"], dim=1), "model.dim"),
        (lambda c: c.ensemble(["x", "x"]), "model.operators"),
    ],
)
async def test_model_choice_names_the_field(offline, call, field):
    with pytest.raises(ValidationError) as info:
        call(offline)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("weights", "states", "batch_size", "field"),
    [
        ({"optimization_method": "GRAD", "iterations": 5}, {}, 10,
         "weight_optimization_kwargs.learning_rate"),
        ({"optimization_method": "ADAM", "iterations": 5, "step_size": 0}, {}, 10,
         "weight_optimization_kwargs.step_size"),
        ({"optimization_method": "SGD"}, {}, 10, "weight_optimization_kwargs.optimization_method"),
        ({}, {"state_method": "LOBPCG"}, 10, "state_kwargs.state_method"),
        ({}, {"state_method": "POWER_ITER", "iterations": 3, "tol": -1}, 10, "state_kwargs.tol"),
        ({}, {"state_method": "EIGH", "bogus": 1}, 10, "state_kwargs.bogus"),
        ({}, {}, 0, "parameters.batch_size"),
    ],
)
async def test_training_parameters_name_the_field(offline, linear_frame, weights, states,
                                                  batch_size, field):
    offline.pauli(["x", "y", "z"])
    offline._dataset = {"guid": "not-sent"}  # as if uploaded: train must stop before the POST
    with pytest.raises(ValidationError) as info:
        await offline.train(batch_size, 2, weights, states)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("frame", "columns"),
    [
        (pd.DataFrame({"x": [1.0, np.nan], "y": [1.0, 2.0], "z": [0.0, 1.0]}), ["x"]),
        (pd.DataFrame({"x": ["a", "b"], "y": [1.0, 2.0], "z": [0.0, 1.0]}), ["x"]),
        (pd.DataFrame({"x": [1.0], "y": [2.0], "w": [0.0]}), ["z", "w"]),
        (pd.DataFrame({"x": [], "y": [], "z": []}), ["x", "y", "z"]),
    ],
)
async def test_bad_frames_name_the_columns(offline, frame, columns):
    offline.pauli(["x", "y", "z"])
    with pytest.raises(DataValidationError) as info:
        await offline.data(frame)
    assert info.value.field == "data"
    assert info.value.columns == columns


async def test_inference_parameters_checked_before_anything(offline, linear_frame):
    with pytest.raises(ValidationError) as info:
        await offline.inference(linear_frame, {"state_parameters": {"state_method": "GRAD",
                                                                   "iterations": 2}})
    assert info.value.field == "parameters.state_parameters.learning_rate"


async def test_out_of_order_calls_are_usage_errors(offline, linear_frame):
    with pytest.raises(UsageError, match="pauli"):
        await offline.train(10, 1, {}, {})
    offline.pauli(["x", "y", "z"])
    with pytest.raises(UsageError, match="data"):
        await offline.train(10, 1, {}, {})
    with pytest.raises(UsageError, match="train"):
        await offline.status()
    with pytest.raises(UsageError, match="train"):
        await offline.inference(linear_frame[["x", "y"]], InferenceParameters())


async def test_version_is_checked_before_connecting():
    with pytest.raises(ValidationError) as info:
        await AsyncQcogClient.create(token="t", hostname="127.0.0.1", port=_free_port(),
                                     version="0.63")
    assert info.value.field == "version"


async def test_missing_token_for_a_remote_service(monkeypatch):
    monkeypatch.delenv("QCOG_API_TOKEN", raising=False)
    with pytest.raises(AuthenticationError, match="QCOG_API_TOKEN"):
        await AsyncQcogClient.create(hostname="qcog.example.invalid")


async def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("QCOG_API_TOKEN", "from-env")
    client = await AsyncQcogClient.create(hostname="qcog.example.invalid")
    assert client.http_client._token.reveal() == "from-env"
    assert client.http_client.base_url == "https://qcog.example.invalid:443/api/v1"


@pytest.mark.parametrize(
    ("hostname", "port", "url"),
    [
        ("dev.qognitive.io", 443, "https://dev.qognitive.io:443/api/v1"),
        ("localhost", 8000, "http://localhost:8000/api/v1"),
        ("127.0.0.1", 8765, "http://127.0.0.1:8765/api/v1"),
        ("::1", 8765, "http://[::1]:8765/api/v1"),
        ("http://10.0.0.5:9000", 443, "http://10.0.0.5:9000/api/v1"),
    ],
)
async def test_base_url(hostname, port, url):
    client = await AsyncQcogClient.create(token="t", hostname=hostname, port=port)
    assert client.http_client.base_url == url


def test_parameter_types_produce_the_wire_dicts():
    adam = AdamOptimizationParameters(iterations=3)
    assert dict(adam) == {"optimization_method": "ADAM", "iterations": 3, "step_size": 0.001,
                          "epsilon": "1e-08", "first_moment_decay": 0.9,
                          "second_moment_decay": 0.999}
    assert dict(LOBPCGStateParameters(iterations=4))["state_method"] == "LOBPCB"
    assert dict(NPEIGHStateParameters()) == {"state_method": "NP_EIGH",
                                             "learning_rate_axes": 0.0, "normalize_axes": True}
    inference = InferenceParameters(operators_to_forecast=["z"],
                                    state_parameters=NPEIGHStateParameters())
    assert dict(inference)["state_parameters"]["state_method"] == "NP_EIGH"


def test_parameter_types_validate_on_construction():
    with pytest.raises(ValidationError) as info:
        GradStateParameters(iterations=0, learning_rate=0.1)
    assert info.value.field == "GradStateParameters.iterations"
    with pytest.raises(ValidationError) as info:
        InferenceParameters(state_parameters={"state_method": "NOPE"})
    assert info.value.field == "parameters.state_parameters.state_method"
