"""amazon-braket-sdk's own hybrid-job path, unchanged, against a simulator started with
``run_job_code``: ``AwsQuantumJob.create`` with a local file, a local directory and an ``s3://``
source, the seed's ``prepare_quantum_job``, then ``state()``, ``result()``, ``logs()``; a
plain ``AwsSession()``; CloudWatch's paging; the error shapes of unserved AWS operations. The
limits of the job's process are in ``test_peer_braket_job_limits``.

The SDK is configured by environment variables only (``AWS_ENDPOINT_URL*``, keys, region), as
the README tells users to; the shared AWS config files are disabled, so nothing leaves the
machine. Every job here is created by the SDK itself, never by our own helpers."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from qwidgets.sim import SimServer
from tests.braket_sdk_support import ALGO, REGION, SV1, aws_environment, log_text, wait, write

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def sim_options() -> dict[str, Any]:
    return {"run_job_code": True}


@pytest.fixture
def aws(server: SimServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimServer:
    aws_environment(server, monkeypatch)
    monkeypatch.chdir(tmp_path)  # result() writes model.tar.gz to the working directory
    return server


def test_a_local_file_runs_with_brakets_environment(aws: SimServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob, AwsSession

    source = write(tmp_path / "algo.py", ALGO)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="algo:start",
                               hyperparameters={"n": 21}, wait_until_complete=False)
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    result = job.result(poll_interval_seconds=0.1)
    assert result["answer"] == 42
    meta = job.metadata()
    name = meta["jobName"]
    bucket = AwsSession().default_bucket()
    s3_path = meta["outputDataConfig"]["s3Path"]
    location = s3_path.split("/", 3)[3]
    script = meta["algorithmSpecification"]["scriptModeConfig"]
    env = result["env"]
    assert env["AMZN_BRAKET_JOB_NAME"] == name
    assert env["AMZN_BRAKET_DEVICE_ARN"] == SV1
    assert env["AMZN_BRAKET_OUT_S3_BUCKET"] == bucket
    assert env["AMZN_BRAKET_TASK_RESULTS_S3_URI"] == f"s3://{bucket}/jobs/{name}/tasks"
    assert env["AMZN_BRAKET_JOB_RESULTS_S3_PATH"] == f"{location}/{name}/output"
    assert env["AMZN_BRAKET_SCRIPT_S3_URI"] == script["s3Uri"]
    assert script["s3Uri"].endswith("/script/source.tar.gz")  # what the SDK uploaded
    assert env["AMZN_BRAKET_SCRIPT_ENTRY_POINT"] == "algo:start"
    assert env["AMZN_BRAKET_SCRIPT_COMPRESSION_TYPE"] == "GZIP"
    assert env["AMZN_BRAKET_JOB_TOKEN"]
    assert result["hp_file"] == {"n": "21"}  # hyperparameters arrive as strings
    assert all(result["dirs"].values())
    # neither the server's token nor its environment reaches the job
    assert all(aws.token not in value for value in result["all_env"].values())
    assert result["all_env"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")  # the job's own keys
    assert job.state() == "COMPLETED"
    events = [e["eventType"] for e in meta["events"]]
    assert events == ["QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA",
                      "RUNNING", "UPLOADING_RESULTS", "COMPLETED"]
    out = log_text(job, capsys)
    assert "hello from the job 21" in out
    assert "loss=0.5; iteration_number=1;" in out
    metrics = job.metrics()  # a Logs Insights query over the job's Metrics lines
    assert metrics["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert metrics["iteration_number"] == [0, 1, 2]
    # the results are where the SDK reads them, for boto3 as well
    listed = boto3.Session().client("s3").list_objects_v2(Bucket=bucket, Prefix=location)
    assert f"{location}/output/model.tar.gz" in [o["Key"] for o in listed["Contents"]]


def test_a_local_directory_with_input_data_and_checkpoints(
        aws: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob, AwsSession

    package = tmp_path / "mypkg"
    write(package / "__init__.py", "")
    write(package / "helpers.py", "def double(x):\n    return 2 * x\n")
    write(package / "train.py", """
        import os
        from braket.jobs import (get_hyperparameters, get_input_data_dir, save_job_checkpoint,
                                 save_job_result)
        from mypkg.helpers import double

        if __name__ == "__main__":  # an entry point without ':callable' runs as __main__
            print("training in", os.path.basename(os.getcwd()))
            data = open(os.path.join(get_input_data_dir("input"), "data.csv")).read()
            save_job_checkpoint({"step": 3})
            save_job_result({"doubled": double(int(get_hyperparameters()["n"])), "data": data})
    """)
    data = write(tmp_path / "data.csv", "x,y\n1,2\n")
    job = AwsQuantumJob.create(device=SV1, source_module=str(package), entry_point="mypkg.train",
                               hyperparameters={"n": 5}, input_data=str(data),
                               wait_until_complete=False)
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    assert job.result(poll_interval_seconds=0.1) == {"doubled": 10, "data": "x,y\n1,2\n"}
    assert "training in code" in log_text(job, capsys)
    checkpoints = job.metadata()["checkpointConfig"]["s3Uri"]
    bucket, _, prefix = checkpoints[len("s3://"):].partition("/")
    assert bucket == AwsSession().default_bucket()
    keys = [o["Key"] for o in boto3.Session().client("s3").list_objects_v2(
        Bucket=bucket, Prefix=prefix)["Contents"]]
    assert keys == [f"{prefix}/{job.name}.json"]  # save_job_checkpoint's file, uploaded


def test_an_s3_source_uploaded_with_boto3(aws: SimServer, tmp_path: Path) -> None:
    from braket.aws import AwsQuantumJob

    archive = io.BytesIO()
    code = textwrap.dedent(ALGO).encode()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("algo.py")
        info.size = len(code)
        tar.addfile(info, io.BytesIO(code))
    s3 = boto3.Session().client("s3")
    s3.create_bucket(Bucket="my-code")
    s3.put_object(Bucket="my-code", Key="src/algo.tar.gz", Body=archive.getvalue())
    job = AwsQuantumJob.create(device=SV1, source_module="s3://my-code/src/algo.tar.gz",
                               entry_point="algo:start", hyperparameters={"n": 1})
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    assert job.result(poll_interval_seconds=0.1)["answer"] == 2
    # the SDK copied the archive (CopyObject) to the job's code location
    copied = job.metadata()["algorithmSpecification"]["scriptModeConfig"]["s3Uri"]
    bucket, _, key = copied[len("s3://"):].partition("/")
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == \
        s3.head_object(Bucket="my-code", Key="src/algo.tar.gz")["ETag"]


def test_prepare_quantum_job_as_the_seed_documents(aws: SimServer, tmp_path: Path) -> None:
    from braket.aws import AwsQuantumJob, AwsSession
    from braket.jobs.config import StoppingCondition
    from braket.jobs.quantum_job_creation import prepare_quantum_job

    source = write(tmp_path / "algo.py", ALGO)
    session = AwsSession()
    kwargs = prepare_quantum_job(device=SV1, source_module=str(source), entry_point="algo:start",
                                 job_name="seed-job", hyperparameters={"n": 4},
                                 stopping_condition=StoppingCondition(maxRuntimeInSeconds=600),
                                 aws_session=session)
    bucket = session.default_bucket()
    assert kwargs["jobName"] == "seed-job"
    assert kwargs["instanceConfig"] == {"instanceType": "ml.m5.large", "volumeSizeInGb": 30,
                                        "instanceCount": 1}
    assert kwargs["stoppingCondition"] == {"maxRuntimeInSeconds": 600}
    assert kwargs["hyperParameters"] == {"n": "4"}
    assert kwargs["roleArn"].endswith(":role/service-role/AmazonBraketJobsExecutionRole")
    assert kwargs["outputDataConfig"]["s3Path"].startswith(f"s3://{bucket}/jobs/seed-job/")
    arn = session.create_job(**kwargs)
    job = AwsQuantumJob(arn)
    assert job.name == "seed-job"
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    assert job.result(poll_interval_seconds=0.1)["answer"] == 8
    with pytest.raises(ValueError, match="Invalid quantum job name"):  # the seed's name rule
        prepare_quantum_job(device=SV1, source_module=str(source), entry_point="algo:start",
                            job_name="not_allowed", aws_session=session)


def test_a_jobs_code_runs_quantum_tasks_with_its_own_credentials(aws: SimServer,
                                                                tmp_path: Path) -> None:
    """What a hybrid job is for: its code calls Braket (and STS) with the credentials the
    job got, as the job's execution role; its tasks name the job and get its priority."""
    from braket.aws import AwsQuantumJob

    source = write(tmp_path / "bell.py", """
        import os
        from braket.aws import AwsDevice, AwsSession
        from braket.circuits import Circuit
        from braket.jobs import save_job_result

        def start():
            device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
            task = device.run(Circuit().h(0).cnot(0, 1), shots=100)
            counts = task.result().measurement_counts
            who = AwsSession().boto_session.client("sts").get_caller_identity()["Arn"]
            save_job_result({"counts": dict(counts), "task": task.id, "who": who})
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="bell:start")
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    result = job.result(poll_interval_seconds=0.1)
    assert set(result["counts"]) <= {"00", "11"}
    assert sum(result["counts"].values()) == 100
    assert result["who"].endswith(f":assumed-role/AmazonBraketJobsExecutionRole/{job.name}")
    task = boto3.Session().client("braket").get_quantum_task(
        quantumTaskArn=result["task"], additionalAttributeNames=["QueueInfo"])
    assert task["jobArn"] == job.arn
    assert task["queueInfo"]["queuePriority"] == "Priority"


def test_the_hybrid_job_decorator(aws: SimServer, capsys: pytest.CaptureFixture[str]) -> None:
    """``@hybrid_job`` checks at decoration that the job image's Python is the local one (ECR
    BatchGetImage), then ships the function cloudpickled; its return value is the result."""
    from braket.jobs import hybrid_job

    @hybrid_job(device=SV1)
    def scaled(n: int, scale: int = 2) -> dict[str, int]:
        from braket.jobs.metrics import log_metric

        log_metric("n", n, iteration_number=0)
        return {"value": n * scale}

    job = scaled(21, scale=3)
    assert wait(job) == "COMPLETED", job.metadata().get("failureReason")
    assert job.result(poll_interval_seconds=0.1) == {"value": 63}
    assert "n=21; iteration_number=0;" in log_text(job, capsys)


def test_a_plain_aws_session_finds_its_account_and_bucket(aws: SimServer) -> None:
    from braket.aws import AwsSession

    account = boto3.Session().client("sts").get_caller_identity()["Account"]
    bucket = AwsSession().default_bucket()
    assert bucket == f"amazon-braket-{REGION}-{account}"
    assert AwsSession().default_bucket() == bucket  # the second CreateBucket is accepted
    roles = boto3.Session().client("iam").list_roles(PathPrefix="/service-role/")["Roles"]
    assert [r["RoleName"] for r in roles] == ["AmazonBraketJobsExecutionRole"]
    assert roles[0]["Arn"].startswith(f"arn:aws:iam::{account}:role/")


def test_a_failing_job_reports_the_algorithms_error(aws: SimServer, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from braket.aws import AwsQuantumJob

    source = write(tmp_path / "broken.py", """
        def start():
            print("about to fail")
            raise ValueError("the algorithm gave up")
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="broken:start")
    assert wait(job) == "FAILED"
    reason = job.metadata()["failureReason"]
    assert reason == "AlgorithmError: ValueError: the algorithm gave up, exit code: 1"
    out = log_text(job, capsys)
    assert "about to fail" in out
    assert "Traceback" in out


