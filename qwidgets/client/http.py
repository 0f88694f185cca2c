"""The transport: one pooled aiohttp session per client, timeouts, retries, idempotency keys,
and the mapping of every failure to the client's own exceptions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

import aiohttp
from yarl import URL

from qwidgets.client.coalesce import SingleFlight
from qwidgets.client.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServerValidationError,
    ServiceUnavailableError,
    UsageError,
)
from qwidgets.client.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from qwidgets.version import __version__

logger = logging.getLogger("qwidgets.client")

# Transient on the network side: the request may be retried as is (POSTs carry their key).
_TRANSIENT = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class Secret:
    """A token that does not show itself: not in repr/str, and refuses to be pickled so it
    cannot end up on disk through a pickled client."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a token is never serialised")

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class FilePart:
    """One multipart file field; kept as bytes so every retry can rebuild the form."""

    name: str
    filename: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class PreparedRequest:
    """One logical call as every attempt of it is sent. ``headers`` runs before each attempt,
    so a header that carries the time (a SigV4 signature) is made afresh for every retry."""

    url: str | URL
    params: Mapping[str, str] | None = None
    json_body: Any = None
    body: bytes | None = None  # sent as is; what a signature covers must be these bytes
    file: FilePart | None = None
    headers: Callable[[], Mapping[str, str] | None] = lambda: None

    def data(self) -> bytes | aiohttp.FormData | None:
        # a form is consumed by sending it: each attempt gets its own
        return _form(self.file) if self.file is not None else self.body


