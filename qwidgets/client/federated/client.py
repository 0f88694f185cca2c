"""Federated learning from Python: ``AsyncFederatedClient`` (create models, watch rounds),
``AsyncWebClient`` / ``WebClient`` (a participant: the fma-connect WebClient's methods), and
``simulate_clients``, a small offline federation through the real HTTP routes.

    fed = await AsyncFederatedClient.create()          # the embedded simulator
    model = await fed.create_model("demo", initial_artifact={"w": [0.0, 0.0], "b": 0.0},
                                   aggregation="fedavg")
    client = fed.web_client(model["id"])
    await client.register()
    await client.send_update({"w": [0.4, -0.2], "b": 0.1}, num_samples=120)

Compared with ``fma_connect.WebClient`` 0.0.2: ``check_for_new_model_aggregate(update_after=1)``
on a new client works (the public one raises TypeError), and the two "check" methods keep
their own cursors (the public ones share one, so a call of one hides news from the other).
Requests go with the bearer token to ``/api/v1/federated/`` (see
``qwidgets.sim.federated.routes``), over one pooled session shared by every participant
created from the same ``AsyncFederatedClient``; values are checked before they are sent.
"""

from __future__ import annotations

from qwidgets.client.federated.models import AsyncFederatedClient
from qwidgets.client.federated.participant import AsyncWebClient, WebClient
from qwidgets.client.federated.simulation import SimulationReport, simulate_clients

# The federated client's public names, each from the module named for what it holds.
__all__ = ["AsyncFederatedClient", "AsyncWebClient", "SimulationReport", "WebClient",
           "simulate_clients"]
