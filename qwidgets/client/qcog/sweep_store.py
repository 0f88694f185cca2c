"""Where a sweep is kept between kernels: one JSON file per sweep id, written atomically
(a temporary file renamed over the old one), never with the token.

The directory is ``$QWIDGETS_SWEEP_DIR``, else ``<user data dir>/qwidgets/sweeps``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

from qwidgets.client.errors import UsageError, ValidationError

ENV = "QWIDGETS_SWEEP_DIR"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def sweep_dir() -> Path:
    given = os.environ.get(ENV)
    return Path(given) if given else Path(platformdirs.user_data_dir("qwidgets")) / "sweeps"


def check_id(sweep_id: str) -> str:
    if not isinstance(sweep_id, str) or not _ID.match(sweep_id):
        raise ValidationError("sweep_id", sweep_id, "must be a sweep's id (letters, digits, "
                              "'-' and '_')", "use Sweep.id of the sweep to reattach")
    return sweep_id


def save(sweep_id: str, state: dict[str, Any]) -> Path:
    """Write ``state`` as the sweep's file; a crash mid-write leaves the previous file."""
    return save_text(sweep_id, json.dumps(state))  # dumps encodes in C; dump() in Python


def save_text(sweep_id: str, text: str) -> Path:
    """Write ``text`` (a state as JSON) as the sweep's file, atomically as ``save``."""
    directory = sweep_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{check_id(sweep_id)}.json"
    fd, temp = tempfile.mkstemp(prefix=f".{sweep_id}-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def load(sweep_id: str) -> dict[str, Any]:
    path = sweep_dir() / f"{check_id(sweep_id)}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no sweep {sweep_id!r} under {path.parent} (set {ENV} to the "
                         "directory the sweep was started with)") from None
    body = json.loads(text)
    if not isinstance(body, dict) or body.get("id") != sweep_id:
        raise UsageError(f"{path} is not the file of sweep {sweep_id!r}; remove it")
    return body
