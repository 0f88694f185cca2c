"""The qcog wire encodings of a DataFrame, decoded strictly (every failure is a
``ValidationError`` naming the field), plus typed access to JSON request bodies.

B64: ``base64(json.dumps({"blob": df.to_csv(), "indexing": [0..nlevels-1]}))``.
Upload: gzip of the CSV, a line ``---``, then the index levels as one CSV row.

A dataset's size is checked against ``DatasetLimits`` (CSV bytes, columns, cells) before pandas
sees it: the header line and the count of line breaks are enough, and an upload is checked as
it inflates, so a million column names or a gzip bomb is refused before it is materialised.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qwidgets.errors import DataValidationError, ValidationError
from qwidgets.protocol import strict_json
from qwidgets.protocol.strict_json import MalformedInputError

__all__ = ["BodyTooLargeError", "CsvPayload", "DatasetLimits", "MalformedInputError"]

B64_FIX = ("send base64(json.dumps({'blob': df.to_csv(), 'indexing': "
           "list(range(df.index.nlevels))}))")
MAX_INDEX_LEVELS = 32
INFLATE_CHUNK = 1 << 20
# csv's own default (128 KiB) would make a long header field a csv.Error
_FIELD_LIMIT = 1 << 24
# the envelope around a base64 CSV: the JSON quoting of the blob and the indexing list
_B64_SLACK = 64 * 1024


@dataclass(frozen=True)
class DatasetLimits:
    """The largest dataset the server takes: CSV bytes once decoded, columns, and cells
    (rows x columns). The defaults keep one upload's parse under a few hundred MB."""

    max_bytes: int = 32 << 20
    max_columns: int = 2048
    max_cells: int = 5_000_000

    def encoded_bytes(self) -> int:
        """The longest base64 ``data`` string a dataset within the limits can take."""
        return (self.max_bytes + _B64_SLACK) * 4 // 3 + 4


class BodyTooLargeError(Exception):
    """A dataset (once decoded or decompressed) exceeds one of the server's limits."""

    def __init__(self, field: str, limit: int, what: str = "bytes", found: str = "") -> None:
        detail = f" ({found})" if found else ""
        super().__init__(f"{field} is larger than the server's limit of {limit} {what}"
                         f"{detail}")
        self.field = field
        self.limit = limit
        self.what = what


@dataclass(frozen=True)
class CsvPayload:
    """A DataFrame as it travels: CSV text plus the positions of its index columns."""

    csv: str
    indexing: list[int]

    def frame(self, field: str = "data") -> pd.DataFrame:
        try:
            frame = pd.read_csv(io.StringIO(self.csv), index_col=self.indexing)
            _refuse_renamed_duplicates(self.csv, self.indexing, field)
        except DataValidationError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, OverflowError, csv.Error) as exc:
            # pandas' parser errors are ValueErrors; IndexError: an index level past the
            # columns; KeyError: rows longer than the header (an implicit index) with an
            # index level that only the header lacks
            raise MalformedInputError(f"{field}.blob", _first_line(self.csv),
                                      f"is not a readable CSV with index columns "
                                      f"{self.indexing} ({type(exc).__name__}: {exc})",
                                      "send df.to_csv() and indexing "
                                      "list(range(df.index.nlevels))") from None
        return frame


def encode_frame(frame: pd.DataFrame) -> str:
    """The B64 form of ``frame`` (what the public client's ``base642dataframe`` reads)."""
    payload = {"blob": frame.to_csv(), "indexing": list(range(frame.index.nlevels))}
    # ensure_ascii (json's default): the public client decodes the payload as ASCII
    return base64.b64encode(json.dumps(payload).encode("ascii")).decode("ascii")


def decode_b64(value: Any, field: str = "data",
               limits: DatasetLimits | None = None) -> CsvPayload:
    limits = limits or DatasetLimits()
    if not isinstance(value, str):
        raise ValidationError(field, value, "must be a base64 string", B64_FIX)
    if len(value) > limits.encoded_bytes():
        raise BodyTooLargeError(field, limits.max_bytes, "bytes of CSV",
                                f"about {len(value) * 3 // 4} bytes decoded")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInputError(field, value, "is not valid base64", B64_FIX) from exc
    try:
        payload = strict_json.loads(raw, field)
    except MalformedInputError as exc:
        raise MalformedInputError(field, raw[:60], f"does not decode to a JSON object "
                                  f"({exc.allowed})", B64_FIX) from None
    del raw
    if not isinstance(payload, dict):
        raise ValidationError(field, payload, "does not decode to a JSON object", B64_FIX)
    blob = payload.get("blob")
    if not isinstance(blob, str):
        raise ValidationError(f"{field}.blob", blob, "must be a CSV string", B64_FIX)
    indexing = check_indexing(payload.get("indexing"), f"{field}.indexing")
    if len(blob) > limits.max_bytes:
        raise BodyTooLargeError(field, limits.max_bytes, "bytes of CSV", f"{len(blob)} given")
    check_shape(blob.partition("\n")[0], blob.count("\n"), limits, field)
    return CsvPayload(blob, indexing)


