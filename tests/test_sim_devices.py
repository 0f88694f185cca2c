"""Simulated devices: catalog and capabilities, Braket's queue strings, the live queue model on a
manual clock, the circuit simulator (checked against amazon-braket-default-simulator), and the
Braket routes on a real loopback server with requests signed by botocore's own SigV4 code."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from qwidgets.errors import ValidationError
from qwidgets.protocol import openqasm
from qwidgets.protocol.braket_queues import depth_string, no_position_message, position_string
from qwidgets.protocol.sigv4 import access_key_id, sign_request
from qwidgets.sim.braket import circuits
from qwidgets.sim.braket.catalog import DeviceSpec, QueueShape, default_catalog
from qwidgets.sim.braket.queues import DeviceQueues, ManualClock
from qwidgets.sim.braket.runtime import RUNTIME
from qwidgets.sim.server.app import make_app

TOKEN = "device-token-alpha"
OTHER = "device-token-beta"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
AURORA = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12"
CEDAR = "arn:aws:braket:us-west-1::device/qpu/qwidgets/Cedar-8"
DUNE = "arn:aws:braket:eu-north-1::device/qpu/qwidgets/Dune-20"
EMBER = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Ember-5"
BELL = ("OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n"
        "b[0] = measure q[0];\nb[1] = measure q[1];")


def quiet(name: str = "Quiet-1", **shape: Any) -> DeviceSpec:
    """A device with no background traffic unless asked, so every item in it is ours."""
    values: dict[str, Any] = {"task_rate": 1.0, "normal_target": 0.0}
    values.update(shape)
    return DeviceSpec(arn=f"arn:aws:braket:us-east-1::device/qpu/test/{name}", name=name,
                      provider="test", device_type="QPU", status="ONLINE", qubits=4,
                      queue=QueueShape(**values))


# ---------------------------------------------------------------- catalog and strings


def test_every_capabilities_document_parses_with_braket_schemas() -> None:
    from braket.device_schema.iqm import IqmDeviceCapabilities
    from braket.device_schema.simulators import GateModelSimulatorDeviceCapabilities
    from braket.schema_common import BraketSchemaBase

    for spec in default_catalog():
        parsed = BraketSchemaBase.parse_raw_schema(spec.capabilities_json())
        expected = (GateModelSimulatorDeviceCapabilities if spec.device_type == "SIMULATOR"
                    else IqmDeviceCapabilities)
        assert isinstance(parsed, expected), spec.name
        assert parsed.paradigm.qubitCount == spec.qubits
        assert "braket.ir.openqasm.program" in parsed.action
        assert tuple(parsed.service.shotsRange) == (spec.min_shots, spec.max_shots)
    statuses = {spec.status for spec in default_catalog()}
    assert statuses == {"ONLINE", "OFFLINE", "RETIRED"}


def test_queue_strings_follow_braket_conventions() -> None:
    assert depth_string(4000, "task") == "4000"
    assert depth_string(4001, "task") == ">4000"
    assert depth_string(1001, "job") == ">1000"
    assert depth_string(0, "job", running_jobs=1) == "0 (1 prioritized job(s) running)"
    assert depth_string(0, "job", running_jobs=2, device_type="SIMULATOR") == "0"
    assert depth_string(3, "job", running_jobs=1) == "3"
    assert position_string(2000, "task") == "2000"
    assert position_string(2001, "task") == ">2000"
    assert position_string(16, "job") == ">15"
    assert no_position_message("task", "COMPLETED").startswith("Task is in COMPLETED status.")


# ---------------------------------------------------------------- queue model


def test_my_task_moves_up_and_starts_on_a_busy_device() -> None:
    clock = ManualClock()
    queues = DeviceQueues(default_catalog(), clock=clock, seed=3)
    start = queues.enqueue(CEDAR, "task", "mine")
    assert start.ahead > 50  # Cedar keeps about 120 tasks waiting
    seen = [start.ahead]
    started = []
    for _ in range(400):
        clock.advance(1.0)
        started += [e for e in queues.advance() if e.item_id == "mine"]
        where = queues.position("mine")
        if where is None:
            break
        seen.append(where.ahead)
    assert len(started) == 1
    assert started[0].device_arn == CEDAR
    assert started[0].kind == "task"
    assert queues.position("mine") is None
    assert seen[-1] < seen[0] / 4  # it got near the head before it started
    assert sum(b < a for a, b in itertools.pairwise(seen)) > len(seen) / 2


def test_priority_tasks_start_before_normal_ones() -> None:
    clock = ManualClock()
    device = quiet(task_rate=1.0)
    queues = DeviceQueues([device], clock=clock, seed=0, prefill=False)
    queues.enqueue(device.arn, "task", "normal")
    queues.enqueue(device.arn, "task", "urgent", "Priority")
    assert queues.position("normal").ahead == 1  # the priority task goes first
    assert queues.position("urgent").ahead == 0
    clock.advance(1.0)
    assert [e.item_id for e in queues.advance()] == ["urgent"]
    clock.advance(1.0)
    assert [e.item_id for e in queues.advance()] == ["normal"]


def test_removed_items_leave_the_queue() -> None:
    device = quiet()
    queues = DeviceQueues([device], clock=ManualClock(), prefill=False)
    queues.enqueue(device.arn, "task", "a")
    queues.enqueue(device.arn, "task", "b")
    assert queues.remove("a") is True
    assert queues.remove("a") is False
    assert queues.position("a") is None
    assert queues.position("b").ahead == 0
    assert queues.depth(device.arn).normal == 1


def test_a_job_holds_its_slot_until_finished_and_prioritizes_the_device() -> None:
    clock = ManualClock()
    device = quiet(job_slots=1)
    queues = DeviceQueues([device], clock=clock, prefill=False)
    queues.enqueue(device.arn, "job", "j1")
    queues.enqueue(device.arn, "job", "j2")
    clock.advance(0.5)
    assert [(e.kind, e.item_id) for e in queues.advance()] == [("job", "j1")]
    assert queues.position("j2").ahead == 0
    assert queues.position("j2").running_jobs == 1
    depth = queues.depth(device.arn)
    assert (depth.jobs, depth.running_jobs) == (1, 1)
    clock.advance(30)
    assert queues.advance() == []  # j1 runs until we say it ended
    assert queues.running_job_ids(device.arn) == ["j1"]
    assert queues.finish_job("j1") is True
    clock.advance(0.5)
    assert [e.item_id for e in queues.advance()] == ["j2"]
    after = queues.depth(device.arn)
    assert depth_string(after.jobs, "job", running_jobs=after.running_jobs) == \
        "0 (1 prioritized job(s) running)"


def test_same_seed_same_queues_and_time_scale_speeds_them_up() -> None:
    def run(seed: int, scale: float = 1.0) -> list[tuple[int, int, int]]:
        clock = ManualClock()
        queues = DeviceQueues(default_catalog(), clock=clock, seed=seed, time_scale=scale)
        out = []
        for _ in range(20):
            clock.advance(5)
            queues.advance()
            out += [(d.normal, d.priority, d.jobs) for d in map(queues.depth, (SV1, CEDAR, TN1))]
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)
    clock = ManualClock()
    fast = DeviceQueues([quiet()], clock=clock, time_scale=10, prefill=False)
    fast.enqueue(quiet().arn, "task", "x")
    clock.advance(0.1)  # one simulated second at 10x
    assert [e.item_id for e in fast.advance()] == ["x"]


def test_offline_devices_serve_nothing_and_retired_ones_refuse() -> None:
    clock = ManualClock()
    queues = DeviceQueues(default_catalog(), clock=clock, seed=1)
    queues.enqueue(DUNE, "task", "waiting")
    before = queues.position("waiting").ahead
    for _ in range(60):
        clock.advance(1.0)
        assert all(e.item_id != "waiting" for e in queues.advance())
    assert queues.position("waiting").ahead == before  # nobody ahead was served
    with pytest.raises(ValueError, match="retired"):
        queues.enqueue(EMBER, "task", "nope")
    assert queues.depth(EMBER).normal == 0


def test_a_busy_qpu_stays_beyond_the_display_cap() -> None:
    clock = ManualClock()
    queues = DeviceQueues(default_catalog(), clock=clock, seed=5)
    sizes = []
    for _ in range(30):
        clock.advance(20)
        queues.advance()
        sizes.append(queues.depth(AURORA).normal)
    assert min(sizes) > 4000
    assert max(sizes) < 9200
    assert len(set(sizes)) > 20  # it moves


# ---------------------------------------------------------------- circuits


def test_probabilities_match_braket_local_simulator() -> None:
    from braket.circuits import Circuit
    from braket.circuits.serialization import IRType
    from braket.devices import LocalSimulator

    rng = np.random.default_rng(0)
    reference = LocalSimulator()
    one = ["h", "x", "y", "z", "s", "si", "t", "ti"]
    for _ in range(15):
        n = int(rng.integers(2, 5))
        circuit = Circuit()
        for _ in range(14):
            kind = rng.integers(3)
            q = [int(x) for x in rng.choice(n, 2, replace=False)]
            if kind == 0:
                getattr(circuit, str(rng.choice(one)))(q[0])
            elif kind == 1:
                getattr(circuit, str(rng.choice(["rx", "ry", "rz"])))(q[0], float(rng.normal()))
            else:
                getattr(circuit, str(rng.choice(["cnot", "cz", "swap"])))(q[0], q[1])
        source = circuit.to_ir(IRType.OPENQASM).source
        with_probability = circuit.copy()
        with_probability.probability()
        expected = reference.run(with_probability, shots=0).result().values[0]
        np.testing.assert_allclose(circuits.probabilities(openqasm.parse(source)), expected,
                                   atol=1e-10, err_msg=source)


def test_counts_are_sampled_reproducibly_in_bit_order() -> None:
    program = openqasm.parse(
        "OPENQASM 3.0; qubit[3] q; bit[2] c; x q[2]; h q[0]; c[0] = measure q[2]; "
        "c[1] = measure q[0];")
    assert program.measured == (2, 0)
    first = circuits.sample(program, 4000, seed=9)
    assert first == circuits.sample(program, 4000, seed=9)
    assert sum(first.counts.values()) == 4000
    assert set(first.counts) == {"10", "11"}  # bit 0 reads q[2], always 1
    assert 1800 < first.counts["10"] < 2200
    assert circuits.sample(program, 4000, seed=10) != first
    bare = circuits.run("OPENQASM 3.0; qubit[2] q; x q[1];", 10, seed=1)
    assert bare.counts == {"01": 10}
    assert bare.measured_qubits == (0, 1)
    physical = circuits.run("OPENQASM 3.0; bit[1] b; x $3; b[0] = measure $3;", 5, seed=1)
    assert physical.counts == {"1": 5}
    assert circuits.run("OPENQASM 3.0; qubit q; rx(pi) q;", 7, 0).counts == {"1": 7}


@pytest.mark.parametrize(("source", "words"), [
    ("OPENQASM 3.0;\nqubit[2] q;\nfoo q[0];", ["line 3", "'foo'", "not supported"]),
    ("OPENQASM 3.0;\nqubit[2] q;\nh r[0];", ["line 3", "'r' is not declared"]),
    ("OPENQASM 3.0;\nqubit[2] q;\nh q[5];", ["line 3", "outside q[2]"]),
    ("OPENQASM 3.0;\nqubit[2] q;\nbit[1] b;\nb[0] = measure q[0];\nh q[1];",
     ["line 5", "after a measurement"]),
    ("OPENQASM 3.0;\nqubit[1] q;\nrx(__import__('os')) q[0];", ["line 3", "parameter"]),
    ("OPENQASM 3.0;\nqubit[2] q;\ncnot q[0];", ["acts on 2 qubit(s), got 1"]),
    ("OPENQASM 2.0;\nqreg q[1];", ["OpenQASM 3"]),
    ("OPENQASM 3.0;", ["declares no qubits"]),
    ("OPENQASM 3.0;\nqubit[" + "9" * 5000 + "] q;", ["line 2", "larger than any device"]),
    ("OPENQASM 3.0;\nqubit q;\nrx(" + "+".join(["1"] * 20_000) + ") q;", ["too long"]),
    ("OPENQASM 3.0;\nqubit q;\nrx(" + "(" * 400 + "1" + ")" * 400 + ") q;", ["line 3"]),
    ("OPENQASM 3.0;\nqubit q;\n#pragma braket unitary(" + "[" * 5000 + ") q", ["line 3"]),
])
def test_bad_programs_are_refused_naming_the_line(source: str, words: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        openqasm.parse(source)
    for word in words:
        assert word in str(caught.value)
    assert caught.value.fix


def test_too_many_qubits_for_the_state_vector() -> None:
    program = openqasm.parse(f"OPENQASM 3.0; qubit[{openqasm.MAX_QUBITS + 1}] q; h q[0];")
    with pytest.raises(ValueError, match="at most 22"):
        circuits.sample(program, 10, seed=0)
    with pytest.raises(ValidationError, match="shots"):
        circuits.sample(openqasm.parse("OPENQASM 3.0; qubit q;"), 0, seed=0)


# ---------------------------------------------------------------- the routes


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


class Braket:
    """Signs with botocore's SigV4Auth (not our code) and calls the real server."""

    def __init__(self, client: TestClient, token: str = TOKEN) -> None:
        self.client = client
        self.token = token

    def url(self, path: str, query: str = "") -> str:
        return str(self.client.make_url(path)) + (f"?{query}" if query else "")

    async def call(self, method: str, path: str, body: Any = None, *, query: str = "",
                   token: str | None = None, secret: str | None = None, service: str = "braket",
                   headers: dict[str, str] | None = None, raw_body: bytes | None = None) -> Reply:
        token = token or self.token
        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(method=method, url=self.url(path, query), data=data,
                             headers={"Content-Type": "application/json"} if data else {})
        signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(
            Credentials(access_key_id(token), secret or token), service, "us-east-1")
        signer.add_auth(request)
        sent = dict(request.headers.items())
        sent.update(headers or {})
        response = await self.client.session.request(
            method, URL(self.url(path, query), encoded=True), headers=sent,
            data=raw_body if raw_body is not None else (data or None))
        text = await response.read()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text.decode()
        return Reply(response.status, response.headers, parsed)

    async def create(self, device: str = SV1, source: str = BELL, shots: int = 100,
                     **extra: Any) -> str:
        body = {"deviceArn": device, "shots": shots, "outputS3Bucket": "my-results",
                "outputS3KeyPrefix": "tasks", "clientToken": extra.pop("clientToken", None)
                or str(np.random.default_rng().integers(1 << 60)),
                "action": json.dumps({"braketSchemaHeader": {
                    "name": "braket.ir.openqasm.program", "version": "1"}, "source": source}),
                **extra}
        reply = await self.call("POST", "/quantum-task", body)
        assert reply.status == 201, reply.body
        return str(reply.body["quantumTaskArn"])

    async def task(self, arn: str, token: str | None = None) -> Reply:
        return await self.call("GET", f"/quantum-task/{quote(arn, safe='')}",
                               query="additionalAttributeNames=QueueInfo", token=token)

    async def wait(self, arn: str, until: set[str], timeout: float = 20) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            reply = await self.task(arn)
            assert reply.status == 200, reply.body
            if reply.body["status"] in until:
                return dict(reply.body)
            assert asyncio.get_running_loop().time() < deadline, reply.body
            await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[Braket]:
    app = make_app(directory, {TOKEN, OTHER})
    async with TestClient(TestServer(app)) as client:
        yield Braket(client)


