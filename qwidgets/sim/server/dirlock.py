"""An exclusive lock on a data directory, so two servers never resume the same training twice.

``flock`` (POSIX) and ``msvcrt.locking`` (Windows) are released by the OS when the process
dies, so a crashed kernel never leaves the directory locked.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

LOCK_NAME = "server.lock"
# A server that has just died can leave its lock, for a moment, to a child it was starting
# (between fork and exec a child holds a copy of every descriptor): measured up to 10 ms on
# a loaded machine, where a restart right after a kill was refused.
RELEASE_GRACE_S = 0.5


class DataDirInUseError(RuntimeError):
    """Another live server holds the data directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"the data directory {directory} is used by another running qwidgets simulator "
            "(another process or kernel); pass a different data_dir, or connect to that server")
        self.directory = directory


class DirLock:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._file: IO[bytes] | None = None

    def acquire(self, grace: float = RELEASE_GRACE_S) -> None:
        """Hold the directory, or ``DataDirInUseError`` if it is still held after ``grace``
        seconds."""
        deadline = time.monotonic() + grace
        while True:
            handle = open(self.directory / LOCK_NAME, "a+b")  # noqa: SIM115 (held until release)
            try:
                _lock(handle)
            except OSError as exc:
                handle.close()
                if time.monotonic() >= deadline:
                    raise DataDirInUseError(self.directory) from exc
                time.sleep(0.02)
                continue
            self._file = handle
            return

    def release(self) -> None:
        if self._file is not None:
            try:
                _unlock(self._file)
            finally:
                self._file.close()
                self._file = None

    def is_free(self) -> bool:
        """True if nobody (including this object) holds the lock right now."""
        if self._file is not None:
            return False
        probe = DirLock(self.directory)
        try:
            probe.acquire(grace=0.0)
        except DataDirInUseError:
            return False
        probe.release()
        return True


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
