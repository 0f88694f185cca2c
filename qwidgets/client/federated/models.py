"""Federated models of a service: ``AsyncFederatedClient`` creates them, lists their clients
and aggregates, and makes participants that share its connections (``web_client``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from qwidgets.client.connect import resolve
from qwidgets.client.errors import UsageError
from qwidgets.client.federated.participant import AsyncWebClient
from qwidgets.client.federated.wire import (
    ROOT,
    bounded,
    expect_list,
    expect_object,
    jsonable,
    model_path,
    non_negative,
)
from qwidgets.client.http import HttpClient, Secret
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol.federated import (
    DEFAULT_SCORE_KEY,
    check_id,
    check_name,
    check_score_key,
    make_rule,
    parse_tensor,
)


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
                "initial_artifact": jsonable(initial_artifact),
                "score_key": check_score_key(score_key)}
        return expect_object(await self._http.post(f"{ROOT}/models/", body), "id")

    async def models(self) -> list[dict[str, Any]]:
        return expect_list(await self._http.get(f"{ROOT}/models/"))

    async def model(self, federated_model_id: int) -> dict[str, Any]:
        return expect_object(await self._http.get(model_path(federated_model_id)), "id")

    async def clients(self, federated_model_id: int) -> list[dict[str, Any]]:
        return expect_list(await self._http.get(model_path(federated_model_id, "clients/")))

    async def aggregates(self, federated_model_id: int, *, after: int = 0, limit: int = 100,
                         values: bool = False) -> list[dict[str, Any]]:
        """Aggregates with an id above ``after``, oldest first (``values``: with results)."""
        params = {"after": str(non_negative(after, "after")),
                  "limit": str(bounded(limit, "limit", 1, 1000)),
                  "values": "1" if values else "0"}
        return expect_list(await self._http.get(model_path(federated_model_id, "aggregates/"),
                                          params=params))

    async def aggregate(self, federated_model_id: int, aggregate_id: int) -> dict[str, Any]:
        path = model_path(federated_model_id,
                           f"aggregates/{check_id(aggregate_id, 'aggregate_id')}/")
        return expect_object(await self._http.get(path), "id")

    async def summary(self, federated_model_id: int, *, after: int = 0, limit: int = 500
                      ) -> dict[str, Any]:
        """Model, clients, the round in progress and the aggregates after ``after``."""
        params = {"after": str(non_negative(after, "after")),
                  "limit": str(bounded(limit, "limit", 1, 1000))}
        return expect_object(await self._http.get(model_path(federated_model_id, "summary/"),
                                            params=params), "model")

    async def aggregate_now(self, federated_model_id: int) -> dict[str, Any] | None:
        """Aggregate the pending updates now, whatever the rule; None if nothing is pending."""
        answer = await self._http.post(model_path(federated_model_id, "aggregate_now/"), {})
        return answer or None

    async def publish(self, federated_model_id: int, aggregate_id: int) -> dict[str, Any]:
        """Make an aggregate the model's current artifact."""
        return expect_object(await self._http.post(
            model_path(federated_model_id, "publish/"),
            {"aggregate": check_id(aggregate_id, "aggregate_id")}), "id")
