"""What the amazon-braket-sdk peer tests share: the environment the README tells a user to
set (nothing else), polling a job to its end, source files, the job's log as printed."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from qwidgets.protocol.sigv4 import access_key_id
from qwidgets.sim import SimServer

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
REGION = "us-east-1"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def aws_environment(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README tells a user to set; the shared AWS files and the metadata service
    are switched off, so nothing of this machine's own AWS setup counts."""
    for name, value in {
        "AWS_ENDPOINT_URL": server.url, "AWS_ENDPOINT_URL_S3": f"{server.url}/s3",
        "AWS_ACCESS_KEY_ID": access_key_id(server.token),
        "AWS_SECRET_ACCESS_KEY": server.token, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "BRAKET_ENDPOINT", "AWS_ENDPOINT_URL_BRAKET",
                 "AWS_REGION", "BRAKET_JOBS_ROLE_ARN", "AMZN_BRAKET_OUT_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)


def wait(job: Any, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while (state := job.state()) not in TERMINAL:
        assert time.monotonic() < deadline, f"{job.arn} still {state}"
        time.sleep(0.2)
    return str(state)


def write(path: Path, code: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def log_text(job: Any, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    job.logs(poll_interval_seconds=0)
    return capsys.readouterr().out


ALGO = """
    import json, os
    from braket.jobs import get_hyperparameters, save_job_result
    from braket.jobs.metrics import log_metric

    def start():
        hp = get_hyperparameters()
        print("hello from the job", hp["n"])
        for i in range(3):
            log_metric("loss", 1.0 / (i + 1), iteration_number=i)
        env = {k: v for k, v in os.environ.items() if k.startswith("AMZN_BRAKET_")}
        dirs = {k: os.path.isdir(env[k]) for k in ("AMZN_BRAKET_JOB_RESULTS_DIR",
                "AMZN_BRAKET_CHECKPOINT_DIR", "AMZN_BRAKET_INPUT_DIR")}
        save_job_result({"answer": int(hp["n"]) * 2, "env": env, "dirs": dirs,
                         "hp_file": json.load(open(env["AMZN_BRAKET_HP_FILE"])),
                         "all_env": dict(os.environ), "cwd": os.getcwd()})
"""
