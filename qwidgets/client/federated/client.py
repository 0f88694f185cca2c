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

import asyncio
import time
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np

from qwidgets.client.connect import resolve
from qwidgets.client.errors import ApiError, UsageError, ValidationError
from qwidgets.client.http import HttpClient, Secret
from qwidgets.client.loop_thread import LoopThread, close_at_exit, shared_loop
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol.federated import (
    DEFAULT_SCORE_KEY,
    check_client_uuid,
    check_id,
    check_name,
    check_score_key,
    make_rule,
    parse_scores,
    parse_tensor,
    unwrap_samples,
)

ROOT = "federated"


class AsyncFederatedClient:
    """Federated models of a service (by default the embedded simulator): create them, list
    their clients and aggregates, and make participants (``web_client``)."""

    def __init__(self, http: HttpClient, *, token: str | None = None) -> None:
        self._http = http
        self._token = Secret(token or "")

    @classmethod
    async def create(cls, *, token: str | None = None, hostname: str | None = None,
                     port: int = 443, api_version: str = "v1", timeout: float = 60.0,
                     retry: RetryPolicy | int | None = None) -> AsyncFederatedClient:
        """Connect to ``hostname`` (https, http for loopback), or with no hostname to the
        embedded simulator."""
        endpoint = await resolve(token, hostname, port, api_version)
        policy = RetryPolicy(attempts=retry) if isinstance(retry, int) else retry
        return cls(HttpClient(endpoint.base_url, endpoint.token, timeout=timeout, retry=policy),
                   token=endpoint.token)

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncFederatedClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http.base_url!r})"

    @property
    def http_client(self) -> HttpClient:
        return self._http

    def webclient_url(self) -> str:
        """The base URL to give ``fma_connect.WebClient(id, url=...)`` for a qwidgets simulator
        (``/fl/<token>``, see ``qwidgets.sim.federated.routes``). It contains the token: treat
        it as a secret (do not print it in a notebook you share)."""
        if not self._token:
            raise UsageError("this client was made without its token; create it with "
                             "AsyncFederatedClient.create(...)")
        base = self._http.base_url
        root = base[: base.rindex("/api/")] if "/api/" in base else base
        return f"{root}/fl/{self._token.reveal()}"

    def web_client(self, federated_model_id: int, uuid: str | None = None) -> AsyncWebClient:
        """A participant of the model, sharing this client's connections."""
        return AsyncWebClient(federated_model_id, uuid, http=self._http)

    # ------------------------------------------------------------ models

    async def create_model(
        self, name: str, *, rule: str = "all_clients", aggregation: str = "mean",
        x_updates: int | None = None, period_s: float | None = None,
        initial_artifact: Any = None, score_key: str = DEFAULT_SCORE_KEY,
    ) -> dict[str, Any]:
        """A federated model; ``rule``/``aggregation`` as in ``qwidgets.protocol.federated``.
        ``initial_artifact``: the starting weights clients download (fixes the structure)."""
        checked = make_rule(rule, aggregation, x_updates, period_s)
        if initial_artifact is not None:
            parse_tensor(initial_artifact, "initial_artifact")
        body = {"name": check_name(name), **checked.to_dict(),
                "initial_artifact": _jsonable(initial_artifact),
                "score_key": check_score_key(score_key)}
        return _object(await self._http.post(f"{ROOT}/models/", body), "id")

    async def models(self) -> list[dict[str, Any]]:
        return _list(await self._http.get(f"{ROOT}/models/"))

    async def model(self, federated_model_id: int) -> dict[str, Any]:
        return _object(await self._http.get(_model_path(federated_model_id)), "id")

    async def clients(self, federated_model_id: int) -> list[dict[str, Any]]:
        return _list(await self._http.get(_model_path(federated_model_id, "clients/")))

    async def aggregates(self, federated_model_id: int, *, after: int = 0, limit: int = 100,
                         values: bool = False) -> list[dict[str, Any]]:
        """Aggregates with an id above ``after``, oldest first (``values``: with results)."""
        params = {"after": str(_non_negative(after, "after")),
                  "limit": str(_bounded(limit, "limit", 1, 1000)),
                  "values": "1" if values else "0"}
        return _list(await self._http.get(_model_path(federated_model_id, "aggregates/"),
                                          params=params))

    async def aggregate(self, federated_model_id: int, aggregate_id: int) -> dict[str, Any]:
        path = _model_path(federated_model_id,
                           f"aggregates/{check_id(aggregate_id, 'aggregate_id')}/")
        return _object(await self._http.get(path), "id")

    async def summary(self, federated_model_id: int, *, after: int = 0, limit: int = 500
                      ) -> dict[str, Any]:
        """Model, clients, the round in progress and the aggregates after ``after``."""
        params = {"after": str(_non_negative(after, "after")),
                  "limit": str(_bounded(limit, "limit", 1, 1000))}
        return _object(await self._http.get(_model_path(federated_model_id, "summary/"),
                                            params=params), "model")

    async def aggregate_now(self, federated_model_id: int) -> dict[str, Any] | None:
        """Aggregate the pending updates now, whatever the rule; None if nothing is pending."""
        answer = await self._http.post(_model_path(federated_model_id, "aggregate_now/"), {})
        return answer or None

    async def publish(self, federated_model_id: int, aggregate_id: int) -> dict[str, Any]:
        """Make an aggregate the model's current artifact."""
        return _object(await self._http.post(
            _model_path(federated_model_id, "publish/"),
            {"aggregate": check_id(aggregate_id, "aggregate_id")}), "id")


