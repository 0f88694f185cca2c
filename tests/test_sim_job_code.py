"""The pieces of running uploaded job code, each against what amazon-braket-sdk itself does: the
job's environment (the SDK's local-mode container setup lists the variables), its metrics lines
(``log_metric``'s format), the input channels' layout, the source archive's extraction, the
failure reasons, and the refusal to run with a data directory the sandbox would expose."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from qwidgets.protocol.hybrid_jobs import prepare_create_job
from qwidgets.sim.braket.job_code import Outcome, job_environment, parse_metrics
from qwidgets.sim.braket.job_process import SANDBOX_UNAVAILABLE
from qwidgets.sim.braket.job_workdir import (
    JobSetupError,
    Workdir,
    check_outside,
    fill,
    sandbox_read_paths,
    upload_outputs,
)
from qwidgets.sim.braket.s3_store import S3Limits, S3Store
from qwidgets.sim.server.store import Store

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
# where our paths differ from the container's /opt/braket/...: in the job's own directory
RELOCATED = {"AMZN_BRAKET_JOB_RESULTS_DIR", "AMZN_BRAKET_CHECKPOINT_DIR", "AMZN_BRAKET_HP_FILE",
             "AMZN_BRAKET_INPUT_DIR"}


def spec(**overrides: Any) -> dict[str, Any]:
    body = prepare_create_job(device=SV1, source_module="s3://code/src/algo.tar.gz",
                              entry_point="algo:start", job_name="env-job",
                              hyperparameters={"n": 3}, bucket="amazon-braket-us-east-1-1")
    body.update(overrides)
    return body


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / "data")
    yield opened
    opened.close()


def test_the_environment_is_the_one_brakets_container_gets(tmp_path: Path) -> None:
    from braket.jobs.local import local_job_container_setup as local

    class Session:
        region = "us-east-1"

    body = spec()
    expected = {**local._get_env_script_mode_config(body["algorithmSpecification"][
                    "scriptModeConfig"]),
                **local._get_env_default_vars(Session(), **body),
                **local._get_env_hyperparameters(), **local._get_env_input_data()}
    workdir = Workdir.create(tmp_path / "runs")
    ours = job_environment(workdir, body, region="us-east-1", endpoint="http://127.0.0.1:1",
                           credentials=("ASIAKEY", "secret", "session"), job_token="t")
    for name, value in expected.items():
        if name in RELOCATED:
            assert Path(ours[name]).is_relative_to(workdir.root), name
        else:
            assert ours[name] == value, name
    assert Path(ours["AMZN_BRAKET_JOB_RESULTS_DIR"]) == workdir.model
    assert (ours["AWS_ACCESS_KEY_ID"], ours["AWS_SESSION_TOKEN"]) == ("ASIAKEY", "session")
    assert ours["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1/s3"


def test_metrics_lines_are_read_as_log_metric_prints_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    from braket.jobs.metrics import log_metric

    log_metric("loss", 0.25, timestamp=1700000000.5, iteration_number=7)
    log_metric("accuracy", 0.9, timestamp=1700000001.0)
    lines = capsys.readouterr().out.splitlines()
    assert [parse_metrics(line) for line in lines] == [
        [("loss", 0.25, 7, 1700000000.5)], [("accuracy", 0.9, 0, 1700000001.0)]]
    assert parse_metrics("Metrics are fun") == []


def test_input_channels_are_laid_out_as_the_sdk_lays_them(tmp_path: Path, store: Store) -> None:
    s3 = S3Store(store)
    s3.create_bucket("ns", "code", "us-east-1")
    s3.create_bucket("ns", "data", "us-east-1")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, text in (("pkg/__init__.py", b""), ("pkg/run.py", b"print('x')")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    s3.put("ns", "code", "src/algo.tar.gz", archive.getvalue())
    for key in ("in/a.csv", "in/sub/b.csv", "single.csv", "ckpt/job.json"):
        s3.put("ns", "data", key, key.encode())
    body = spec(
        inputDataConfig=[
            {"channelName": "folder", "dataSource": {"s3DataSource": {"s3Uri": "s3://data/in"}}},
            {"channelName": "file", "dataSource": {"s3DataSource": {
                "s3Uri": "s3://data/single.csv"}}}],
        checkpointConfig={"s3Uri": "s3://data/ckpt", "localPath": "/opt/jobs/checkpoints"})
    workdir = Workdir.create(tmp_path / "runs")
    message = fill(workdir, s3, store, "ns", body)
    assert "channel 'folder' (2 file(s) from s3://data/in)" in message
    assert (workdir.input_data / "folder" / "a.csv").read_text() == "in/a.csv"
    assert (workdir.input_data / "folder" / "sub" / "b.csv").read_text() == "in/sub/b.csv"
    assert (workdir.input_data / "file" / "single.csv").read_text() == "single.csv"
    assert (workdir.checkpoints / "job.json").read_text() == "ckpt/job.json"
    assert (workdir.code / "pkg" / "run.py").read_text() == "print('x')"
    assert workdir.hyperparameters.read_text() == '{"n": "3"}'
    missing = spec(inputDataConfig=[{"channelName": "none", "dataSource": {
        "s3DataSource": {"s3Uri": "s3://data/nothing-here"}}}])
    with pytest.raises(JobSetupError, match="No data found for channel 'none'"):
        fill(Workdir.create(tmp_path / "runs"), s3, store, "ns", missing)
    with pytest.raises(JobSetupError, match="could not be read"):  # another namespace's source
        fill(Workdir.create(tmp_path / "runs"), s3, store, "other", spec())


@pytest.mark.parametrize("entry", ["../escape.py", "/etc/cron.d/x", "link"])
def test_a_source_archive_stays_in_its_directory(tmp_path: Path, store: Store,
                                                 entry: str) -> None:
    s3 = S3Store(store)
    s3.create_bucket("ns", "code", "us-east-1")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo(entry)
        if entry == "link":
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    s3.put("ns", "code", "src/algo.tar.gz", archive.getvalue())
    with pytest.raises(JobSetupError, match="not a plain file or directory inside"):
        fill(Workdir.create(tmp_path / "runs"), s3, store, "ns", spec())
    assert not (tmp_path / "escape.py").exists()


def test_the_data_directory_must_lie_outside_what_jobs_may_read(tmp_path: Path) -> None:
    readable = sandbox_read_paths()
    check_outside(tmp_path / "data", readable)  # pytest's directory: fine
    with pytest.raises(JobSetupError, match="lies inside"):
        check_outside(Path(readable[0]) / "data", readable)


def test_failure_reasons_read_like_brakets() -> None:
    traceback = ["Traceback (most recent call last):", '  File "algo.py", line 3',
                 "ValueError: bad input", ""]
    assert Outcome(1, traceback).failure_reason() == \
        "AlgorithmError: ValueError: bad input, exit code: 1"
    assert Outcome(-9, ["working"]).failure_reason() == \
        "AlgorithmError: the job's process was killed by SIGKILL (working)"
    assert Outcome(SANDBOX_UNAVAILABLE, ["qwidgets: the job's sandbox could not be set up"]) \
        .failure_reason().startswith("qwidgets: the job's sandbox")


def test_results_over_the_object_limit_fail_before_being_archived(tmp_path: Path,
                                                                  store: Store) -> None:
    s3 = S3Store(store, S3Limits(max_object_bytes=1000))
    workdir = Workdir.create(tmp_path / "runs")
    (workdir.model / "results.json").write_text("{}")
    (workdir.model / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(JobSetupError, match="holds 2002 bytes"):
        upload_outputs(workdir, s3, "ns", spec(), "us-east-1")
    (workdir.model / "big.bin").unlink()
    uri, saved = upload_outputs(workdir, s3, "ns", spec(), "us-east-1")
    assert uri.endswith("/output/model.tar.gz")
    assert saved is None  # not what save_job_result writes: no dataDictionary to show
