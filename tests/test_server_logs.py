"""The hardening battery, part four: no token in any log line or file, one line for what a
client caused, private files, and tokens that stay out of the process list."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from qwidgets.sim import SimServer
from qwidgets.sim.server import logs
from qwidgets.sim.server.app import make_app
from qwidgets.sim.server.store import DB_NAME
from tests.battery_support import (
    TIMEOUT_S,
    Wire,
    battery_report,  # noqa: F401
    count,
    read_reply,
    tapped,
)
from tests.fixtures import StartSim

TOKEN = "logs-battery-secret-token-4c2b"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    return start_sim(token=TOKEN)


def _raw(server: SimServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        try:
            return read_reply(sock).body
        except ConnectionError:
            return b""


def test_a_malformed_request_line_logs_no_token_and_one_line(server: SimServer) -> None:
    with tapped() as tap:
        _raw(server, f"GET /fl/{TOKEN}/api/v1/\xff HTTP/1.1\r\nHost: x\r\n\r\n"
             .encode("latin-1"))
        _raw(server, f"GET /fl/{TOKEN}/api/v1/{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n"
             .encode())
        _raw(server, f"GET /fl/{TOKEN}/\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    count("federated", 3)
    assert tap.lines, "aiohttp logs a bad request line"
    assert TOKEN not in tap.text
    assert tap.tracebacks() == 0, tap.text
    assert all("\n" not in line for line in tap.lines), tap.text
    assert all(r.levelno <= logging.WARNING for r in tap.records), tap.text


async def test_the_access_log_redacts_tokens_in_paths_and_queries(tmp_path: Path) -> None:
    app = make_app(tmp_path / "store", TOKEN)
    with tapped() as tap:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for path in (f"/api/v1/status/?token={TOKEN}", f"/fl/{TOKEN}/api/v1/models/",
                         f"/api/v1/status/?x=1&access_token={TOKEN}"):
                await (await client.get(path)).read()
                count("qcog")
    access = [r for r in tap.records if r.name == "aiohttp.access"]
    assert len(access) == 3, tap.text
    assert TOKEN not in tap.text
    assert tap.text.count("<redacted>") >= 3


def test_exception_text_and_tracebacks_are_redacted() -> None:
    logs.install([TOKEN])
    try:
        logger = logging.getLogger("qwidgets.sim.server.app")
        with tapped() as tap:
            try:
                raise ValueError(f"a message quoting Bearer {TOKEN} and the token {TOKEN}")
            except ValueError:
                logger.exception("failed on %s", f"/fl/{TOKEN}/api/v1/x?token={TOKEN}")
        assert "Traceback" in tap.text
        assert TOKEN not in tap.text
    finally:
        logs.forget([TOKEN])


def test_clients_that_hang_up_mid_body_log_one_line_each(server: SimServer) -> None:
    head = (f"POST /api/v1/dataset/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n").encode()
    with tapped() as tap:
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S) as s:
                s.sendall(head + b'{"data": "' + b"A" * 1000)
        # one more, answered, so the server has handled every hang-up before we look
        Wire(server.url, TOKEN).request("GET", "/api/v1/status/")
        deadline = time.monotonic() + TIMEOUT_S
        while tap.text.count("disconnected") < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
    count("qcog", 51)
    assert tap.tracebacks() == 0, tap.text
    assert "unexpected error" not in tap.text
    assert tap.text.count("disconnected") <= 50
    assert len(tap.lines) <= 60, tap.text
    assert TOKEN not in tap.text


def test_the_data_directory_and_database_are_private(start_sim: StartSim,
                                                     tmp_path: Path) -> None:
    directory = tmp_path / "fresh"
    server = start_sim(token=TOKEN, data_dir=directory)
    Wire(server.url, TOKEN).request("POST", "/api/v1/training_parameters/", b"{}")
    count("qcog")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = [p for p in directory.iterdir() if p.name.startswith(DB_NAME)]
    assert {p.name for p in files} >= {DB_NAME, f"{DB_NAME}-wal"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_existing_store_is_tightened(start_sim: StartSim, tmp_path: Path) -> None:
    directory = tmp_path / "old"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    (directory / DB_NAME).touch(mode=0o644)
    os.chmod(directory / DB_NAME, 0o644)
    start_sim(token=TOKEN, data_dir=directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / DB_NAME).stat().st_mode) == 0o600


def test_a_shared_directory_is_left_alone_but_the_database_is_private(
        start_sim: StartSim, tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o755)
    (directory / "someone-elses-file").write_text("x")
    start_sim(token=TOKEN, data_dir=directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    assert stat.S_IMODE((directory / DB_NAME).stat().st_mode) == 0o600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_token_file_keeps_the_token_out_of_the_process_list(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"# the classroom's tokens\n{TOKEN}\nsecond-token-abcdef\n")
    token_file.chmod(0o600)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "QCOG_API_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwidgets.sim", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "d"), "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wire = Wire(f"http://127.0.0.1:{port}", TOKEN)
        for _ in range(300):  # until it listens; the bound only ends a broken start
            try:
                reply = wire.request("GET", "/api/v1/status/")
                break
            except OSError:
                time.sleep(0.1)
        assert reply.status == 200
        assert Wire(f"http://127.0.0.1:{port}", "second-token-abcdef").request(
            "GET", "/api/v1/status/").status == 200
        count("qcog", 2)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline
        assert b"--token-file" in cmdline
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    assert TOKEN not in out
    assert "second-token-abcdef" not in out


def test_the_cli_warns_that_token_is_visible(tmp_path: Path) -> None:
    from qwidgets.sim.server import cli

    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    assert cli.main(["serve", "--token-file", str(empty), "--data-dir",
                     str(tmp_path / "d")]) == 2
    with pytest.raises(ValueError, match="holds no token"):
        cli.read_tokens(empty)
    loose = tmp_path / "loose"
    loose.write_text("a-token-here\n")
    loose.chmod(0o644)
    assert cli.read_tokens(loose) == ["a-token-here"]
    help_text = cli.parser().format_help() + cli.parser()._subparsers._group_actions[0] \
        .choices["serve"].format_help()  # type: ignore[union-attr]
    assert "--token-file" in help_text
    assert "process list" in help_text
