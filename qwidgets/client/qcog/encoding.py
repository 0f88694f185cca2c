"""DataFrames on the wire: the B64 JSON envelope and the gzip upload body, byte-compatible
with qcog-python-client 0.4.5 (``_base64utils.py``)."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json

import pandas as pd

from qwidgets.client.errors import ApiError


def frame_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv()


def index_levels(frame: pd.DataFrame) -> list[int]:
    return list(range(frame.index.nlevels))


def encode_b64(frame: pd.DataFrame, csv_text: str | None = None) -> str:
    """``base64(json({"blob": csv, "indexing": [0..nlevels-1]}))``."""
    payload = {"blob": frame_csv(frame) if csv_text is None else csv_text,
               "indexing": index_levels(frame)}
    # ensure_ascii keeps the envelope ASCII, as the public client (which encodes as ascii).
    return base64.b64encode(json.dumps(payload).encode("ascii")).decode("ascii")


def decode_b64(text: str) -> pd.DataFrame:
    try:
        payload = json.loads(base64.b64decode(text.encode("ascii"), validate=True))
        return pd.read_csv(io.StringIO(payload["blob"]), index_col=payload["indexing"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(200, f"the service answered an undecodable DataFrame ({exc})") from None


def encode_gzip(frame: pd.DataFrame, csv_text: str | None = None) -> bytes:
    """The gzip upload body: the CSV, a line ``---``, then the index levels as one CSV row."""
    row = io.StringIO()
    csv.writer(row).writerow(index_levels(frame))
    body = (frame_csv(frame) if csv_text is None else csv_text) + "\n---\n" + row.getvalue()
    # mtime=0 makes the bytes a pure function of the frame (same upload, same body).
    return gzip.compress(body.encode("utf-8"), mtime=0)
