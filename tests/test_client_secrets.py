"""The token never shows: not in repr/str of any client object, not in error messages, not
in logs (even at DEBUG, with retries and an authentication failure), never pickled."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from qwidgets import QcogClient
from qwidgets.client import AuthenticationError
from qwidgets.client.connect import resolve
from tests.client_support import client_for
from tests.fault_proxy import Fault, FaultProxy

TOKEN = "s3cr3t-token-0123456789abcdef"


@pytest.fixture(scope="module")
def sim_options() -> dict[str, Any]:
    # a token the tests know, so that they can look for it in logs and messages
    return {"token": TOKEN}


async def test_token_absent_from_repr_str_and_logs(server, linear_frame, caplog):
    caplog.set_level(logging.DEBUG)
    proxy = FaultProxy(server.url)
    proxy.add(Fault("503", "POST", "/api/v1/dataset/", times=2))
    try:
        async with await client_for(proxy.url, TOKEN) as client:
            client.pauli(["x", "y", "z"])
            await client.data(linear_frame)
            await client.train(100, 1, {}, {})
            await client.wait_for_training(poll_time=0.1)
            shown = [repr(client), str(client), repr(client.http_client),
                     str(client.http_client), repr(client.http_client._token),
                     str(vars(client)), str(vars(client.http_client))]
        async with await client_for(server.url, TOKEN + "x") as wrong:
            with pytest.raises(AuthenticationError) as info:
                await wrong.preloaded_data("g")
            shown += [str(info.value), repr(info.value), str(info.value.body)]
    finally:
        proxy.stop()
    assert client.http_client.retries == 2  # the logs below include the retry warnings
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.DEBUG and "dataset/" in r.getMessage()
               for r in caplog.records)
    for text in [*shown, caplog.text]:
        assert TOKEN not in text
        assert TOKEN[:12] not in text


async def test_endpoint_and_sync_client_hide_the_token(server):
    endpoint = await resolve(TOKEN, server.host, server.port, "v1")
    assert TOKEN not in repr(endpoint)
    assert TOKEN not in str(endpoint)
    with QcogClient.create(token=TOKEN, hostname=server.host, port=server.port) as client:
        assert TOKEN not in repr(client)
        assert TOKEN not in str(client)
        assert TOKEN not in repr(client.async_client)


async def test_token_cannot_be_pickled(server):
    async with await client_for(server.url, TOKEN) as client:
        with pytest.raises(TypeError, match="never serialised"):
            pickle.dumps(client.http_client._token)
        with pytest.raises(TypeError, match="never serialised"):
            pickle.dumps(client)
