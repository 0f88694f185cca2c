"""The hardening battery's tools: raw HTTP/1.1 over a loopback socket (so a test can send any
bytes: a request line that is not UTF-8, a body that lies about its encoding, a client that
hangs up mid-body), SigV4 signing for the Braket routes, hostile JSON fragments, a log tap,
and a tally of requests per route family for the closing report.

Every request has a bounded size and a socket timeout; every loop is bounded.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from qwidgets.protocol.sigv4 import access_key_id, sign_request

TIMEOUT_S = 60.0  # a ceiling for "answered at all", never a measure of speed
FAMILIES = ("qcog", "federated", "braket", "jobs", "aws")
COUNTS: Counter[str] = Counter()
_counts_lock = threading.Lock()


def count(family: str, n: int = 1) -> None:
    assert family in FAMILIES, family
    with _counts_lock:
        COUNTS[family] += n


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


@dataclass
class Raw:
    """A JSON fragment spliced verbatim into a body (what ``json.dumps`` cannot write)."""

    text: str


# Values every field of every route must answer with a 4xx, never a 5xx.
HOSTILE: list[Any] = [
    True, None, [], {}, [1, [2]], {"a": {"b": 1}}, 0, -1, 1.5, "", " ", "²", "٣",
    "\u00e9\u4e2d", "x" * 5000, "../../etc/passwd", "%00", "\x00",
    Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw('{"\\ud800": 1}'),
    Raw("9" * 5000), Raw("-" + "9" * 80), Raw("1e400"), Raw("NaN"), Raw("-Infinity"),
    Raw("[" * 3000 + "]" * 3000), Raw("[" * 80 + "1" + "]" * 80),
    Raw('{"a":' * 2000 + "1" + "}" * 2000),
    10**18, 2**64, -(2**63), 1e308, -1e-308,
]


def dumps(value: Any) -> bytes:
    """``value`` as JSON, with each ``Raw`` inside spliced in verbatim."""
    fragments: list[str] = []

    def hide(item: Any) -> Any:
        if isinstance(item, Raw):
            fragments.append(item.text)
            return f"@@RAW{len(fragments) - 1}@@"
        if isinstance(item, dict):
            return {k: hide(v) for k, v in item.items()}
        if isinstance(item, list):
            return [hide(v) for v in item]
        return item

    text = json.dumps(hide(value))
    for i, fragment in enumerate(fragments):
        text = text.replace(f'"@@RAW{i}@@"', fragment, 1)
    return text.encode()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON template (each key and index, nested)."""
    if isinstance(value, dict):
        for key, member in value.items():
            yield (*prefix, key)
            yield from paths(member, (*prefix, key))
    elif isinstance(value, list):
        for i, member in enumerate(value):
            yield (*prefix, i)
            yield from paths(member, (*prefix, i))


