"""Hybrid jobs on the simulator: the CreateJob rules (one definition for server and client), the
runner (real trainings in threads, queued in the device queues, cancel, max runtime, restart),
and the routes' Braket conventions (percent-encoded ARNs, namespaces, conflicts, search)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pandas as pd
import pytest
from yarl import URL

from qwidgets.errors import ValidationError
from qwidgets.protocol.hybrid_jobs import (
    BUILTIN_ENTRY_POINTS,
    BUILTIN_SOURCE,
    DEFAULT_MAX_RUNTIME_S,
    EVENT_TYPES,
    JOB_STATES,
    MAX_EVENTS,
    check_runnable,
    prepare_create_job,
    runs_uploaded_code,
    validate_create_job,
)
from qwidgets.protocol.sigv4 import access_key_id, sign_request
from qwidgets.sim import engine
from qwidgets.sim.braket.catalog import default_catalog
from qwidgets.sim.braket.job_programs import load_entry_point
from qwidgets.sim.braket.job_runner import JobRunner
from qwidgets.sim.braket.queues import DeviceQueues, ManualClock
from qwidgets.sim.server.store import Store
from tests.fixtures import StartSim
from tests.server_support import training_params

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TRAIN = "qwidgets.sim.braket.programs.train:main"
# a training of many seconds: a 32-dim Hilbert space, stopped long before its end
LONG = {"qbits": "5", "num_passes": "5000", "rows": "2000", "batch_size": "250"}


def body(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"device": SV1, "entry_point": TRAIN, "job_name": "job-1"}
    kwargs.update(overrides)
    return prepare_create_job(**kwargs)


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize("name", ["a", "A-1", "qcml-train-2", "x" * 50, "a--b"])
def test_job_names_matching_the_pattern_pass(name: str) -> None:
    assert validate_create_job(body(job_name=name)).name == name


@pytest.mark.parametrize("name", ["-a", "a-", "a_b", "a b", "x" * 51, "", "é"])
def test_job_names_off_the_pattern_name_the_field_and_the_pattern(name: str) -> None:
    with pytest.raises(ValueError, match=r"job_name: got .*\^\(\?!-\)\[A-Za-z0-9-\]\{1,50\}") as info:
        body(job_name=name)
    assert isinstance(info.value, ValidationError)
    assert info.value.field == "job_name"
    wire = prepare_create_job(device=SV1, entry_point=TRAIN, job_name="ok")
    wire["jobName"] = name
    with pytest.raises(ValidationError) as info:
        validate_create_job(wire)
    assert info.value.field == "jobName"


def test_an_s3_source_needs_an_entry_point_and_a_tar_gz() -> None:
    with pytest.raises(ValidationError, match="is required when the source is an S3 URI") as info:
        body(entry_point=None)
    assert info.value.field == "entry_point"
    with pytest.raises(ValidationError, match=r"tar\.gz") as info:
        body(source_module="s3://bucket/code.zip")
    assert info.value.field == "source_module"
    with pytest.raises(ValidationError, match="uploaded to S3 first") as info:
        body(source_module="./my_algorithm")
    assert info.value.field == "source_module"


@pytest.mark.parametrize("entry", ["qwidgets.sim.braket.programs.train:", "1module", "a.b:c:d", "a-b", ""])
def test_entry_points_must_be_module_or_module_colon_callable(entry: str) -> None:
    with pytest.raises(ValidationError, match=r"importable\.module:callable") as info:
        body(entry_point=entry)
    assert info.value.field == "entry_point"


def test_hyperparameters_travel_as_strings() -> None:
    wire = body(hyperparameters={"num_passes": 3, "learning_rate": 0.5, "model": "pauli"})
    assert wire["hyperParameters"] == {"num_passes": "3", "learning_rate": "0.5",
                                       "model": "pauli"}
    wire["hyperParameters"]["num_passes"] = 3
    with pytest.raises(ValidationError, match="travel as strings") as info:
        validate_create_job(wire)
    assert info.value.field == "hyperParameters.num_passes"


def test_defaults_are_the_sdks() -> None:
    spec = validate_create_job(body())
    assert spec.instance_config == {"instanceType": "ml.m5.large", "volumeSizeInGb": 30,
                                    "instanceCount": 1}
    assert spec.stopping_condition == {"maxRuntimeInSeconds": 432000}
    assert DEFAULT_MAX_RUNTIME_S == 5 * 24 * 3600
    assert spec.source == BUILTIN_SOURCE
    assert spec.compression == "GZIP"


def test_instance_and_stopping_condition_bounds() -> None:
    with pytest.raises(ValidationError, match="at most 432000") as info:
        body(stopping_condition=432001)
    assert info.value.field == "stopping_condition.maxRuntimeInSeconds"
    with pytest.raises(ValidationError) as info:
        body(instance_config={"instanceType": "ml.t2.micro"})
    assert info.value.field == "instance_config.instanceType"
    with pytest.raises(ValidationError) as info:
        body(instance_config={"volumeSizeInGb": 0})
    assert info.value.field == "instance_config.volumeSizeInGb"
    assert body(stopping_condition=60)["stoppingCondition"] == {"maxRuntimeInSeconds": 60}


def test_unknown_request_fields_are_refused() -> None:
    wire = body()
    wire["jobname"] = "typo"
    with pytest.raises(ValidationError, match="is not a field here") as info:
        validate_create_job(wire)
    assert info.value.field == "CreateJob.jobname"


def test_job_states_and_event_types_are_brakets() -> None:
    assert JOB_STATES == ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")
    assert {"QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
            "UPLOADING_RESULTS", "COMPLETED", "FAILED", "MAX_RUNTIME_EXCEEDED",
            "CANCELLED"} <= set(EVENT_TYPES)
    assert MAX_EVENTS == 20


def test_the_builtin_source_runs_only_its_entry_points() -> None:
    uploaded = validate_create_job(body(source_module="s3://mine/code.tar.gz",
                                        entry_point="algo:start", hyperparameters={"x": 1}))
    assert runs_uploaded_code(uploaded)  # whose code decides what its hyperparameters mean
    check_runnable(uploaded)
    assert not runs_uploaded_code(validate_create_job(body()))
    with pytest.raises(ValidationError, match="not importable from the source module") as info:
        check_runnable(validate_create_job(body(entry_point="os:system")))
    assert info.value.field.endswith("entryPoint")
    for entry in BUILTIN_ENTRY_POINTS:
        assert callable(load_entry_point(entry))
    with pytest.raises(ValidationError):
        load_entry_point("os:system")  # never imported, whatever the request says


@pytest.mark.parametrize(("hyper", "field", "message"), [
    ({"qbits": "two"}, "hyperParameters.qbits", "whole number"),
    ({"num_pases": "3"}, "hyperParameters.num_pases", "not a hyperparameter"),
    ({"qbits": "2", "pauli_weight": "3"}, "hyperParameters (model.pauli_weight)", "<= qbits"),
    ({"optimization_method": "GRAD"}, "hyperParameters (weight_optimization_kwargs.iterations)",
     "required"),
    ({"learning_rate": "nan"}, "hyperParameters.learning_rate", "finite"),
])
def test_hyperparameters_are_checked_before_queueing(hyper: dict[str, str], field: str,
                                                     message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        check_runnable(validate_create_job(body(hyperparameters=hyper)))
    assert info.value.field == field


def test_input_data_must_be_a_dataset_of_the_simulator() -> None:
    with pytest.raises(ValidationError, match="not data the simulator holds"):
        check_runnable(validate_create_job(body(input_data="s3://my-bucket/data.csv")))
    ok = body(input_data="s3://qwidgets-datasets/0d9c3b4e-1111-4222-8333-444455556666")
    check_runnable(validate_create_job(ok))


# ---------------------------------------------------------------- the runner


class Harness:
    """A runner on a real store, its jobs waiting in device queues driven by a manual clock
    (no other users' jobs: SV1 and DM1 have no job traffic without prefill)."""

    def __init__(self, directory: Path, seed: int = 1, **options: Any) -> None:
        self.store = Store(directory)
        self.clock = ManualClock()
        self.queues = DeviceQueues(default_catalog(), clock=self.clock, seed=seed, prefill=False)
        options.setdefault("metrics_interval", 0.01)
        self.runner = JobRunner(self.store, self.queues, **options)
        self.count = 0

    def create(self, name: str | None = None, device: str = SV1, **kwargs: Any) -> str:
        self.count += 1
        name = name or f"job-{self.count}"
        spec = validate_create_job(prepare_create_job(device=device, entry_point=TRAIN,
                                                      job_name=name, **kwargs))
        check_runnable(spec)
        arn = f"arn:aws:braket:us-east-1:000000000000:job/{name}"
        self.runner.create("ns", arn, spec, None)
        return arn

    def tick(self) -> None:
        for event in self.queues.advance(self.clock.advance(0.2)):
            if event.kind == "job":
                self.runner.started(event.item_id)

    async def wait(self, arn: str, states: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.tick()
            row = self.runner.jobs.job(arn)
            assert row is not None
            if row["status"] in states:
                return row
            assert time.monotonic() < deadline, f"{arn} still {row['status']}"
            await asyncio.sleep(0.02)

    async def wait_event(self, arn: str, kind: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while kind not in [e["type"] for e in self.runner.jobs.events(arn)]:
            self.tick()
            assert time.monotonic() < deadline, f"no {kind} event for {arn}"
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.runner.shutdown()
        self.store.close()


@pytest.fixture
def harness(tmp_path: Path):
    h = Harness(tmp_path)
    yield h
    h.close()


async def test_a_job_trains_the_engine_model_it_names(harness: Harness,
                                                      linear_frame: pd.DataFrame) -> None:
    arn = harness.create(hyperparameters={"num_passes": 3, "batch_size": 100})
    row = await harness.wait(arn, ("COMPLETED", "FAILED"))
    assert row["status"] == "COMPLETED", row["failure_reason"]
    result = row["result"]
    # the same training run directly on the engine gives the same losses: the job ran it
    expected = engine.train("pauli", {**training_params(), "num_passes": 3}, linear_frame)
    assert result["loss"] == expected.loss
    assert len(result["loss"]) == 3
    assert all(len(p) == 4 for p in result["loss"])
    assert [p[1] for p in row["metrics"]["loss"]] == [v for p in expected.loss for v in p]
    events = harness.runner.jobs.events(arn)
    assert [e["type"] for e in events] == [
        "QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
        "UPLOADING_RESULTS", "COMPLETED"]
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert row["created"] <= row["started"] <= row["ended"]
    assert f"{result['final_loss']:.6g}" in events[-1]["message"]


async def test_a_job_trains_on_its_input_channel(harness: Harness) -> None:
    frame = pd.DataFrame({"a": [0.1, 0.4, -0.3, 0.8] * 25, "b": [0.5, -0.2, 0.1, 0.3] * 25})
    stored = harness.store.add_dataset("ns", csv=frame.to_csv(), indexing=[0], n_rows=100,
                                       columns=["a", "b"])
    arn = harness.create(input_data=f"s3://qwidgets-datasets/{stored['guid']}",
                         hyperparameters={"num_passes": 2, "batch_size": 50})
    row = await harness.wait(arn, ("COMPLETED", "FAILED"))
    assert row["status"] == "COMPLETED", row["failure_reason"]
    assert row["result"]["rows"] == 100
    assert row["result"]["operators"] == ["a", "b"]
    assert row["result"]["data"] == "input channel"
    loading = [e for e in harness.runner.jobs.events(arn) if e["type"] == "DOWNLOADING_DATA"]
    assert stored["guid"] in loading[0]["message"]


async def test_a_failing_algorithm_fails_the_job_with_its_reason(harness: Harness) -> None:
    frame = pd.DataFrame({"a": [0.1, 0.4] * 10, "b": [0.5, -0.2] * 10})
    stored = harness.store.add_dataset("ns", csv=frame.to_csv(), indexing=[0], n_rows=20,
                                       columns=["a", "b"])
    arn = harness.create(input_data=f"s3://qwidgets-datasets/{stored['guid']}",
                         hyperparameters={"operators": "a,zz"})
    row = await harness.wait(arn, ("COMPLETED", "FAILED"))
    assert row["status"] == "FAILED"
    assert "hyperParameters.operators" in row["failure_reason"]
    assert "zz" in row["failure_reason"]
    assert harness.runner.jobs.events(arn)[-1]["type"] == "FAILED"


async def test_one_job_at_a_time_per_device_and_the_queue_moves(harness: Harness) -> None:
    first = harness.create(hyperparameters=LONG)
    second = harness.create(hyperparameters={"num_passes": 1})
    other = harness.create(device=DM1, hyperparameters={"num_passes": 1})
    await harness.wait(first, ("RUNNING",))
    position = harness.queues.position(second)
    assert position is not None
    assert position.ahead == 0
    assert position.running_jobs == 1
    assert harness.runner.jobs.job(second)["status"] == "QUEUED"
    # another device's queue is independent
    assert (await harness.wait(other, ("COMPLETED",)))["status"] == "COMPLETED"
    assert harness.runner.cancel(first) == "CANCELLING"
    await harness.wait(first, ("CANCELLED",))
    assert (await harness.wait(second, ("COMPLETED",)))["status"] == "COMPLETED"


async def test_cancel_stops_a_running_job_mid_run(harness: Harness) -> None:
    arn = harness.create(hyperparameters=LONG)
    await harness.wait_event(arn, "RUNNING")
    await asyncio.sleep(0.3)
    started = time.monotonic()
    assert harness.runner.cancel(arn) == "CANCELLING"
    assert harness.runner.jobs.job(arn)["status"] == "CANCELLING"
    row = await harness.wait(arn, ("CANCELLED", "COMPLETED", "FAILED"), timeout=30)
    assert row["status"] == "CANCELLED"
    assert time.monotonic() - started < 10  # noticed between chunks, not at the end
    assert row["result"] is None
    events = [e["type"] for e in harness.runner.jobs.events(arn)]
    assert events[-1] == "CANCELLED"
    assert "UPLOADING_RESULTS" not in events
    assert harness.runner.cancel(arn) is None  # already ended


async def test_cancel_of_a_queued_job_is_immediate_and_frees_its_place(harness: Harness) -> None:
    first = harness.create(hyperparameters=LONG)
    await harness.wait(first, ("RUNNING",))
    queued = harness.create()
    assert harness.runner.cancel(queued) == "CANCELLED"
    assert harness.queues.position(queued) is None
    assert [e["type"] for e in harness.runner.jobs.events(queued)] == [
        "QUEUED_FOR_EXECUTION", "CANCELLED"]
    harness.runner.cancel(first)
    await harness.wait(first, ("CANCELLED",))


async def test_the_max_runtime_is_enforced(harness: Harness) -> None:
    arn = harness.create(hyperparameters=LONG, stopping_condition=1)
    row = await harness.wait(arn, ("FAILED", "COMPLETED"), timeout=60)
    assert row["status"] == "FAILED"
    assert "maxRuntimeInSeconds (1 s)" in row["failure_reason"]
    assert 1.0 <= row["ended"] - row["started"] < 15
    assert harness.runner.jobs.events(arn)[-1]["type"] == "MAX_RUNTIME_EXCEEDED"


async def test_a_job_interrupted_by_a_shutdown_runs_again_on_the_next_server(
        tmp_path: Path) -> None:
    first = Harness(tmp_path)
    arn = first.create(hyperparameters={**LONG, "num_passes": "3", "rows": "1000"})
    await first.wait_event(arn, "RUNNING")
    first.close()  # the job's thread is stopped and the job queued again
    restarted = Harness(tmp_path, seed=2)
    try:
        assert restarted.runner.jobs.job(arn)["status"] == "QUEUED"
        restarted.runner.recover()
        row = await restarted.wait(arn, ("COMPLETED", "FAILED"), timeout=120)
        assert row["status"] == "COMPLETED", row["failure_reason"]
        assert row["attempts"] == 1  # the interrupted attempt is not held against it
        messages = [e["message"] for e in restarted.runner.jobs.events(arn)]
        assert any(m.startswith("Queued again") for m in messages)
    finally:
        restarted.close()


async def test_getjob_returns_the_latest_twenty_events(harness: Harness) -> None:
    arn = harness.create()
    for i in range(25):
        harness.runner.jobs.add_event(arn, "DEPRIORITIZED_DUE_TO_INACTIVITY", f"e{i}")
    events = harness.runner.jobs.events(arn)
    assert len(events) == MAX_EVENTS
    assert [e["message"] for e in events] == [f"e{i}" for i in range(5, 25)]


# ---------------------------------------------------------------- the routes


TOKEN = "route-token-1"
OTHER = "route-token-2"


async def signed(session: aiohttp.ClientSession, url: str, method: str, path: str,
                 token: str = TOKEN, body: bytes = b"", query: str = "") -> tuple[int, Any, str]:
    host = url.split("://", 1)[1]
    headers = sign_request(method, host, path, query, body, access_key=access_key_id(token),
                           secret=token, region="eu-west-2")
    target = URL(f"{url}{path}" + (f"?{query}" if query else ""), encoded=True)
    async with session.request(method, target, data=body or None, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers.get("x-amzn-ErrorType", "")


async def test_routes_follow_brakets_conventions(start_sim: StartSim) -> None:
    url = start_sim(token=TOKEN).url
    async with aiohttp.ClientSession() as session:
        raw = json.dumps({**body(job_name="route-1"), "clientToken": "t-1"}).encode()
        status, answer, _ = await signed(session, url, "POST", "/job", body=raw)
        assert status == 201, answer
        arn = answer["jobArn"]
        assert arn.startswith("arn:aws:braket:eu-west-2:")
        assert arn.endswith(":job/route-1")
        # the same clientToken again: the same job, not a second one
        assert (await signed(session, url, "POST", "/job", body=raw))[1] == {"jobArn": arn}
        other = json.dumps({**body(job_name="route-1"), "clientToken": "t-2"}).encode()
        status, answer, code = await signed(session, url, "POST", "/job", body=other)
        assert (status, code) == (409, "ConflictException")
        assert "route-1" in answer["message"]
        encoded = quote(arn, safe="")
        status, job, _ = await signed(session, url, "GET", f"/job/{encoded}",
                                      query="additionalAttributeNames=QueueInfo")
        assert status == 200
        assert job["jobArn"] == arn
        assert job["queueInfo"]["queue"] == "JOBS_QUEUE"
        # a percent sign encoded twice by a proxy still finds the job
        twice = quote(encoded, safe="")
        assert (await signed(session, url, "GET", f"/job/{twice}"))[0] == 200
        # a token the server does not know is refused
        status, answer, code = await signed(session, url, "GET", f"/job/{encoded}",
                                            token=OTHER)
        assert (status, code) == (403, "UnrecognizedClientException")
        bad = json.dumps({**body(job_name="route-2"), "deviceConfig": {"device": "arn:x"}})
        status, answer, code = await signed(session, url, "POST", "/job", body=bad.encode())
        assert (status, code) == (400, "ValidationException")
        assert "deviceConfig.device" in answer["message"]
        retired = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Ember-5"
        gone = json.dumps({**body(job_name="route-3", device=retired)}).encode()
        status, answer, code = await signed(session, url, "POST", "/job", body=gone)
        assert (status, code) == (410, "DeviceRetiredException")
        status, found, _ = await signed(session, url, "POST", "/jobs", body=json.dumps(
            {"filters": [{"name": "jobName", "values": ["route"], "operator": "CONTAINS"}]}
        ).encode())
        assert status == 200
        assert [j["jobArn"] for j in found["jobs"]] == [arn]
        status, answer, code = await signed(session, url, "POST", "/jobs", body=json.dumps(
            {"filters": [{"name": "colour", "values": ["x"], "operator": "EQUAL"}]}).encode())
        assert (status, code) == (400, "ValidationException")
        assert "colour" in answer["message"]


async def test_a_token_does_not_see_another_tokens_jobs(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from qwidgets.sim.server.app import make_app

    app = make_app(tmp_path, {TOKEN, OTHER})  # one server, two namespaces
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        url = str(client.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as session:
            raw = json.dumps(body(job_name="mine")).encode()
            status, answer, _ = await signed(session, url, "POST", "/job", body=raw)
            assert status == 201
            encoded = quote(answer["jobArn"], safe="")
            status, _answer2, code = await signed(session, url, "GET", f"/job/{encoded}",
                                                 token=OTHER)
            assert (status, code) == (404, "ResourceNotFoundException")
            status, found, _ = await signed(session, url, "POST", "/jobs", token=OTHER,
                                            body=b'{"filters": []}')
            assert found["jobs"] == []
            status, _answer3, code = await signed(session, url, "PUT", f"/job/{encoded}/cancel",
                                                 token=OTHER)
            assert (status, code) == (404, "ResourceNotFoundException")
