"""Where a sweep is kept between kernels: one JSON file per sweep id, written atomically
(a temporary file renamed over the old one), never with the token.

The directory is ``$QWIDGETS_SWEEP_DIR``, else ``<user data dir>/qwidgets/sweeps``. A process
that follows a sweep holds ``<id>.lock`` (``hold``): two kernels following one sweep would
each start its queued rows.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import platformdirs

from qwidgets.client.errors import UsageError, ValidationError

ENV = "QWIDGETS_SWEEP_DIR"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


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


class Hold:
    """This process follows a sweep until ``release`` (or until it exits: the operating
    system drops the lock with the process, so a crashed kernel never blocks the next)."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def release(self) -> None:
        self._handle.close()


def hold(sweep_id: str) -> Hold:
    """Hold the sweep for this process, or ``UsageError`` naming the process that does."""
    directory = sweep_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # "a+": opening must not empty the holder's pid before the lock says who holds it; the
    # file stays open (no context manager) for as long as the sweep is followed
    path = directory / f"{check_id(sweep_id)}.lock"
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        _lock(handle.fileno())
    except OSError:
        try:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
        except OSError:  # Windows: the holder's locked byte cannot be read
            holder = "unknown"
        handle.close()
        raise UsageError(f"sweep {sweep_id} is followed by another process (pid {holder}), "
                         "such as another kernel: attach it there, or stop that process "
                         "first (two followers would both start its queued rows)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return Hold(handle)
