"""Running a hybrid job's uploaded code: one sandboxed process per run (``job_process``), in
the job's own working directory (``job_workdir``), with the environment the Braket container
gives a job (``AMZN_BRAKET_*``, the hyperparameters file, the job's temporary credentials and
this server as every AWS endpoint). Its output (stdout and stderr) becomes the job's log line
by line, and its ``Metrics - ...`` lines (``braket.jobs.metrics.log_metric``) its metrics.

Nothing of the server's environment is passed on: not the token, not ``QCOG_API_TOKEN``, not
the server's AWS settings. The run stops (its process group is killed) when ``should_stop``
turns true: a cancel, the ``stoppingCondition``, a server shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qwidgets.sim.braket import job_process
from qwidgets.sim.braket.auth import BraketKeys
from qwidgets.sim.braket.job_store import JobStore
from qwidgets.sim.braket.job_workdir import (
    Workdir,
    check_outside,
    parse_s3_uri,
    sandbox_read_paths,
)

JOB_MEMORY_BYTES = 2 << 30  # address space: ml.m5.large has 8 GB, this machine is shared
JOB_FILE_BYTES = 1 << 30
JOB_OPEN_FILES = 1024
MAX_LOG_LINES = 100_000
MAX_LINE_CHARS = 256 * 1024  # CloudWatch's largest event
FLUSH_INTERVAL_S = 0.25
KILL_GRACE_S = 2.0
_METRIC = re.compile(r"^Metrics - timestamp=([0-9.eE+-]+);(.*)$")


@dataclass
class Outcome:
    exit_code: int | None  # None: stopped by should_stop
    tail: list[str] = field(default_factory=list)

    def failure_reason(self) -> str:
        """Braket's wording: ``AlgorithmError: <the last line of output>, exit code: N``."""
        if self.exit_code == job_process.SANDBOX_UNAVAILABLE and self.tail:
            return self.tail[-1]
        last = next((line for line in reversed(self.tail) if line.strip()), "")
        if self.exit_code is not None and self.exit_code < 0:
            name = signal.Signals(-self.exit_code).name
            return f"AlgorithmError: the job's process was killed by {name} ({last[:500]})"
        return f"AlgorithmError: {last[:1000] or 'no output'}, exit code: {self.exit_code}"


def job_environment(workdir: Workdir, spec: dict[str, Any], *, region: str, endpoint: str,
                    credentials: tuple[str, str, str], job_token: str) -> dict[str, str]:
    """The variables of Braket's job container (``braket/jobs/local``'s list), paths in the
    job's working directory."""
    name = spec["jobName"]
    script = spec["algorithmSpecification"]["scriptModeConfig"]
    bucket, location = parse_s3_uri(spec["outputDataConfig"]["s3Path"] + "/")
    key, secret, token = credentials
    python_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir.root / "home"), "TMPDIR": str(workdir.root / "tmp"),
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        # one instance's threads, not the whole machine's cores
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "AWS_DEFAULT_REGION": region, "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token,
        "AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_S3": f"{endpoint}/s3",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(workdir.root / "home" / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir.root / "home" / "aws-credentials"),
        "AMZN_BRAKET_JOB_NAME": name,
        "AMZN_BRAKET_DEVICE_ARN": spec["deviceConfig"]["device"],
        "AMZN_BRAKET_JOB_RESULTS_DIR": str(workdir.model),
        "AMZN_BRAKET_CHECKPOINT_DIR": str(workdir.checkpoints),
        "AMZN_BRAKET_OUT_S3_BUCKET": bucket,
        "AMZN_BRAKET_TASK_RESULTS_S3_URI": f"s3://{bucket}/jobs/{name}/tasks",
        "AMZN_BRAKET_JOB_RESULTS_S3_PATH": f"{location.strip('/')}/{name}/output".lstrip("/"),
        "AMZN_BRAKET_SCRIPT_S3_URI": script["s3Uri"],
        "AMZN_BRAKET_SCRIPT_ENTRY_POINT": script["entryPoint"],
        "AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE": script.get("compressionType", "GZIP"),
        "AMZN_BRAKET_HP_FILE": str(workdir.hyperparameters),
        "AMZN_BRAKET_INPUT_DIR": str(workdir.input_data),
        "AMZN_BRAKET_JOB_TOKEN": job_token,
    }


