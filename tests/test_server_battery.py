"""The hardening battery, part one: malformed input over every route family answers a 4xx with
a JSON message, never a 5xx, and nothing of it reaches the log as an unexpected error.

Property-based (hypothesis): each route's valid body is the template, and the battery replaces
one member at a time (any depth, or the whole body) by a hostile value (the wrong type, a lone
surrogate, 5,000 digits, NaN, nesting 3,000 deep, ...), or sends bytes that are not JSON, or
not UTF-8, at all. Then the items of the issue one by one. The other parts:
``test_server_battery_braket`` (SigV4 and Braket's shapes), ``test_server_limits`` (bounded
memory and CPU), ``test_server_logs`` (secrets, log volume, file modes) and
``test_server_battery_client``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwidgets.protocol.hybrid_jobs import prepare_create_job
from qwidgets.sim import SimServer, start
from qwidgets.sim.server.limits import GiB, Quotas, ServerLimits
from tests.battery_support import (
    HOSTILE,
    LogTap,
    Raw,
    Wire,
    assert_refused,
    b64_csv,
    battery_report,  # noqa: F401 (a fixture: the tally once the module ends)
    count,
    dumps,
    paths,
    replaced,
    tapped,
)
from tests.server_support import b64_frame, linear_frame, quick_params

TOKEN = "battery-token-7f3a9c"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL = ("OPENQASM 3.0;\nbit[2] b;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n"
        "b[0] = measure q[0];\nb[1] = measure q[1];")
ACTION = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
                     "source": BELL})
TRAIN = "qwidgets.sim.braket.programs.train:main"
FAST = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@dataclass
class World:
    """A server with one of everything, so every route has a valid request to spoil."""

    server: SimServer
    wire: Wire
    tap: LogTap
    dataset: str
    parameters: str
    model: str
    federated: int
    client: str
    aggregate: int
    task: str
    job: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    limits = ServerLimits(auth_failures=10**6, max_model_memory=2 * GiB,
                          quotas=Quotas(10**5, 8 * GiB, 10**5, 10**5))
    with tapped() as tap, start(token=TOKEN, data_dir=tmp_path_factory.mktemp("battery"),
                                limits=limits) as server:
        wire = Wire(server.url, TOKEN)
        world = _populate(server, wire, tap)
        yield world
        # everything the battery sent was the client's fault: no 500 was logged, no traceback
        unexpected = [line for line in tap.lines if "unexpected error" in line]
        assert not unexpected, unexpected[:3]
        assert tap.tracebacks() == 0, tap.text[-3000:]
        assert TOKEN not in tap.text


def _ok(reply: Any, *statuses: int) -> Any:
    assert reply.status in (statuses or (200, 201)), (reply.status, reply.body[:400])
    return reply.json()


def _populate(server: SimServer, wire: Wire, tap: LogTap) -> World:
    frame = linear_frame(60)
    dataset = _ok(wire.request("POST", "/api/v1/dataset/", dumps(
        {"format": "dataframe", "source": "client", "project_guid": None,
         "data": b64_frame(frame)})))["guid"]
    parameters = _ok(wire.request("POST", "/api/v1/training_parameters/", dumps(
        {"model": "pauli", "parameters": quick_params(batch_size=30, num_passes=1)})))["guid"]
    model = _ok(wire.request("POST", "/api/v1/model/", dumps(
        {"training_parameters_guid": parameters, "dataset_guid": dataset,
         "qcog_version": "0.0.123"})))["guid"]
    for _ in range(600):  # a training of milliseconds; the bound only ends a broken run
        status = _ok(wire.request("GET", f"/api/v1/model/{model}/"))["status"]
        if status == "completed":
            break
        time.sleep(0.05)
    fed = _ok(wire.request("POST", "/api/v1/federated/models/", dumps(
        {"name": "battery", "rule": "x_updates", "x_updates": 1,
         "initial_artifact": {"w": [[0.1], [0.2]], "b": 0.0}})))["id"]
    client = _ok(wire.request("POST", f"/api/v1/federated/models/{fed}/register_client/",
                              b"{}"))["uuid"]
    _ok(wire.request("POST", "/api/v1/federated/model_updates/", dumps(
        {"federated_model": fed, "client": client, "base_aggregate": None,
         "data": {"w": [[0.3], [0.4]], "b": 1.0}})))
    aggregate = _ok(wire.request("GET", f"/api/v1/federated/models/{fed}/get_latest_aggregate/"
                                 ))["id"]
    task = _ok(wire.signed("POST", "/quantum-task", dumps(
        {"deviceArn": SV1, "shots": 10, "action": ACTION, "outputS3Bucket": "b",
         "outputS3KeyPrefix": "p", "clientToken": str(uuid.uuid4())})))["quantumTaskArn"]
    job = _ok(wire.signed("POST", "/job", dumps(prepare_create_job(
        device=SV1, entry_point=TRAIN, job_name="battery-job"))))["jobArn"]
    _ok(wire.signed("PUT", f"/job/{_quote(job)}/cancel", b"{}"))
    return World(server, wire, tap, dataset, parameters, model, fed, client, aggregate, task,
                 job)


def _quote(arn: str) -> str:
    from urllib.parse import quote

    return quote(arn, safe="")


def _routes(w: World) -> dict[str, list[tuple[str, str, Any]]]:
    """Per family, ``(method, path, valid body)`` of every route that takes a body."""
    fed = w.federated
    update = {"federated_model": fed, "client": w.client, "base_aggregate": None,
              "data": {"values": {"w": [[0.3], [0.4]], "b": 1.0}, "num_samples": 3}}
    scores = {"federated_model": fed, "aggregate": w.aggregate, "client": w.client,
              "validation_results": {"score": 0.5, "mse": 0.1}}
    create = {"name": "m", "rule": "x_updates", "aggregation": "fedavg", "x_updates": 2,
              "period_s": None, "initial_artifact": {"w": [[0.1], [0.2]], "b": 0.0},
              "score_key": "score"}
    task = {"deviceArn": SV1, "shots": 10, "action": ACTION, "outputS3Bucket": "b",
            "outputS3KeyPrefix": "p", "clientToken": "battery", "deviceParameters": "{}",
            "tags": {"a": "b"}}
    search = {"filters": [{"name": "status", "operator": "EQUAL", "values": ["COMPLETED"]}],
              "maxResults": 10, "nextToken": "0"}
    data = b64_frame(linear_frame(20)[["x", "y"]])
    return {
        "qcog": [
            ("POST", "/api/v1/training_parameters/",
             {"model": "pauli", "parameters": quick_params()}),
            ("POST", "/api/v1/dataset/", {"format": "dataframe", "source": "client",
                                          "project_guid": None, "data": data}),
            ("POST", "/api/v1/model/", {"training_parameters_guid": w.parameters,
                                        "dataset_guid": "no-such-dataset",
                                        "qcog_version": "0.0.123"}),
            ("POST", f"/api/v1/model/{w.model}/inference/",
             {"data": data, "parameters": {"state_method": "NP_EIGH"}}),
        ],
        "federated": [
            ("POST", "/api/v1/federated/models/", create),
            ("POST", "/api/v1/federated/model_updates/", update),
            ("POST", "/api/v1/federated/client_aggregate_scores/", scores),
            ("POST", f"/api/v1/federated/models/{fed}/register_client/", {"client": w.client}),
            ("POST", f"/api/v1/federated/models/{fed}/publish/", {"aggregate": w.aggregate}),
            ("POST", f"/fl/{TOKEN}/api/v1/model_updates/", update),
            ("POST", f"/fl/{TOKEN}/api/v1/client_aggregate_scores/", scores),
        ],
        "braket": [
            ("POST", "/devices", {"filters": [{"name": "deviceType", "values": ["SIMULATOR"]}],
                                  "maxResults": 10, "nextToken": "0"}),
            ("POST", "/quantum-tasks", search),
            ("POST", "/quantum-task", {**task, "shots": 0}),
            ("PUT", f"/quantum-task/{_quote(w.task)}/cancel", {"clientToken": "battery"}),
        ],
        "jobs": [
            ("POST", "/jobs", {"filters": [{"name": "status", "operator": "EQUAL",
                                            "values": ["COMPLETED"]}], "maxResults": 5}),
            ("POST", "/job", prepare_create_job(device=SV1, entry_point=TRAIN,
                                                job_name="battery-job")),
            ("PUT", f"/job/{_quote(w.job)}/cancel", {}),
        ],
    }


def _send(w: World, family: str, method: str, path: str, body: bytes,
          headers: dict[str, str] | None = None) -> None:
    aws = family in ("braket", "jobs")
    reply = (w.wire.signed(method, path, body, headers=headers) if aws
             else w.wire.request(method, path, body, headers))
    count(family)
    assert_refused(reply, aws=aws)


@st.composite
def spoiled(draw: st.DrawFn, routes: list[tuple[str, str, Any]]) -> tuple[str, str, bytes]:
    method, path, template = draw(st.sampled_from(routes))
    where = draw(st.sampled_from([(), *paths(template)]))
    return method, path, dumps(replaced(template, where, draw(st.sampled_from(HOSTILE))))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


@pytest.mark.parametrize("family", ["qcog", "federated", "braket", "jobs"])
@FAST
@given(data=st.data())
def test_one_hostile_member_is_a_4xx(world: World, family: str, data: st.DataObject) -> None:
    method, path, body = data.draw(spoiled(_routes(world)[family]))
    _send(world, family, method, path, body)


@pytest.mark.parametrize("family", ["qcog", "federated", "braket", "jobs"])
@settings(max_examples=50, deadline=None, database=None)
@given(data=st.data())
def test_arbitrary_bytes_and_json_are_a_4xx(world: World, family: str,
                                           data: st.DataObject) -> None:
    method, path, _ = data.draw(st.sampled_from(_routes(world)[family]))
    body = data.draw(st.binary(max_size=300) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
    _send(world, family, method, path, body)


@settings(max_examples=80, deadline=None, database=None)
@given(segment=st.binary(min_size=1, max_size=40), which=st.integers(0, 6))
def test_odd_path_segments_are_a_4xx(world: World, segment: bytes, which: int) -> None:
    """Guids and ids in paths as percent-escapes of any bytes (invalid UTF-8 included)."""
    escaped = "".join(f"%{b:02X}" for b in segment)
    family, method, path = [
        ("qcog", "GET", f"/api/v1/dataset/{escaped}/"),
        ("qcog", "GET", f"/api/v1/model/{escaped}/"),
        ("qcog", "POST", f"/api/v1/model/{escaped}/cancel/"),
        ("qcog", "GET", f"/api/v1/training_parameters/{escaped}"),
        ("federated", "GET", f"/api/v1/federated/models/{escaped}/summary/?after={escaped}"),
        ("federated", "GET", f"/api/v1/federated/models/{world.federated}/aggregates/"
                             f"?limit={escaped}&values={escaped}"),
        ("braket", "GET", f"/quantum-task/{escaped}"),
    ][which]
    _send(world, family, method, path, b"" if method == "GET" else b"{}")


@settings(max_examples=80, deadline=None, database=None)
@given(value=st.binary(min_size=1, max_size=60).filter(lambda b: b"\r" not in b
                                                        and b"\n" not in b),
       which=st.integers(0, 4))
def test_odd_header_bytes_are_a_4xx(world: World, value: bytes, which: int) -> None:
    """Authorization, Idempotency-Key, CLIENT-UUID and SigV4 headers with any bytes (a
    non-ASCII byte arrives as a surrogate in the server's str)."""
    wire = world.wire
    if which == 0:
        reply = wire.request("GET", "/api/v1/status/", bearer=False,
                             raw_headers=b"Authorization: Bearer " + value + b"\r\n")
        family = "qcog"
    elif which == 1:
        reply = wire.request("POST", "/api/v1/model/", b"{}",
                             raw_headers=b"Idempotency-Key: " + value + b"\r\n")
        family = "qcog"
    elif which == 2:
        reply = wire.request("GET", f"/api/v1/federated/models/{world.federated}/"
                             "get_latest_model/", raw_headers=b"CLIENT-UUID: " + value + b"\r\n")
        family = "federated"
    elif which == 3:
        reply = wire.request("POST", "/devices", b"{}", bearer=False, raw_headers=(
            b"Authorization: AWS4-HMAC-SHA256 Credential=" + value + b"/20240101/us-east-1/"
            b"braket/aws4_request, SignedHeaders=host, Signature=00\r\n"))
        family = "braket"
    else:
        reply = wire.request("POST", "/api/v1/federated/model_updates/", b"{}",
                             raw_headers=b"Content-Type: " + value + b"\r\n")
        family = "federated"
    count(family)
    # a control character is refused by aiohttp's parser, before any route
    assert_refused(reply, aws=family == "braket", parser=True)


# ---------------------------------------------------------------- the items


TP = "/api/v1/training_parameters/"


@pytest.mark.parametrize("spoil", [
    {"model": True}, {"model": [1]}, {"model": "pauli"}, {"model": 3},
    {"weight_optimization_kwargs": {"optimization_method": [1]}},
    {"weight_optimization_kwargs": {"optimization_method": {"a": 1}}},
    {"weight_optimization_kwargs": []}, {"state_kwargs": 0},
    {"state_kwargs": {"state_method": ["NP_EIGH"]}},
])
def test_non_object_parameters_name_the_field(world: World, spoil: dict[str, Any]) -> None:
    reply = world.wire.request("POST", TP, dumps({"model": "pauli",
                                                   "parameters": {**quick_params(), **spoil}}))
    count("qcog")
    assert reply.status == 422, reply.body
    field = reply.json()["field"]
    assert field.split(".")[-1] in ("model", "optimization_method", "state_method",
                                    "weight_optimization_kwargs", "state_kwargs"), field


SURROGATE = Raw('"\\ud800"')


@pytest.mark.parametrize(("family", "path", "body"), [
    ("federated", "/api/v1/federated/models/", {"name": SURROGATE}),
    ("qcog", "/api/v1/dataset/", {"source": SURROGATE, "data": b64_csv(",x\n0,1\n")}),
    ("qcog", "/api/v1/model/", {"training_parameters_guid": SURROGATE, "dataset_guid": "a"}),
    ("qcog", "/api/v1/model/", {"training_parameters_guid": "a", "dataset_guid": SURROGATE}),
    ("braket", "/quantum-task", {"deviceArn": SV1, "shots": 1, "action": ACTION,
                                 "outputS3Bucket": SURROGATE, "outputS3KeyPrefix": "p",
                                 "clientToken": "t"}),
    ("jobs", "/job", {**prepare_create_job(device=SV1, entry_point=TRAIN, job_name="j2"),
                      "clientToken": SURROGATE}),
])
def test_lone_surrogates_are_a_400(world: World, family: str, path: str,
                                   body: dict[str, Any]) -> None:
    aws = family in ("braket", "jobs")
    raw = dumps(body)
    reply = world.wire.signed("POST", path, raw) if aws else world.wire.request("POST", path,
                                                                               raw)
    count(family)
    assert reply.status == 400, reply.body
    assert "surrogate" in reply.json()["message"]


DEEP = b"[" * 10_000 + b"]" * 10_000
BIG = b'{"a": ' + b"9" * 5000 + b"}"


@pytest.mark.parametrize("body", [DEEP, BIG], ids=["nested 10000 deep", "5000 digits"])
@pytest.mark.parametrize(("family", "path"), [
    ("qcog", "/api/v1/model/"), ("federated", "/api/v1/federated/models/"),
    ("federated", f"/fl/{TOKEN}/api/v1/model_updates/"), ("braket", "/quantum-task"),
    ("braket", "/devices"), ("jobs", "/job"), ("jobs", "/jobs"),
])
def test_deep_nesting_and_long_integers_are_a_400(world: World, family: str, path: str,
                                                  body: bytes) -> None:
    aws = family in ("braket", "jobs")
    reply = world.wire.signed("POST", path, body) if aws else world.wire.request("POST", path,
                                                                                body)
    count(family)
    assert reply.status == 400, reply.body
    assert_refused(reply, aws=aws)


@pytest.mark.parametrize("path", ["/devices", "/quantum-tasks"])
@pytest.mark.parametrize("token", ["²", "٣", "1" * 40, "-1", " 1"])
def test_next_tokens_of_non_ascii_digits_are_a_400(world: World, path: str, token: str) -> None:
    reply = world.wire.signed("POST", path, dumps({"nextToken": token}))
    count("braket")
    assert reply.status == 400, reply.body
    assert_refused(reply, aws=True)


@pytest.mark.parametrize("path", ["/devices", "/quantum-task", "/jobs", "/job"])
def test_bodies_that_are_not_utf8_are_a_braket_400(world: World, path: str) -> None:
    reply = world.wire.signed("POST", path, b'{"a": "\xff\xfe"}')
    count("jobs" if "job" in path else "braket")
    assert reply.status == 400, reply.body
    assert reply.headers["x-amzn-errortype"] == "ValidationException"


def test_a_bearer_token_of_non_ascii_bytes_is_a_401(world: World) -> None:
    for value in (b"caf\xe9", b"\xff\xfe", "café".encode()):
        reply = world.wire.request("GET", "/api/v1/status/", bearer=False,
                                   raw_headers=b"Authorization: Bearer " + value + b"\r\n")
        count("qcog")
        assert reply.status == 401, reply.body
        reply = world.wire.request("GET", f"/fl/{value.decode('latin-1')}/api/v1/models/1/"
                                   "get_latest_model/".encode("latin-1"), bearer=False)
        count("federated")
        assert reply.status in (400, 401), reply.body


@pytest.mark.parametrize(("csv", "indexing"), [
    ("a,b\n1,2,3\n", [3]), ("a,b\n1,2\n", [0, 1, 2]), ("a\n1\n", [5]), ("", [0]),
])
def test_indexing_that_does_not_fit_the_rows_is_a_400(world: World, csv: str,
                                                      indexing: list[int]) -> None:
    data = b64_csv(csv, indexing)
    for path in ("/api/v1/dataset/", f"/api/v1/model/{world.model}/inference/"):
        reply = world.wire.request("POST", path, dumps({"data": data}))
        count("qcog")
        assert reply.status in (400, 422), reply.body
        assert reply.json()["field"].startswith("data"), reply.body


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", b"garbage-garbage" * 100), ("deflate", b"garbage-garbage" * 100),
    ("gzip", b"\x1f\x8b" + b"\x00" * 64), ("br", b"whatever"),
])
@pytest.mark.parametrize("path", ["/api/v1/model/", "/api/v1/federated/models/"])
def test_bodies_that_do_not_decode_are_a_400(world: World, encoding: str, body: bytes,
                                             path: str) -> None:
    reply = world.wire.request("POST", path, body, {"Content-Encoding": encoding,
                                                    "Content-Type": "application/json"})
    count("federated" if "federated" in path else "qcog")
    assert reply.status == 400, reply.body
    # an encoding aiohttp cannot decode at all (brotli, not installed) is its parser's 400
    assert_refused(reply, parser=encoding == "br")


