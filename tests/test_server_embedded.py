"""The three ways to start the simulator: start(), default_server() and the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

import qwidgets.sim as sim
from qwidgets.sim.server.dirlock import DataDirInUseError
from qwidgets.sim.server.embedded import TOKEN_FILE

from .server_support import b64_frame, linear_frame, quick_params

ROOT = Path(__file__).resolve().parents[1]


def request(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def train_one(url: str, token: str) -> str:
    api = url + "/api/v1/"
    _, ds = request(api + "dataset/", token, "POST", {"data": b64_frame(linear_frame())})
    _, tp = request(api + "training_parameters/", token, "POST",
                    {"model": "pauli", "parameters": quick_params()})
    _, model = request(api + "model/", token, "POST", {
        "dataset_guid": ds["guid"], "training_parameters_guid": tp["guid"]})
    deadline = time.monotonic() + 60
    while request(api + f"model/{model['guid']}/", token)[1]["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return str(model["guid"])


def test_start_serves_on_loopback_with_a_random_token_and_cleans_up() -> None:
    with sim.start() as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.host == "127.0.0.1"
        assert server.port > 0
        assert len(server.token) >= 32
        assert server.token not in repr(server)
        assert "running" in repr(server)
        status, body = request(server.url + "/api/v1/status", server.token)
        assert (status, body["status"]) == (200, "ok")
        assert request(server.url + "/api/v1/status", "wrong")[0] == 401
        train_one(server.url, server.token)
        data_dir = server.data_dir
        assert data_dir.is_dir()
        with sim.start() as other:  # a second one: its own port, token and directory
            assert (other.port, other.token) != (server.port, server.token)
    assert not data_dir.exists()  # the temporary directory went with it
    assert "stopped" in repr(server)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    server.stop()  # twice is harmless


def test_start_keeps_a_given_data_dir_and_refuses_to_share_it(tmp_path: Path) -> None:
    with sim.start(token="given-token", data_dir=tmp_path) as server:
        assert server.token == "given-token"
        guid = train_one(server.url, server.token)
        with pytest.raises(DataDirInUseError, match="another running qwidgets simulator"):
            sim.start(data_dir=tmp_path)
    with sim.start(token="given-token", data_dir=tmp_path) as again:
        status, body = request(again.url + f"/api/v1/model/{guid}/", again.token)
        assert (status, body["status"]) == (200, "completed")


def test_default_server_is_a_persistent_singleton(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(tmp_path / "data"))
    first = sim.default_server()
    try:
        assert sim.default_server() is first
        assert first.data_dir == tmp_path / "data"
        token_file = first.data_dir / TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text() == first.token
        guid = train_one(first.url, first.token)
    finally:
        first.stop()
    # as after a kernel restart: a new server, the same token and the model found again
    second = sim.default_server()
    try:
        assert second is not first
        assert second.token == first.token
        status, body = request(second.url + f"/api/v1/model/{guid}/", second.token)
        assert (status, body["status"]) == (200, "completed")
    finally:
        second.stop()


def test_default_server_attaches_to_another_kernels_server(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "QWIDGETS_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, qwidgets.sim as s; srv = s.default_server(); "
         "print(srv.url, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout is not None
        url = other.stdout.readline().strip()
        monkeypatch.setenv("QWIDGETS_DATA_DIR", str(data))
        handle = sim.default_server()
        try:
            assert handle.url == url
            assert not handle.owner
            train_one(handle.url, handle.token)
        finally:
            handle.stop()
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(30)
        assert other.stdout is not None
        other.stdout.close()
    # the other kernel is gone: this process now serves the directory itself
    own = sim.default_server()
    try:
        assert own.owner
        assert request(own.url + "/api/v1/status/", own.token)[0] == 200
    finally:
        own.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, *extra: str, env_token: str | None = None
           ) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "QCOG_API_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    if env_token:
        env["QCOG_API_TOKEN"] = env_token
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwidgets.sim", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "d"), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env)
    return proc, port


def _wait_up(port: int, token: str) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            return request(f"http://127.0.0.1:{port}/api/v1/status/", token)[0]
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def test_cli_prints_a_generated_token_once(tmp_path: Path) -> None:
    proc, port = _serve(tmp_path)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "http://127.0.0.1:" in lines[0]
        token = lines[1].split("token (generated):")[1].strip()
        assert _wait_up(port, token) == 200
        assert _wait_up(port, "not-it") == 401
    finally:
        out = _stop(proc)
    assert token not in out  # nowhere else, not even in the access log


def test_cli_never_prints_a_given_token(tmp_path: Path) -> None:
    proc, port = _serve(tmp_path, "--token", "classroom-secret", "--token", "second-one")
    try:
        assert _wait_up(port, "classroom-secret") == 200
        assert _wait_up(port, "second-one") == 200
    finally:
        out = _stop(proc)
    assert "classroom-secret" not in out
    assert "second-one" not in out
    env_proc, env_port = _serve(tmp_path, env_token="from-the-env")
    try:
        assert _wait_up(env_port, "from-the-env") == 200
    finally:
        out = _stop(env_proc)
    assert "from-the-env" not in out


def test_cli_starts_its_training_workers_with_the_server_and_ctrl_c_ends_them(
        tmp_path: Path) -> None:
    proc, port = _serve(tmp_path, "--token", "t", "--workers", "2")
    try:
        assert _wait_up(port, "t") == 200
        deadline = time.monotonic() + 30
        while len(workers := [p for p in psutil.Process(proc.pid).children()
                              if "pool_worker" in " ".join(p.cmdline())]) < 2:
            assert time.monotonic() < deadline, "no training worker before a first training"
            time.sleep(0.1)
    finally:
        _stop(proc)
    assert proc.returncode == 0
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


def test_cli_names_the_option_of_a_bad_worker_count(tmp_path: Path) -> None:
    proc, _ = _serve(tmp_path, "--workers", "0")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "error: --workers: training_workers must be at least 1, not 0" in out


def test_importing_the_engine_does_not_import_aiohttp() -> None:
    code = ("import sys, qwidgets.sim, qwidgets.sim.engine; "
            "assert 'aiohttp' not in sys.modules, 'aiohttp imported'; "
            "qwidgets.sim.start; assert 'aiohttp' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ,
                                                                   "PYTHONPATH": str(ROOT)})
