"""The limits of a hybrid job's process, through amazon-braket-sdk's own calls: the
``stoppingCondition`` (wall clock), ``cancel()``, the memory cap, the sandbox (against
``python -m qwidgets.sim serve --run-job-code`` with two tokens: one's job reaches neither the
other's objects, nor the store, nor the tokens), and the 403 of a server started without
``--run-job-code`` (whose built-in source still runs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qwidgets.protocol.hybrid_jobs import BUILTIN_SOURCE, prepare_create_job
from qwidgets.protocol.sigv4 import access_key_id
from qwidgets.sim import SimServer
from qwidgets.sim.braket.job_code import JOB_MEMORY_BYTES
from tests.braket_sdk_support import (
    ALGO,
    REGION,
    SV1,
    aws_environment,
    log_text,
    wait,
    write,
)
from tests.fixtures import StartSim

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def sim_options() -> dict[str, Any]:
    return {"run_job_code": True}


@pytest.fixture
def aws(server: SimServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimServer:
    aws_environment(server, monkeypatch)
    monkeypatch.chdir(tmp_path)
    return server


def test_the_stopping_condition_kills_the_job(aws: SimServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob
    from braket.jobs.config import StoppingCondition

    source = write(tmp_path / "slow.py", """
        import time

        def start():
            print("sleeping", flush=True)
            time.sleep(300)
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="slow:start",
                               stopping_condition=StoppingCondition(maxRuntimeInSeconds=3))
    assert wait(job, timeout=60) == "FAILED"
    meta = job.metadata()
    assert meta["events"][-1]["eventType"] == "MAX_RUNTIME_EXCEEDED"
    assert "maxRuntimeInSeconds (3 s)" in meta["failureReason"]
    assert (meta["endedAt"] - meta["startedAt"]).total_seconds() < 20
    assert "sleeping" in log_text(job, capsys)


def test_cancel_stops_the_jobs_process(aws: SimServer, tmp_path: Path) -> None:
    from braket.aws import AwsQuantumJob

    source = write(tmp_path / "forever.py", """
        import time

        def start():
            print("started", flush=True)
            while True:
                time.sleep(1)
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="forever:start")
    deadline = time.monotonic() + 60
    while job.state() != "RUNNING" or "RUNNING" not in [
            e["eventType"] for e in job.metadata()["events"]]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job.cancel() == "CANCELLING"
    assert wait(job, timeout=30) == "CANCELLED"


def test_the_memory_cap(aws: SimServer, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob

    source = write(tmp_path / "greedy.py", """
        import resource

        def start():
            print("address space limit", resource.getrlimit(resource.RLIMIT_AS)[0], flush=True)
            block = bytearray(3 << 30)  # more than the cap, less than this machine can give
            print("allocated", len(block))
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="greedy:start")
    assert wait(job) == "FAILED"
    assert job.metadata()["failureReason"].startswith("AlgorithmError: MemoryError")
    out = log_text(job, capsys)
    assert f"address space limit {JOB_MEMORY_BYTES}" in out
    assert "allocated" not in out