@pytest.fixture
async def braket(tmp_path: Path) -> AsyncIterator[Braket]:
    async with serving(tmp_path / "store") as api:
        yield api


async def test_get_device_has_braket_shapes(braket: Braket) -> None:
    reply = await braket.call("GET", f"/device/{quote(AURORA, safe='')}")
    assert reply.status == 200
    body = reply.body
    assert set(body) == {"deviceArn", "deviceName", "providerName", "deviceType", "deviceStatus",
                         "deviceCapabilities", "deviceQueueInfo"}
    assert (body["deviceType"], body["deviceStatus"]) == ("QPU", "ONLINE")
    assert isinstance(body["deviceCapabilities"], str)
    queues = {(q["queue"], q.get("queuePriority")): q["queueSize"] for q in body["deviceQueueInfo"]}
    assert queues[("QUANTUM_TASKS_QUEUE", "Normal")] == ">4000"
    assert queues[("JOBS_QUEUE", None)] == ">1000"
    assert all(isinstance(v, str) for v in queues.values())
    missing = await braket.call("GET", f"/device/{quote(AURORA + 'x', safe='')}")
    assert missing.status == 404
    assert missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "Aurora-12x" in missing.body["message"]


async def test_search_devices_filters_and_pages(braket: Braket) -> None:
    every = await braket.call("POST", "/devices", {"filters": []})
    assert [d["deviceName"] for d in every.body["devices"]] == [s.name for s in default_catalog()]
    qpus = await braket.call("POST", "/devices", {"filters": [
        {"name": "deviceType", "values": ["QPU"]}, {"name": "deviceStatus", "values": ["ONLINE"]}]})
    assert {d["deviceName"] for d in qpus.body["devices"]} == {"Aurora-12", "Cedar-8"}
    page = await braket.call("POST", "/devices", {"filters": [], "maxResults": 3})
    assert len(page.body["devices"]) == 3
    assert page.body["nextToken"]
    rest = await braket.call("POST", "/devices", {"filters": [], "maxResults": 10,
                                                  "nextToken": page.body["nextToken"]})
    assert len(rest.body["devices"]) == len(default_catalog()) - 3
    bad = await braket.call("POST", "/devices", {"filters": [{"name": "color", "values": ["x"]}]})
    assert bad.status == 400
    assert bad.headers["x-amzn-ErrorType"] == "ValidationException"
    assert "color" in bad.body["message"]


