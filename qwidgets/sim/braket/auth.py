"""Authentication of Braket-protocol requests (devices, quantum tasks, hybrid jobs, the result
objects) with AWS Signature Version 4, the only scheme boto3 and amazon-braket-sdk can send.

The scheme, for a server started with token ``T``:

- secret access key = ``T``. The server recomputes every request's signature with it, so a
  request must come from someone holding the token, its body cannot be altered in transit, and
  a captured request stops working after ``MAX_SKEW_S`` (its ``X-Amz-Date`` is signed).
- access key id = ``access_key_id(T)`` (``QW`` + 18 characters of a hash of the token: safe to
  show, it reveals nothing), or ``T`` itself, which is simpler to type but then travels in
  clear text in every request's Credential field.
- region: any; service: ``braket`` (``s3`` for the result objects).

    boto3.client("braket", endpoint_url=server.url, region_name="us-east-1",
                  aws_access_key_id=access_key_id(token), aws_secret_access_key=token)

Each token is its own namespace (the same one as its qcog bearer requests). A refused request
gets a 403 in Braket's shape (``UnrecognizedClientException``, ``InvalidSignatureException``,
``MissingAuthenticationTokenException``), which boto3 raises as a ``ClientError``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from qwidgets.protocol.sigv4 import (
    EMPTY_SHA256,
    UNSIGNED_HEADERS,
    UNSIGNED_PAYLOAD,
    access_key_id,
    canonical_request,
    parse_amz_date,
    parse_authorization,
    signature,
)
from qwidgets.sim.braket.wire import BraketError, Handler, braket_errors
from qwidgets.sim.server.middleware import NS
from qwidgets.sim.server.store import namespace
from qwidgets.sim.server.throttle import THROTTLE, client_address

MAX_SKEW_S = 15 * 60  # what AWS allows between a request's signed date and the server clock


@dataclass(frozen=True)
class Caller:
    """Who signed a request: namespace, and the region and service of the signature scope."""

    ns: str
    region: str
    service: str
    access_key: str
    session: str | None = None  # the job name, for a hybrid job's temporary credentials


@dataclass(frozen=True)
class Session:
    """Temporary credentials of a running hybrid job: its namespace, never the token."""

    ns: str
    name: str
    secret: str
    token: str


class BraketKeys:
    """The server's accepted tokens, found by access key id in constant time per key, and the
    temporary credentials of running hybrid jobs (like the execution role's credentials that
    Braket hands a job's container), valid until the job ends."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._by_key: dict[str, str] = {}
        for token in tokens:
            self._by_key[token] = token
            self._by_key[access_key_id(token)] = token
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open_session(self, ns: str, name: str) -> tuple[str, Session]:
        """New credentials for namespace ``ns``: ``(access key id, session)``."""
        key = "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                               for _ in range(16))
        session = Session(ns, name, secrets.token_urlsafe(30), secrets.token_urlsafe(48))
        with self._lock:
            self._sessions[key] = session
        return key, session

    def close_session(self, access_key: str) -> None:
        with self._lock:
            self._sessions.pop(access_key, None)

    def session(self, access_key: str) -> Session | None:
        with self._lock:
            return self._sessions.get(access_key)

    def secret_for(self, access_key: str) -> str | None:
        found = None
        given = access_key.encode("utf-8", "surrogatepass")  # a stray byte: no key, no error
        for key, token in self._by_key.items():
            if hmac.compare_digest(key.encode(), given):
                found = token
        return found


def account_id(ns: str) -> str:
    """A stable 12-digit account id per namespace: the ARNs of a caller's quantum tasks and
    hybrid jobs need one, and share it."""
    return f"{int(ns[:12], 16) % 10**12:012d}"


KEYS = web.AppKey("qwidgets_braket_keys", BraketKeys)
CALLER: Any = web.RequestKey("qwidgets_braket_caller", Caller) if hasattr(
    web, "RequestKey") else "qwidgets_braket_caller"


def install(app: web.Application, tokens: Iterable[str]) -> None:
    """Let ``braket_namespace`` accept ``tokens`` on this app (called by ``make_app``)."""
    app[KEYS] = BraketKeys(tokens)


async def braket_namespace(request: web.Request) -> str:
    """Authenticate a SigV4-signed request, set ``request[NS]`` (and ``request[CALLER]``) and
    return the namespace; raise ``BraketError`` (403) if the request is not signed with an
    accepted token. Reads (and so buffers) the body to check its hash."""
    caller = await authenticate(request)
    request[NS] = caller.ns
    request[CALLER] = caller
    return caller.ns


def authenticated(handler: Handler) -> Handler:
    """Decorate a Braket route: authenticate first, answer errors in Braket's shape."""

    @braket_errors
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        await braket_namespace(request)
        return await handler(request)

    return wrapped


async def authenticate(request: web.Request,
                       now: datetime | None = None) -> Caller:
    """The caller of a SigV4-signed request. The order is the point: what the headers alone
    can refute is refuted first (the scope's service against the route, the key, the date,
    the signature itself whenever ``X-Amz-Content-SHA256`` declares the payload hash), so a
    forged request costs no read of its body; only a request without that header (boto3's
    braket client sends none) has its body, bounded by its route's limit, read to sign."""
    header = request.headers.get("Authorization")
    if not header:
        raise BraketError(403, "MissingAuthenticationTokenException",
                          "Missing Authentication Token: sign the request with AWS Signature "
                          "Version 4, secret access key = the server's token")
    auth = parse_authorization(header)
    if auth is None or not all(v.isascii() and v.isprintable() for v in auth.values()):
        raise BraketError(403, "IncompleteSignatureException",
                          "the Authorization header is not an AWS4-HMAC-SHA256 signature "
                          "(Credential=.../aws4_request, SignedHeaders=..., Signature=...) "
                          "of printable ASCII")
    s3 = request.path == "/s3" or request.path.startswith("/s3/")
    _check_scope_service(request.path, auth["service"], s3)
    throttle = request.app.get(THROTTLE)
    who = client_address(request.remote)
    wait = throttle.retry_after(who) if throttle is not None else None
    if wait is not None:
        raise BraketError(429, "ThrottlingException", f"Rate exceeded: too many refused "
                          f"signatures from this address; try again in {wait} s")
    keys = request.app[KEYS]
    session = keys.session(auth["access_key"])
    if session is not None:
        sent = request.headers.get("X-Amz-Security-Token", "")
        if not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"),
                                   session.token.encode()):
            raise BraketError(403, "InvalidClientTokenId", "The security token included in "
                              "the request is invalid (the job's session token)")
    secret = session.secret if session is not None else keys.secret_for(auth["access_key"])
    if secret is None:
        if throttle is not None:
            throttle.failed(who)
        raise BraketError(403, "UnrecognizedClientException",
                          "The security token included in the request is invalid: the access "
                          "key id must be access_key_id(token) (or the token) of a token this "
                          "server accepts")
    when = request.headers.get("X-Amz-Date", "")
    try:
        signed_at = parse_amz_date(when)
    except ValueError:
        raise BraketError(403, "IncompleteSignatureException",
                          f"X-Amz-Date must be like 20240101T120000Z, got {when[:40]!r}") from None
    if when[:8] != auth["date"]:
        raise BraketError(403, "InvalidSignatureException",
                          "the credential scope date does not match X-Amz-Date")
    skew = abs(((now or datetime.now(timezone.utc)) - signed_at).total_seconds())
    if skew > MAX_SKEW_S:
        raise BraketError(403, "InvalidSignatureException",
                          f"Signature expired: the request was signed at {when}, more than "
                          f"{MAX_SKEW_S // 60} minutes from the server's time (check the clock)")
    names = auth["signed_headers"].split(";")
    if "host" not in names or any(n in UNSIGNED_HEADERS for n in names):
        raise BraketError(403, "InvalidSignatureException",
                          "SignedHeaders must include host and no hop-by-hop header")
    headers = {name: request.headers.getall(name, []) for name in names}
    declared = request.headers.get("X-Amz-Content-SHA256")
    unsigned = declared == UNSIGNED_PAYLOAD or (declared or "").startswith("STREAMING-")
    if declared is not None and not (unsigned and s3) and not _is_sha256(declared):
        raise BraketError(403, "InvalidSignatureException",
                          f"X-Amz-Content-SHA256 must be the payload's SHA-256 in hex"
                          f"{'' if s3 else ' (UNSIGNED-PAYLOAD is for S3 objects only)'}, "
                          f"got {declared[:70]!r}")
    url = request.rel_url

    def verify(payload: str) -> None:
        canonical = canonical_request(request.method, url.raw_path, url.raw_query_string,
                                      headers, names, payload, s3=auth["service"] == "s3")
        expected = signature(secret, when, auth["region"], auth["service"], canonical)
        if not hmac.compare_digest(expected, auth["signature"]):
            if throttle is not None:
                throttle.failed(who)
            raise BraketError(403, "InvalidSignatureException",
                              "The request signature we calculated does not match the "
                              "signature you provided: the secret access key must be the "
                              "server's token")

    if declared is not None:
        verify(declared)
        if not unsigned:
            body = await request.read()
            actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
            if not hmac.compare_digest(declared.lower(), actual):
                raise BraketError(400, "XAmzContentSHA256Mismatch",
                                  "the body does not match its X-Amz-Content-SHA256 hash")
    else:
        body = await request.read()
        verify(hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256)
    if session is not None:
        return Caller(session.ns, auth["region"], auth["service"], auth["access_key"],
                      session.name)
    return Caller(namespace(secret), auth["region"], auth["service"], auth["access_key"])


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)


def _check_scope_service(path: str, service: str, s3: bool) -> None:
    """A signature is valid for the service its scope names: S3 objects take ``s3`` only,
    Braket's routes ``braket`` only; the query and JSON services on ``/`` (STS, IAM,
    CloudWatch Logs) answer by the service signed, so any is theirs to refuse."""
    if path == "/":
        return
    wanted = "s3" if s3 else "braket"
    if service != wanted:
        raise BraketError(403, "InvalidSignatureException",
                          f"the credential scope names service {service[:40]!r}, but "
                          f"{path[:80]} is served by {wanted!r}: sign the request for "
                          f"{wanted} (boto3.client({wanted!r}, ...))")
