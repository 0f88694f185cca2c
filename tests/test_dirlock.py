"""The data directory's lock: a lock that its holder lets go of within the grace (a server
that just died, whose child it was starting still held a copy of it) is taken; one held on
is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwidgets.sim.server.dirlock import LOCK_NAME, DataDirInUseError, DirLock

HOLDER = """
import fcntl, sys, time
with open(sys.argv[1], "a+b") as f:
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _held_for(tmp_path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / LOCK_NAME),
                               str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.skipif(sys.platform == "win32", reason="the holder uses fcntl")
def test_a_lock_let_go_of_within_the_grace_is_taken(tmp_path: Path) -> None:
    holder = _held_for(tmp_path, 0.15)
    lock = DirLock(tmp_path)
    try:
        lock.acquire()  # waits out the holder
        assert not lock.is_free()
    finally:
        lock.release()
        holder.wait(10)


@pytest.mark.skipif(sys.platform == "win32", reason="the holder uses fcntl")
def test_a_lock_held_on_is_refused(tmp_path: Path) -> None:
    holder = _held_for(tmp_path, 30)
    try:
        with pytest.raises(DataDirInUseError, match="used by another running"):
            DirLock(tmp_path).acquire()
        assert not DirLock(tmp_path).is_free()
    finally:
        holder.kill()
        holder.wait(10)
    assert DirLock(tmp_path).is_free()