async def test_a_task_runs_to_completion_with_real_counts(braket: Braket) -> None:
    arn = await braket.create(SV1, BELL, shots=500)
    first = (await braket.task(arn)).body
    assert first["status"] in {"CREATED", "QUEUED", "RUNNING", "COMPLETED"}
    assert first["queueInfo"]["queuePriority"] == "Normal"
    if first["status"] in {"CREATED", "QUEUED"}:
        assert first["queueInfo"]["position"].isdigit()
    done = await braket.wait(arn, {"COMPLETED"})
    assert done["queueInfo"] == {
        "queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Normal", "position": "None",
        "message": no_position_message("task", "COMPLETED")}
    assert done["endedAt"] >= done["createdAt"]
    assert done["outputS3Directory"].startswith("tasks/")
    result = await braket.call("GET", f"/quantum-task/{quote(arn, safe='')}/result")
    assert result.status == 200
    counts = result.body["counts"]
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 500
    assert 180 < counts["00"] < 320
    listed = await braket.call("POST", "/quantum-tasks", {"filters": [
        {"name": "status", "operator": "EQUAL", "values": ["COMPLETED"]}]})
    assert [t["quantumTaskArn"] for t in listed.body["quantumTasks"]] == [arn]


async def test_results_json_is_served_as_s3_get_object(braket: Braket) -> None:
    from braket.task_result import GateModelTaskResult

    arn = await braket.create(SV1, BELL, shots=64)
    done = await braket.wait(arn, {"COMPLETED"})
    key = f"/s3/my-results/{done['outputS3Directory']}/results.json"
    reply = await braket.call("GET", key, service="s3")
    assert reply.status == 200
    result = GateModelTaskResult.parse_raw(json.dumps(reply.body))
    counts = dict(collections.Counter("".join(map(str, row)) for row in result.measurements))
    expected = (await braket.call("GET", f"/quantum-task/{quote(arn, safe='')}/result")).body
    assert counts == expected["counts"]
    assert result.taskMetadata.id == arn
    missing = await braket.call("GET", "/s3/my-results/tasks/nope/results.json", service="s3")
    assert missing.status == 404
    assert "<Code>NoSuchBucket</Code>" in missing.body  # only task results live in it