class AsyncWebClient:
    """One participant of a federated model: the fma-connect ``WebClient`` API, async."""

    def __init__(self, federated_model_id: int, uuid: str | None = None, *,
                 http: HttpClient) -> None:
        self._model_id = check_id(federated_model_id, "federated_model_id")
        self._uuid = check_client_uuid(uuid, "uuid") if uuid is not None else None
        self._http = http
        # one cursor per "check" method, so neither hides news from the other
        self._aggregate_cursor: int | None = None
        self._model_cursor: tuple[int | None, int | None] | None = None

    @classmethod
    async def create(cls, federated_model_id: int, uuid: str | None = None, *,
                     token: str | None = None, hostname: str | None = None, port: int = 443,
                     api_version: str = "v1", timeout: float = 60.0,
                     retry: RetryPolicy | int | None = None) -> AsyncWebClient:
        """A participant with its own connection pool (several share one through
        ``AsyncFederatedClient.web_client``)."""
        check_id(federated_model_id, "federated_model_id")
        endpoint = await resolve(token, hostname, port, api_version)
        policy = RetryPolicy(attempts=retry) if isinstance(retry, int) else retry
        http = HttpClient(endpoint.base_url, endpoint.token, timeout=timeout, retry=policy)
        return cls(federated_model_id, uuid, http=http)

    async def close(self) -> None:
        await self._http.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(federated_model_id={self._model_id}, "
                f"uuid={self._uuid!r})")

    @property
    def uuid(self) -> str | None:
        """The client uuid; None until ``register()`` (no request hides in a property)."""
        return self._uuid

    @property
    def url(self) -> str:
        return self._http.base_url

    @property
    def federated_model_id(self) -> int:
        return self._model_id

    @property
    def http_client(self) -> HttpClient:
        return self._http

    def _identity(self) -> dict[str, str]:
        return {"client": self._uuid} if self._uuid else {}

    def _registered(self) -> str:
        if self._uuid is None:
            raise UsageError("this client is not registered yet: await register() first")
        return self._uuid

    # ------------------------------------------------------------ the WebClient API

    async def register(self) -> str:
        """Register with the model (a known uuid stays registered, unchanged)."""
        answer = _object(await self._http.post(
            _model_path(self._model_id, "register_client/"), self._identity()), "uuid")
        self._uuid = check_client_uuid(answer["uuid"], "uuid")
        return self._uuid

    async def send_update(self, data: Any, base_aggregate: int | None = None, *,
                          num_samples: int | None = None) -> dict[str, Any]:
        """Send the weights trained locally; ``num_samples`` weighs them under 'fedavg'.
        The answer's ``aggregate`` is the id of the aggregate this update completed."""
        client = self._registered()
        data = _jsonable(data)
        tensor_part, samples = unwrap_samples(data, num_samples)
        parse_tensor(tensor_part, "data")
        body: dict[str, Any] = {
            "federated_model": self._model_id, "data": data, "client": client,
            "base_aggregate": None if base_aggregate is None
            else check_id(base_aggregate, "base_aggregate")}
        if num_samples is not None:
            body["num_samples"] = samples
        return _object(await self._http.post(f"{ROOT}/model_updates/", body), "id")

    async def latest_aggregate(self) -> dict[str, Any] | None:
        """The model's latest aggregate (no cursor), None if there is none yet."""
        return await self._read("get_latest_aggregate/")

    async def get_current_artifact(self) -> dict[str, Any] | None:
        return await self._read("get_current_artifact/")

    async def get_latest_model(self) -> dict[str, Any] | None:
        """``{values, aggregate, artifact}`` of the newer of the latest aggregate and the
        current artifact (no cursor), None if the model has neither."""
        return await self._read("get_latest_model/")

    async def check_for_new_model_aggregate(self, update_after: int | None = None
                                            ) -> dict[str, Any] | None:
        """The latest aggregate if it is newer than ``update_after`` (else than the last one
        this method returned); None otherwise."""
        after = _optional_id(update_after, "update_after")
        found = await self.latest_aggregate()
        if found is None:
            return None
        threshold = after if after is not None else self._aggregate_cursor
        self._aggregate_cursor = max(self._aggregate_cursor or 0, int(found["id"]))
        if threshold is not None and int(found["id"]) <= threshold:
            return None
        return found

    async def check_for_latest_model(self, update_after: int | None = None
                                     ) -> dict[str, Any] | None:
        """The latest model values if they changed since this method last returned them;
        with ``update_after``: if they come from an aggregate above that id, or from the
        artifact (which is no aggregate the caller has)."""
        after = _optional_id(update_after, "update_after")
        found = await self.get_latest_model()
        if found is None:
            return None
        marker = (found.get("aggregate"), found.get("artifact"))
        previous, self._model_cursor = self._model_cursor, marker
        aggregate = found.get("aggregate")
        if after is not None:
            return found if aggregate is None or int(aggregate) > after else None
        return None if marker == previous else found

    async def send_val_results(self, results: Any, aggregate_id: int) -> dict[str, Any]:
        """Validation results (a number or ``{metric: number}``) of an aggregate."""
        client = self._registered()
        results = _jsonable(results)
        parse_scores(results, "score")
        return _object(await self._http.post(f"{ROOT}/client_aggregate_scores/", {
            "validation_results": results, "federated_model": self._model_id,
            "aggregate": check_id(aggregate_id, "aggregate_id"), "client": client}),
            "aggregate")

    async def wait_for_aggregate(self, after: int | None = None, *, timeout: float = 60.0,
                                 interval: float = 0.05) -> dict[str, Any]:
        """Poll until an aggregate newer than ``after`` exists; return it."""
        deadline = time.monotonic() + timeout
        while True:
            # without the client's identity: participants waiting together share one request
            found = await self._read("get_latest_aggregate/", identify=False)
            if found is not None and (after is None or int(found["id"]) > after):
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no aggregate after {after} of federated model "
                                   f"{self._model_id} within {timeout:g} s")
            await asyncio.sleep(interval)

    async def _read(self, route: str, *, identify: bool = True) -> dict[str, Any] | None:
        params = self._identity() if identify else {}
        answer = await self._http.get(_model_path(self._model_id, route), params=params or None)
        if not isinstance(answer, dict):
            raise ApiError(None, f"unexpected answer to {route}: {str(answer)[:200]}")
        return answer or None