def test_scores_of_1e308_never_make_infinity(world: World) -> None:
    wire = world.wire
    fed = _ok(wire.request("POST", "/api/v1/federated/models/", dumps(
        {"name": "huge", "rule": "x_updates", "x_updates": 2})), 201)["id"]
    clients = [_ok(wire.request("POST", f"/api/v1/federated/models/{fed}/register_client/",
                                b"{}"), 201)["uuid"] for _ in range(2)]
    for client in clients:
        _ok(wire.request("POST", "/api/v1/federated/model_updates/", dumps(
            {"federated_model": fed, "client": client, "data": [1e308, -1e308]})), 201)
    aggregate = _ok(wire.request("GET", f"/api/v1/federated/models/{fed}/"
                                 "get_latest_aggregate/"))["id"]
    for client in clients:
        _ok(wire.request("POST", "/api/v1/federated/client_aggregate_scores/", dumps(
            {"federated_model": fed, "aggregate": aggregate, "client": client,
             "validation_results": {"score": 1e308, "loss": -1e308}})), 201)
    for path in (f"models/{fed}/aggregates/?values=1", f"models/{fed}/summary/",
                 f"models/{fed}/aggregates/{aggregate}/", f"models/{fed}/get_latest_model/"):
        reply = wire.request("GET", f"/api/v1/federated/{path}")
        count("federated")
        text = reply.body.decode()
        assert reply.status == 200, text
        assert "Infinity" not in text, text
        assert "NaN" not in text, text
        json.loads(text, parse_constant=_no_constant)
    count("federated", 8)