async def test_cancel_a_queued_task(braket: Braket) -> None:
    arn = await braket.create(AURORA, "OPENQASM 3.0; qubit[1] q; h q[0];", shots=10)
    waiting = (await braket.task(arn)).body
    assert waiting["queueInfo"]["position"] == ">2000"
    reply = await braket.call("PUT", f"/quantum-task/{quote(arn, safe='')}/cancel",
                              {"clientToken": "c1"})
    assert reply.body == {"quantumTaskArn": arn, "cancellationStatus": "CANCELLING"}
    assert (await braket.task(arn)).body["status"] in {"CANCELLING", "CANCELLED"}
    done = await braket.wait(arn, {"CANCELLED"})
    assert done["queueInfo"]["position"] == "None"
    again = await braket.call("PUT", f"/quantum-task/{quote(arn, safe='')}/cancel",
                              {"clientToken": "c2"})
    assert again.body["cancellationStatus"] == "CANCELLED"
    result = await braket.call("GET", f"/quantum-task/{quote(arn, safe='')}/result")
    assert result.status == 409
    assert result.headers["x-amzn-ErrorType"] == "ConflictException"


async def test_a_completed_task_cannot_be_cancelled(braket: Braket) -> None:
    arn = await braket.create(SV1)
    await braket.wait(arn, {"COMPLETED"})
    reply = await braket.call("PUT", f"/quantum-task/{quote(arn, safe='')}/cancel",
                              {"clientToken": "c"})
    assert reply.status == 409
    assert reply.headers["x-amzn-ErrorType"] == "ConflictException"
    assert "COMPLETED" in reply.body["message"]


