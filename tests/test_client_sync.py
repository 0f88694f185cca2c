"""The blocking facade: in a plain script, inside a running event loop (what a Jupyter kernel
is) and from threads, without touching asyncio's global state."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from qwidgets import InferenceParameters, NPEIGHStateParameters, QcogClient
from qwidgets.client import UsageError
from qwidgets.client.loop_thread import shared_loop
from qwidgets.sim import SimServer


def _train(server: SimServer, frame: pd.DataFrame) -> tuple[QcogClient, pd.DataFrame]:
    client = QcogClient.create(token=server.token, hostname=server.host, port=server.port)
    client.pauli(["x", "y", "z"]).data(frame)
    client.train(100, 2, {}, NPEIGHStateParameters()).wait_for_training(poll_time=0.1)
    return client, client.inference(frame[["x", "y"]], InferenceParameters())


def test_plain_script(server, linear_frame):
    client, forecast = _train(server, linear_frame)
    with client:
        assert client.status() == "completed"
        assert list(forecast.columns) == ["z"]
        assert len(client.loss()) == 2
        assert client.progress()["training_completion"] == 100
    assert client.http_client.closed


def test_inside_a_running_loop(server, linear_frame):
    """As in a notebook cell: a loop runs in this thread while the sync API is called."""
    policy = asyncio.get_event_loop_policy()

    async def cell() -> tuple[str, list[str]]:
        assert asyncio.get_running_loop().is_running()
        client, forecast = _train(server, linear_frame)
        with client:
            return client.status(), list(forecast.columns)

    assert asyncio.run(cell()) == ("completed", ["z"])
    assert asyncio.get_event_loop_policy() is policy  # nothing patched globally
    assert not hasattr(asyncio, "_nest_patched")


def test_from_threads(server, linear_frame):
    client, _ = _train(server, linear_frame)
    with client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.status(), range(40)))
        forecasts = list(pool.map(
            lambda _: client.inference(linear_frame[["x", "y"]], InferenceParameters()),
            range(4)))
    assert statuses == ["completed"] * 40
    for forecast in forecasts[1:]:
        pd.testing.assert_frame_equal(forecast, forecasts[0])
    # every thread went through the one pooled session
    assert client.http_client.connections_opened <= 8


def test_each_thread_its_own_client(server, linear_frame):
    results: list[str] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            client, _ = _train(server, linear_frame)
            with client:
                results.append(client.status())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert results == ["completed"] * 3


def test_calling_from_the_clients_own_loop_is_refused(server):
    client = QcogClient.create(token=server.token, hostname=server.host, port=server.port)

    async def on_the_private_loop() -> None:
        client.preloaded_data("x")  # would deadlock: it waits for the loop it is running on

    with client:
        future = asyncio.run_coroutine_threadsafe(on_the_private_loop(), shared_loop()._loop)
        with pytest.raises(UsageError, match="own event loop"):
            future.result(10)


def test_default_server_when_no_hostname(tmp_path, monkeypatch, linear_frame):
    from qwidgets.sim.server import embedded

    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QCOG_API_TOKEN", "a-remote-token-that-must-not-travel")
    monkeypatch.setattr(embedded, "_default", None)
    try:
        with QcogClient.create() as client:
            assert client.http_client.base_url.startswith("http://127.0.0.1:")
            client.pauli(["x", "y", "z"]).data(linear_frame)
            assert client.dataset_guid
            assert client.http_client._token.reveal() == embedded._default.token
    finally:
        if embedded._default is not None:
            embedded._default.stop()
