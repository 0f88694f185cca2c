"""The hardening battery, part two: authentication. SigV4 on the Braket routes (the headers'
signature before any body, the payload hash required off ``/s3/``, the scope's service checked),
Braket's 500s in AWS's shape, wrong tokens backed off per address on every family, and
multipart idempotency."""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from qwidgets.protocol.sigv4 import access_key_id, sign_request
from qwidgets.sim import SimServer
from qwidgets.sim.braket.auth import authenticated
from qwidgets.sim.server.app import make_app
from qwidgets.sim.server.limits import ServerLimits
from tests.battery_support import (
    TIMEOUT_S,
    Wire,
    assert_refused,
    battery_report,  # noqa: F401
    count,
    dumps,
    multipart,
    read_reply,
    tapped,
)
from tests.fixtures import StartSim
from tests.server_support import gzip_upload, linear_frame

TOKEN = "auth-battery-token-51d2"


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    return start_sim(token=TOKEN, limits=ServerLimits(auth_failures=5))


@pytest.fixture
def wire(server: SimServer) -> Wire:
    return Wire(server.url, TOKEN)


def _signed_head(wire: Wire, method: str, path: str, body: bytes, *, service: str = "braket",
                 payload: str | None = None, secret: str = TOKEN, length: int | None = None
                 ) -> bytes:
    """Request headers signed for ``body``; ``payload`` replaces the declared hash after
    signing is computed for it (so the signature covers the declared value)."""
    headers = sign_request(method, f"{wire.host}:{wire.port}", path, "", body,
                           access_key=access_key_id(TOKEN), secret=secret,
                           region="us-east-1", service=service)
    if payload is not None:
        from qwidgets.protocol.sigv4 import canonical_request, signature

        stamp = headers["X-Amz-Date"]
        names = ["host", "x-amz-content-sha256", "x-amz-date"]
        values = {"host": [f"{wire.host}:{wire.port}"], "x-amz-date": [stamp],
                  "x-amz-content-sha256": [payload]}
        canonical = canonical_request(method, path, "", values, names, payload,
                                      s3=service == "s3")
        sig = signature(secret, stamp, "us-east-1", service, canonical)
        headers["X-Amz-Content-SHA256"] = payload
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key_id(TOKEN)}/"
                                    f"{stamp[:8]}/us-east-1/{service}/aws4_request, "
                                    f"SignedHeaders={';'.join(names)}, Signature={sig}")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {wire.host}:{wire.port}",
             "Connection: close", f"Content-Length: {len(body) if length is None else length}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_forged_signature_is_refused_before_the_body_is_sent(wire: Wire) -> None:
    """The client sends only the headers of a 3 MB body: a server that read the body before
    checking the signature would wait for it (the socket's timeout would end the test)."""
    body = b"x" * 3_000_000
    head = _signed_head(wire, "POST", "/quantum-task", body, secret="not-the-token",
                        payload=hashlib.sha256(body).hexdigest())
    with socket.create_connection((wire.host, wire.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(head)
        reply = read_reply(sock)
    count("braket")
    assert reply.status == 403, reply.body
    assert reply.headers["x-amzn-errortype"] == "InvalidSignatureException"


def test_a_declared_body_past_the_route_limit_is_refused_unread(wire: Wire) -> None:
    head = _signed_head(wire, "POST", "/quantum-task", b"{}", length=200 << 20)
    with socket.create_connection((wire.host, wire.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(head)
        reply = read_reply(sock)
    count("braket")
    assert reply.status == 413, reply.body
    assert reply.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert "--max-json-mb" in reply.json()["message"]


def test_unsigned_payload_is_refused_off_s3(wire: Wire) -> None:
    for path, body in (("/devices", b"{}"), ("/quantum-task", b'{"shots": 1}')):
        head = _signed_head(wire, "POST", path, body, payload="UNSIGNED-PAYLOAD")
        altered = body.replace(b"}", b', "x": 1}')
        for sent in (body, altered):
            reply = wire.send(head.replace(f"Content-Length: {len(body)}".encode(),
                                           f"Content-Length: {len(sent)}".encode()), sent)
            count("braket")
            assert reply.status == 403, reply.body
            assert "UNSIGNED-PAYLOAD" in reply.json()["message"]


def test_unsigned_payload_still_works_on_s3(wire: Wire) -> None:
    head = _signed_head(wire, "GET", "/s3/", b"", service="s3", payload="UNSIGNED-PAYLOAD")
    reply = wire.send(head)
    count("aws")
    assert reply.status == 200, reply.body


def test_an_altered_body_under_a_declared_hash_is_refused(wire: Wire) -> None:
    body = dumps({"maxResults": 5})
    head = _signed_head(wire, "POST", "/devices", body,
                        payload=hashlib.sha256(body).hexdigest())
    reply = wire.send(head, dumps({"maxResults": 6}))
    count("braket")
    assert reply.status == 400, reply.body
    assert reply.headers["x-amzn-errortype"] == "XAmzContentSHA256Mismatch"


@pytest.mark.parametrize(("service", "path"), [("s3", "/devices"), ("s3", "/jobs"),
                                               ("sts", "/quantum-tasks"), ("braket", "/s3/")])
def test_the_scope_service_must_be_the_routes(wire: Wire, service: str, path: str) -> None:
    body = b"" if path.startswith("/s3") else b"{}"
    reply = wire.signed("GET" if path.startswith("/s3") else "POST", path, body,
                        service=service)
    count("aws" if path.startswith("/s3") else "braket")
    assert reply.status == 403, reply.body
    if not path.startswith("/s3"):
        assert reply.headers["x-amzn-errortype"] == "InvalidSignatureException"
        assert "sign the request for braket" in reply.json()["message"]


def test_the_right_service_passes(wire: Wire) -> None:
    assert wire.signed("POST", "/devices", b"{}").status == 200
    assert wire.signed("GET", "/s3/", service="s3").status == 200
    count("braket")
    count("aws")


@pytest.mark.parametrize("credential", [b"caf\xe9", b"\xff\xfe\xfd", "QWé".encode()])
def test_non_ascii_credentials_are_a_403(wire: Wire, credential: bytes) -> None:
    reply = wire.request("POST", "/devices", b"{}", bearer=False, raw_headers=(
        b"X-Amz-Date: 20240101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential="
        + credential + b"/20240101/us-east-1/braket/aws4_request, SignedHeaders=host, "
        b"Signature=00\r\n"))
    count("braket")
    assert reply.status == 403, reply.body
    assert_refused(reply, aws=True)


# ---------------------------------------------------------------- wrong tokens back off


def test_wrong_bearer_tokens_are_backed_off(wire: Wire) -> None:
    """5 wrong tokens are answered 401; then the address is refused with 429, the right
    token included, so a guess made while refused is not even checked."""
    statuses = []
    for _ in range(8):
        reply = wire.request("GET", "/api/v1/status/", bearer=False,
                             headers={"Authorization": "Bearer wrong-guess"})
        statuses.append(reply.status)
    count("qcog", 8)
    assert statuses[:5] == [401] * 5, statuses
    assert set(statuses[5:]) == {429}, statuses
    refused = wire.request("GET", "/api/v1/status/")
    count("qcog")
    assert refused.status == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"] == "too_many_requests"


def test_wrong_url_tokens_and_signatures_share_the_back_off(wire: Wire) -> None:
    for i in range(5):
        if i % 2:
            reply = wire.request("GET", "/fl/wrong-guess/api/v1/models/1/get_latest_model/",
                                 bearer=False)
            count("federated")
        else:
            reply = wire.request("POST", "/devices", b"{}", bearer=False, headers=sign_request(
                "POST", f"{wire.host}:{wire.port}", "/devices", "", b"{}",
                access_key=access_key_id(TOKEN), secret="wrong-guess", region="us-east-1"))
            count("braket")
        assert reply.status in (401, 403), reply.body
    federated = wire.request("GET", f"/fl/{TOKEN}/api/v1/models/1/get_latest_model/",
                             bearer=False)
    braket = wire.signed("POST", "/devices", b"{}")
    count("federated")
    count("braket")
    assert federated.status == 429, federated.body
    assert braket.status == 429, braket.body
    assert braket.headers["x-amzn-errortype"] == "ThrottlingException"


def test_a_missing_token_is_no_guess(wire: Wire) -> None:
    for _ in range(10):
        assert wire.request("GET", "/api/v1/status/", bearer=False).status == 401
    count("qcog", 10)
    assert wire.request("GET", "/api/v1/status/").status == 200


# ---------------------------------------------------------------- Braket's 500s


async def test_a_braket_500_comes_in_aws_shape(tmp_path: Any) -> None:
    @authenticated
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = make_app(tmp_path / "store", TOKEN)
    app.router.add_post("/quantum-task/{arn}/explode", broken)
    with tapped() as tap:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            host = f"127.0.0.1:{client.port}"
            for _ in range(3):
                headers = sign_request("POST", host, "/quantum-task/x/explode", "", b"{}",
                                       access_key=access_key_id(TOKEN), secret=TOKEN,
                                       region="us-east-1")
                response = await client.post("/quantum-task/x/explode", data=b"{}",
                                             headers=headers)
                count("braket")
                assert response.status == 500
                assert response.headers["x-amzn-ErrorType"] == "InternalFailure"
                assert "internal error" in json.loads(await response.read())["message"]
    # the first one with its traceback, the repeats in one line each
    assert tap.tracebacks() == 1, tap.text
    assert tap.text.count("unexpected error on POST /quantum-task/x/explode") == 3


# ---------------------------------------------------------------- multipart idempotency


UPLOAD = "/api/v1/dataset/upload/?dataset_id=x&format=dataframe&encoding=gzip"


def _upload(wire: Wire, rows: int, key: str) -> Any:
    body, content_type = multipart([("file", gzip_upload(linear_frame(rows)), {})])
    reply = wire.request("POST", UPLOAD, body, {"Content-Type": content_type,
                                                "Idempotency-Key": key})
    count("qcog")
    return reply


def test_a_multipart_key_reused_for_another_file_is_a_409(wire: Wire) -> None:
    first = _upload(wire, 10, "upload-key-1")
    assert first.status == 200, first.body
    assert first.json()["rows"] == 10
    again = _upload(wire, 10, "upload-key-1")
    assert again.status == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["guid"] == first.json()["guid"]
    other = _upload(wire, 99, "upload-key-1")
    assert other.status == 409, other.body
    assert other.json()["error"] == "idempotency_conflict"
    fresh = _upload(wire, 99, "upload-key-2")
    assert fresh.json()["rows"] == 99