async def test_a_circuit_too_large_for_the_simulator_fails(braket: Braket) -> None:
    arn = await braket.create(TN1, "OPENQASM 3.0; qubit[23] q; h q[0];", shots=1)
    done = await braket.wait(arn, {"FAILED", "COMPLETED"}, timeout=60)
    assert done["status"] == "FAILED"
    assert "at most 22" in done["failureReason"]


@pytest.mark.parametrize(("change", "words"), [
    ({"action": json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program",
                                                   "version": "1"},
                            "source": "OPENQASM 3.0;\nqubit q;\nfoo q;"})}, ["line 3", "foo"]),
    ({"action": json.dumps({"braketSchemaHeader": {"name": "braket.ir.jaqcd.program",
                                                   "version": "1"}, "instructions": []})},
     ["braket.ir.openqasm.program"]),
    ({"action": "not json"}, ["JSON"]),
    ({"shots": 0}, ["shots", "names no result types"]),
    ({"shots": -1}, ["shots", "SV1 runs 0 to 100000 shots"]),
    ({"deviceArn": CEDAR, "action": json.dumps({
        "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
        "source": "OPENQASM 3.0; qubit[9] q;"})}, ["9 qubits", "Cedar-8 has 8"]),
    ({"outputS3Bucket": None}, ["outputS3Bucket"]),
])
async def test_bad_tasks_get_a_validation_exception(braket: Braket, change: dict[str, Any],
                                                    words: list[str]) -> None:
    body = {"deviceArn": SV1, "shots": 10, "outputS3Bucket": "my-results",
            "outputS3KeyPrefix": "tasks", "clientToken": "t",
            "action": json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program",
                                                         "version": "1"}, "source": BELL})}
    body.update(change)
    reply = await braket.call("POST", "/quantum-task", {k: v for k, v in body.items()
                                                        if v is not None})
    assert reply.status == 400, reply.body
    assert reply.headers["x-amzn-ErrorType"] == "ValidationException"
    for word in words:
        assert word in reply.body["message"]


