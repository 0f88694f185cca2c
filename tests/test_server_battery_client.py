"""The hardening battery, part five: the client's two items. ``preloaded_model`` names what an
answer lacks instead of a raw ``KeyError``, and ``wait_for_training(timeout=)`` gives up with
how far the training got."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from qwidgets.client import ApiError, AsyncQcogClient, TrainingTimeoutError
from qwidgets.client.qcog.status import describe_progress
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from tests.battery_support import (
    battery_report,  # noqa: F401
    count,
)
from tests.client_support import client_for
from tests.server_support import linear_frame


@pytest.fixture
async def fake_service() -> AsyncIterator[TestServer]:
    """A service whose model answers lack ``training_parameters_guid``."""

    async def model(request: web.Request) -> web.Response:
        guid = request.match_info["guid"]
        if guid == "no-tp":
            return web.json_response({"guid": guid, "status": "completed"})
        return web.json_response({"guid": guid, "status": "completed",
                                  "training_parameters_guid": None})

    app = web.Application()
    app.router.add_get("/api/v1/model/{guid}/", model)
    async with TestServer(app, host="127.0.0.1") as running:
        yield running


@pytest.mark.parametrize("guid", ["no-tp", "null-tp"])
async def test_preloaded_model_names_a_missing_training_parameters_guid(
        fake_service: TestServer, guid: str) -> None:
    async with await client_for(str(fake_service.make_url("")).rstrip("/"), "t") as client:
        with pytest.raises(ApiError, match="without its 'training_parameters_guid'") as info:
            await client.preloaded_model(guid)
    assert guid in str(info.value)
    assert not isinstance(info.value, KeyError)
    count("qcog")


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


async def test_wait_for_training_gives_up_at_its_timeout(client: AsyncQcogClient) -> None:
    client.pauli(["x", "y", "z"], qbits=5, pauli_weight=2)
    await client.data(linear_frame(2000))
    await client.train(250, 1000, {"optimization_method": "GRAD", "iterations": 2,
                                   "learning_rate": 0.1}, {"state_method": "NP_EIGH"})
    try:
        with pytest.raises(TrainingTimeoutError) as info:
            await client.wait_for_training(poll_time=0.05, timeout=0.5)
        error = info.value
        assert isinstance(error, TimeoutError)
        assert error.model_guid == client.model_guid
        assert error.timeout == 0.5
        assert error.progress["status"] in ("pending", "processing")
        assert "% done" in str(error)
        assert "wait_for_training() again" in str(error)
        # the training goes on: the client still knows it
        assert await client.status() in ("pending", "processing")
    finally:
        await client.cancel()
    count("qcog", 8)


@pytest.mark.parametrize("timeout", [0, -1, "10", True, float("nan")])
async def test_a_bad_timeout_is_refused_before_any_request(client: AsyncQcogClient,
                                                           timeout: Any) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        await client.wait_for_training(timeout=timeout)


def test_progress_reads_as_a_sentence() -> None:
    text = describe_progress({"training_completion": 35, "pass_index": 2, "num_passes": 10,
                              "batch_index": 1, "num_batches": 8, "loss": 0.1234567})
    assert text == "35% done, pass 3 of 10, batch 2 of 8, last loss 0.1235"
    assert describe_progress({}) == "0% done"
