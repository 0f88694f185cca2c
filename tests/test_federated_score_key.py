"""The validation score a newcomer's federation shows: a model created with the defaults and
participants simulated with the defaults agree on the metric's name (one default, in
qwidgets.protocol.federated), and a panel still waiting for scores names the key it waits for."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest

from qwidgets.client import AsyncFederatedClient
from qwidgets.client.federated.client import simulate_clients
from qwidgets.protocol.federated import DEFAULT_SCORE_KEY
from qwidgets.sim import SimServer
from qwidgets.widgets.federated_panel import FederatedPanel
from tests.client_support import FAST_RETRY


@pytest.fixture
async def fed(server: SimServer) -> AsyncIterator[AsyncFederatedClient]:
    client = await AsyncFederatedClient.create(token=server.token, hostname="127.0.0.1",
                                               port=server.port, retry=FAST_RETRY)
    async with client:
        yield client


def test_create_model_defaults_to_the_shared_key() -> None:
    default = inspect.signature(AsyncFederatedClient.create_model).parameters["score_key"].default
    assert default == DEFAULT_SCORE_KEY


async def test_a_model_with_the_default_key_is_scored_by_simulated_clients(
        fed: AsyncFederatedClient) -> None:
    # what federated.ipynb does: create_model without score_key, then simulate_clients
    model = await fed.create_model("defaults", aggregation="fedavg",
                                   initial_artifact={"w": [0.0, 0.0, 0.0], "b": 0.0})
    assert model["score_key"] == DEFAULT_SCORE_KEY
    report = await simulate_clients(fed, model["id"], clients=3, rounds=3, delay=0.0)
    panel = FederatedPanel(model["id"], client=fed)
    await panel.refresh()
    scores = [score for _, score in panel.scores]
    assert None not in scores
    assert scores == pytest.approx(report.r2)
    assert panel.figure().data[0].y == pytest.approx(report.r2)
    assert "no validation scores yet" not in panel.static_html()


async def test_a_panel_without_scores_names_the_key_it_waits_for(
        fed: AsyncFederatedClient) -> None:
    model = await fed.create_model("unscored", rule="x_updates", x_updates=1,
                                   initial_artifact=[0.0], score_key="accuracy")
    participant = fed.web_client(model["id"])
    await participant.register()
    sent = await participant.send_update([0.5])
    # a metric under another name: the aggregate gets no validation_score
    await participant.send_val_results({"loss": 0.1}, sent["aggregate"])
    panel = FederatedPanel(model["id"], client=fed)
    await panel.refresh()
    assert [score for _, score in panel.scores] == [None]
    assert ("no validation scores yet (waiting for &#x27;accuracy&#x27; in the clients' "
            "validation results)") in panel.static_html()
