"""Client benchmark against the embedded simulator on loopback.

1,000 concurrent ``status()`` polls through one client, versus the same polls with a new
aiohttp session per request (what qcog-python-client 0.4.5 does), in the same run against the
same server; plus the loopback latency of one ``status()``.

The client pools connections and, by default, lets concurrent identical reads share one
request (``qwidgets.client.coalesce``). The issue's key measures pooling alone (sharing
switched off, all 1,000 requests sent); the client as shipped is reported next to it, and so
is a bare ``aiohttp.ClientSession`` with the same pool size sending the same GETs: what pooling
with aiohttp can give at most on this machine, with no qwidgets code on the client side.

    python bench/client.py          # a readable table
    python bench/client.py --json   # one JSON object
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
import numpy as np
import pandas as pd

# `python bench/client.py` puts bench/ first on the path: its helpers import as modules.
import report
from baseline import session_per_request_get, timed

from qwidgets.client import AsyncQcogClient
from qwidgets.sim import SimServer, start

CONCURRENT = 1_000
ROUNDS = 5  # best of: the machine's other load only ever slows a round down
LATENCY_SAMPLES = 500


async def trained_client(server: SimServer) -> AsyncQcogClient:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(-1, 1, (200, 3)), columns=["x", "y", "z"])
    client = await AsyncQcogClient.create(token=server.token, hostname=server.host,
                                          port=server.port)
    client.pauli(["x", "y", "z"])
    await client.data(frame)
    await client.train(100, 1, {}, {})
    await client.wait_for_training(poll_time=0.1)
    return client


async def pooled_round(client: AsyncQcogClient) -> float:
    elapsed, statuses = await timed(asyncio.gather(*(client.status() for _ in range(CONCURRENT))))
    assert statuses == ["completed"] * CONCURRENT
    return elapsed


async def session_per_request_round(base_url: str, token: str, guid: str) -> float:
    url = f"{base_url}/model/{guid}/"
    headers = {"Authorization": f"Bearer {token}"}
    elapsed, bodies = await timed(asyncio.gather(
        *(session_per_request_get(url, headers) for _ in range(CONCURRENT))))
    assert [b["status"] for b in bodies] == ["completed"] * CONCURRENT
    return elapsed


async def bare_aiohttp_round(session: aiohttp.ClientSession, url: str) -> float:
    async def one() -> str:
        async with session.get(url) as resp:  # the cheapest way aiohttp reads a JSON body
            return str(json.loads(await resp.read())["status"])

    elapsed, statuses = await timed(asyncio.gather(*(one() for _ in range(CONCURRENT))))
    assert statuses == ["completed"] * CONCURRENT
    return elapsed


async def latencies(client: AsyncQcogClient) -> list[float]:
    out = []
    for _ in range(LATENCY_SAMPLES):
        started = time.perf_counter()
        await client.status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


async def run() -> dict[str, Any]:
    with start() as server:
        client = await trained_client(server)
        unshared = await AsyncQcogClient.create(token=server.token, hostname=server.host,
                                                port=server.port)
        try:
            base_url, guid = client.http_client.base_url, str(client.model_guid)
            await unshared.preloaded_model(guid)
            unshared.http_client.coalesce_reads = False
            token = server.token
            for warm in (client, unshared):  # opens the pools
                await pooled_round(warm)
            await session_per_request_round(base_url, token, guid)
            bare_session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {token}"},
                connector=aiohttp.TCPConnector(limit=unshared.http_client.max_connections))
            await bare_aiohttp_round(bare_session, f"{base_url}/model/{guid}/")
            shared, pooled, per_request, bare = [], [], [], []
            sent_before = client.http_client.attempts
            for _ in range(ROUNDS):
                shared.append(await pooled_round(client))
                pooled.append(await pooled_round(unshared))
                bare.append(await bare_aiohttp_round(bare_session, f"{base_url}/model/{guid}/"))
                per_request.append(await session_per_request_round(base_url, token, guid))
            await bare_session.close()
            sent = (client.http_client.attempts - sent_before) / ROUNDS
            lat = await latencies(unshared)
            connections = unshared.http_client.connections_opened
        finally:
            await client.close()
            await unshared.close()
    return {
        # The figure measures pooling: 1,000 requests each way. Sharing concurrent
        # identical reads skips requests altogether, so it is reported apart.
        "pooled_speedup_vs_session_per_request": round(min(per_request) / min(pooled), 2),
        "status_p50_ms": round(percentile(lat, 50), 3),
        "status_p99_ms": round(percentile(lat, 99), 3),
        "shipped_speedup_with_read_sharing": round(min(per_request) / min(shared), 2),
        "bare_aiohttp_pooled_speedup": round(min(per_request) / min(bare), 2),
        "concurrent_polls": CONCURRENT,
        "requests_sent_per_round_with_read_sharing": sent,
        "seconds_with_read_sharing": round(min(shared), 4),
        "seconds_pooled_without_read_sharing": round(min(pooled), 4),
        "seconds_session_per_request": round(min(per_request), 4),
        "seconds_bare_aiohttp_pooled": round(min(bare), 4),
        "connections_opened_without_read_sharing": connections,
        "status_mean_ms": round(statistics.fmean(lat), 3),
    }


def table(result: dict[str, Any]) -> str:
    n = CONCURRENT
    rows = [
        (f"{n} concurrent status(), qwidgets client (pooled, reads shared)",
         f"{result['seconds_with_read_sharing'] * 1000:.1f} ms"),
        ("  requests it actually sent", f"{result['requests_sent_per_round_with_read_sharing']:.0f}"),
        (f"{n} concurrent status(), pooled, read sharing off",
         f"{result['seconds_pooled_without_read_sharing'] * 1000:.1f} ms"),
        ("  TCP connections it opened", f"{result['connections_opened_without_read_sharing']}"),
        (f"{n} concurrent status(), new session per request (public client)",
         f"{result['seconds_session_per_request'] * 1000:.1f} ms"),
        (f"{n} concurrent GETs, bare aiohttp session, same pool size",
         f"{result['seconds_bare_aiohttp_pooled'] * 1000:.1f} ms"),
        ("speedup, pooling alone", f"{result['pooled_speedup_vs_session_per_request']:.2f}x"),
        ("speedup, bare aiohttp pooling (the ceiling of pooling here)",
         f"{result['bare_aiohttp_pooled_speedup']:.2f}x"),
        ("speedup, client as shipped (reads shared)",
         f"{result['shipped_speedup_with_read_sharing']:.2f}x"),
        ("status() latency p50 (sequential)", f"{result['status_p50_ms']:.3f} ms"),
        ("status() latency p99 (sequential)", f"{result['status_p99_ms']:.3f} ms"),
    ]
    return report.table(rows)


if __name__ == "__main__":
    report.main(__doc__, run, table)
