"""Our federated client against the real simulator on loopback: the WebClient methods, the two
defects of fma-connect 0.0.2 it does not have, local validation naming the field, one pooled
session for many participants, the blocking facade, and the offline demo federation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from qwidgets.client import AsyncFederatedClient, AsyncWebClient, WebClient
from qwidgets.client.errors import AuthenticationError, NotFoundError, UsageError
from qwidgets.client.federated.client import simulate_clients
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from tests.client_support import FAST_RETRY


@pytest.fixture
async def fed(server: SimServer) -> AsyncIterator[AsyncFederatedClient]:
    client = await AsyncFederatedClient.create(token=server.token, hostname="127.0.0.1",
                                               port=server.port, retry=FAST_RETRY)
    async with client:
        yield client


async def _model(fed: AsyncFederatedClient, **kwargs: Any) -> int:
    kwargs.setdefault("initial_artifact", {"w": [0.0, 0.0], "b": 0.0})
    return int((await fed.create_model("client-test", **kwargs))["id"])


async def test_a_round_with_two_participants(fed: AsyncFederatedClient) -> None:
    mid = await _model(fed, aggregation="fedavg", score_key="r2")
    one, two = fed.web_client(mid), fed.web_client(mid)
    assert one.uuid is None
    await one.register()
    await two.register()
    assert one.uuid != two.uuid
    assert await one.register() == one.uuid  # a known client stays itself
    artifact = await one.get_current_artifact()
    assert artifact is not None
    assert artifact["values"] == {"b": 0.0, "w": [0.0, 0.0]}
    assert await one.check_for_new_model_aggregate() is None
    sent = await one.send_update({"w": np.array([1.0, 2.0]), "b": np.float64(1.0)},
                                 num_samples=30)
    assert sent["aggregate"] is None
    sent = await two.send_update({"w": [5.0, 6.0], "b": 3.0}, num_samples=10)
    agg = await one.check_for_new_model_aggregate()
    assert agg is not None
    assert agg["id"] == sent["aggregate"]
    assert agg["results"] == {"b": pytest.approx(1.5), "w": [pytest.approx(2.0),
                                                             pytest.approx(3.0)]}
    await one.send_val_results({"r2": 0.5}, agg["id"])
    answer = await two.send_val_results(0.7, agg["id"])
    assert answer["validation_score"] == pytest.approx(0.6)
    assert await one.check_for_new_model_aggregate() is None  # nothing newer
    clients = await fed.clients(mid)
    assert sorted(c["uuid"] for c in clients) == sorted([one.uuid, two.uuid])
    assert all(c["updates"] == 1 and c["scores"] == 1 for c in clients)
    listed = await fed.aggregates(mid)
    assert [a["validation_score"] for a in listed] == [pytest.approx(0.6)]
    assert "results" not in listed[0]
    assert (await fed.aggregate(mid, agg["id"]))["results"] == agg["results"]


async def test_update_after_on_a_new_client_is_no_type_error(fed: AsyncFederatedClient) -> None:
    """fma-connect 0.0.2 raises TypeError here (max(int, None)); ours answers."""
    mid = await _model(fed, rule="x_updates", x_updates=1)
    sender = fed.web_client(mid)
    await sender.register()
    for value in (1.0, 2.0):
        await sender.send_update({"w": [value, value], "b": value})
    first, second = (a["id"] for a in await fed.aggregates(mid))
    fresh = fed.web_client(mid)
    newer = await fresh.check_for_new_model_aggregate(update_after=first)
    assert newer is not None
    assert newer["id"] == second
    assert await fed.web_client(mid).check_for_new_model_aggregate(update_after=second) is None


async def test_the_check_methods_keep_their_own_cursors(fed: AsyncFederatedClient) -> None:
    """fma-connect 0.0.2 shares one cursor: after check_for_new_model_aggregate returned an
    aggregate, check_for_latest_model returns None for that same news."""
    mid = await _model(fed, rule="x_updates", x_updates=1)
    client = fed.web_client(mid)
    await client.register()
    first = await client.check_for_latest_model()
    assert first is not None
    assert first["aggregate"] is None
    assert await client.check_for_latest_model() is None
    await client.send_update({"w": [1.0, 1.0], "b": 1.0})
    agg = await client.check_for_new_model_aggregate()
    assert agg is not None
    model = await client.check_for_latest_model()
    assert model is not None
    assert model["aggregate"] == agg["id"]
    assert await client.check_for_latest_model() is None
    assert await client.check_for_new_model_aggregate() is None
    await client.send_update({"w": [2.0, 2.0], "b": 2.0})
    model = await client.check_for_latest_model()
    assert model is not None
    assert model["values"]["b"] == 2.0
    agg2 = await client.check_for_new_model_aggregate()  # still news for this method
    assert agg2 is not None
    assert agg2["id"] == model["aggregate"]
    published = await fed.publish(mid, agg["id"])
    newest = await client.check_for_latest_model()
    assert newest is not None
    assert newest["artifact"] == published["id"]
    assert newest["values"]["b"] == 1.0
    assert await client.check_for_latest_model(update_after=agg2["id"]) is not None


async def test_local_validation_names_the_field(fed: AsyncFederatedClient) -> None:
    mid = await _model(fed)
    client = fed.web_client(mid)
    with pytest.raises(UsageError, match="register"):
        await client.send_update({"w": [1.0, 1.0], "b": 0.0})
    await client.register()
    attempts = fed.http_client.attempts
    cases: list[tuple[Any, str]] = [
        (client.send_update({"w": [1.0, float("nan")], "b": 0.0}), "data.w"),
        (client.send_update([1.0], num_samples=-3), "num_samples"),
        (client.send_update([1.0], base_aggregate=0), "base_aggregate"),
        (client.send_val_results({"r2": "good"}, 1), "validation_results.r2"),
        (client.send_val_results(0.5, "latest"), "aggregate_id"),
        (client.check_for_new_model_aggregate(update_after=-1), "update_after"),
        (fed.create_model("x", rule="periodic"), "period_s"),
        (fed.create_model("", initial_artifact=[1.0]), "name"),
        (fed.create_model("x", initial_artifact=[[1.0], [2.0, 3.0]]), "initial_artifact"),
        (fed.aggregates(mid, limit=0), "limit"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as info:
            await call
        assert info.value.field == field
    assert fed.http_client.attempts == attempts  # refused before any request
    for bad_id in (0, True, "seven"):
        with pytest.raises(ValidationError) as info:
            fed.web_client(bad_id)  # type: ignore[arg-type]
        assert info.value.field == "federated_model_id"
    with pytest.raises(ValidationError) as info:
        fed.web_client(mid, uuid="me")
    assert info.value.field == "uuid"


async def test_server_refusals_arrive_as_our_exceptions(server: SimServer,
                                                        fed: AsyncFederatedClient) -> None:
    mid = await _model(fed)
    client = fed.web_client(mid)
    await client.register()
    with pytest.raises(ValidationError) as info:
        await client.send_update({"w": [1.0, 2.0, 3.0], "b": 0.0})  # not the model's shape
    assert info.value.field == "data"
    assert "array[2]" in str(info.value)
    with pytest.raises(NotFoundError):
        await fed.web_client(9999).get_current_artifact()
    stranger = fed.web_client(mid, uuid="00000000-0000-4000-8000-000000000000")
    with pytest.raises(AuthenticationError):  # 403: never registered
        await stranger.send_update({"w": [1.0, 2.0], "b": 0.0})
    wrong = await AsyncFederatedClient.create(token="not-the-token", hostname="127.0.0.1",
                                              port=server.port, retry=1)
    async with wrong:
        with pytest.raises(AuthenticationError):
            await wrong.models()


async def test_participants_share_one_pool(fed: AsyncFederatedClient) -> None:
    before = fed.http_client.connections_opened
    report = await simulate_clients(fed, clients=4, rounds=3, delay=0.0)
    assert len(report.aggregates) == 3
    # 4 participants x 3 rounds x ~6 requests went over a handful of connections
    assert fed.http_client.attempts > 50
    assert fed.http_client.connections_opened - before <= 8


async def test_simulated_federation_learns(fed: AsyncFederatedClient) -> None:
    started = time.perf_counter()
    report = await simulate_clients(fed, clients=3, rounds=8, delay=0.0, seed=1)
    assert time.perf_counter() - started < 20
    assert report.aggregates == sorted(report.aggregates)
    assert len(set(report.aggregates)) == 8
    assert report.r2[-1] > report.r2[0]
    assert report.r2[-1] > 0.9
    np.testing.assert_allclose(report.weights["w"], report.true_weights["w"], atol=0.1)
    model = await fed.model(report.federated_model_id)
    assert (model["updates"], model["aggregates"], model["clients"]) == (24, 8, 3)
    rows = await fed.aggregates(report.federated_model_id)
    assert [r["version"] for r in rows] == list(range(1, 9))
    assert [r["parent"] for r in rows[1:]] == [r["id"] for r in rows[:-1]]
    assert all(r["n_scores"] == 3 for r in rows)
    np.testing.assert_allclose([r["validation_score"] for r in rows], report.r2, atol=1e-9)
    # a second run on the same model reuses the same participants
    again = await simulate_clients(fed, report.federated_model_id, clients=3, rounds=1,
                                   delay=0.0, seed=1)
    assert again.clients == report.clients
    assert (await fed.model(report.federated_model_id))["clients"] == 3


async def test_aggregate_now_closes_a_stalled_round(fed: AsyncFederatedClient) -> None:
    mid = await _model(fed)
    active, silent = fed.web_client(mid), fed.web_client(mid)
    await active.register()
    await silent.register()
    await active.send_update({"w": [1.0, 1.0], "b": 1.0})
    summary = await fed.summary(mid)
    assert summary["round"]["waiting_for"] == [silent.uuid]
    made = await fed.aggregate_now(mid)
    assert made is not None
    assert made["trigger"] == "manual"
    assert made["n_clients"] == 1
    assert await fed.aggregate_now(mid) is None


def test_blocking_webclient_from_threads(server: SimServer) -> None:
    async def create() -> int:
        async with await AsyncFederatedClient.create(
                token=server.token, hostname="127.0.0.1", port=server.port) as fed:
            made = await fed.create_model("sync", rule="x_updates", x_updates=3,
                                          initial_artifact=[0.0])
            return int(made["id"])

    mid = asyncio.run(create())
    results: list[Any] = []

    def participant(value: float) -> None:
        client = WebClient.create(mid, token=server.token, hostname="127.0.0.1",
                                  port=server.port)
        try:
            client.register()
            results.append(client.send_update([value]))
        finally:
            client.close()

    threads = [threading.Thread(target=participant, args=(v,)) for v in (1.0, 2.0, 6.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3
    made = [r["aggregate"] for r in results if r["aggregate"] is not None]
    assert len(made) == 1
    reader = WebClient.create(mid, token=server.token, hostname="127.0.0.1", port=server.port)
    try:
        agg = reader.check_for_new_model_aggregate(update_after=None)
        assert agg is not None
        assert agg["results"] == [pytest.approx(3.0)]
        assert "WebClient(federated_model_id=" in repr(reader)
    finally:
        reader.close()


async def test_the_token_stays_out_of_reprs(server: SimServer, fed: AsyncFederatedClient) -> None:
    assert server.token not in repr(fed)
    assert server.token not in repr(fed.http_client)
    url = fed.webclient_url()
    assert url == f"{server.url}/fl/{server.token}"
    assert server.token not in repr(fed.web_client(1))


async def test_embedded_default_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No hostname: the process-wide simulator in QWIDGETS_DATA_DIR, as in a notebook."""
    import qwidgets.sim.server.embedded as embedded

    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(embedded, "_default", None)
    try:
        async with await AsyncFederatedClient.create() as fed:
            report = await simulate_clients(fed, clients=2, rounds=2, delay=0.0)
            assert len(report.aggregates) == 2
            assert fed.webclient_url().startswith("http://127.0.0.1:")
    finally:
        if embedded._default is not None:
            await asyncio.to_thread(embedded._default.stop)
        monkeypatch.setattr(embedded, "_default", None)


def test_async_web_client_create_checks_first() -> None:
    with pytest.raises(ValidationError) as info:
        asyncio.run(AsyncWebClient.create(-1, token="t", hostname="127.0.0.1", port=1))
    assert info.value.field == "federated_model_id"