def check_shape(header: str, line_breaks: int, limits: DatasetLimits, field: str) -> None:
    """Refuse a CSV whose header names too many columns, or whose rows x columns exceed the
    cell limit, from its header line and its number of line breaks alone."""
    if header.count(",") + 1 > limits.max_columns:
        try:
            # without a quote every comma separates two columns: counting them is exact
            columns = len(_header_fields(header)) if '"' in header else header.count(",") + 1
        except csv.Error as exc:
            raise MalformedInputError(f"{field}.blob", header[:80], f"has an unreadable "
                                      f"header line ({exc})", "send df.to_csv()") from None
        if columns > limits.max_columns:
            raise ValidationError(field, f"{columns} columns", f"must have at most "
                                  f"{limits.max_columns} columns (one operator each)",
                                  "select the columns the model needs before sending")
    columns = header.count(",") + 1
    cells = max(line_breaks - 1, 0) * columns
    if cells > limits.max_cells:
        raise BodyTooLargeError(field, limits.max_cells, "cells (rows x columns)",
                                f"about {cells} given")


def _header_fields(header: str) -> list[str]:
    old = csv.field_size_limit(_FIELD_LIMIT)
    try:
        return next(csv.reader([header]), [])
    finally:
        csv.field_size_limit(old)


def check_indexing(value: Any, field: str) -> list[int]:
    ok = (isinstance(value, list) and 0 < len(value) <= MAX_INDEX_LEVELS
          and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
          and len(set(value)) == len(value))
    if not ok:
        raise ValidationError(field, value, "must be a non-empty list of distinct column "
                              "positions >= 0", "send list(range(df.index.nlevels)), e.g. [0]")
    return list(value)


def decode_upload(compressed: bytes | Iterable[bytes], limits: DatasetLimits | None = None,
                  field: str = "file") -> CsvPayload:
    """Parse the gzip upload (bytes, or its chunks as they arrive). It inflates a chunk at a
    time, and refuses as soon as the CSV passes ``limits``: a gzip bomb or a header of a
    million columns costs one chunk, not the whole inflated text."""
    limits = limits or DatasetLimits()
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pieces: list[bytes] = []
    size = breaks = 0
    header: str | None = None
    received = 0
    first = b""
    for chunk in [compressed] if isinstance(compressed, (bytes, bytearray)) else compressed:
        received += len(chunk)
        first = first or bytes(chunk[:20])
        while chunk and not inflater.eof:
            try:
                out = inflater.decompress(chunk, INFLATE_CHUNK)
            except zlib.error as exc:
                raise MalformedInputError(field, first, "is not gzip data", "gzip the CSV "
                                          "(the public client's compress_data)") from exc
            chunk = inflater.unconsumed_tail
            size += len(out)
            if size > limits.max_bytes:
                raise BodyTooLargeError(field, limits.max_bytes, "bytes of CSV once "
                                        "decompressed")
            pieces.append(out)
            breaks += out.count(b"\n")
            if header is None and (breaks or size > 64 * limits.max_columns):
                header = b"".join(pieces).partition(b"\n")[0].decode("utf-8", "replace")
            if header is not None:
                # the '---' line and the index row are two of the breaks
                check_shape(header, max(breaks - 2, 0), limits, field)
    if not inflater.eof:
        raise MalformedInputError(field, f"{received} bytes", "is a truncated gzip stream",
                                  "send the whole file")
    raw = b"".join(pieces)
    del pieces
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
    body = strict_json.loads(raw, field)
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
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValidationError(field, value, "must be a version M.N.F of integers",
                              "use e.g. '0.0.123'")
    return value


def _refuse_renamed_duplicates(text: str, indexing: list[int], field: str) -> None:
    """pandas silently renames a repeated column ``x`` to ``x.1``; say so instead."""
    header = _header_fields(text.split("\n", 1)[0])
    names = [n for i, n in enumerate(header) if i not in indexing]
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise DataValidationError(field, dupes, f"has duplicate columns {dupes}",
                                  "rename or drop the repeated columns")


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0][:80]
