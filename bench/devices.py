"""Device-queue benchmark: the widget side of a live dashboard, and polling many tasks.

The simulator runs in a subprocess (``python -m qwidgets.sim serve``), so the figures measure
the polling side only, as in a kernel talking to a classroom server.

- ``idle_poll_cpu_percent``: 10 ``DeviceQueueGauges`` widgets (every device each, one shared
  client) polling every 2 s on this process's event loop: CPU time of this process
  (``time.process_time``) over wall time, in percent, for ~10 s. Goal: < 2 %. The widgets
  share one client, whose concurrent identical reads share one request; the figure with that
  switched off (every read sent) is reported next to it.
- ``tasks_poll_speedup_vs_session_per_request``: GetQuantumTask for 1,000 tasks through one
  client (one connection pool), versus a new aiohttp session per request, same run, same
  server, same concurrency (100 in flight); best of 3 rounds each.

    python bench/devices.py          # a readable table
    python bench/devices.py --json   # one JSON object
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

# `python bench/devices.py` puts bench/ first on the path: its helpers import as modules.
import report
from baseline import session_per_request_get, timed
from yarl import URL

from qwidgets.client.braket.devices import AsyncDeviceClient
from qwidgets.protocol.sigv4 import access_key_id, sign_request

GAUGES = 10
POLL_INTERVAL = 2.0
IDLE_SECONDS = 10.0
TASKS = 1_000
IN_FLIGHT = 100
ROUNDS = 3
AURORA = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12"  # tasks stay queued there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(directory: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port, token = free_port(), secrets.token_urlsafe(24)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwidgets.sim", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--token", token, "--data-dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the simulator did not start") from None
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}", token


async def idle_poll_cpu(client: AsyncDeviceClient) -> dict[str, float]:
    from qwidgets.widgets.gauges import DeviceQueueGauges

    widgets = [DeviceQueueGauges(client=client, poll_interval=POLL_INTERVAL)
               for _ in range(GAUGES)]
    await asyncio.sleep(POLL_INTERVAL + 0.5)  # first polls (device list) out of the way
    polls = sum(w.polls for w in widgets)
    requests = client.http_client.attempts
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(IDLE_SECONDS)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    polls = sum(w.polls for w in widgets) - polls
    requests = client.http_client.attempts - requests
    shown = len(widgets[0].devices)
    errors = [w.error for w in widgets if w.error]
    for w in widgets:
        w.close()
    if errors:
        raise RuntimeError(f"polling failed: {errors[0]}")
    return {"cpu_percent": 100 * cpu / wall, "polls": polls, "requests": requests,
            "wall": wall, "devices_per_gauge": shown}


async def limited(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def pooled_round(client: AsyncDeviceClient, arns: list[str]) -> float:
    elapsed, infos = await timed(limited([lambda a=a: client.task(a) for a in arns]))
    assert all(i.status in ("CREATED", "QUEUED") for i in infos)
    return elapsed


async def session_per_request_round(url: str, token: str, arns: list[str]) -> float:
    host = url.split("://", 1)[1]

    def one(arn: str) -> Awaitable[dict[str, Any]]:
        path = f"/quantum-task/{quote(arn, safe='')}"
        query = "additionalAttributeNames=QueueInfo"
        headers = sign_request("GET", host, path, query, b"", access_key=access_key_id(token),
                               secret=token, region="us-east-1")
        return session_per_request_get(URL(f"{url}{path}?{query}", encoded=True), headers)

    elapsed, bodies = await timed(limited([lambda a=a: one(a) for a in arns]))
    assert all(b["status"] in ("CREATED", "QUEUED") for b in bodies)
    return elapsed


async def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qwidgets-bench-devices-") as tmp:
        proc, url, token = serve(Path(tmp))
        try:
            client = await AsyncDeviceClient.create(endpoint=url, token=token)
            try:
                idle = await idle_poll_cpu(client)
                # the same without single-flight reads: every widget's every read is sent
                client.http_client.coalesce_reads = False
                unshared = await idle_poll_cpu(client)
                client.http_client.coalesce_reads = True
                tasks = await limited([
                    lambda: client.create_task(AURORA, "OPENQASM 3.0; qubit q; h q;", 1)
                    for _ in range(TASKS)])
                arns = [t.arn for t in tasks]
                await pooled_round(client, arns)  # warm both paths
                await session_per_request_round(url, token, arns)
                opened = client.http_client.connections_opened
                pooled, per_request = [], []
                for _ in range(ROUNDS):
                    pooled.append(await pooled_round(client, arns))
                    per_request.append(await session_per_request_round(url, token, arns))
                opened = client.http_client.connections_opened - opened
            finally:
                await client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "idle_poll_cpu_percent": round(idle["cpu_percent"], 3),
        "tasks_poll_speedup_vs_session_per_request": round(min(per_request) / min(pooled), 2),
        "idle_poll_cpu_percent_reads_not_shared": round(unshared["cpu_percent"], 3),
        "gauges": GAUGES,
        "poll_interval_s": POLL_INTERVAL,
        "devices_per_gauge": idle["devices_per_gauge"],
        "idle_seconds": round(idle["wall"], 2),
        "idle_polls": idle["polls"],
        "idle_requests": idle["requests"],
        "idle_requests_reads_not_shared": unshared["requests"],
        "tasks_polled": TASKS,
        "seconds_pooled": round(min(pooled), 4),
        "seconds_session_per_request": round(min(per_request), 4),
        "connections_opened_while_polling": opened,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        (f"{result['gauges']} gauges x {result['devices_per_gauge']} devices, every "
         f"{result['poll_interval_s']:g} s: CPU of this process",
         f"{result['idle_poll_cpu_percent']:.2f} %"),
        ("  polls / requests in the window", f"{result['idle_polls']} / {result['idle_requests']}"),
        ("  the same, concurrent identical reads not shared",
         f"{result['idle_poll_cpu_percent_reads_not_shared']:.2f} %"),
        ("  requests in that window", f"{result['idle_requests_reads_not_shared']}"),
        (f"{result['tasks_polled']} GetQuantumTask, one client",
         f"{result['seconds_pooled'] * 1000:.1f} ms"),
        ("  new TCP connections over all rounds", f"{result['connections_opened_while_polling']}"),
        (f"{result['tasks_polled']} GetQuantumTask, new session per request",
         f"{result['seconds_session_per_request'] * 1000:.1f} ms"),
        ("speedup", f"{result['tasks_poll_speedup_vs_session_per_request']:.2f}x"),
    ]
    return report.table(rows, value_width=12)


if __name__ == "__main__":
    report.main(__doc__, run, table)
