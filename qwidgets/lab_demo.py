"""``python -m qwidgets demo``: open the quickstart notebook in JupyterLab, on the embedded
simulator. The notebook is copied into a working folder first, so the user's edits and the
files it writes never land inside the installed package.

This process stays in front of JupyterLab as its supervisor: Ctrl-C, SIGTERM (a process
manager) or SIGHUP (a closed terminal) stop JupyterLab, its kernels and anything they started,
and nothing the demo started outlives it."""

from __future__ import annotations

import contextlib
import ctypes
import filecmp
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from qwidgets.errors import QwidgetsError

QUICKSTART = "quickstart.ipynb"
# JupyterLab shuts its kernels down politely (a few seconds each) before it exits; past this,
# it is killed with everything under it.
LAB_GRACE_S = 20.0
# What is left after JupyterLab is gone gets SIGTERM, then SIGKILL after this long.
LEFTOVER_GRACE_S = 3.0
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36


def notebooks_dir() -> Path:
    """The demo notebooks: the clone's ``notebooks/`` or the copy shipped in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "_notebooks"):
        if (candidate / QUICKSTART).exists():
            return candidate
    raise QwidgetsError("the demo notebooks are missing from this installation; reinstall "
                        "qwidgets or clone its repository")


def prepare(workdir: Path) -> tuple[Path, list[str]]:
    """Copy the demo notebooks into ``workdir``; return the quickstart's path and the names of
    the notebooks kept because the user's copy differs from the shipped one.

    An existing copy is never overwritten: it may hold the user's edits and outputs, and a
    second run of the demo must not throw them away."""
    workdir.mkdir(parents=True, exist_ok=True)
    kept = []
    for notebook in sorted(notebooks_dir().glob("*.ipynb")):
        target = workdir / notebook.name
        if not target.exists():
            shutil.copy2(notebook, target)
        elif not filecmp.cmp(notebook, target, shallow=False):
            kept.append(notebook.name)
    return workdir / QUICKSTART, kept


def lab_command(quickstart: Path, extra: list[str]) -> list[str]:
    if importlib.util.find_spec("jupyterlab") is None:
        raise QwidgetsError('JupyterLab is not installed: pip install "qwidgets[lab]" '
                            "(or run the terminal demo: python -m qwidgets demo --headless)")
    # Absolute: JupyterLab resolves a relative root_dir against its own cwd, which is the
    # working folder itself (the folder would be looked for inside itself).
    root = quickstart.parent.resolve()
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
               # Lab binds loopback by default; say it, since the simulator does too.
               "--ServerApp.ip=127.0.0.1", str(quickstart.name), *extra]
    if _is_root() and not any(arg.startswith(("--allow-root", "--ServerApp.allow_root"))
                              for arg in extra):
        # Containers (CI, dev containers, cloud notebooks) run as root, where JupyterLab
        # refuses to start without it; this one serves 127.0.0.1 only, behind a token.
        command.append("--allow-root")
    return command


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def open_quickstart(workdir: Path, extra: list[str] | None = None) -> int:
    workdir = workdir.expanduser().resolve()
    quickstart, kept = prepare(workdir)
    if kept:
        # Different may mean edited, or copied from an older qwidgets: either way it is theirs.
        _say(f"Keeping your copies of {', '.join(kept)} in {workdir}: they differ from the "
             "shipped ones (your edits, or an older version). Delete them, or use --dir "
             "NEW_FOLDER, to get the current ones.")
    command = lab_command(quickstart, extra or [])
    if "--allow-root" in command and "--allow-root" not in (extra or []):
        _say("Running as root (a container?): JupyterLab is started with --allow-root.")
    _say(f"Opening {quickstart} in JupyterLab (Ctrl-C to stop).")
    return supervise(command, workdir,
                     announce=lambda pid: _served_url(pid, quickstart.name))


def supervise(command: list[str], cwd: Path,
              announce: Callable[[int], str | None] = lambda pid: None) -> int:
    """Run ``command`` until it exits or a stop signal arrives, then make sure nothing it
    started survives. Returns its exit code, or 128 + the signal's number."""
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    _become_subreaper()
    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        # A session of its own: the terminal's Ctrl-C reaches only us, so JupyterLab never
        # asks its "Shut down this Jupyter server (y/[n])?" on a terminal it does not own.
        lab = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL,
                               start_new_session=True,
                               preexec_fn=_die_with_parent if _libc() is not None else None)
        code, seen = _wait(lab, received, announce)
        # What was seen under JupyterLab when asked to stop, and what is under us now: where
        # there is no subreaper, a kernel's orphans are only known from the first.
        leftovers = seen | _descendants(os.getpid())
        _stop_all(leftovers, grace=0.0 if len(received) > 1 else LEFTOVER_GRACE_S)
        if code is None:
            code = lab.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else code


