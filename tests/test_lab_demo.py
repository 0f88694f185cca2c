"""``python -m qwidgets demo`` opens the quickstart in a real JupyterLab, from the folder a user
runs it in, and Ctrl-C, SIGTERM or SIGHUP stop everything it started."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from qwidgets.lab_demo import lab_command, prepare
from tests.browser.lab import _free_port

RUN_MARK = "QWIDGETS_DEMO_TEST_RUN"
# Started from a kernel in a session of its own and deaf to polite signals: the worst a
# notebook (or a simulator it launches) can leave behind.
STUBBORN = ("import signal, time\n"
            "for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "time.sleep(600)\n")


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path
    mark: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def api(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def wait_for_quickstart(self, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.api("/api/contents/quickstart.ipynb")
            except OSError:
                assert self.proc.poll() is None, self.output()
                assert time.monotonic() < deadline, f"no JupyterLab in {timeout} s\n{self.output()}"
                time.sleep(0.5)

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        return self.proc.wait(60)


def _env(tmp_path: Path, mark: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / "home" / var.lower())
    env["QWIDGETS_DATA_DIR"] = str(tmp_path / "sim")
    env[RUN_MARK] = mark
    return env


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator:
    """Starts ``python -m qwidgets demo ARGS`` in ``cwd``, in a process group of its own (a
    terminal's foreground job), on a free port with a known token."""
    started: list[Demo] = []

    def start(*args: str, cwd: Path) -> Demo:
        port, token, mark = _free_port(), uuid.uuid4().hex, uuid.uuid4().hex
        log = tmp_path / f"demo-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "qwidgets", "demo", *args, "--no-browser",
                 f"--port={port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={token}"],
                cwd=cwd, env=_env(tmp_path, mark), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        started.append(Demo(proc, port, token, log, mark))
        return started[-1]

    yield start
    for demo in started:
        if demo.proc.poll() is None:
            os.killpg(demo.proc.pid, signal.SIGKILL)
            demo.proc.wait()