@pytest.mark.parametrize(("device", "status", "code"), [
    (EMBER, 410, "DeviceRetiredException"), (DUNE, 424, "DeviceOfflineException")])
async def test_retired_and_offline_devices_refuse_new_tasks(braket: Braket, device: str,
                                                            status: int, code: str) -> None:
    reply = await braket.call("POST", "/quantum-task", {
        "deviceArn": device, "shots": 10, "outputS3Bucket": "my-results",
        "outputS3KeyPrefix": "tasks", "clientToken": "t",
        "action": json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program",
                                                     "version": "1"}, "source": BELL})})
    assert (reply.status, reply.headers["x-amzn-ErrorType"]) == (status, code)
    assert ("retired" if status == 410 else "offline") in reply.body["message"]
    seen = await braket.call("GET", f"/device/{quote(device, safe='')}")
    assert seen.status == 200  # still listed, with its status
    assert seen.body["deviceStatus"] == ("RETIRED" if status == 410 else "OFFLINE")


async def test_client_token_makes_create_idempotent(braket: Braket) -> None:
    first = await braket.create(AURORA, "OPENQASM 3.0; qubit q;", clientToken="same")
    again = await braket.create(AURORA, "OPENQASM 3.0; qubit q;", clientToken="same")
    other = await braket.create(AURORA, "OPENQASM 3.0; qubit q;", clientToken="different")
    assert first == again != other