def test_the_logs_page_through_cloudwatch(aws: SimServer, tmp_path: Path) -> None:
    from braket.aws import AwsQuantumJob

    source = write(tmp_path / "chatty.py", """
        def start():
            for i in range(25):
                print(f"line {i}")
    """)
    job = AwsQuantumJob.create(device=SV1, source_module=str(source), entry_point="chatty:start")
    assert wait(job) == "COMPLETED"
    logs = boto3.Session().client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/braket/jobs",
                                        logStreamNamePrefix=job.name)["logStreams"]
    assert [s["logStreamName"].startswith(f"{job.name}/algo-1-") for s in streams] == [True]
    seen: list[str] = []
    token = None
    while True:
        page = logs.get_log_events(logGroupName="/aws/braket/jobs", startFromHead=True, limit=10,
                                   logStreamName=streams[0]["logStreamName"],
                                   **({"nextToken": token} if token else {}))
        if not page["events"]:
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == [f"line {i}" for i in range(25)]
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(logGroupName="/aws/lambda/other")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_unserved_aws_operations_answer_in_their_services_shape(aws: SimServer) -> None:
    calls = {
        "s3 GetBucketAcl": (lambda: boto3.Session().client("s3").get_bucket_acl(Bucket="b"),
                            "NotImplemented"),
        "sts AssumeRole": (lambda: boto3.Session().client("sts").assume_role(
            RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="rs"), "InvalidAction"),
        "iam ListUsers": (lambda: boto3.Session().client("iam").list_users(), "InvalidAction"),
        "ecr DescribeRepositories": (
            lambda: boto3.Session().client("ecr").describe_repositories(),
            "UnknownOperationException"),
        "ecr BatchGetImage of another image": (
            lambda: boto3.Session().client("ecr").batch_get_image(
                repositoryName="my-image", imageIds=[{"imageTag": "latest"}]),
            "RepositoryNotFoundException"),
        "logs FilterLogEvents": (lambda: boto3.Session().client("logs").filter_log_events(
            logGroupName="/aws/braket/jobs"), "UnknownOperationException"),
        "braket ListTagsForResource": (lambda: boto3.Session().client("braket").list_tags_for_resource(
            resourceArn="arn:aws:braket:us-east-1:123456789012:job/x"),
            "UnknownOperationException"),
        "s3 at the root": (lambda: boto3.Session().client("s3", endpoint_url=aws.url).list_buckets(),
                           "InvalidRequest"),
    }
    for name, (call, code) in calls.items():
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == code, name
    # an unsigned request is not an AWS one: the qcog error body
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(f"{aws.url}/no-such-route", timeout=10)
    assert json.loads(http.value.read())["error"] == "not_found"
