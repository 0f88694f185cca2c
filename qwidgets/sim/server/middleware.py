"""The server's cross-cutting layers: JSON errors (never an HTML page, never a 500 for bad
input), bearer-token auth with one namespace per token, the body-size limit, and idempotent
replay of POSTs that carry an ``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol.qcog_wire import BodyTooLargeError, MalformedInputError
from qwidgets.sim.server.store import Store, StoredResponse, namespace

log = logging.getLogger("qwidgets.sim.server.app")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# request key of the caller's namespace (typed keys exist from aiohttp 3.13 on)
NS: Any = web.RequestKey("qwidgets_ns", str) if hasattr(web, "RequestKey") else "qwidgets_ns"
MAX_KEY_LEN = 255

_KINDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
          415: "unsupported_media_type", 422: "validation", 429: "too_many_requests"}


class ApiError(Exception):
    """An error answer other than a validation failure (404, 409, ...)."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 fix: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or _KINDS.get(status, "error")
        self.field = field
        self.fix = fix

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.kind, "message": str(self), "field": self.field, "fix": self.fix}


def json_error(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)


def error_response(exc: BaseException) -> web.Response | None:
    """The JSON answer for an expected error; None for anything unexpected."""
    if isinstance(exc, ValidationError):
        return json_error(400 if isinstance(exc, MalformedInputError) else 422, exc.to_dict())
    if isinstance(exc, ApiError):
        return json_error(exc.status, exc.to_dict())
    if isinstance(exc, BodyTooLargeError):
        return json_error(413, ApiError(413, str(exc), field=exc.field,
                                        fix="send a smaller dataset or ask for a larger "
                                        "max_body_bytes").to_dict())
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return json_error(413, ApiError(
            413, f"the request body is larger than the server's limit ({exc.text})",
            field="body", fix="send a smaller dataset or ask for a larger max_body_bytes",
        ).to_dict())
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        message = exc.reason if exc.status != 404 else "no such route"
        fix = "see the qcog routes under /api/v1/" if exc.status in (404, 405) else None
        return json_error(exc.status, ApiError(exc.status, message, fix=fix).to_dict())
    return None


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        response = error_response(exc)
        if response is not None:
            return response
        if isinstance(exc, web.HTTPException):
            raise  # redirects and other non-error answers
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_error(500, {"error": "internal", "field": None, "fix": None,
                                "message": f"internal error in the simulator "
                                f"({type(exc).__name__}); it is logged on the server"})


def auth_middleware(tokens: set[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Bearer-token auth of the qcog routes under ``/api/``; each accepted token maps to its
    own namespace. Routes of other protocols (Braket's REST, the federated-learning routes)
    cannot send a bearer header from their public clients, so each of those route modules
    authenticates its own requests (``request[NS]`` must be set before any data is touched)."""
    digests = {namespace(t) for t in tokens}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "missing bearer token", field="Authorization",
                           fix="send the header 'Authorization: Bearer <token>'")
        ns = namespace(token)
        # compare digests in constant time so the answer time reveals nothing about the token
        if not any(hmac.compare_digest(ns, d) for d in digests):
            raise ApiError(401, "the token is not accepted by this server",
                           field="Authorization",
                           fix="send 'Authorization: Bearer <token>' with the token the "
                           "server was started with (or printed)")
        request[NS] = ns
        return await handler(request)

    return middleware


def body_limit_middleware(limit: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse a declared oversized body before reading it (aiohttp also stops at the limit
    while reading a body of undeclared length)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=length)
        return await handler(request)

    return middleware


def idempotency_middleware(store: Store) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A POST with ``Idempotency-Key`` runs once per (namespace, key); replays get the stored
    answer. Concurrent duplicates wait for the first one instead of running in parallel."""
    locks: dict[tuple[str, str], _KeyLock] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return await handler(request)
        if not key or len(key) > MAX_KEY_LEN or not key.isprintable():
            raise ValidationError("Idempotency-Key", key, f"must be 1 to {MAX_KEY_LEN} "
                                  "printable characters", "send a fresh uuid4 per operation")
        ns = request[NS]
        fingerprint = await _fingerprint(request)
        entry = locks.setdefault((ns, key), _KeyLock())
        entry.users += 1
        try:
            async with entry.lock:
                stored = store.stored_response(ns, key)
                if stored is not None:
                    if not hmac.compare_digest(stored.fingerprint, fingerprint):
                        raise ApiError(409, "this Idempotency-Key was used for a different "
                                       "request", field="Idempotency-Key",
                                       fix="use a new key for each distinct operation",
                                       kind="idempotency_conflict")
                    return web.Response(status=stored.status, body=stored.body,
                                        content_type=stored.content_type,
                                        headers={"Idempotent-Replayed": "true"})
                try:
                    response = await handler(request)
                except Exception as exc:
                    answer = error_response(exc)
                    if answer is None:
                        raise
                    response = answer
                if (isinstance(response, web.Response) and response.status < 500
                        and isinstance(response.body, bytes)):
                    store.store_response(ns, key, StoredResponse(
                        fingerprint, response.status, response.content_type, response.body))
                return response
        finally:
            entry.users -= 1
            if entry.users == 0:
                locks.pop((ns, key), None)

    return middleware


@dataclass
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


async def _fingerprint(request: web.Request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path.rstrip('/')}?"
                            f"{request.query_string}".encode())
    if request.content_type != "multipart/form-data":
        # multipart bodies are streamed to a file by the handler, so only their URL counts
        digest.update(await request.read())
    return digest.hexdigest()