class WebClient:
    """``AsyncWebClient`` without ``await``: usable in scripts, threads and a running kernel
    (every call runs on a private loop thread, as ``QcogClient`` does)."""

    def __init__(self, client: AsyncWebClient, loop: LoopThread | None = None) -> None:
        self._client = client
        self._loop = loop or shared_loop()
        close_at_exit(client.http_client)

    @classmethod
    def create(cls, federated_model_id: int, uuid: str | None = None, *,
               token: str | None = None, hostname: str | None = None, port: int = 443,
               timeout: float = 60.0, retry: RetryPolicy | int | None = None) -> WebClient:
        loop = shared_loop()
        return cls(loop.run(AsyncWebClient.create(
            federated_model_id, uuid, token=token, hostname=hostname, port=port,
            timeout=timeout, retry=retry)), loop)

    def close(self) -> None:
        self._loop.run(self._client.close())

    def __repr__(self) -> str:
        return repr(self._client).replace("AsyncWebClient", "WebClient", 1)

    @property
    def uuid(self) -> str | None:
        return self._client.uuid

    @property
    def federated_model_id(self) -> int:
        return self._client.federated_model_id

    def register(self) -> str:
        return self._loop.run(self._client.register())

    def send_update(self, data: Any, base_aggregate: int | None = None, *,
                    num_samples: int | None = None) -> dict[str, Any]:
        return self._loop.run(self._client.send_update(data, base_aggregate,
                                                       num_samples=num_samples))

    def check_for_new_model_aggregate(self, update_after: int | None = None
                                      ) -> dict[str, Any] | None:
        return self._loop.run(self._client.check_for_new_model_aggregate(update_after))

    def get_current_artifact(self) -> dict[str, Any] | None:
        return self._loop.run(self._client.get_current_artifact())

    def check_for_latest_model(self, update_after: int | None = None) -> dict[str, Any] | None:
        return self._loop.run(self._client.check_for_latest_model(update_after))

    def send_val_results(self, results: Any, aggregate_id: int) -> dict[str, Any]:
        return self._loop.run(self._client.send_val_results(results, aggregate_id))


