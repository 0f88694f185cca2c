"""JSON as the simulator reads and writes it, with the edges closed.

Reading (``loads``) refuses, as a ``MalformedInputError`` naming the field, what Python's
``json`` accepts but nothing downstream can use: bytes that are not UTF-8, ``NaN`` and
``Infinity`` (not JSON), integers longer than ``MAX_INT_DIGITS`` (Python refuses 4,300 digits
with a bare ``ValueError``; far fewer already overflow a float), nesting deeper than
``MAX_DEPTH`` (10,000 levels overflow the parser's stack), and lone UTF-16 surrogates such as
``"\\ud800"``, which parse into a ``str`` that SQLite, logging and ``json.dumps(...).encode()``
all fail to encode.

Writing (``dumps``) never emits ``NaN`` or ``Infinity``: a browser's ``JSON.parse`` rejects
them. A non-finite float becomes ``null``, which every client reads as "no value".
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from qwidgets.errors import ValidationError

MAX_DEPTH = 64
MAX_INT_DIGITS = 64
JSON_FIX = "send a JSON object with Content-Type: application/json"

# a \uD800-\uDFFF escape: only then can the parsed text hold a surrogate, so only then walk it
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedInputError(ValidationError):
    """The bytes cannot even be parsed (bad JSON, base64, gzip, CSV): answered with 400, where
    a well-formed but unacceptable value is answered with 422."""


class _RefusedError(ValueError):
    def __init__(self, allowed: str, fix: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed
        self.fix = fix


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _RefusedError(f"holds an integer of {digits} digits (at most {MAX_INT_DIGITS})",
                       "send large numbers as floats (1e100) or as strings")
    return int(text)


def _no_constant(name: str) -> Any:
    raise _RefusedError(f"holds {name}, which is not JSON",
                   "send null for a missing value, or a finite number")


def loads(raw: bytes | bytearray | memoryview | str, field: str = "body") -> Any:
    """The JSON value of ``raw``; every refusal is a ``MalformedInputError`` on ``field``."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInputError(field, bytes(raw[max(exc.start - 10, 0):exc.start + 10]),
                                      f"is not UTF-8 (byte {exc.start})", JSON_FIX) from None
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except _RefusedError as exc:
        raise MalformedInputError(field, text[:40], exc.allowed, exc.fix) from None
    except RecursionError:
        raise MalformedInputError(field, text[:40], f"nests deeper than {MAX_DEPTH} levels",
                                  "flatten the structure") from None
    except ValueError as exc:  # JSONDecodeError, and the int parser's own digit limit
        raise MalformedInputError(field, text[:60], f"is not valid JSON ({exc})",
                                  JSON_FIX) from None
    check_tree(value, field, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def check_tree(value: Any, field: str = "body", *, surrogates: bool = True) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and (with ``surrogates``) any string or key
    holding a lone surrogate. Iterative, and a container of scalars is scanned at C speed
    (``map(type, ...)``), so a body of millions of numbers costs one pass."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if surrogates and _LONE_SURROGATE.search(item):
                _refuse_surrogate(field, item)
            continue
        if not isinstance(item, (list, dict)):
            continue
        if depth >= MAX_DEPTH:
            raise MalformedInputError(field, "...", f"nests deeper than {MAX_DEPTH} levels",
                                      "flatten the structure")
        if isinstance(item, dict):
            if surrogates:
                for key in item:
                    if _LONE_SURROGATE.search(key):
                        _refuse_surrogate(field, key)
            members: Any = item.values()
        else:
            members = item
        kinds = set(map(type, members))
        if kinds & {list, dict} or (surrogates and str in kinds):
            stack.extend((m, depth + 1) for m in members
                         if isinstance(m, (list, dict, str)))


def _refuse_surrogate(field: str, text: str) -> None:
    at = _LONE_SURROGATE.search(text)
    position = at.start() if at else 0
    raise MalformedInputError(
        field, text[max(position - 20, 0):position].encode("utf-8", "replace"),
        f"holds a lone UTF-16 surrogate (\\u{ord(text[position]):04x} at character "
        f"{position}), which is not text", "send valid Unicode (encode surrogate pairs whole)")


def has_surrogate(value: str) -> bool:
    """Whether ``value`` holds a lone surrogate (and so cannot be encoded as UTF-8)."""
    return _LONE_SURROGATE.search(value) is not None


def check_text(value: str, field: str) -> str:
    """``value`` if it encodes as UTF-8 (a path segment, a query value or a header that came
    with percent-escapes of invalid UTF-8 does not)."""
    if _LONE_SURROGATE.search(value):
        _refuse_surrogate(field, value)
    return value


def dumps(value: Any) -> str:
    """``json.dumps`` that writes a non-finite float as ``null`` instead of ``NaN``."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