async def test_each_token_sees_only_its_own_tasks(braket: Braket) -> None:
    arn = await braket.create(AURORA, "OPENQASM 3.0; qubit q;")
    assert (await braket.task(arn, token=OTHER)).status == 404
    theirs = await braket.call("POST", "/quantum-tasks", {"filters": []}, token=OTHER)
    assert theirs.body["quantumTasks"] == []
    await braket.create(AURORA, "OPENQASM 3.0; qubit q;")
    mine = await braket.call("POST", "/quantum-tasks", {"filters": [], "maxResults": 1})
    assert len(mine.body["quantumTasks"]) == 1
    assert mine.body["nextToken"]


async def test_unsigned_or_badly_signed_requests_are_refused(braket: Braket) -> None:
    path = f"/device/{quote(SV1, safe='')}"
    plain = await braket.client.session.get(URL(braket.url(path), encoded=True))
    assert plain.status == 403
    assert plain.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    unknown = await braket.call("GET", path, token="not-a-token")
    assert unknown.status == 403
    assert unknown.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    wrong_secret = await braket.call("GET", path, secret="guess")
    assert wrong_secret.status == 403
    assert wrong_secret.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    # the token itself is also accepted as access key id
    request = AWSRequest(method="GET", url=braket.url(path))
    SigV4Auth(Credentials(TOKEN, TOKEN), "braket", "eu-west-2").add_auth(request)
    as_key = await braket.client.session.get(URL(braket.url(path), encoded=True),
                                             headers=dict(request.headers.items()))
    assert as_key.status == 200
    # a body changed after signing
    tampered = await braket.call("POST", "/devices", {"filters": []},
                                 raw_body=json.dumps({"filters": [], "maxResults": 1}).encode())
    assert tampered.status in (400, 403)
    # a captured request stops working: signed 20 minutes ago
    host = URL(braket.url(path)).raw_authority
    old = sign_request("GET", host, path, "", b"", access_key=access_key_id(TOKEN), secret=TOKEN,
                       region="us-east-1", when=datetime.now(timezone.utc) - timedelta(minutes=20))
    expired = await braket.client.session.get(URL(braket.url(path), encoded=True), headers=old)
    assert expired.status == 403
    assert "expired" in (await expired.json())["message"]


async def test_a_queued_task_survives_a_restart(tmp_path: Path) -> None:
    async with serving(tmp_path / "store") as first:
        arn = await first.create(AURORA, "OPENQASM 3.0; qubit q; x q;", shots=3)
        await first.wait(arn, {"QUEUED"})
    async with serving(tmp_path / "store") as second:
        again = (await second.task(arn)).body
        assert again["status"] == "QUEUED"
        assert again["queueInfo"]["position"] == ">2000"
        runtime = second.client.server.app[RUNTIME]
        assert runtime.queues.position(arn) is not None
        reply = await second.call("PUT", f"/quantum-task/{quote(arn, safe='')}/cancel",
                                  {"clientToken": "x"})
        assert reply.body["cancellationStatus"] == "CANCELLING"


def test_positions_stay_exact_through_arrivals_services_and_cancels() -> None:
    from qwidgets.sim.braket.queues import Line

    rng = np.random.default_rng(4)
    line = Line()
    waiting: list[str] = []
    for step in range(3000):
        action = rng.integers(4)
        if action == 0:
            line.push_anonymous(int(rng.integers(0, 5)))
        elif action == 1:
            waiting.append(f"t{step}")
            line.push(waiting[-1])
        elif action == 2:
            for gone in line.pop(int(rng.integers(0, 4))):
                waiting.remove(gone)
        elif waiting:
            victim = waiting.pop(int(rng.integers(len(waiting))))
            assert line.remove(victim)
        walked = 0
        for count, item in line.items:
            if item is not None and step % 50 == 0:
                assert line.ahead(str(item)) == walked
            walked += int(count or 0)
        assert walked == line.size
    assert all(line.ahead(w) is not None for w in waiting)
