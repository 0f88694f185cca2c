"""The server's cross-cutting layers: JSON errors (never an HTML page, never a 500 for bad
input), bearer-token auth with one namespace per token and a back-off for wrong tokens, the
body-size limit of each route, and idempotent replay of POSTs that carry an
``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import http_exceptions, web, web_protocol

from qwidgets.errors import ValidationError
from qwidgets.protocol import strict_json
from qwidgets.protocol.qcog_wire import BodyTooLargeError, MalformedInputError
from qwidgets.sim.server.limits import QuotaExceededError, ServerLimits
from qwidgets.sim.server.store import Store, StoredResponse, namespace
from qwidgets.sim.server.throttle import AuthThrottle, client_address

log = logging.getLogger("qwidgets.sim.server.app")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# request key of the caller's namespace (typed keys exist from aiohttp 3.13 on)
NS: Any = web.RequestKey("qwidgets_ns", str) if hasattr(web, "RequestKey") else "qwidgets_ns"
# the idempotency record a streamed (multipart) request completes once its body is hashed
REPLAY: Any = web.RequestKey("qwidgets_replay", object) if hasattr(
    web, "RequestKey") else "qwidgets_replay"
MAX_KEY_LEN = 255
# Braket's REST routes answer errors in AWS's shape (boto3 cannot read the qcog one)
_AWS_PATH = re.compile(r"/(quantum-tasks?|devices?|jobs?)(/.*)?")
# what a client's going away looks like to a handler reading its body
DISCONNECTS = (ConnectionResetError, BrokenPipeError)

_KINDS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
          415: "unsupported_media_type", 422: "validation", 429: "too_many_requests"}


class ApiError(Exception):
    """An error answer other than a validation failure (404, 409, ...)."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 fix: str | None = None, kind: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or _KINDS.get(status, "error")
        self.field = field
        self.fix = fix
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.kind, "message": str(self), "field": self.field, "fix": self.fix}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    """A JSON answer that never carries NaN or Infinity (``strict_json.dumps``)."""
    return web.json_response(body, status=status, headers=headers, dumps=strict_json.dumps)


def json_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None
               ) -> web.Response:
    return json_response(body, status, headers)


def error_response(exc: BaseException) -> web.Response | None:
    """The JSON answer for an expected error; None for anything unexpected."""
    if isinstance(exc, ValidationError):
        return json_error(400 if isinstance(exc, MalformedInputError) else 422, exc.to_dict())
    if isinstance(exc, ApiError):
        return json_error(exc.status, exc.to_dict(), exc.headers)
    if isinstance(exc, QuotaExceededError):
        return json_error(exc.status, ApiError(exc.status, str(exc), field=exc.field,
                                               fix=exc.fix, kind="quota_exceeded").to_dict())
    if isinstance(exc, BodyTooLargeError):
        return json_error(413, ApiError(413, str(exc), field=exc.field,
                                        fix="send a smaller dataset (fewer rows or columns) or "
                                        "ask the server's operator for a larger "
                                        "--max-dataset-mb").to_dict())
    if isinstance(exc, (web_protocol.RequestPayloadError, http_exceptions.HttpProcessingError)):
        # a Content-Encoding that does not decode, a chunked body cut short
        return json_error(400, ApiError(
            400, f"the request body could not be read ({type(exc).__name__}: "
            f"{str(exc).strip()[:120]})", field="body",
            fix="send the body whole; with Content-Encoding gzip or deflate it must be "
            "compressed data, else send it uncompressed").to_dict())
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


def aws_shaped(request: web.Request) -> bool:
    """Whether ``request`` is one of Braket's REST routes, answered in AWS's error shape."""
    return _AWS_PATH.fullmatch(request.path) is not None


