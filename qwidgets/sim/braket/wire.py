"""Amazon Braket's wire conventions on the simulator's side: errors (HTTP status + header
``x-amzn-ErrorType`` + body ``{"message": ...}``, which boto3 turns into a ``ClientError``),
typed access to request bodies, ARNs in paths and timestamps. Signing lives in
``qwidgets.protocol.sigv4``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol import strict_json

log = logging.getLogger("qwidgets.sim.braket")

MAX_RESULTS = 100  # the most one page of SearchDevices or SearchQuantumTasks holds


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BraketError(Exception):
    """An error answer in Braket's shape. ``code`` becomes ``x-amzn-ErrorType`` (and
    ``ClientError.response["Error"]["Code"]`` in boto3)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str, arn: str) -> BraketError:
    return BraketError(404, "ResourceNotFoundException", f"{what} {arn} not found")


def invalid(message: str) -> BraketError:
    return BraketError(400, "ValidationException", message)


def braket_error(status: int, code: str, message: str) -> web.Response:
    """The response boto3 parses into ``ClientError(code, message)``."""
    return web.json_response({"message": message, "code": code}, status=status,
                             headers={"x-amzn-ErrorType": code})


def braket_errors(handler: Handler) -> Handler:
    """Answer ``BraketError`` and ``ValidationError`` in Braket's shape. The server's generic
    error middleware speaks the qcog format, which boto3 cannot read, so Braket handlers catch
    their own errors before it sees them."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BraketError as exc:
            return braket_error(exc.status, exc.code, exc.message)
        except ValidationError as exc:
            return braket_error(400, "ValidationException", str(exc))
        except json.JSONDecodeError as exc:
            return braket_error(400, "ValidationException",
                                f"the request body is not JSON ({exc.msg} at {exc.pos})")

    return wrapped


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body)."""
    raw = await request.read()
    if not raw:
        return {}
    # strict: bytes that are not UTF-8, deep nesting, huge integers and lone surrogates are a
    # ValidationException, not a 500
    body = strict_json.loads(raw, "body")
    if not isinstance(body, dict):
        raise invalid(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *,
          required: bool = True, default: Any = None) -> Any:
    """A typed member of a request body, or a ValidationException naming it."""
    if name not in body or body[name] is None:
        if required:
            raise invalid(f"1 validation error detected: Value null at '{name}' failed to "
                          "satisfy constraint: Member must not be null")
        return default
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise invalid(f"'{name}' must be of type {names}, got {type(value).__name__} "
                      f"{json.dumps(value)[:60]}")
    return value


def path_arn(request: web.Request, name: str) -> str:
    """An ARN from a path segment: boto3 percent-encodes the ``:`` and ``/`` in it, and a
    percent sign may have been encoded twice by a proxy, so unquote until stable."""
    value = request.match_info[name]
    for _ in range(3):
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    return value


def epoch(value: float | None) -> float | None:
    """Timestamps travel as epoch seconds, rest-json's default format."""
    return None if value is None else round(float(value), 3)



def max_results(body: Mapping[str, Any]) -> int:
    """A search's ``maxResults``: 1 to ``MAX_RESULTS``, the service's bounds."""
    limit = field(body, "maxResults", int, required=False, default=MAX_RESULTS)
    if not 1 <= limit <= MAX_RESULTS:
        raise invalid(f"maxResults must be between 1 and {MAX_RESULTS}, got {limit}")
    return int(limit)


def next_token(body: Mapping[str, Any]) -> int:
    """A search's ``nextToken``: the decimal cursor an earlier page answered (0: the start)."""
    token = field(body, "nextToken", str, required=False, default="0")
    # isdigit alone accepts "²", which int() refuses
    if not (token.isascii() and token.isdigit() and len(token) <= 18):
        raise invalid(f"nextToken {token!r} is not one this server issued")
    return int(token)
