"""Reliability: a fault-injecting proxy between the client and the real server. The client
recovers from 503/429 bursts, dropped connections and a slow server, and the server executes
each upload and each model creation exactly once (counted by the proxy, which sees whether
the server replayed a stored answer, and in the server's own SQLite store)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from qwidgets.client import (
    ConflictError,
    RetryPolicy,
    ServerValidationError,
    ServiceUnavailableError,
    UsageError,
)
from qwidgets.client.braket.devices import SV1, AsyncDeviceClient
from qwidgets.client.braket.signed_http import SignedHttpClient
from qwidgets.client.http import HttpClient
from qwidgets.client.retry import parse_retry_after
from qwidgets.sim import SimServer
from tests.client_support import FAST_RETRY, client_for, count_rows
from tests.fault_proxy import Fault, FaultProxy
from tests.fixtures import StartSim

DATASET = "/api/v1/dataset/"
MODEL = "/api/v1/model/"


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    # One server per test, so that the store's row counts belong to that test alone.
    return start_sim()


@pytest.fixture
def proxy(server) -> Iterator[FaultProxy]:
    running = FaultProxy(server.url)
    yield running
    running.stop()


def _one_key(entries) -> str:
    keys = {e.idempotency_key for e in entries}
    assert len(keys) == 1, keys
    (key,) = keys
    assert key
    return key


async def test_503_burst_on_upload(server, proxy, linear_frame):
    proxy.add(Fault("503", "POST", DATASET, times=3))
    async with await client_for(proxy.url, server.token) as client:
        await client.data(linear_frame)
        assert client.http_client.retries == 3
    assert len(proxy.executed("POST", DATASET)) == 1
    assert count_rows(server, "datasets") == 1
    _one_key([e for e in proxy.log if e.route == DATASET])


async def test_429_honours_retry_after(server, proxy, linear_frame):
    proxy.add(Fault("429", "POST", DATASET, times=1, retry_after="1"))
    started = time.perf_counter()
    async with await client_for(proxy.url, server.token) as client:
        await client.data(linear_frame)
    # the fast test policy alone would retry within 0.05 s
    assert time.perf_counter() - started >= 1.0
    assert count_rows(server, "datasets") == 1


async def test_dropped_connection_after_model_creation(server, proxy, linear_frame):
    """The worst case: the server created the model, then the answer was lost."""
    proxy.add(Fault("drop_after", "POST", MODEL, times=2))
    async with await client_for(proxy.url, server.token) as client:
        client.pauli(["x", "y", "z"])
        await client.data(linear_frame)
        await client.train(100, 2, {}, {})
        await client.wait_for_training(poll_time=0.1)
        guid = client.model_guid
    reached = proxy.reached("POST", MODEL)
    assert len(reached) == 3
    assert len(proxy.executed("POST", MODEL)) == 1
    _one_key(reached)
    assert count_rows(server, "models") == 1
    assert {e.body for e in reached} == {reached[0].body}  # replays answer the same guid
    assert guid in reached[0].body.decode()


async def test_dropped_connection_before_the_server(server, proxy, linear_frame):
    proxy.add(Fault("drop_before", "*", "/api/v1/", times=4))
    async with await client_for(proxy.url, server.token) as client:
        client.pauli(["x", "y", "z"])
        await client.data(linear_frame)
        await client.train(100, 1, {}, {})
        await client.wait_for_training(poll_time=0.1)
    assert count_rows(server, "datasets") == 1
    assert count_rows(server, "models") == 1


async def test_slow_server_times_out_and_retries_once_executed(server, proxy, linear_frame):
    proxy.add(Fault("slow_after", "POST", DATASET, times=1, delay=1.5))
    proxy.add(Fault("slow_before", "GET", "/api/v1/model/", times=1, delay=1.5))
    async with await client_for(proxy.url, server.token, timeout=0.5) as client:
        client.pauli(["x", "y", "z"])
        await client.data(linear_frame)
        await client.train(100, 1, {}, {})
        assert await client.status() in ("pending", "processing", "completed")
    assert len(proxy.reached("POST", DATASET)) == 2
    assert len(proxy.executed("POST", DATASET)) == 1
    assert count_rows(server, "datasets") == 1


async def test_gzip_upload_dropped_after_upload_runs_once(server, proxy, linear_frame):
    upload = "/api/v1/dataset/upload"
    proxy.add(Fault("drop_after", "POST", upload, times=1))
    async with await client_for(proxy.url, server.token, upload_threshold=100) as client:
        await client.data(linear_frame)
    assert len(proxy.reached("POST", upload)) == 2
    assert len(proxy.executed("POST", upload)) == 1
    assert count_rows(server, "datasets") == 1


async def test_each_logical_call_has_its_own_key(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token) as client:
        await client.data(linear_frame)
        await client.data(linear_frame)
    keys = [e.idempotency_key for e in proxy.executed("POST", DATASET)]
    assert len(keys) == 2
    assert len(set(keys)) == 2
    assert count_rows(server, "datasets") == 2


async def test_persistent_503_gives_up_with_the_cause(server, proxy):
    proxy.add(Fault("503", "GET", "/api/v1/dataset/", times=100))
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    async with await client_for(proxy.url, server.token, retry=policy) as client:
        with pytest.raises(ServiceUnavailableError) as info:
            await client.preloaded_data("some-guid")
    assert info.value.attempts == 3
    assert "503" in info.value.last_cause
    assert "after 3 attempts" in str(info.value)
    assert len([e for e in proxy.log if e.method == "GET"]) == 3


async def test_nothing_listening_is_service_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
    async with HttpClient(f"http://127.0.0.1:{port}/api/v1", "t", retry=policy) as http:
        with pytest.raises(ServiceUnavailableError) as info:
            await http.get("status/")
    assert info.value.attempts == 2
    assert "Connect" in info.value.last_cause
    assert not isinstance(info.value.__cause__, Exception)  # no raw aiohttp error attached


async def test_no_retry_on_400(server, proxy):
    async with await client_for(proxy.url, server.token) as client:
        with pytest.raises(ServerValidationError) as info:
            await client.http_client.post(
                "dataset/", {"format": "dataframe", "source": "client", "data": "%%%"})
    assert info.value.status == 400
    assert info.value.field == "data"
    assert len(proxy.reached("POST", DATASET)) == 1
    assert client.http_client.retries == 0


async def test_no_retry_on_404(server, proxy):
    async with await client_for(proxy.url, server.token) as client:
        with pytest.raises(Exception, match="404"):
            await client.preloaded_model("missing")
    assert len([e for e in proxy.log if e.method == "GET"]) == 1


def test_backoff_is_full_jitter_and_bounded():
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0)
    waits = [policy.backoff(n) for n in range(1, 9) for _ in range(50)]
    assert all(0 <= w <= 1.0 for w in waits)
    assert max(policy.backoff(1) for _ in range(200)) <= 0.1
    assert len({round(w, 6) for w in waits}) > 100  # jittered, not a fixed schedule


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


async def _trained(client, frame) -> None:
    client.pauli(["x", "y", "z"])
    await client.data(frame)
    await client.train(100, 1, {}, {})
    await client.wait_for_training(poll_time=0.05)


async def test_concurrent_identical_reads_share_one_request(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token) as client:
        await _trained(client, linear_frame)
        route = f"/api/v1/model/{client.model_guid}/"
        before = len(proxy.reached("GET", route))
        proxy.add(Fault("slow_before", "GET", route, times=1, delay=0.3))
        statuses = await asyncio.gather(*(client.status() for _ in range(50)))
        assert statuses == ["completed"] * 50
        assert len(proxy.reached("GET", route)) - before == 1
        assert client.http_client.reads_joined == 49


async def test_a_read_after_a_write_never_joins_an_older_read(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token) as client:
        await _trained(client, linear_frame)
        route = f"/api/v1/model/{client.model_guid}/"
        before = len(proxy.reached("GET", route))
        proxy.add(Fault("slow_before", "GET", route, times=1, delay=0.5))
        older = asyncio.create_task(client.status())
        await asyncio.sleep(0.1)  # the older read is now waiting at the proxy
        with pytest.raises(ConflictError):
            await client.cancel()  # a write (refused: the training is over)
        assert await client.status() == "completed"
        await older
        assert len(proxy.reached("GET", route)) - before == 2
        assert client.http_client.reads_joined == 0


async def test_a_cancelled_reader_does_not_cancel_the_others(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token) as client:
        await _trained(client, linear_frame)
        route = f"/api/v1/model/{client.model_guid}/"
        proxy.add(Fault("slow_before", "GET", route, times=1, delay=0.3))
        first = asyncio.create_task(client.status())
        await asyncio.sleep(0.05)
        second = asyncio.create_task(client.status())
        await asyncio.sleep(0.05)
        first.cancel()
        assert await second == "completed"
        assert first.cancelled()


async def test_reads_can_opt_out_of_sharing(server, proxy, linear_frame):
    async with await client_for(proxy.url, server.token) as client:
        await _trained(client, linear_frame)
        client.http_client.coalesce_reads = False
        route = f"/api/v1/model/{client.model_guid}/"
        before = len(proxy.reached("GET", route))
        await asyncio.gather(*(client.status() for _ in range(20)))
        assert len(proxy.reached("GET", route)) - before == 20


# ---------------------------------------------------------------- the signed (Braket) client

BELL = "OPENQASM 3.0; bit[2] b; qubit[2] q; h q[0]; cnot q[0], q[1]; b = measure q;"


async def test_the_signed_client_retries_with_a_fresh_signature_per_attempt(server, proxy, caplog):
    async with await AsyncDeviceClient.create(endpoint=proxy.url, token=server.token,
                                              retry=FAST_RETRY) as devices:
        task = await devices.create_task(SV1, BELL, shots=10)
        route = f"/quantum-task/{quote(task.arn, safe='')}"
        # Retry-After of 1 s: the retry is signed in a later second than the first attempt
        proxy.add(Fault("502", "GET", route, times=1, retry_after="1"))
        with caplog.at_level(logging.WARNING, logger="qwidgets.client"):
            info = await devices.task(task.arn)
        assert info.arn == task.arn
        assert devices.http_client.retries == 1
    attempts = [e for e in proxy.log if e.method == "GET" and e.route == route]
    assert [e.fault for e in attempts] == ["502", None]
    assert attempts[1].reached_server
    assert attempts[1].status == 200  # the server verified the second signature
    assert attempts[0].amz_date != attempts[1].amz_date
    assert attempts[0].authorization != attempts[1].authorization
    assert any("retry 1/" in r.getMessage() for r in caplog.records)


async def test_a_retried_signed_post_creates_one_task(server, proxy):
    proxy.add(Fault("503", "POST", "/quantum-task", times=2))
    async with await AsyncDeviceClient.create(endpoint=proxy.url, token=server.token,
                                              retry=FAST_RETRY) as devices:
        task = await devices.create_task(SV1, BELL, shots=10)
        assert devices.http_client.retries == 2
        assert [t.arn for t in await devices.tasks()] == [task.arn]
    sent = [e for e in proxy.log if e.method == "POST" and e.route == "/quantum-task"]
    assert [e.fault for e in sent] == ["503", "503", None]
    assert len({e.request_body for e in sent}) == 1  # one clientToken for the one call


@pytest.mark.parametrize("make", [
    lambda: HttpClient("htp://127.0.0.1:9/api/v1", "token"),
    lambda: HttpClient("http:///api/v1", "token"),
    lambda: SignedHttpClient("htp://127.0.0.1:9", "token"),
], ids=["plain, scheme typo", "plain, no host", "signed, scheme typo"])
async def test_an_invalid_url_is_a_usage_error_not_an_outage(make):
    async with make() as http:
        with pytest.raises(UsageError, match="invalid URL"):
            await http.get("devices")
        assert (http.attempts, http.retries) == (1, 0)