def aws_error(status: int, message: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> web.Response:
    """The error shape botocore parses for rest-json services (``x-amzn-ErrorType``)."""
    code = code or ("InternalServerException" if status >= 500 else
                    "ThrottlingException" if status == 429 else
                    "AccessDeniedException" if status in (401, 403) else
                    "ResourceNotFoundException" if status == 404 else "ValidationException")
    return web.json_response({"message": message, "code": code}, status=status,
                             headers={"x-amzn-ErrorType": code, **(headers or {})})


class _Tracebacks:
    """Each distinct failure (exception type and where it was raised) logs its traceback
    once; a repeat logs one line, so a loop of the same bug cannot fill the disk."""

    def __init__(self, limit: int = 1000) -> None:
        self.seen: set[tuple[str, str, int]] = set()
        self.limit = limit

    def first(self, exc: BaseException) -> bool:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = (type(exc).__name__, tb.tb_frame.f_code.co_filename if tb else "",
                 tb.tb_lineno if tb else 0)
        if where in self.seen:
            return False
        if len(self.seen) < self.limit:
            self.seen.add(where)
        return True


_TRACEBACKS = _Tracebacks()


def log_unexpected(logger: logging.Logger, request: web.Request, exc: BaseException) -> None:
    """Log an error no handler expected: its traceback the first time this failure (type and
    place) is seen, one line each time after."""
    if _TRACEBACKS.first(exc):
        logger.error("unexpected error on %s %s", request.method, request.path,
                     exc_info=(type(exc), exc, exc.__traceback__))
    else:
        logger.error("unexpected error on %s %s: %s (traceback logged before)",
                     request.method, request.path, type(exc).__name__)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except asyncio.CancelledError:
        raise
    except DISCONNECTS as exc:
        # the client went away (mid-body, or before the answer): expected, one line
        log.info("client disconnected during %s %s (%s)", request.method, request.path,
                 type(exc).__name__)
        return json_error(400, ApiError(400, "the client disconnected").to_dict())
    except Exception as exc:
        response = error_response(exc)
        if response is not None:
            if aws_shaped(request):
                body = strict_json.loads(response.body) if isinstance(response.body, bytes) \
                    else {}
                message = str(body.get("message", ""))
                if body.get("fix") and "Fix:" not in message:
                    message += f". Fix: {body['fix']}"
                return aws_error(response.status, message,
                                 headers={k: v for k, v in response.headers.items()
                                          if k == "Retry-After"})
            return response
        if isinstance(exc, web.HTTPException):
            raise  # redirects and other non-error answers
        log_unexpected(log, request, exc)
        message = (f"internal error in the simulator ({type(exc).__name__}); it is logged "
                   "on the server")
        if aws_shaped(request):
            return aws_error(500, message)
        return json_error(500, {"error": "internal", "field": None, "fix": None,
                                "message": message})


def throttled(throttle: AuthThrottle, request: web.Request, field: str) -> ApiError | None:
    """The 429 for an address that sent too many wrong tokens lately, else None."""
    wait = throttle.retry_after(client_address(request.remote))
    if wait is None:
        return None
    return ApiError(429, f"too many refused tokens from this address; try again in {wait} s",
                    field=field, fix="check the token: it is the one the server was started "
                    "with (or printed)", kind="too_many_requests",
                    headers={"Retry-After": str(wait)})


def token_namespace(token: str, digests: set[str] | list[str]) -> str | None:
    """The namespace of ``token`` if the server accepts it. Every digest is compared, in
    constant time, so the answer time reveals nothing about the token."""
    given = namespace(token)
    accepted = False
    for digest in digests:
        accepted |= hmac.compare_digest(given, digest)
    return given if accepted else None


def auth_middleware(tokens: set[str], throttle: AuthThrottle | None = None
                    ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Bearer-token auth of the qcog routes under ``/api/``; each accepted token maps to its
    own namespace. Routes of other protocols (Braket's REST, the federated-learning routes)
    cannot send a bearer header from their public clients, so each of those route modules
    authenticates its own requests (``request[NS]`` must be set before any data is touched)."""
    digests = {namespace(t) for t in tokens}
    guard = throttle or AuthThrottle()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        refused = throttled(guard, request, "Authorization")
        if refused is not None:
            raise refused
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "missing bearer token", field="Authorization",
                           fix="send the header 'Authorization: Bearer <token>'")
        ns = token_namespace(token, digests)
        if ns is None:
            guard.failed(client_address(request.remote))
            raise ApiError(401, "the token is not accepted by this server",
                           field="Authorization",
                           fix="send 'Authorization: Bearer <token>' with the token the "
                           "server was started with (or printed)")
        request[NS] = ns
        return await handler(request)

    return middleware


def body_limit_middleware(limits: ServerLimits | int
                          ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Each route's body limit (``ServerLimits.body_limit``): a declared oversized body is
    refused before a byte of it is read, and the request the handler gets stops reading at
    the limit (also for a body of undeclared length, and counted after Content-Encoding is
    undone, so a small gzip body cannot inflate past it)."""
    bounds = limits if isinstance(limits, ServerLimits) else ServerLimits(max_body_bytes=limits)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        limit, option = bounds.body_limit(request.method, request.path)
        length = request.content_length
        if length is not None and length > limit:
            raise _too_large(limit, option, f"{length} bytes declared")
        try:
            return await handler(request.clone(client_max_size=limit))
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(limit, option, "more was sent") from None

    return middleware


def _too_large(limit: int, option: str, found: str) -> ApiError:
    return ApiError(413, f"the request body is larger than this route's limit of {limit} "
                    f"bytes ({found})", field="body",
                    fix=f"send less (a smaller dataset or update), or ask the server's "
                    f"operator for a larger {option}")


def idempotency_middleware(store: Store) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A POST with ``Idempotency-Key`` runs once per (namespace, key); replays get the stored
    answer, and a different request under a used key gets 409. Concurrent duplicates wait for
    the first one instead of running in parallel.

    A multipart body is streamed by its handler, not read here: the handler hashes it as it
    arrives and completes the fingerprint through ``request[REPLAY]`` (``Replay.check``),
    which also decides between a replay, a 409 and a first run."""
    locks: dict[tuple[str, str], _KeyLock] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return await handler(request)
        if not key or len(key) > MAX_KEY_LEN or not key.isprintable() \
                or strict_json.has_surrogate(key):
            raise ValidationError("Idempotency-Key", key, f"must be 1 to {MAX_KEY_LEN} "
                                  "printable characters", "send a fresh uuid4 per operation")
        ns = request[NS]
        streamed = request.content_type == "multipart/form-data"
        url = _url_digest(request)
        entry = locks.setdefault((ns, key), _KeyLock())
        entry.users += 1
        try:
            async with entry.lock:
                stored = store.stored_response(ns, key)
                replay = Replay(url, stored)
                if streamed:
                    request[REPLAY] = replay
                else:
                    answer = replay.check(hashlib.sha256(await request.read()).hexdigest())
                    if answer is not None:
                        return answer
                try:
                    response = await handler(request)
                except Exception as exc:
                    answer = error_response(exc)
                    if answer is None:
                        raise
                    response = answer
                if (replay.fingerprint is not None and isinstance(response, web.Response)
                        and response.status < 500 and isinstance(response.body, bytes)
                        and not response.headers.get("Idempotent-Replayed")):
                    store.store_response(ns, key, StoredResponse(
                        replay.fingerprint, response.status, response.content_type,
                        response.body))
                return response
        finally:
            entry.users -= 1
            if entry.users == 0:
                locks.pop((ns, key), None)

    return middleware


@dataclass
class Replay:
    """The idempotency record of one request: what is stored under its key, and its own
    fingerprint once the body's digest is known."""

    url_digest: str
    stored: StoredResponse | None
    fingerprint: str | None = None

    def check(self, body_digest: str) -> web.Response | None:
        """The stored answer to replay, None to run the request, or a 409 (raised) when the
        key was used for a different request."""
        self.fingerprint = hashlib.sha256(f"{self.url_digest}:{body_digest}".encode()
                                          ).hexdigest()
        stored = self.stored
        if stored is None:
            return None
        if not hmac.compare_digest(stored.fingerprint, self.fingerprint):
            raise ApiError(409, "this Idempotency-Key was used for a different request",
                           field="Idempotency-Key",
                           fix="use a new key for each distinct operation",
                           kind="idempotency_conflict")
        return web.Response(status=stored.status, body=stored.body,
                            content_type=stored.content_type,
                            headers={"Idempotent-Replayed": "true"})


@dataclass
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


def _url_digest(request: web.Request) -> str:
    return hashlib.sha256(f"{request.method} {request.path.rstrip('/')}?"
                          f"{request.query_string}".encode("utf-8", "surrogatepass")
                          ).hexdigest()