class HttpClient:
    """JSON over HTTP to ``base_url`` (``.../api/v1``) with a Bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        coalesce_reads: bool = True,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be > 0 seconds")
        self._base_url = base_url.rstrip("/")
        self._token = Secret(token)
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.retry = retry or RetryPolicy()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self.coalesce_reads = coalesce_reads
        self._reads: SingleFlight[tuple[int, bytes]] = SingleFlight()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Counters read by tests and the benchmark: requests sent (retries included), retries,
        # and TCP connections opened (few, if pooling works).
        self.attempts = 0
        self.retries = 0
        self.connections_opened = 0

    @property
    def reads_joined(self) -> int:
        """GETs answered by a concurrent identical GET instead of a request of their own."""
        return self._reads.joined

    @property
    def max_connections(self) -> int:
        """Size of the connection pool: requests beyond it wait for a free connection."""
        return self._max_connections

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def timeout(self) -> float:
        return float(self._timeout.total or 0)

    def __repr__(self) -> str:
        return f"HttpClient({self._base_url!r})"

    # ------------------------------------------------------------ session lifecycle

    def _session_for_running_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed:
            if self._loop is loop:
                return self._session
            if self._loop is not None and not self._loop.is_closed():
                raise UsageError(
                    "this client's connections belong to another running event loop; "
                    "create one client per loop (or use QcogClient from threads)")
            # The old loop is gone (e.g. an earlier asyncio.run); its sockets went with it.
            self._session.detach()
        connector = _CountingConnector(self, limit=self._max_connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout,
            headers={"User-Agent": f"qwidgets/{__version__}", "Accept": "application/json",
                     "Authorization": f"Bearer {self._token.reveal()}"})
        self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ requests

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(
        self,
        path: str,
        json_body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        file: FilePart | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        return await self.request("POST", path, json_body=json_body, params=params, file=file,
                                  idempotency_key=idempotency_key)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        file: FilePart | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send until success, a definitive error, or the retry budget is spent; return the
        decoded JSON or raise the client's exception for the answer."""
        prepared = self.prepare(method, path, json_body=json_body, params=params, file=file,
                                idempotency_key=idempotency_key)
        if method == "GET" and self.coalesce_reads:
            key = (path, tuple(sorted((params or {}).items())))
            try:
                status, raw = await self._reads.run(key, lambda: self._send(method, path,
                                                                            prepared))
            except ServiceUnavailableError as exc:
                # a fresh exception per caller: callers sharing a request share no object
                raise ServiceUnavailableError(exc.method, exc.path, exc.attempts,
                                              exc.last_cause) from None
        else:
            self._reads.invalidate()
            try:
                status, raw = await self._send(method, path, prepared)
            finally:
                self._reads.invalidate()
        if 200 <= status < 300:
            return _decode_success(status, raw)
        raise error_for(status, _decode_error(raw))

    def prepare(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        file: FilePart | None = None,
        idempotency_key: str | None = None,
    ) -> PreparedRequest:
        """How one logical call goes on the wire, made once and sent by every attempt. A
        client that authenticates otherwise (a SigV4-signing one) overrides this and keeps
        the retry loop."""
        # The token travels in the session's own headers: a GET adds none of its own.
        headers: dict[str, str] | None = None
        if method != "GET":
            # One key per logical call, reused by every retry: the server executes it once.
            headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return PreparedRequest(
            f"{self._base_url}/{path.lstrip('/')}", params=params,
            json_body=json_body if file is None else None, file=file,
            headers=lambda: headers)

    async def _send(self, method: str, path: str,
                    prepared: PreparedRequest) -> tuple[int, bytes]:
        """The attempts of one logical call: ``(status, body)`` of a definitive answer. The
        only retry loop of the client: every transport sends through it."""
        policy = self.retry
        last_cause = ""
        for attempt in range(1, policy.attempts + 1):
            session = self._session_for_running_loop()
            retry_after: float | None = None
            started = time.perf_counter()
            self.attempts += 1
            try:
                async with session.request(
                    method, prepared.url, params=prepared.params, headers=prepared.headers(),
                    json=prepared.json_body, data=prepared.data(),
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    if status in RETRY_STATUSES:
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except _TRANSIENT as exc:
                last_cause = _describe(exc, self.timeout)
            except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
                raise UsageError(f"invalid URL {str(prepared.url)!r}: {_describe(exc, 0)}; "
                                 "give an http(s) URL") from None
            except aiohttp.ClientError as exc:
                raise ServiceUnavailableError(method, path, attempt, _describe(exc, 0)) from None
            else:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("%s %s -> %s in %.1f ms (attempt %d)", method, path, status,
                                 (time.perf_counter() - started) * 1000, attempt)
                if status not in RETRY_STATUSES:
                    return status, raw
                body = _decode_error(raw)
                last_cause = f"HTTP {status}: {body.get('message') or body.get('error') or ''}"
            if attempt == policy.attempts:
                break
            if retry_after is not None and retry_after > policy.max_retry_after:
                break  # waiting that long inside a call would look like a hang
            wait = policy.delay(attempt, retry_after)
            self.retries += 1
            logger.warning("%s %s failed (%s); retry %d/%d in %.2f s", method, path,
                           last_cause.strip(), attempt, policy.attempts - 1, wait)
            await asyncio.sleep(wait)
        raise ServiceUnavailableError(method, path, attempt, last_cause.strip())


class _CountingConnector(aiohttp.TCPConnector):
    """Counts the TCP connections it opens. (A TraceConfig could count them too, but tracing
    makes every request send half a dozen signals, on the path every pooled request takes.)"""

    def __init__(self, owner: HttpClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner

    async def _create_connection(self, *args: Any, **kwargs: Any) -> Any:
        protocol = await super()._create_connection(*args, **kwargs)
        self._owner.connections_opened += 1
        return protocol


def _form(file: FilePart) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(file.name, file.content, filename=file.filename,
                   content_type=file.content_type)
    return form


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, asyncio.TimeoutError) and not str(exc):
        return f"timed out after {timeout:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _decode_success(status: int, raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(status, f"response is not JSON: {raw[:120]!r}") from None


def _decode_error(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = raw.decode("utf-8", "replace").strip()
    return {"message": text[:300]}


def error_for(status: int, body: dict[str, Any]) -> Exception:
    """The client's exception for a definitive (non-retried) error answer."""
    message = str(body.get("message") or body.get("error") or "no message")
    if status in (401, 403):
        return AuthenticationError(status, message, body)
    if status == 404:
        return NotFoundError(status, message, body)
    if status == 409:
        return ConflictError(status, message, body)
    if status in (400, 413, 422):
        return ServerValidationError(status, body)
    return ApiError(status, message, body)
