"""The public fma-connect 0.0.2 ``WebClient``, unchanged, against our server on 127.0.0.1 (its
base URL is ``http://127.0.0.1:PORT/fl/<token>``).

Install it with ``pip install fma-connect==0.0.2`` (in the ``dev`` extra); skipped without it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import qwidgets.sim as sim
from qwidgets.client.federated.client import AsyncFederatedClient

fma = pytest.importorskip("fma_connect")
exceptions = pytest.importorskip("fma_connect.exceptions")

pytestmark = pytest.mark.peer


def _admin(server: sim.SimServer, **kwargs: Any) -> tuple[int, str]:
    """Create a federated model with our client; return its id and the WebClient base URL."""

    async def run() -> tuple[int, str]:
        async with await AsyncFederatedClient.create(
                token=server.token, hostname="127.0.0.1", port=server.port) as fed:
            model = await fed.create_model("peer", **kwargs)
            return int(model["id"]), fed.webclient_url()

    return asyncio.run(run())


def test_a_federated_round_with_the_public_client(server: sim.SimServer) -> None:
    mid, url = _admin(server, initial_artifact={"w": [0.0, 0.0], "b": 0.0},
                      aggregation="fedavg", score_key="r2")
    alice = fma.WebClient(mid, url=url)
    bob = fma.WebClient(mid, url=url)
    uuid_a = alice.register()
    uuid_b = bob.register()
    assert uuid_a != uuid_b
    assert alice.uuid == uuid_a
    assert fma.WebClient(mid, uuid=uuid_a, url=url).register() == uuid_a  # known: unchanged

    artifact = alice.get_current_artifact()
    assert artifact["values"] == {"w": [0.0, 0.0], "b": 0.0}
    assert artifact["version"] == 1
    assert artifact["federated_model"] == mid
    assert alice.check_for_new_model_aggregate() is None  # the server answers {}

    # the public client has no num_samples argument: the envelope carries the count
    alice.send_update({"values": {"w": [1.0, 2.0], "b": 1.0}, "num_samples": 30})
    assert alice.check_for_new_model_aggregate() is None  # waiting for bob
    answer = bob.send_update({"values": {"w": [5.0, 6.0], "b": 3.0}, "num_samples": 10})
    assert answer["aggregate"] is not None

    aggregate = alice.check_for_new_model_aggregate()
    assert aggregate is not None
    assert aggregate["id"] == answer["aggregate"]
    assert aggregate["parent"] is None
    # the keys of fma_connect's documentation of check_for_new_model_aggregate
    assert {"id", "results", "validation_score"} <= set(aggregate)
    assert "result" not in aggregate
    assert aggregate["results"] == {"b": pytest.approx(1.5),
                                   "w": [pytest.approx(2.0), pytest.approx(3.0)]}
    assert alice.check_for_new_model_aggregate() is None  # already seen

    alice.send_val_results({"r2": 0.8}, aggregate["id"])
    scored = bob.send_val_results(0.6, aggregate["id"])
    assert scored["validation_score"] == pytest.approx(0.7)
    assert bob.check_for_new_model_aggregate()["validation_score"] == pytest.approx(0.7)

    carol = fma.WebClient(mid, url=url)
    carol.register()
    latest = carol.check_for_latest_model()
    assert latest is not None
    assert latest["aggregate"] == aggregate["id"]
    assert latest["values"] == aggregate["results"]

    # a second round: based on the first aggregate, so the versions chain
    for client, w in ((alice, [3.0, 3.0]), (bob, [3.0, 3.0]), (carol, [3.0, 3.0])):
        client.send_update({"values": {"w": w, "b": 0.0}, "num_samples": 5},
                           base_aggregate=aggregate["id"])
    second = alice.check_for_new_model_aggregate()
    assert second is not None
    assert second["parent"] == aggregate["id"]
    assert second["results"]["w"] == [3.0, 3.0]


def test_plain_updates_with_the_unweighted_mean(server: sim.SimServer) -> None:
    mid, url = _admin(server, rule="x_updates", x_updates=2)
    client = fma.WebClient(mid, url=url)
    client.register()
    client.send_update([[1.0, 2.0], [3.0, 4.0]])
    assert client.get_current_artifact() == {}  # created without an artifact
    other = fma.WebClient(mid, url=url)
    other.register()
    other.send_update([[3.0, 2.0], [1.0, 0.0]])
    aggregate = client.check_for_new_model_aggregate()
    assert aggregate["results"] == [[2.0, 2.0], [2.0, 2.0]]


def test_refusals_are_api_exceptions_with_our_messages(server: sim.SimServer) -> None:
    mid, url = _admin(server, initial_artifact=[0.0, 0.0])
    unregistered = fma.WebClient(mid, url=url)
    with pytest.raises(exceptions.APIException, match=r"403.*CLIENT-UUID"):
        unregistered.send_update([1.0, 2.0])
    client = fma.WebClient(mid, url=url)
    client.register()
    with pytest.raises(exceptions.APIException, match=r"422.*data"):
        client.send_update([1.0, 2.0, 3.0])  # not the artifact's shape
    with pytest.raises(exceptions.APIException, match="404"):
        fma.WebClient(mid + 1000, url=url).register()
    wrong = url.rsplit("/", 1)[0] + "/not-the-token"
    with pytest.raises(exceptions.APIException, match="401") as info:
        fma.WebClient(mid, url=wrong).register()
    assert server.token not in str(info.value)


def test_the_public_clients_known_defects(server: sim.SimServer) -> None:
    """What our client avoids (tests/test_client_federated.py): shown here against the same
    server, so those tests exercise the very situations that break fma-connect 0.0.2."""
    mid, url = _admin(server, rule="x_updates", x_updates=1, initial_artifact=[0.0])
    sender = fma.WebClient(mid, url=url)
    sender.register()
    sender.send_update([1.0])
    sender.send_update([2.0])
    fresh = fma.WebClient(mid, url=url)
    with pytest.raises(TypeError):  # max(int, None) on a client that never checked
        fresh.check_for_new_model_aggregate(update_after=1)
    shared = fma.WebClient(mid, url=url)
    assert shared.check_for_new_model_aggregate() is not None
    assert shared.check_for_latest_model() is None  # the news was eaten by the other method
