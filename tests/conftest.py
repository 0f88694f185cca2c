from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import psutil
import pytest

pytest_plugins = ["tests.fixtures"]

# Every process started during the session carries this in its environment (inherited, as
# long as a test passes os.environ on), so that leftovers are found even once they have been
# reparented away from pytest; a nested pytest session appends its own id.
SESSION_MARK = "QWIDGETS_PYTEST_SESSIONS"
LEFTOVER_GRACE_S = 5.0


def _session_processes(mark: str) -> list[psutil.Process]:
    """Running processes of this session: pytest's descendants and the marked orphans."""
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    for p in psutil.process_iter():
        if p.pid in found or p.pid == me.pid:
            continue
        try:
            if mark in p.environ().get(SESSION_MARK, "").split(":"):
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue  # gone, a zombie, or someone else's
    alive = []
    for p in found.values():
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.Error:
            continue
    return alive


def _describe(p: psutil.Process) -> str:
    try:
        return f"pid {p.pid}: {' '.join(p.cmdline()) or p.name()}"
    except psutil.Error:
        return f"pid {p.pid}: (gone)"


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """Fails the run when a test leaves a process behind (a JupyterLab, a kernel, a server):
    such leaks pile up on developers' machines and in CI, and hold ports and tokens."""
    mark = uuid.uuid4().hex
    before = os.environ.get(SESSION_MARK)
    os.environ[SESSION_MARK] = f"{before}:{mark}" if before else mark
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while (left := _session_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not left:
        return
    report = "\n".join(_describe(p) for p in left)
    # Stop them, so that one leaky run does not fail the next for the same reason.
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(left, timeout=5)
    pytest.fail(f"{len(left)} process(es) left running at the end of the session:\n{report}",
                pytrace=False)


@pytest.fixture
def linear_frame() -> pd.DataFrame:
    """A noiseless linear relation z = 0.5 x - 0.3 y on 400 rows."""
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.uniform(-1, 1, (400, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df
