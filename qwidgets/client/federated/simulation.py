"""An offline federation: ``simulate_clients`` runs participants training a linear regression
through the real HTTP routes, round after round, so a ``FederatedPanel`` has something to show."""

from __future__ import annotations

import asyncio
import time
import uuid as uuid_module
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qwidgets.client.errors import UsageError, ValidationError
from qwidgets.client.federated.models import AsyncFederatedClient
from qwidgets.client.federated.participant import AsyncWebClient
from qwidgets.client.federated.wire import bounded
from qwidgets.protocol.federated import DEFAULT_SCORE_KEY


@dataclass
class SimulationReport:
    """What ``simulate_clients`` did: per round, the aggregate and the clients' mean R²."""

    federated_model_id: int
    clients: list[str]
    aggregates: list[int] = field(default_factory=list)
    r2: list[float] = field(default_factory=list)
    weights: dict[str, Any] = field(default_factory=dict)
    true_weights: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Participant:
    web: AsyncWebClient
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


async def simulate_clients(
    client: AsyncFederatedClient | None = None, federated_model_id: int | None = None, *,
    clients: int = 3, rounds: int = 8, features: int = 3, samples: int = 900,
    local_steps: int = 10, learning_rate: float = 0.1, noise: float = 0.1,
    delay: float = 0.3, aggregation: str = "fedavg", seed: int = 0, timeout: float = 30.0,
) -> SimulationReport:
    """Run ``clients`` participants training a linear regression on their own partitions of
    a synthetic dataset for ``rounds`` rounds, through the real HTTP routes: each round every
    participant downloads the latest model, takes ``local_steps`` gradient steps on its data,
    sends the weights (with its sample count), waits for the aggregate, and reports its
    validation R² and MSE on it. Partitions differ in size and in feature means (non-IID), so
    FedAvg and the plain mean differ. ``delay`` seconds between rounds let a panel show the
    rounds moving. Without ``federated_model_id`` a model is created (rule all_clients).

    Participants' uuids derive from the model id, the seed and their index, so running the
    simulation again on the same model reuses the same registered clients.

    In a notebook, run it as a task so a ``FederatedPanel`` polls meanwhile::

        simulation = asyncio.ensure_future(simulate_clients(fed, model_id, delay=0.5))
        report = await simulation        # later: SimulationReport"""
    bounded(clients, "clients", 1, 64)
    bounded(rounds, "rounds", 1, 10_000)
    bounded(features, "features", 1, 1000)
    bounded(samples, "samples", 10 * clients, 10_000_000)
    bounded(local_steps, "local_steps", 1, 100_000)
    if not 0 < learning_rate <= 10:
        raise ValidationError("learning_rate", learning_rate, "must be in (0, 10]",
                              "e.g. learning_rate=0.1")
    if delay < 0:
        raise ValidationError("delay", delay, "must be >= 0 seconds", "e.g. delay=0.3")
    started = time.perf_counter()
    owned = client is None
    fed = client if client is not None else await AsyncFederatedClient.create()
    try:
        rng = np.random.default_rng(seed)
        true_w = rng.normal(0.0, 1.0, features)
        true_b = 0.5
        if federated_model_id is None:
            model = await fed.create_model(
                "linear-regression-demo", aggregation=aggregation,
                initial_artifact={"w": [0.0] * features, "b": 0.0})
            federated_model_id = int(model["id"])
        participants = []
        shares = rng.dirichlet(np.full(clients, 2.0))
        for index in range(clients):
            n = max(10, int(samples * shares[index]))
            x = rng.normal(rng.uniform(-1.0, 1.0, features), 1.0, (n, features))
            y = x @ true_w + true_b + rng.normal(0.0, noise, n)
            cut = int(n * 0.8)
            name = uuid_module.uuid5(uuid_module.NAMESPACE_URL,
                                     f"qwidgets-sim/{federated_model_id}/{seed}/{index}")
            web = fed.web_client(federated_model_id, str(name))
            await web.register()
            participants.append(_Participant(web, x[:cut], y[:cut], x[cut:], y[cut:]))
        report = SimulationReport(federated_model_id, [p.web.uuid or "" for p in participants],
                                  true_weights={"w": true_w.tolist(), "b": true_b})
        for round_index in range(rounds):
            results = await asyncio.gather(*(
                _train_round(p, local_steps, learning_rate, timeout) for p in participants))
            report.aggregates.append(max(r[0] for r in results))
            report.r2.append(float(np.mean([r[1] for r in results])))
            if delay and round_index < rounds - 1:
                await asyncio.sleep(delay)
        final = await participants[0].web.latest_aggregate()
        report.weights = dict(final["results"]) if final else {}
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if owned:
            await fed.close()


async def _train_round(p: _Participant, steps: int, rate: float, timeout: float
                       ) -> tuple[int, float]:
    """One participant's round: ``(aggregate id, validation R²)``."""
    latest = await p.web.latest_aggregate()
    if latest is not None:
        start, base = latest["results"], int(latest["id"])
    else:
        artifact = await p.web.get_current_artifact()
        if artifact is None:
            raise UsageError(f"federated model {p.web.federated_model_id} has no artifact to "
                             "start from: create it with initial_artifact={'w': [...], 'b': 0}")
        start, base = artifact["values"], None
    w, b = np.asarray(start["w"], dtype=np.float64), float(start["b"])
    n = len(p.y_train)
    for _ in range(steps):
        error = p.x_train @ w + b - p.y_train
        w = w - rate * (p.x_train.T @ error) / n
        b = b - rate * float(error.mean())
    sent = await p.web.send_update({"w": w.tolist(), "b": b}, base, num_samples=n)
    made = sent.get("aggregate")
    try:
        # the aggregate this round made: the one this update completed, or the next one
        found = await p.web.wait_for_aggregate(made - 1 if made else (base or 0),
                                               timeout=timeout)
    except TimeoutError:
        raise TimeoutError(f"round of federated model {p.web.federated_model_id} did not "
                           f"aggregate within {timeout:g} s: is another client registered with "
                           "it that does not send updates? aggregate_now() closes a stalled "
                           "round; a new model avoids it") from None
    w, b = np.asarray(found["results"]["w"]), float(found["results"]["b"])
    predicted = p.x_val @ w + b
    mse = float(np.mean((predicted - p.y_val) ** 2))
    r2 = 1.0 - mse / float(np.var(p.y_val)) if np.var(p.y_val) > 0 else 0.0
    # R² under the default key too: a model created with the defaults scores by it
    await p.web.send_val_results({DEFAULT_SCORE_KEY: r2, "r2": r2, "mse": mse},
                                 int(found["id"]))
    return int(found["id"]), r2
