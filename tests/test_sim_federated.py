"""Federated learning on the simulator: the engine's tensors, rules, aggregation and scores;
the service over a real SQLite store (rounds, versions with parents, periodic aggregation by
a clock advanced by hand, persistence, namespaces); and the routes on a real loopback server
(status codes, trailing slashes, token prefix, errors naming the field, redacted logs, the
background schedule, idempotent replay)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from qwidgets.errors import ValidationError
from qwidgets.protocol.federated import (
    FederatedNotFoundError,
    NotRegisteredError,
    check_client_uuid,
    describe,
    make_rule,
    parse_scores,
    parse_tensor,
    rebuild,
    unwrap_samples,
)
from qwidgets.sim.federated.aggregation import (
    ManualClock,
    PendingUpdate,
    aggregate,
    latest_model,
    latest_per_client,
    summarize_scores,
)
from qwidgets.sim.federated.routes import FEDERATED
from qwidgets.sim.federated.store import FederatedService
from qwidgets.sim.server.store import Store, namespace
from tests.server_support import OTHER_TOKEN, TOKEN, serving

NS = namespace("engine-test")
OTHER_NS = namespace("engine-test-other")


# ---------------------------------------------------------------- engine: tensors


@pytest.mark.parametrize("value", [
    0.5, 3, [1, 2, 3], [[1.5, 2], [3, 4], [5, 6]],
    {"w": [[0.1], [0.2]], "b": 0.0, "layer": {"k": [1, 2, 3, 4]}},
])
def test_tensor_round_trip(value: Any) -> None:
    tensor = parse_tensor(value)
    assert tensor.to_json() == _as_floats(value)
    assert rebuild(tensor.flat, tensor.signature) == _as_floats(value)


def test_signature_describes_structure() -> None:
    tensor = parse_tensor({"w": [[0.1], [0.2]], "b": 0.0})
    assert describe(tensor.signature) == "{b: number, w: array[2x1]}"
    assert list(tensor.flat) == [0.0, 0.1, 0.2]  # keys in sorted order


@pytest.mark.parametrize(("value", "field", "words"), [
    ([[1, 2], [3]], "data", "rectangular"),
    (["1", 2], "data", "numbers"),
    ([True, False], "data", "numbers"),
    ([1.0, float("nan")], "data", "finite"),
    ([], "data", "empty"),
    (None, "data", "number"),
    ({"w": [1, "x"]}, "data.w", "numbers"),
    ({"w": {"deep": float("inf")}}, "data.w.deep", "finite"),
    ({}, "data", "object"),
])
def test_tensor_refusals_name_the_field(value: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_tensor(value, "data")
    assert info.value.field == field
    assert words in str(info.value)
    assert info.value.fix


def test_unwrap_samples_envelope_and_field() -> None:
    assert unwrap_samples([1.0], 5) == ([1.0], 5)
    assert unwrap_samples({"values": [1.0], "num_samples": 7}, None) == ([1.0], 7)
    assert unwrap_samples({"values": [1.0], "other": 7}, None) == (
        {"values": [1.0], "other": 7}, None)
    with pytest.raises(ValidationError, match="num_samples"):
        unwrap_samples([1.0], 0)
    with pytest.raises(ValidationError) as info:
        unwrap_samples({"values": [1.0], "num_samples": 2.5}, None)
    assert info.value.field == "data.num_samples"


# ---------------------------------------------------------------- engine: rules, aggregation


def _update(uid: int, client: str, values: list[float], samples: int | None = None
            ) -> PendingUpdate:
    return PendingUpdate(uid, client, parse_tensor(values), samples)


def test_mean_and_fedavg_against_numpy() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(4, 6))
    counts = [10, 30, 5, 55]
    updates = [_update(i, f"c{i}", list(v), n) for i, (v, n) in
               enumerate(zip(vectors, counts, strict=True))]
    np.testing.assert_allclose(aggregate(updates, "mean"), vectors.mean(axis=0))
    np.testing.assert_allclose(aggregate(updates, "fedavg"),
                               np.average(vectors, axis=0, weights=counts))
    equal = [_update(i, f"c{i}", list(v), 9) for i, v in enumerate(vectors)]
    np.testing.assert_allclose(aggregate(equal, "fedavg"), vectors.mean(axis=0))


def test_fedavg_without_counts_is_refused() -> None:
    with pytest.raises(ValidationError, match="num_samples"):
        aggregate([_update(1, "a", [1.0], None)], "fedavg")


def test_latest_per_client_keeps_each_clients_last_update() -> None:
    pending = [_update(1, "a", [1.0]), _update(2, "b", [2.0]), _update(3, "a", [3.0])]
    assert [(u.id, u.client) for u in latest_per_client(pending)] == [(2, "b"), (3, "a")]


def test_rules_ready() -> None:
    everyone = make_rule("all_clients")
    assert not everyone.ready([], ["a", "b"])
    assert not everyone.ready(["a", "a"], ["a", "b"])
    assert everyone.ready(["a", "b"], ["a", "b"])
    assert not everyone.ready(["a"], [])
    three = make_rule("x_updates", x_updates=3)
    assert not three.ready(["a", "b"], ["a", "b"])
    assert three.ready(["a", "a", "b"], ["a", "b"])
    periodic = make_rule("periodic", period_s=10)
    assert periodic.ready(["a"], ["a", "b"])
    assert not periodic.on_update
    assert everyone.waiting(["a"], ["a", "b", "c"])["waiting_for"] == ["b", "c"]
    assert three.waiting(["a"], ["a"])["updates_needed"] == 2


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"rule": "sometimes"}, "rule"),
    ({"aggregation": "median"}, "aggregation"),
    ({"rule": "x_updates"}, "x_updates"),
    ({"rule": "x_updates", "x_updates": 0}, "x_updates"),
    ({"rule": "all_clients", "x_updates": 3}, "x_updates"),
    ({"rule": "periodic"}, "period_s"),
    ({"rule": "periodic", "period_s": float("nan")}, "period_s"),
    ({"rule": "periodic", "period_s": 0.001}, "period_s"),
])
def test_rule_refusals_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_rule(**kwargs)
    assert info.value.field == field


def test_scores_per_metric_means() -> None:
    assert parse_scores(0.8, "acc") == {"acc": 0.8}
    reports = [parse_scores({"acc": 0.8, "loss": 1.0}, "acc"), parse_scores(0.6, "acc"),
               parse_scores({"loss": 3.0}, "acc")]
    score, metrics = summarize_scores(reports, "acc")
    assert score == pytest.approx(0.7)
    assert metrics == {"acc": pytest.approx(0.7), "loss": pytest.approx(2.0)}
    with pytest.raises(ValidationError) as info:
        parse_scores({"acc": "high"}, "acc")
    assert info.value.field == "validation_results.acc"
    with pytest.raises(ValidationError):
        parse_scores([0.5], "acc")


def test_latest_model_prefers_the_newer() -> None:
    agg = {"id": 4, "results": [1.0], "created": 10.0}
    art = {"id": 2, "values": [0.0], "created": 5.0}
    assert latest_model(agg, art) == {"values": [1.0], "aggregate": 4, "artifact": None}
    assert latest_model(agg, {**art, "created": 10.0})["aggregate"] is None
    assert latest_model(None, art) == {"values": [0.0], "aggregate": None, "artifact": 2}
    assert latest_model(None, None) == {}


# ---------------------------------------------------------------- the service on SQLite


@pytest.fixture
def service(tmp_path: Path) -> Any:
    store = Store(tmp_path)
    yield FederatedService(store, ManualClock(1_000_000.0))
    store.close()


def _clients(service: FederatedService, model_id: int, n: int, ns: str = NS) -> list[str]:
    return [service.register(ns, model_id, None)[0] for _ in range(n)]


def test_all_clients_round_uses_each_clients_latest_update(service: FederatedService) -> None:
    model = service.create_model(NS, name="m", rule=make_rule("all_clients"),
                                 initial_artifact=[0.0, 0.0])
    a, b, c = _clients(service, model["id"], 3)
    assert service.add_update(NS, model["id"], a, [9.0, 9.0])["aggregate"] is None
    assert service.add_update(NS, model["id"], a, [1.0, 2.0])["aggregate"] is None
    assert service.add_update(NS, model["id"], b, [3.0, 4.0])["aggregate"] is None
    assert service.latest_aggregate(NS, model["id"]) is None
    made = service.add_update(NS, model["id"], c, [5.0, 0.0])["aggregate"]
    assert made is not None
    first = service.latest_aggregate(NS, model["id"])
    assert first is not None
    assert first["results"] == [3.0, 2.0]  # a's second update, b, c; a's first is replaced
    assert (first["version"], first["parent"], first["n_updates"], first["n_clients"]) == \
        (1, None, 4, 3)
    for client, values in ((a, [1.0, 1.0]), (b, [1.0, 1.0]), (c, [4.0, 1.0])):
        second_id = service.add_update(NS, model["id"], client, values,
                                       base_aggregate=first["id"])["aggregate"]
    second = service.aggregate_row(NS, model["id"], second_id)
    assert (second["version"], second["parent"], second["results"]) == (2, first["id"], [2.0, 1.0])
    assert service.model(NS, model["id"])["pending_updates"] == 0
    seen = {row["uuid"]: row for row in service.clients(NS, model["id"])}
    assert (seen[a]["updates"], seen[b]["updates"]) == (3, 2)


def test_x_updates_rule(service: FederatedService) -> None:
    model = service.create_model(NS, name="x", rule=make_rule("x_updates", x_updates=2))
    a, b = _clients(service, model["id"], 2)
    assert service.add_update(NS, model["id"], a, [2.0])["aggregate"] is None
    made = service.add_update(NS, model["id"], a, [4.0])["aggregate"]
    assert service.aggregate_row(NS, model["id"], made)["results"] == [4.0]  # one client: latest
    assert service.add_update(NS, model["id"], b, [1.0])["aggregate"] is None
    made = service.add_update(NS, model["id"], a, [3.0])["aggregate"]
    row = service.aggregate_row(NS, model["id"], made)
    assert row["results"] == [2.0]
    assert row["version"] == 2


def test_fedavg_through_the_service(service: FederatedService) -> None:
    model = service.create_model(NS, name="f", rule=make_rule("all_clients", "fedavg"))
    a, b = _clients(service, model["id"], 2)
    with pytest.raises(ValidationError) as info:
        service.add_update(NS, model["id"], a, [1.0])
    assert info.value.field == "num_samples"
    service.add_update(NS, model["id"], a, [1.0], num_samples=30)
    made = service.add_update(NS, model["id"], b, {"values": [5.0], "num_samples": 10})
    row = service.aggregate_row(NS, model["id"], made["aggregate"])
    assert row["results"] == [pytest.approx(2.0)]
    assert row["num_samples"] == 40


def test_periodic_aggregation_by_the_clock(service: FederatedService) -> None:
    clock = service.clock
    assert isinstance(clock, ManualClock)
    model = service.create_model(NS, name="p", rule=make_rule("periodic", period_s=60))
    (a,) = _clients(service, model["id"], 1)
    assert service.add_update(NS, model["id"], a, [1.0])["aggregate"] is None
    clock.advance(59)
    assert service.tick() == []
    clock.advance(1)
    made = service.tick()
    assert [(ns, m) for ns, m, _ in made] == [(NS, model["id"])]
    assert service.aggregate_row(NS, model["id"], made[0][2])["trigger"] == "schedule"
    clock.advance(60)
    assert service.tick() == []  # nothing pending: no empty aggregate
    assert service.next_due() == pytest.approx(clock() + 60)
    clock.advance(3600)  # a long pause resumes the rhythm from now, not 60 times at once
    service.add_update(NS, model["id"], a, [2.0])
    assert len(service.tick()) == 1
    assert service.next_due() == pytest.approx(clock() + 60)


def test_all_clients_checked_on_schedule(service: FederatedService) -> None:
    model = service.create_model(NS, name="s", rule=make_rule("all_clients", period_s=10))
    a, b = _clients(service, model["id"], 2)
    service.add_update(NS, model["id"], a, [1.0])
    assert service.add_update(NS, model["id"], b, [3.0])["aggregate"] is None  # waits for tick
    assert isinstance(service.clock, ManualClock)
    service.clock.advance(10)
    assert len(service.tick()) == 1
    assert service.latest_aggregate(NS, model["id"])["results"] == [2.0]


def test_scores_averaged_per_aggregate_and_replaced(service: FederatedService) -> None:
    model = service.create_model(NS, name="v", rule=make_rule("all_clients"), score_key="acc")
    a, b = _clients(service, model["id"], 2)
    service.add_update(NS, model["id"], a, [1.0])
    agg = service.add_update(NS, model["id"], b, [1.0])["aggregate"]
    service.add_scores(NS, model["id"], a, agg, {"acc": 0.5, "loss": 2.0})
    answer = service.add_scores(NS, model["id"], b, agg, 0.9)
    assert answer["validation_score"] == pytest.approx(0.7)
    answer = service.add_scores(NS, model["id"], a, agg, {"acc": 0.7})  # a resends: replaced
    row = service.aggregate_row(NS, model["id"], agg)
    assert row["validation_score"] == pytest.approx(0.8) == answer["validation_score"]
    assert row["n_scores"] == 2
    assert row["metrics"] == {"acc": pytest.approx(0.8)}
    with pytest.raises(FederatedNotFoundError):
        service.add_scores(NS, model["id"], a, agg + 100, 0.5)


def test_structure_is_fixed_by_the_artifact(service: FederatedService) -> None:
    model = service.create_model(NS, name="s", rule=make_rule("all_clients"),
                                 initial_artifact={"w": [0.0, 0.0], "b": 0.0})
    (a,) = _clients(service, model["id"], 1)
    with pytest.raises(ValidationError) as info:
        service.add_update(NS, model["id"], a, {"w": [0.0, 0.0, 0.0], "b": 0.0})
    assert info.value.field == "data"
    assert "{b: number, w: array[2]}" in str(info.value)
    with pytest.raises(NotRegisteredError):
        service.add_update(NS, model["id"], str(uuid.uuid4()), {"w": [0.0, 0.0], "b": 0.0})
    with pytest.raises(FederatedNotFoundError):
        service.add_update(NS, model["id"], a, {"w": [0.0, 0.0], "b": 0.0}, base_aggregate=99)


def test_publish_makes_the_artifact_the_latest_model(service: FederatedService) -> None:
    model = service.create_model(NS, name="a", rule=make_rule("all_clients"),
                                 initial_artifact=[0.0])
    assert service.latest_model(NS, model["id"]) == {"values": [0.0], "aggregate": None,
                                                     "artifact": 1}
    (a,) = _clients(service, model["id"], 1)
    assert isinstance(service.clock, ManualClock)
    service.clock.advance(1)
    agg = service.add_update(NS, model["id"], a, [2.0])["aggregate"]
    assert service.latest_model(NS, model["id"])["aggregate"] == agg
    service.clock.advance(1)
    artifact = service.publish(NS, model["id"], agg)
    assert (artifact["version"], artifact["values"], artifact["aggregate"]) == (2, [2.0], agg)
    assert service.latest_model(NS, model["id"])["artifact"] == artifact["id"]


def test_state_survives_a_restart_and_namespaces_are_separate(tmp_path: Path) -> None:
    clock = ManualClock(5_000.0)
    store = Store(tmp_path)
    service = FederatedService(store, clock)
    model = service.create_model(NS, name="r", rule=make_rule("periodic", period_s=30))
    (a,) = _clients(service, model["id"], 1)
    service.add_update(NS, model["id"], a, [1.0, 2.0])
    other = service.create_model(OTHER_NS, name="o", rule=make_rule("all_clients"))
    assert other["id"] == 1 == model["id"]  # ids count per namespace
    store.close()

    store = Store(tmp_path)
    try:
        again = FederatedService(store, clock)
        assert again.model(NS, 1)["pending_updates"] == 1
        assert again.model(OTHER_NS, 1)["name"] == "o"
        clock.advance(30)
        assert len(again.tick()) == 1
        assert again.latest_aggregate(NS, 1)["results"] == [1.0, 2.0]
        assert again.latest_aggregate(OTHER_NS, 1) is None
        with pytest.raises(NotRegisteredError):
            again.add_update(OTHER_NS, 1, a, [1.0])  # a belongs to the other namespace
        with pytest.raises(FederatedNotFoundError):
            again.model(namespace("nobody"), 1)
    finally:
        store.close()


# ---------------------------------------------------------------- routes on a real server


def _fl(token: str = TOKEN) -> str:
    return f"/fl/{token}/api/v1"


async def _json(client: TestClient, method: str, path: str, **kwargs: Any
                ) -> tuple[int, Any]:
    response = await client.request(method, path, **kwargs)
    assert response.content_type == "application/json", await response.text()
    return response.status, await response.json()


async def _create(client: TestClient, token: str = TOKEN, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "route-test")
    status, answer = await _json(client, "POST", "/api/v1/federated/models/", json=body,
                                 headers={"Authorization": f"Bearer {token}"})
    assert status == 201, answer
    return dict(answer)


async def test_webclient_routes_status_codes(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        c = api.client
        model = await _create(c, initial_artifact=[0.0, 0.0], score_key="acc")
        mid = model["id"]
        status, body = await _json(c, "GET", f"{_fl()}/models/{mid}/get_latest_aggregate/")
        assert (status, body) == (200, {})
        status, body = await _json(c, "GET", f"{_fl()}/models/{mid}/get_current_artifact/")
        assert status == 200
        assert body["values"] == [0.0, 0.0]
        assert body["version"] == 1
        assert set(body) >= {"id", "values", "version", "created_on", "federated_model"}
        status, reg = await _json(c, "POST", f"{_fl()}/models/{mid}/register_client/")
        assert status == 201
        uid = reg["uuid"]
        status, again = await _json(c, "POST", f"{_fl()}/models/{mid}/register_client",
                                    headers={"CLIENT-UUID": uid})
        assert (status, again) == (200, {"uuid": uid})  # known client, no trailing slash
        status, sent = await _json(c, "POST", f"{_fl()}/model_updates/",
                                   headers={"CLIENT-UUID": uid},
                                   json={"federated_model": mid, "data": [1.0, 3.0],
                                         "base_aggregate": None})
        assert status == 201
        assert sent["aggregate"] is not None
        status, agg = await _json(c, "GET", f"{_fl()}/models/{mid}/get_latest_aggregate/",
                                  headers={"CLIENT-UUID": uid})
        assert status == 200
        assert set(agg) >= {"id", "federated_model", "parent", "results", "validation_score",
                            "created_on"}
        assert agg["results"] == [1.0, 3.0]
        assert agg["validation_score"] is None
        status, latest = await _json(c, "GET", f"{_fl()}/models/{mid}/get_latest_model/")
        assert status == 200
        assert latest["aggregate"] == agg["id"]
        status, scored = await _json(c, "POST", f"{_fl()}/client_aggregate_scores/",
                                     headers={"CLIENT-UUID": uid},
                                     json={"validation_results": {"acc": 0.75},
                                           "federated_model": mid, "aggregate": agg["id"],
                                           "client": uid})
        assert status == 201
        assert scored["validation_score"] == 0.75
        # the same routes with the bearer token, the client named by a query parameter
        status, bearer = await _json(c, "GET", f"/api/v1/federated/models/{mid}/"
                                     f"get_latest_aggregate/?client={uid}",
                                     headers=api.headers())
        assert status == 200
        assert bearer["validation_score"] == 0.75


async def test_route_errors_name_the_field(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        c = api.client
        mid = (await _create(c, initial_artifact=[0.0]))["id"]
        _, reg = await _json(c, "POST", f"{_fl()}/models/{mid}/register_client/")
        uid = reg["uuid"]
        cases: list[tuple[str, str, dict[str, Any], int, str | None]] = [
            ("POST", f"{_fl()}/model_updates/", {"json": {"federated_model": mid, "data": [1.0]}},
             403, "CLIENT-UUID"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": str(uuid.uuid4())},
                                                 "json": {"federated_model": mid, "data": [1.0]}},
             403, "CLIENT-UUID"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": "not-a-uuid"},
                                                 "json": {"federated_model": mid, "data": [1.0]}},
             422, "CLIENT-UUID"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": mid,
                                                          "data": [1.0, 2.0]}}, 422, "data"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": mid,
                                                          "data": ["x"]}}, 422, "data"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": "one",
                                                          "data": [1.0]}},
             422, "federated_model"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": 999,
                                                          "data": [1.0]}},
             404, "federated_model"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": mid, "data": [1.0],
                                                          "base_aggregate": 7}},
             404, "base_aggregate"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "json": {"federated_model": mid, "data": [1.0],
                                                          "client": str(uuid.uuid4())}},
             422, "client"),
            ("POST", f"{_fl()}/model_updates/", {"headers": {"CLIENT-UUID": uid},
                                                 "data": b"{not json"}, 400, "body"),
            ("POST", f"{_fl()}/client_aggregate_scores/", {
                "headers": {"CLIENT-UUID": uid},
                "json": {"validation_results": 0.5, "federated_model": mid, "aggregate": 5}},
             404, "aggregate"),
            ("GET", f"{_fl()}/models/abc/get_latest_aggregate/", {}, 422, "federated_model"),
            ("GET", f"{_fl()}/models/77/get_current_artifact/", {}, 404, "federated_model"),
        ]
        for method, path, kwargs, expected, field in cases:
            status, body = await _json(c, method, path, **kwargs)
            assert status == expected, (path, kwargs, body)
            assert body["field"] == field, (path, kwargs, body)
            assert body.get("fix") or body.get("allowed"), body
        bad = {"Authorization": f"Bearer {TOKEN}"}
        status, body = await _json(c, "POST", "/api/v1/federated/models/", headers=bad,
                                   json={"name": "x", "rule": "x_updates"})
        assert (status, body["field"]) == (422, "x_updates")
        status, body = await _json(c, "POST", "/api/v1/federated/models/", headers=bad,
                                   json={"name": "x", "colour": "red"})
        assert (status, body["field"]) == (422, "colour")


async def test_token_prefix_authenticates_and_separates_namespaces(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        c = api.client
        mine = await _create(c, initial_artifact=[1.0])
        theirs = await _create(c, OTHER_TOKEN, initial_artifact=[2.0], name="other")
        assert mine["id"] == theirs["id"] == 1
        _, a = await _json(c, "GET", f"{_fl()}/models/1/get_current_artifact/")
        _, b = await _json(c, "GET", f"{_fl(OTHER_TOKEN)}/models/1/get_current_artifact/")
        assert (a["values"], b["values"]) == ([1.0], [2.0])
        wrong = "x" + TOKEN
        status, body = await _json(c, "POST", f"{_fl(wrong)}/models/1/register_client/")
        assert status == 401
        assert body["field"] == "url"
        assert wrong not in str(body)
        assert TOKEN not in str(body)
        _, reg = await _json(c, "POST", f"{_fl()}/models/1/register_client/")
        status, body = await _json(c, "POST", f"{_fl(OTHER_TOKEN)}/model_updates/",
                                   headers={"CLIENT-UUID": reg["uuid"]},
                                   json={"federated_model": 1, "data": [5.0]})
        assert status == 403  # registered in the other namespace only
        status, _ = await _json(c, "GET", "/api/v1/federated/models/")
        assert status == 401  # admin routes need the bearer header
        status, listed = await _json(c, "GET", "/api/v1/federated/models/",
                                     headers=api.headers(OTHER_TOKEN))
        assert status == 200
        assert [m["name"] for m in listed] == ["other"]


async def test_logs_never_show_the_url_token(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(tmp_path) as api:
        c = api.client
        await _create(c, initial_artifact=[0.0])
        await _json(c, "POST", f"{_fl()}/models/1/register_client/")
        await _json(c, "GET", f"{_fl()}/models/1/get_latest_model/")
        await _json(c, "GET", f"{_fl('wrong-token-123')}/models/1/get_latest_model/")
    access = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) >= 4, "the access log must be on for this test to mean anything"
    text = "\n".join(r.getMessage() + repr(vars(r)) for r in caplog.records)
    assert "/fl/<redacted>/api/v1/models/1/get_latest_model/" in text
    assert TOKEN not in text
    assert "wrong-token-123" not in text


async def test_background_schedule_aggregates_periodic_models(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        c = api.client
        service = c.server.app[FEDERATED]
        clock = ManualClock()
        service.clock = clock
        mid = (await _create(c, rule="periodic", period_s=30))["id"]
        _, reg = await _json(c, "POST", f"{_fl()}/models/{mid}/register_client/")
        status, sent = await _json(c, "POST", f"{_fl()}/model_updates/",
                                   headers={"CLIENT-UUID": reg["uuid"]},
                                   json={"federated_model": mid, "data": [4.0]})
        assert status == 201
        assert sent["aggregate"] is None
        await asyncio.sleep(0.6)  # the task wakes; nothing is due yet
        _, none = await _json(c, "GET", f"{_fl()}/models/{mid}/get_latest_aggregate/")
        assert none == {}
        clock.advance(30)
        deadline = time.monotonic() + 10
        while True:
            _, agg = await _json(c, "GET", f"{_fl()}/models/{mid}/get_latest_aggregate/")
            if agg:
                break
            assert time.monotonic() < deadline, "the schedule did not aggregate"
            await asyncio.sleep(0.05)
        assert agg["results"] == [4.0]
        _, detail = await _json(c, "GET", f"/api/v1/federated/models/{mid}/aggregates/"
                                f"{agg['id']}/", headers=api.headers())
        assert detail["trigger"] == "schedule"


async def test_bearer_post_with_idempotency_key_runs_once(tmp_path: Path) -> None:
    async with serving(tmp_path) as api:
        c = api.client
        mid = (await _create(c, rule="x_updates", x_updates=5))["id"]
        _, reg = await _json(c, "POST", f"/api/v1/federated/models/{mid}/register_client/",
                             headers=api.headers(), json={})
        headers = api.headers(**{"Idempotency-Key": "update-1"})
        body = {"federated_model": mid, "data": [1.0], "client": reg["uuid"]}
        first = await _json(c, "POST", "/api/v1/federated/model_updates/", headers=headers,
                            json=body)
        second = await _json(c, "POST", "/api/v1/federated/model_updates/", headers=headers,
                             json=body)
        assert first == second
        assert first[0] == 201
        _, model = await _json(c, "GET", f"/api/v1/federated/models/{mid}/",
                               headers=api.headers())
        assert model["updates"] == 1
        assert model["pending_updates"] == 1


def test_client_uuid_canonical_form() -> None:
    value = uuid.uuid4()
    assert check_client_uuid(str(value).upper()) == str(value)
    with pytest.raises(ValidationError) as info:
        check_client_uuid("1234")
    assert info.value.field == "CLIENT-UUID"


def _as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    return float(value)
