"""The qcog wire encodings of a DataFrame, decoded strictly (every failure is a
``ValidationError`` naming the field), plus typed access to JSON request bodies.

B64: ``base64(json.dumps({"blob": df.to_csv(), "indexing": [0..nlevels-1]}))``.
Upload: gzip of the CSV, a line ``---``, then the index levels as one CSV row.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qwidgets.errors import DataValidationError, ValidationError

B64_FIX = ("send base64(json.dumps({'blob': df.to_csv(), 'indexing': "
           "list(range(df.index.nlevels))}))")
MAX_INDEX_LEVELS = 32


class MalformedInputError(ValidationError):
    """The bytes cannot even be parsed (bad JSON, base64, gzip, CSV): answered with 400, where
    a well-formed but unacceptable value is answered with 422."""


class BodyTooLargeError(Exception):
    """A decompressed upload exceeds the server's body limit."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field} is larger than {limit} bytes once decompressed")
        self.field = field
        self.limit = limit


@dataclass(frozen=True)
class CsvPayload:
    """A DataFrame as it travels: CSV text plus the positions of its index columns."""

    csv: str
    indexing: list[int]

    def frame(self, field: str = "data") -> pd.DataFrame:
        try:
            frame = pd.read_csv(io.StringIO(self.csv), index_col=self.indexing)
        except (ValueError, IndexError, TypeError, csv.Error) as exc:
            # pandas' parser errors are ValueErrors; IndexError: an index level past the columns
            raise MalformedInputError(f"{field}.blob", _first_line(self.csv),
                                  f"is not a readable CSV with index columns {self.indexing} "
                                  f"({type(exc).__name__}: {exc})",
                                  "send df.to_csv() and indexing list(range(df.index.nlevels))"
                                  ) from exc
        _refuse_renamed_duplicates(self.csv, self.indexing, field)
        return frame


def encode_frame(frame: pd.DataFrame) -> str:
    """The B64 form of ``frame`` (what the public client's ``base642dataframe`` reads)."""
    payload = {"blob": frame.to_csv(), "indexing": list(range(frame.index.nlevels))}
    # ensure_ascii (json's default): the public client decodes the payload as ASCII
    return base64.b64encode(json.dumps(payload).encode("ascii")).decode("ascii")


def decode_b64(value: Any, field: str = "data") -> CsvPayload:
    if not isinstance(value, str):
        raise ValidationError(field, value, "must be a base64 string", B64_FIX)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputError(field, value, "is not valid base64", B64_FIX) from exc
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInputError(field, raw[:60], "does not decode to a JSON object",
                                  B64_FIX) from exc
    if not isinstance(payload, dict):
        raise ValidationError(field, payload, "does not decode to a JSON object", B64_FIX)
    blob = payload.get("blob")
    if not isinstance(blob, str):
        raise ValidationError(f"{field}.blob", blob, "must be a CSV string", B64_FIX)
    return CsvPayload(blob, check_indexing(payload.get("indexing"), f"{field}.indexing"))


def check_indexing(value: Any, field: str) -> list[int]:
    ok = (isinstance(value, list) and 0 < len(value) <= MAX_INDEX_LEVELS
          and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
          and len(set(value)) == len(value))
    if not ok:
        raise ValidationError(field, value, "must be a non-empty list of distinct column "
                              "positions >= 0", "send list(range(df.index.nlevels)), e.g. [0]")
    return list(value)


def decode_upload(compressed: bytes, limit: int, field: str = "file") -> CsvPayload:
    """Parse the gzip upload; refuses to inflate beyond ``limit`` bytes (a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(compressed, limit + 1)
    except zlib.error as exc:
        raise MalformedInputError(field, compressed[:20], "is not gzip data",
                              "gzip the CSV (the public client's compress_data)") from exc
    if len(raw) > limit or inflater.unconsumed_tail:
        raise BodyTooLargeError(field, limit)
    if not inflater.eof:
        raise MalformedInputError(field, f"{len(compressed)} bytes", "is a truncated gzip stream",
                              "send the whole file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInputError(field, raw[:40], "is not UTF-8 text", "send a UTF-8 CSV") from exc
    head, sep, tail = text.rpartition("\n---\n")
    if not sep:
        raise MalformedInputError(field, text[-40:], "lacks the '---' line before the index row",
                              "append '\\n---\\n' and the index levels as a CSV row, e.g. 0")
    try:
        rows = [r for r in csv.reader(io.StringIO(tail)) if r]
        levels = [int(x) for x in rows[0]] if len(rows) == 1 else None
    except (ValueError, csv.Error):
        levels = None
    return CsvPayload(head, check_indexing(levels if levels is not None else tail.strip(),
                                           f"{field}.indexing"))


# ---------------------------------------------------------------- JSON bodies


def parse_json_object(raw: bytes, field: str = "body") -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInputError(field, raw[:60], f"is not valid JSON ({exc})",
                              "send a JSON object with Content-Type: application/json") from exc
    if not isinstance(body, dict):
        raise ValidationError(field, body, "must be a JSON object", "send {...}, not a list "
                              "or a scalar")
    return body


def get_str(body: Mapping[str, Any], key: str, *, default: Any = ..., nullable: bool = False,
            max_len: int = 1024) -> Any:
    """``body[key]`` checked to be a string (or null when ``nullable``)."""
    if key not in body:
        if default is ...:
            raise ValidationError(key, None, "is required", f"add {key!r} to the JSON body")
        return default
    value = body[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ValidationError(key, value, f"must be a non-empty string of at most {max_len} "
                              "characters" + (" or null" if nullable else ""))
    return value


def get_object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise ValidationError(key, value, "must be a JSON object",
                              f"add {key!r}: {{...}} to the JSON body")
    return value


def check_version(value: str, field: str = "qcog_version") -> str:
    parts = value.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValidationError(field, value, "must be a version M.N.F of integers",
                              "use e.g. '0.0.123'")
    return value


def _refuse_renamed_duplicates(text: str, indexing: list[int], field: str) -> None:
    """pandas silently renames a repeated column ``x`` to ``x.1``; say so instead."""
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    names = [n for i, n in enumerate(header) if i not in indexing]
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise DataValidationError(field, dupes, f"has duplicate columns {dupes}",
                                  "rename or drop the repeated columns")


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0][:80]