class CodeRunner:
    """Starts and watches the process of one job run at a time (a worker thread each)."""

    def __init__(self, jobs: JobStore, keys: BraketKeys, data_dir: Path) -> None:
        self.jobs = jobs
        self.keys = keys
        self.data_dir = data_dir
        # asked once: a kernel without Landlock cannot sandbox the code, so none is accepted
        self.sandbox_abi = job_process.landlock_abi()

    def run(self, row: dict[str, Any], workdir: Workdir, *, endpoint: str, region: str,
            job_token: str, should_stop: Callable[[], bool]) -> Outcome:
        readable = sandbox_read_paths()
        check_outside(self.data_dir, readable)
        port = urlsplit(endpoint).port or 80
        key, session = self.keys.open_session(row["ns"], row["name"])
        try:
            env = job_environment(workdir, row["spec"], region=region, endpoint=endpoint,
                                  credentials=(key, session.secret, session.token),
                                  job_token=job_token)
            settings = {
                "parent_pid": os.getpid(), "memory_bytes": JOB_MEMORY_BYTES,
                "file_bytes": JOB_FILE_BYTES, "open_files": JOB_OPEN_FILES,
                "read_paths": readable, "write_paths": [str(workdir.root), "/dev/null"],
                "port": port, "code_dir": str(workdir.code),
                "entry_point": row["spec"]["algorithmSpecification"]["scriptModeConfig"][
                    "entryPoint"]}
            process = subprocess.Popen(
                [sys.executable, "-I", "-u", "-B", job_process.__file__, json.dumps(settings)],
                cwd=workdir.code, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
            return self._watch(row["arn"], process, should_stop)
        finally:
            self.keys.close_session(key)

    def _watch(self, arn: str, process: subprocess.Popen[bytes],
               should_stop: Callable[[], bool]) -> Outcome:
        log = _LogWriter(self.jobs, arn)
        assert process.stdout is not None
        pipe = process.stdout
        selector = selectors.DefaultSelector()
        selector.register(pipe, selectors.EVENT_READ)
        pending = [b""]
        open_pipe = [True]

        def read(timeout: float) -> bool:
            if not open_pipe[0] or not selector.select(timeout):
                return False
            chunk = os.read(pipe.fileno(), 65536)
            open_pipe[0] = bool(chunk)
            *lines, pending[0] = (pending[0] + chunk).split(b"\n")
            for line in lines:
                log.add(line)
            if pending[0] and (len(pending[0]) > MAX_LINE_CHARS or not chunk):
                log.add(pending[0])
                pending[0] = b""
            return True

        stopped = False
        try:
            while not (stopped := should_stop()):
                if not read(0.1) and _exited(process.pid):
                    # the job ends with its first process, as a container does: what its
                    # descendants (holding the pipe, maybe) still have to say is not waited for
                    drained = time.monotonic() + 1.0
                    while read(0) and time.monotonic() < drained:
                        pass
                    break
                log.flush_due()
        finally:
            selector.close()
            _end_group(process)
            pipe.close()
            if pending[0]:
                log.add(pending[0])
            log.flush()
        return Outcome(None if stopped else process.returncode, log.tail)


class _LogWriter:
    """The job's output as log lines, written in batches; metrics lines also as metrics."""

    def __init__(self, jobs: JobStore, arn: str) -> None:
        self.jobs = jobs
        self.arn = arn
        self.lines: list[tuple[int, str]] = []
        self.metrics: list[tuple[str, float, int, float]] = []
        self.tail: list[str] = []
        self.count = 0
        self.last_flush = time.monotonic()

    def add(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")[:MAX_LINE_CHARS]
        self.tail = [*self.tail[-19:], text]
        self.count += 1
        if self.count <= MAX_LOG_LINES:
            self.lines.append((int(time.time() * 1000), text))
        elif self.count == MAX_LOG_LINES + 1:
            self.lines.append((int(time.time() * 1000),
                               f"qwidgets: more than {MAX_LOG_LINES} lines; the rest of the "
                               "output is not kept"))
        self.metrics.extend(parse_metrics(text))

    def flush_due(self) -> None:
        if time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        lines, self.lines = self.lines, []
        metrics, self.metrics = self.metrics, []
        self.jobs.add_logs(self.arn, lines)
        self.jobs.add_metrics(self.arn, metrics)
        self.last_flush = time.monotonic()


def parse_metrics(line: str) -> list[tuple[str, float, int, float]]:
    """``Metrics - timestamp=T; name=value; iteration_number=N;`` as ``(name, value,
    iteration, T)``."""
    found = _METRIC.match(line)
    if not found:
        return []
    pairs = dict(part.strip().split("=", 1) for part in found.group(2).split(";")
                 if "=" in part)
    try:
        iteration = int(pairs.pop("iteration_number", "0"))
        when = float(found.group(1))
        return [(name, float(value), iteration, when) for name, value in pairs.items()]
    except ValueError:
        return []


def new_job_token() -> str:
    return secrets.token_urlsafe(24)


def _exited(pid: int) -> bool:
    """Whether the process ended, without reaping it: until it is reaped its pid, which is
    also its process group's id, cannot be reused, so the group can be killed safely."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the job's whole process group (SIGTERM, then SIGKILL after a grace period), also
    the descendants that outlive its first process, then reap that process."""
    if not _exited(process.pid):
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_S
        while not _exited(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
