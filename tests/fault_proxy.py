"""A fault-injecting HTTP proxy for the client's reliability tests.

It sits between a client and the real simulator server, on its own thread and event loop (so
blocking clients work through it too), and for requests matching a rule it answers 502, 503 or
429, drops the connection (before or after the server ran the request) or answers late. Every
request is logged with whether it reached the server and whether the server replayed a stored
answer, which is how the tests count what the server actually executed. Requests pass on as
the client sent them (raw path, Host), so SigV4-signed ones still verify at the server.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import web
from yarl import URL

FaultKind = Literal["502", "503", "429", "drop_before", "drop_after", "slow_before", "slow_after"]
# Host is kept: a SigV4 signature covers it, so a proxy must pass it on as the client sent it.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Fault:
    """Inject ``kind`` into the next ``times`` requests whose method and path match."""

    kind: FaultKind
    method: str = "*"
    path_contains: str = ""
    times: int = 1
    delay: float = 0.0  # for slow_*: seconds before answering
    retry_after: str | None = None  # for 502/503/429: the Retry-After header sent

    def matches(self, method: str, path: str) -> bool:
        return (self.times > 0 and self.method in ("*", method)
                and self.path_contains in path)


@dataclass
class Entry:
    method: str
    path: str
    idempotency_key: str | None
    fault: str | None
    request_body: bytes = field(default=b"", repr=False)
    reached_server: bool = False
    status: int | None = None
    replayed: bool = False
    body: bytes = field(default=b"", repr=False)
    authorization: str | None = field(default=None, repr=False)
    amz_date: str | None = None  # when a SigV4-signed request says it was signed

    @property
    def route(self) -> str:
        return self.path.partition("?")[0]


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[Fault] = []
        self.log: list[Entry] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(started,), daemon=True,
                                        name="fault-proxy")
        self._thread.start()
        started.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def executed(self, method: str, path: str) -> list[Entry]:
        """Requests to exactly ``path`` (query aside) that the server ran for real: they
        reached it and were not idempotent replays of an earlier answer."""
        return [e for e in self.reached(method, path) if not e.replayed]

    def reached(self, method: str, path: str) -> list[Entry]:
        return [e for e in list(self.log) if e.method == method and e.route == path
                and e.reached_server]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    # ------------------------------------------------------------ serving

    def _main(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs
        fault = self._take_fault(request.method, path)
        entry = Entry(request.method, path, request.headers.get("Idempotency-Key"),
                      fault.kind if fault else None,
                      authorization=request.headers.get("Authorization"),
                      amz_date=request.headers.get("X-Amz-Date"))
        self.log.append(entry)
        body = entry.request_body = await request.read()
        kind = fault.kind if fault else None
        if kind in ("502", "503", "429"):
            headers = {"Retry-After": fault.retry_after} if fault and fault.retry_after else {}
            return web.json_response({"error": "unavailable", "message": "injected by proxy"},
                                     status=int(kind), headers=headers)
        if kind == "drop_before":
            return _drop(request)
        if kind == "slow_before" and fault:
            await asyncio.sleep(fault.delay)
        status, headers, answer = await self._forward(request, body)
        entry.reached_server, entry.status, entry.body = True, status, answer
        entry.replayed = headers.get("Idempotent-Replayed") == "true"
        if kind == "drop_after":
            return _drop(request)
        if kind == "slow_after" and fault:
            await asyncio.sleep(fault.delay)
        return web.Response(status=status, body=answer, headers=headers)

    async def _forward(self, request: web.Request,
                       body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        # the path as the client encoded it: a signature covers the raw path and query
        target = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(request.method, target, data=body,
                                         headers=headers) as resp:
            answer = await resp.read()
            kept = {k: v for k, v in resp.headers.items()
                    if k.lower() in ("content-type", "retry-after", "idempotent-replayed")}
            return resp.status, kept, answer

    def stop(self) -> None:
        async def cleanup() -> None:
            if self._session is not None:
                await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _drop(request: web.Request) -> web.Response:
    """Close the socket without an answer: the client sees a disconnected server."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=599)