def _wait(lab: subprocess.Popen[bytes], received: list[int],
          announce: Callable[[int], str | None]) -> tuple[int | None, set[_Proc]]:
    """Wait for JupyterLab to exit by itself or after a stop signal. Returns its exit code, None
    if it had to be given up on (grace exhausted, or a second signal: the user insists), and its
    process tree as it was when it was asked to stop."""
    stopping_since: float | None = None
    seen: set[_Proc] = set()
    announced = False
    while (code := lab.poll()) is None:
        if received and stopping_since is None:
            _say(f"\n{signal.Signals(received[0]).name}: stopping JupyterLab and its kernels.")
            seen = _descendants(lab.pid) | {p for p in [_identity(lab.pid)] if p is not None}
            lab.send_signal(signal.SIGTERM)
            stopping_since = time.monotonic()
        elif stopping_since is not None and (
                len(received) > 1 or time.monotonic() - stopping_since > LAB_GRACE_S):
            return None, seen
        if not announced and stopping_since is None and (url := announce(lab.pid)):
            _say(f"The quickstart is served at {url}")
            announced = True
        time.sleep(0.1)
    return code, seen


def _served_url(pid: int, notebook: str) -> str | None:
    """The notebook's URL, with its token, once the server ``pid`` has written its info file."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        info = json.loads((Path(jupyter_runtime_dir()) / f"jpserver-{pid}.json").read_text())
        url = f"{info['url'].rstrip('/')}/lab/tree/{notebook}"
    except (ImportError, OSError, ValueError, KeyError, AttributeError):
        return None  # not written yet (or only half): asked again shortly
    return f"{url}?token={info['token']}" if info.get("token") else url


def _say(text: str) -> None:
    # After SIGHUP the terminal may be gone; stopping matters more than saying so.
    with contextlib.suppress(OSError):
        print(text, flush=True)


# --- processes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    started: str  # with pid, tells a process from a later one given a recycled pid
    zombie: bool


def _processes() -> dict[int, _Proc]:
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return _processes_from_ps()
    table = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry.name)
        table[pid] = _Proc(pid, int(fields[1]), fields[19], fields[0] == "Z")
    return table


def _processes_from_ps() -> dict[int, _Proc]:
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,stat=,lstart="], capture_output=True,
                             text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in out.splitlines():
        pid, ppid, state, *started = line.split()
        table[int(pid)] = _Proc(int(pid), int(ppid), " ".join(started), state.startswith("Z"))
    return table


def _descendants(root: int) -> set[_Proc]:
    table = _processes()
    children: dict[int, list[_Proc]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p)
    found: set[_Proc] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child.pid)
    return found


def _identity(pid: int) -> _Proc | None:
    return _processes().get(pid)


def _stop_all(procs: Iterable[_Proc | None], grace: float) -> None:
    """SIGTERM, then after ``grace`` seconds SIGKILL, whichever of ``procs`` still run."""
    targets = {p for p in procs if p is not None and not p.zombie}
    for sig, wait in ((signal.SIGTERM, grace), (getattr(signal, "SIGKILL", signal.SIGTERM), 5.0)):
        targets = _alive(targets)
        if not targets:
            return
        for p in targets:
            with contextlib.suppress(OSError):
                os.kill(p.pid, sig)
        deadline = time.monotonic() + wait
        while (targets := _alive(targets)) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(procs: set[_Proc]) -> set[_Proc]:
    """The ones still running; our own exited children are reaped on the way (as a subreaper,
    orphans that exit become our zombies)."""
    table = _processes()
    alive = set()
    for p in procs:
        now = table.get(p.pid)
        if now is None or now.started != p.started:
            continue
        if now.zombie:
            if now.ppid == os.getpid():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(p.pid, os.WNOHANG)
            continue
        alive.add(p)
    return alive


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _become_subreaper() -> None:
    """Linux: orphans among our descendants (a kernel's children, once the kernel is gone) are
    reparented to us, not to init, so that they can still be found and stopped."""
    with contextlib.suppress(OSError, AttributeError):
        if (libc := _libc()) is not None:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _die_with_parent() -> None:
    """In JupyterLab's process, before exec (Linux only): if we are killed outright (SIGKILL,
    no chance to clean up), the kernel still sends it SIGTERM, and it stops its kernels."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