def test_without_the_flag_uploaded_code_is_refused_and_the_builtin_runs(
        start_sim: StartSim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob

    server = start_sim()
    aws_environment(server, monkeypatch)
    monkeypatch.chdir(tmp_path)
    source = write(tmp_path / "algo.py", ALGO)
    with pytest.raises(ClientError) as info:
        AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="algo:start")
    error = info.value.response["Error"]
    assert (info.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (
        403, "AccessDeniedException")
    assert "--run-job-code" in error["Message"]
    # the built-in source runs, and the SDK reads its result and its log like any job's
    body = prepare_create_job(device=SV1, entry_point="qwidgets.sim.braket.programs.train:main",
                              job_name="builtin-1", hyperparameters={"num_passes": 2})
    assert body["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] == BUILTIN_SOURCE
    arn = boto3.Session().client("braket").create_job(clientToken="builtin-1", **body)["jobArn"]
    job = AwsQuantumJob(arn)
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    result = job.result(poll_interval_seconds=0.1)
    assert result["model"] == "pauli"
    assert len(result["loss"]) == 2
    assert "Metrics - timestamp=" in log_text(job, capsys)


PROBE = """
    import json, os, socket
    import boto3
    from braket.jobs import get_hyperparameters, save_job_result

    def attempt(action):
        try:
            action()
            return "allowed"
        except Exception as exc:
            return type(exc).__name__

    def start():
        hp = get_hyperparameters()
        pid, data = int(hp["server_pid"]), hp["data_dir"]
        s3 = boto3.client("s3")
        mine = os.environ["AMZN_BRAKET_OUT_S3_BUCKET"]

        def connect():
            socket.create_connection(("127.0.0.1", int(hp["other_port"])), timeout=5).close()

        save_job_result({
            "list the data directory": attempt(lambda: os.listdir(data)),
            "read the store": attempt(lambda: open(hp["store"], "rb").read(1)),
            "read another namespace's object": attempt(lambda: open(hp["victim"], "rb").read()),
            "read the server's command line": attempt(
                lambda: open(f"/proc/{pid}/cmdline", "rb").read()),
            "read the server's environment": attempt(
                lambda: open(f"/proc/{pid}/environ", "rb").read()),
            "signal the server": attempt(lambda: os.kill(pid, 0)),
            "connect to another port": attempt(connect),
            "write outside its directory": attempt(lambda: open("/tmp/qw-escape", "w")),
            "list its own bucket": attempt(lambda: s3.list_objects_v2(Bucket=mine)),
            "read the other namespace's bucket": attempt(
                lambda: s3.get_object(Bucket="secrets", Key="token.txt")),
            "environment": dict(os.environ),
        })
"""


def test_the_jobs_process_reaches_neither_the_token_nor_other_namespaces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against ``python -m qwidgets.sim serve --run-job-code`` with two tokens on the command
    line: the job of one tries to reach the other's objects, the store, the tokens."""
    import socket
    import subprocess
    import sys

    from braket.aws import AwsQuantumJob

    from qwidgets.sim.braket.job_process import landlock_abi

    mine, theirs = "token-of-alice-0123456789", "token-of-bob-0123456789"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path / "serve-data"
    server = subprocess.Popen(
        [sys.executable, "-m", "qwidgets.sim", "serve", "--port", str(port), "--token", mine,
         "--token", theirs, "--data-dir", str(data_dir), "--run-job-code"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listener = socket.socket()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.2)
        bob = boto3.Session(aws_access_key_id=access_key_id(theirs), aws_secret_access_key=theirs,
                            region_name=REGION).client("s3", endpoint_url=f"{url}/s3")
        bob.create_bucket(Bucket="secrets")
        bob.put_object(Bucket="secrets", Key="token.txt", Body=b"bob's secret")
        victim = next(p for p in (data_dir / "s3").rglob("*") if p.is_file())
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.chdir(tmp_path)
        aws_environment(SimServer(host="127.0.0.1", port=port, token=mine, data_dir=data_dir,
                                  owner=False), monkeypatch)
        source = write(tmp_path / "probe.py", PROBE)
        job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="probe:start",
                                   hyperparameters={
                                       "server_pid": server.pid, "data_dir": str(data_dir),
                                       "store": str(data_dir / "qwidgets-sim.sqlite3"),
                                       "victim": str(victim),
                                       "other_port": listener.getsockname()[1]})
        assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
        found = job.result(poll_interval_seconds=0.1)
    finally:
        listener.close()
        server.terminate()
        server.wait(30)
    environment = found.pop("environment")
    assert found.pop("list its own bucket") == "allowed"  # its credentials are its caller's
    assert found.pop("read the other namespace's bucket") == "NoSuchBucket"
    if landlock_abi() < 6:
        found.pop("signal the server")
    if landlock_abi() < 4:
        found.pop("connect to another port")
    assert found == dict.fromkeys(found, "PermissionError")
    assert not any(token in value for value in environment.values() for token in (mine, theirs))
    assert victim.read_bytes() == b"bob's secret"
    assert not Path("/tmp/qw-escape").exists()


def test_a_server_stop_ends_the_jobs_process_and_the_next_server_runs_it_again(
        start_sim: StartSim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import psutil
    from braket.aws import AwsQuantumJob

    def job_processes() -> list[psutil.Process]:
        return [p for p in psutil.Process().children(recursive=True)
                if "job_process.py" in " ".join(p.cmdline())]

    data_dir = tmp_path / "data"
    first = start_sim(data_dir=data_dir, token="restart-token-1", run_job_code=True)
    aws_environment(first, monkeypatch)
    monkeypatch.chdir(tmp_path)
    source = write(tmp_path / "forever.py", """
        import time

        def start():
            while True:
                time.sleep(1)
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="forever:start")
    deadline = time.monotonic() + 60
    while not job_processes():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    first.stop()
    assert job_processes() == []  # stopped with the server, not left behind
    second = start_sim(data_dir=data_dir, token="restart-token-1", run_job_code=True)
    aws_environment(second, monkeypatch)
    again = AwsQuantumJob(job.arn)
    messages = [e["message"] for e in again.metadata()["events"]]
    assert any(m.startswith("Queued again") for m in messages)
    while not job_processes():  # it starts over on the new server
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert again.cancel() in ("CANCELLING", "CANCELLED")
    assert wait(again, timeout=30) == "CANCELLED"
    assert job_processes() == []