def _no_constant(name: str) -> Any:
    pytest.fail(f"{name} in an answer")


def test_a_multipart_part_of_unknown_transfer_encoding_is_a_400(world: World) -> None:
    from tests.battery_support import multipart
    from tests.server_support import gzip_upload

    for encoding in ("x-unknown", "quoted-printable-ish", "7bit\x7f"):
        body, content_type = multipart([("file", gzip_upload(linear_frame(5)),
                                         {"Content-Transfer-Encoding": encoding})])
        reply = world.wire.request("POST", "/api/v1/dataset/upload/?dataset_id=x", body,
                                   {"Content-Type": content_type})
        count("qcog")
        assert reply.status == 400, reply.body
        assert reply.json()["field"] == "file"


def test_the_store_is_untouched_by_the_battery(world: World, tmp_path: Path) -> None:
    """The valid objects the battery spoiled copies of are still there and readable."""
    reply = world.wire.request("GET", f"/api/v1/model/{world.model}/")
    count("qcog")
    assert reply.json()["status"] == "completed"


QASM_BOMBS = {
    "a register of 5000 digits": "OPENQASM 3.0;\nqubit[" + "9" * 5000 + "] q;\n",
    "20000 terms": "OPENQASM 3.0;\nqubit[1] q;\nrx(" + "+".join(["1"] * 20_000) + ") q[0];\n",
}


@pytest.mark.parametrize("source", list(QASM_BOMBS.values()), ids=list(QASM_BOMBS))
def test_openqasm_bombs_are_a_400(world: World, source: str) -> None:
    action = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program",
                                                "version": "1"}, "source": source})
    reply = world.wire.signed("POST", "/quantum-task", dumps(
        {"deviceArn": SV1, "shots": 10, "action": action, "outputS3Bucket": "b",
         "outputS3KeyPrefix": "p", "clientToken": "qasm"}))
    count("braket")
    assert reply.status == 400, reply.body
    assert_refused(reply, aws=True)