def replaced(template: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``template`` with the member at ``path`` replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(template, dict):
        out = dict(template)
        out[head] = replaced(template[head], rest, value)
        return out
    out_list = list(template)
    out_list[head] = replaced(template[head], rest, value)
    return out_list


class Wire:
    """Raw HTTP/1.1 to one server: any bytes out, a parsed reply back (one connection per
    request, ``Connection: close``)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = int(parts.port or 80)
        self.token = token
        self.access_key = access_key_id(token)

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=TIMEOUT_S)

    def send(self, head: bytes, body: bytes = b"") -> Reply:
        with self.connect() as sock:
            sock.sendall(head + body)
            return read_reply(sock)

    def request(self, method: str, path: str | bytes, body: bytes = b"",
                headers: dict[str, str] | None = None, *, bearer: bool = True,
                raw_headers: bytes = b"") -> Reply:
        target = path if isinstance(path, bytes) else path.encode()
        lines = [method.encode() + b" " + target + b" HTTP/1.1",
                 f"Host: {self.host}:{self.port}".encode(), b"Connection: close",
                 f"Content-Length: {len(body)}".encode()]
        if bearer:
            lines.append(f"Authorization: Bearer {self.token}".encode())
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}".encode())
        return self.send(b"\r\n".join(lines) + b"\r\n" + raw_headers + b"\r\n", body)

    def signed(self, method: str, path: str, body: bytes = b"", *, service: str = "braket",
               headers: dict[str, str] | None = None) -> Reply:
        """A request SigV4-signed as boto3 signs it (path and query as sent)."""
        raw_path, _, query = path.partition("?")
        signed = sign_request(method, f"{self.host}:{self.port}", raw_path, query, body,
                              access_key=self.access_key, secret=self.token,
                              region="us-east-1", service=service)
        return self.request(method, path, body, {**signed, **(headers or {})}, bearer=False)


def read_reply(sock: socket.socket, limit: int = 16 << 20) -> Reply:
    """One HTTP/1.x response (Content-Length, chunked, or until the server closes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a complete answer: {data[:200]!r}")
        data += chunk
        assert len(data) < limit
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        want = int(headers["content-length"])
        while len(rest) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Reply(status, headers, rest[:want])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    return Reply(status, headers, body)
                rest += chunk
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return Reply(status, headers, body)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return Reply(status, headers, body + rest)
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
            assert len(body) < limit
    while chunk := sock.recv(65536):
        rest += chunk
        assert len(rest) < limit
    return Reply(status, headers, rest)


def assert_refused(reply: Reply, *, aws: bool = False, parser: bool = False) -> None:
    """A malformed request's answer: a 4xx, never a 5xx, as JSON with a message; Braket's
    routes in AWS's shape (``x-amzn-ErrorType``). ``parser``: bytes that are not HTTP may be
    refused by aiohttp's parser itself, before any route, with its plain-text 400."""
    assert reply.status < 500, (reply.status, reply.body[:500])
    if reply.status < 400:
        return
    if parser and reply.status == 400 and reply.content_type == "text/plain":
        return
    # AWS's json protocol (the routes no handler serves) says application/x-amz-json-1.1
    assert reply.content_type in ("application/json", "application/x-amz-json-1.1"), (
        reply.status, reply.headers, reply.body[:300])
    body = reply.json()
    assert isinstance(body, dict), body
    assert body.get("message"), body
    if aws:
        assert reply.headers.get("x-amzn-errortype"), (reply.headers, body)
    else:
        assert body.get("error"), body


class LogTap(logging.Handler):
    """Every record of the process, formatted as a log file would hold it (traceback
    included), from loggers set to INFO for the duration."""

    LOGGERS = ("aiohttp", "qwidgets", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def tracebacks(self) -> int:
        return self.text.count("Traceback (most recent call last)")


@contextmanager
def tapped(level: int = logging.INFO) -> Iterator[LogTap]:
    tap = LogTap()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in LogTap.LOGGERS}
    for name in LogTap.LOGGERS:
        logging.getLogger(name).setLevel(level)
    root.addHandler(tap)
    try:
        yield tap
    finally:
        root.removeHandler(tap)
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)


def b64_csv(csv: str, indexing: list[int] | None = None) -> str:
    payload = {"blob": csv, "indexing": [0] if indexing is None else indexing}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def multipart(parts: list[tuple[str, bytes, dict[str, str]]], boundary: str = "qwbattery"
              ) -> tuple[bytes, str]:
    """A multipart/form-data body of ``(name, content, extra part headers)``; each part is a
    file part (filename ``data.csv``)."""
    out = b""
    for name, content, extra in parts:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="data.csv"\r\nContent-Type: application/gzip\r\n')
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        out += head.encode() + b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def report() -> str:
    """The battery's requests so far, per route family."""
    with _counts_lock:
        return ", ".join(f"{family} {COUNTS[family]}" for family in FAMILIES) + \
            f" (total {sum(COUNTS.values())})"


@pytest.fixture(scope="module", autouse=True)
def battery_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Import into a battery module: once it ends, the tally so far (the last module's line
    is the session's total)."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line(f"\nhardening battery, after {request.module.__name__}: "
                                f"{report()}")