# ---------------------------------------------------------------- an offline federation


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
    _bounded(clients, "clients", 1, 64)
    _bounded(rounds, "rounds", 1, 10_000)
    _bounded(features, "features", 1, 1000)
    _bounded(samples, "samples", 10 * clients, 10_000_000)
    _bounded(local_steps, "local_steps", 1, 100_000)
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
        report.weights = dict(final["result"]) if final else {}
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
        start, base = latest["result"], int(latest["id"])
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
    w, b = np.asarray(found["result"]["w"]), float(found["result"]["b"])
    predicted = p.x_val @ w + b
    mse = float(np.mean((predicted - p.y_val) ** 2))
    r2 = 1.0 - mse / float(np.var(p.y_val)) if np.var(p.y_val) > 0 else 0.0
    # R² under the default key too: a model created with the defaults scores by it
    await p.web.send_val_results({DEFAULT_SCORE_KEY: r2, "r2": r2, "mse": mse},
                                 int(found["id"]))
    return int(found["id"]), r2


# ---------------------------------------------------------------- helpers


def _model_path(model_id: int, rest: str = "") -> str:
    return f"{ROOT}/models/{check_id(model_id, 'federated_model_id')}/{rest}"


def _optional_id(value: Any, field_name: str) -> int | None:
    return None if value is None else check_id(value, field_name)


def _bounded(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(name, value, f"must be an integer from {low} to {high}")
    return value


def _non_negative(value: Any, name: str) -> int:
    return 0 if value == 0 else check_id(value, name)


def _jsonable(value: Any) -> Any:
    """numpy arrays and scalars as plain JSON values (lists, floats)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return [_jsonable(v) for v in value] if any(
            isinstance(v, (np.ndarray, np.generic, Mapping, list, tuple)) for v in value
        ) else list(value)
    return value


def _object(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or key not in body:
        raise ApiError(None, f"unexpected answer (no {key!r}): {str(body)[:200]}")
    return body


def _list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ApiError(None, f"unexpected answer (not a list): {str(body)[:200]}")
    return body


__all__ = ["AsyncFederatedClient", "AsyncWebClient", "SimulationReport", "WebClient",
           "simulate_clients"]
