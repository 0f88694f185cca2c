"""What the simulator's loggers may write: no secret, and one line for what is expected.

Secrets. A token reaches a log record by many roads: the URL prefix ``/fl/<token>`` of the
federated routes, a ``?token=`` query, an ``Authorization`` header quoted in an exception, or
aiohttp's parser echoing a malformed request line in its exception text. ``LogHygiene`` rewrites
the message, its arguments, the extra fields aiohttp's access logger attaches and the formatted
traceback, replacing every accepted token (known literally) and every such pattern with
``<redacted>``; the traceback is formatted here, redacted, and kept as ``exc_text`` in place of
``exc_info``, so no handler can format the raw exception again.

Volume. A client that goes away mid-body, a request line that is not HTTP, a body whose
Content-Encoding does not decode: aiohttp logs each with a traceback of thirty lines. They are
the client's doing, so each becomes one line naming the exception.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections import Counter
from collections.abc import Iterable

from aiohttp import http_exceptions, web_protocol

REDACTED = "<redacted>"
_PATTERNS = (
    (re.compile(r"/fl/[^/\s?#\"'\\]+"), "/fl/" + REDACTED),
    (re.compile(r"((?:^|[?&\s\"'])(?:token|access_token|api_token|X-Amz-Signature|"
                r"X-Amz-Security-Token)=)[^&\s\"'#]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"(Credential=)[^/\s\"',]+", re.IGNORECASE), r"\1" + REDACTED),
)
# raised by what a client sent or did, not by a fault of the server
EXPECTED = (http_exceptions.HttpProcessingError, web_protocol.RequestPayloadError,
            ConnectionResetError, BrokenPipeError, TimeoutError)
LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio")
# a shorter token would blank out ordinary words; such a token is no secret anyway
MIN_SECRET = 4

# one count per running server that accepts the token: two servers may share one
_secrets: Counter[str] = Counter()
_secrets_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` without any accepted token or token-bearing pattern."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class LogHygiene(logging.Filter):
    """Redacts a record in place and folds an expected exception's traceback into one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep it as text
            message = f"{record.msg!r} % {record.args!r}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and isinstance(exc, EXPECTED):
            message = " ".join(f"{message}: {type(exc).__name__}: {exc}".split())
            record.exc_info, record.exc_text = None, None
            if record.levelno > logging.WARNING:  # the client's doing, not the server's fault
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.exc_info:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info))
                                     .rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redact(message), None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if isinstance(value, str) and key not in ("msg", "exc_text", "stack_info"):
                clean = redact(value)
                if clean != value:
                    setattr(record, key, clean)
        return True


def install(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` from now on, and put the filter on every logger that may print a
    request: aiohttp's, asyncio's and each of qwidgets' (filters act on the logger a record is
    made on, not on its parents, so each one needs its own)."""
    with _secrets_lock:
        _secrets.update(s for s in set(secrets) if len(s) >= MIN_SECRET)
    names = set(LOGGERS) | {name for name in logging.root.manager.loggerDict
                            if name.startswith(("qwidgets", "aiohttp"))}
    for name in names:
        add_filter(logging.getLogger(name))


def add_filter(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, LogHygiene) for f in target.filters):
        target.addFilter(LogHygiene())


def forget(secrets: Iterable[str]) -> None:
    """Stop redacting ``secrets`` literally once no running server accepts them (the
    patterns stay)."""
    with _secrets_lock:
        _secrets.subtract(s for s in set(secrets) if len(s) >= MIN_SECRET)
        for secret in [s for s, n in _secrets.items() if n <= 0]:
            del _secrets[secret]