def _cmd(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _marked(mark: str) -> list[psutil.Process]:
    """Processes of one demo run, wherever they were reparented (the mark is inherited)."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(RUN_MARK) == mark and _alive(p):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _running(procs: list[psutil.Process], mark: str, grace: float = 5) -> list[str]:
    deadline = time.monotonic() + grace
    while True:
        left = {p.pid: p for p in [*procs, *_marked(mark)] if _alive(p)}
        if not left or time.monotonic() > deadline:
            return [f"{pid}: {_cmd(p)}" for pid, p in left.items()]
        time.sleep(0.2)


async def _execute(port: int, token: str, kernel: str, code: str) -> dict:
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(
        f"ws://127.0.0.1:{port}/api/kernels/{kernel}/channels?token={token}")
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    try:
        while True:
            message = await asyncio.wait_for(ws.read_message(), 60)
            assert message is not None, "the kernel's channel closed"
            reply = json.loads(message)
            if (reply["msg_type"] == "execute_reply"
                    and reply["parent_header"].get("msg_id") == msg_id):
                return reply["content"]
    finally:
        ws.close()


def test_a_relative_folder_is_made_absolute_for_jupyterlab(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    quickstart, _ = prepare(Path("qwidgets-demo"))
    command = lab_command(quickstart, [])
    assert f"--ServerApp.root_dir={tmp_path / 'qwidgets-demo'}" in command


@pytest.mark.parametrize(("uid", "extra", "added"), [
    (0, [], True), (1000, [], False), (0, ["--allow-root"], False),
    (0, ["--ServerApp.allow_root=True"], False)])
def test_root_in_a_container_gets_allow_root_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   uid: int, extra: list[str], added: bool) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    command = lab_command(tmp_path / "quickstart.ipynb", extra)
    assert command.count("--allow-root") == (1 if added else extra.count("--allow-root"))


def test_a_second_prepare_keeps_the_users_edits(tmp_path: Path) -> None:
    quickstart, kept = prepare(tmp_path)
    assert kept == []
    quickstart.write_text(quickstart.read_text().replace("qwidgets", "my_edit", 1))
    edited = quickstart.read_text()
    again, kept = prepare(tmp_path)
    assert again == quickstart
    assert kept == ["quickstart.ipynb"]
    assert quickstart.read_text() == edited


@pytest.mark.slow
def test_demo_opens_the_quickstart_in_jupyterlab(tmp_path: Path, start_demo) -> None:
    workdir = tmp_path / "demo"
    demo = start_demo("--dir", str(workdir), cwd=tmp_path)
    body = demo.wait_for_quickstart()
    assert body["type"] == "notebook"
    sources = "".join(c["source"] for c in body["content"]["cells"])
    assert "qwidgets.dashboard(df)" in sources
    assert (workdir / "quickstart.ipynb").exists()
    # A process manager's stop.
    demo.proc.terminate()
    assert demo.proc.wait(60) == 128 + signal.SIGTERM
    assert _running([], demo.mark) == []


@pytest.mark.slow
def test_the_readme_command_works_from_a_folder_and_again(tmp_path: Path, start_demo) -> None:
    """As the README runs it: no --dir, from the clone's root; then once more in the same
    folder, where the user's edited notebook must survive."""
    clone = tmp_path / "clone"
    clone.mkdir()
    first = start_demo(cwd=clone)
    first.wait_for_quickstart()
    assert (clone / "qwidgets-demo" / "quickstart.ipynb").exists()
    served = re.search(r"^The quickstart is served at (\S+)$", first.output(), re.MULTILINE)
    assert served, first.output()
    assert served[1] == (f"http://127.0.0.1:{first.port}/lab/tree/quickstart.ipynb"
                         f"?token={first.token}")
    if os.geteuid() == 0:
        assert "JupyterLab is started with --allow-root" in first.output()
    assert first.stop() == 128 + signal.SIGINT, first.output()

    notebook = clone / "qwidgets-demo" / "quickstart.ipynb"
    content = json.loads(notebook.read_text())
    content["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "my notes"})
    notebook.write_text(json.dumps(content))
    second = start_demo(cwd=clone)
    body = second.wait_for_quickstart()
    assert body["content"]["cells"][0]["source"] == "my notes"
    assert f"Keeping your copies of quickstart.ipynb in {notebook.parent}:" in second.output()
    assert second.stop() == 128 + signal.SIGINT, second.output()


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "to_group"), [
    pytest.param(signal.SIGINT, True, id="ctrl-c"),           # the terminal's foreground group
    pytest.param(signal.SIGTERM, False, id="process-manager"),  # the demo's pid alone
    pytest.param(signal.SIGHUP, True, id="closed-terminal"),
])
def test_a_stop_signal_leaves_nothing_running(tmp_path: Path, start_demo, sig: int,
                                              to_group: bool) -> None:
    demo = start_demo("--dir", str(tmp_path / "demo"), cwd=tmp_path)
    demo.wait_for_quickstart()
    kernel = demo.api("/api/sessions", {"path": "quickstart.ipynb", "type": "notebook",
                                        "kernel": {"name": "python3"}})["kernel"]["id"]
    spawn = (f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {STUBBORN!r}], "
             "start_new_session=True)\n")
    reply = asyncio.run(_execute(demo.port, demo.token, kernel, spawn))
    assert reply["status"] == "ok", reply
    tree = psutil.Process(demo.proc.pid).children(recursive=True)
    deadline = time.monotonic() + 10
    while not any("time.sleep(600)" in _cmd(p) for p in tree):
        assert time.monotonic() < deadline, [_cmd(p) for p in tree]
        time.sleep(0.2)
        tree = psutil.Process(demo.proc.pid).children(recursive=True)
    assert any("ipykernel" in _cmd(p) for p in tree)

    if to_group:
        os.killpg(demo.proc.pid, sig)
    else:
        os.kill(demo.proc.pid, sig)
    assert demo.proc.wait(60) == 128 + sig, demo.output()
    assert _running(tree, demo.mark) == [], demo.output()
    with pytest.raises(urllib.error.URLError):
        demo.api("/api/status")
