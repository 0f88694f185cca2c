"""One participant of a federated model: ``AsyncWebClient`` (the fma-connect ``WebClient``
API, async) and ``WebClient``, the same without ``await``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from qwidgets.client.connect import resolve
from qwidgets.client.errors import ApiError, UsageError
from qwidgets.client.federated.wire import ROOT, expect_object, jsonable, model_path, optional_id
from qwidgets.client.http import HttpClient
from qwidgets.client.loop_thread import LoopThread, close_at_exit, shared_loop
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol.federated import (
    check_client_uuid,
    check_id,
    parse_scores,
    parse_tensor,
    unwrap_samples,
)


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
        answer = expect_object(await self._http.post(
            model_path(self._model_id, "register_client/"), self._identity()), "uuid")
        self._uuid = check_client_uuid(answer["uuid"], "uuid")
        return self._uuid

    async def send_update(self, data: Any, base_aggregate: int | None = None, *,
                          num_samples: int | None = None) -> dict[str, Any]:
        """Send the weights trained locally; ``num_samples`` weighs them under 'fedavg'.
        The answer's ``aggregate`` is the id of the aggregate this update completed."""
        client = self._registered()
        data = jsonable(data)
        tensor_part, samples = unwrap_samples(data, num_samples)
        parse_tensor(tensor_part, "data")
        body: dict[str, Any] = {
            "federated_model": self._model_id, "data": data, "client": client,
            "base_aggregate": None if base_aggregate is None
            else check_id(base_aggregate, "base_aggregate")}
        if num_samples is not None:
            body["num_samples"] = samples
        return expect_object(await self._http.post(f"{ROOT}/model_updates/", body), "id")

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
        after = optional_id(update_after, "update_after")
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
        after = optional_id(update_after, "update_after")
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
        results = jsonable(results)
        parse_scores(results, "score")
        return expect_object(await self._http.post(f"{ROOT}/client_aggregate_scores/", {
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
        answer = await self._http.get(model_path(self._model_id, route), params=params or None)
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
