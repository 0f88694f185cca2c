"""Federated-learning routes: the fma-connect ``WebClient`` protocol and the admin routes our
own client and the FederatedPanel use.

Authentication. The public ``fma_connect.WebClient`` sends no token, only the ``CLIENT-UUID``
header it got from registering. Its routes are therefore served under a token URL prefix:
give it the base URL ``http://127.0.0.1:PORT/fl/<token>`` and it calls
``/fl/<token>/api/v1/models/{id}/register_client/`` and so on. The token in the path is checked
like a bearer token (constant-time comparison of its SHA-256 against the accepted ones) and
selects the namespace: each token sees only its own federated models. Treat that URL as a
secret: it is redacted (``/fl/<redacted>/``) from every log (``qwidgets.sim.server.logs``), and
an address that keeps sending wrong tokens is refused with 429 for a while.

The same routes are also served with ``Authorization: Bearer <token>`` under
``/api/v1/federated/`` (what ``qwidgets.client.federated.client`` uses, so no token ever sits in a
URL of ours). There a client that cannot send headers may name itself with the query parameter
``client=<uuid>`` (GET) or the body field ``client`` (POST) instead of ``CLIENT-UUID``.

WebClient routes (both prefixes; each also without the trailing slash):

==========================================================  ======================================
``POST api/v1/models/{id}/register_client/``                 201 ``{uuid}`` new, 200 known client
``POST api/v1/model_updates/``                               201; body ``{federated_model, data,
                                                             base_aggregate, num_samples?}``
``GET  api/v1/models/{id}/get_latest_aggregate/``            200 aggregate or ``{}``
``GET  api/v1/models/{id}/get_current_artifact/``            200 artifact or ``{}``
``GET  api/v1/models/{id}/get_latest_model/``                200 ``{values, aggregate, artifact}``
                                                             or ``{}``
``POST api/v1/client_aggregate_scores/``                     201; body ``{validation_results,
                                                             federated_model, aggregate, client}``
==========================================================  ======================================

Admin routes (Bearer only, under ``/api/v1/federated/``):

- ``POST models/`` ``{name, rule, aggregation, x_updates, period_s, initial_artifact,
  score_key}`` -> 201 the model (rules and aggregation: ``qwidgets.protocol.federated``);
- ``GET models/``, ``GET models/{id}/``, ``GET models/{id}/clients/``;
- ``GET models/{id}/aggregates/?after=&limit=&values=`` and ``GET models/{id}/aggregates/{agg}/``;
- ``GET models/{id}/summary/?after=&limit=``: model, clients, round in progress, new aggregates;
- ``POST models/{id}/aggregate_now/`` -> 201 the aggregate, or 200 ``{}`` if nothing is pending;
- ``POST models/{id}/publish/`` ``{aggregate}`` -> 201 the new current artifact.

Errors are the server's JSON errors (``{error, message, field, fix}``): 401 for a token the
server does not accept, 403 for a client that did not register, 404 for an unknown model or
aggregate, 422 for a value the message names. A model with ``period_s`` is aggregated by a
background task of the server on that schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from qwidgets.errors import ValidationError
from qwidgets.protocol.federated import (
    DEFAULT_SCORE_KEY,
    FederatedNotFoundError,
    NotRegisteredError,
    check_client_uuid,
    check_id,
    check_name,
    check_score_key,
    make_rule,
)
from qwidgets.protocol.qcog_wire import parse_json_object
from qwidgets.sim.federated.store import FederatedService
from qwidgets.sim.server.middleware import NS, ApiError, json_response, throttled, token_namespace
from qwidgets.sim.server.store import Store, namespace
from qwidgets.sim.server.throttle import THROTTLE, client_address

log = logging.getLogger("qwidgets.protocol.federated")

TOKEN_PREFIX = "/fl/{token}/api/v1"
BEARER_PREFIX = "/api/v1/federated"
FEDERATED = web.AppKey("qwidgets_federated", FederatedService)
SCHEDULE_MAX_SLEEP_S = 0.5  # a model created with a period is picked up within this delay
MAX_LIST = 1000

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, store: Store, tokens: Iterable[str]) -> FederatedService:
    """Serve the federated routes on ``app`` and run its periodic aggregation while it runs."""
    service = FederatedService(store)
    app[FEDERATED] = service
    digests = [namespace(t) for t in tokens]
    public: list[tuple[str, str, Handler]] = [
        ("POST", "models/{id}/register_client", register),
        ("POST", "model_updates", send_update),
        ("GET", "models/{id}/get_latest_aggregate", latest_aggregate),
        ("GET", "models/{id}/get_current_artifact", current_artifact),
        ("GET", "models/{id}/get_latest_model", latest_model),
        ("POST", "client_aggregate_scores", send_scores),
    ]
    admin: list[tuple[str, str, Handler]] = [
        ("POST", "models", create_model),
        ("GET", "models", list_models),
        ("GET", "models/{id}", get_model),
        ("GET", "models/{id}/clients", list_clients),
        ("GET", "models/{id}/aggregates", list_aggregates),
        ("GET", "models/{id}/aggregates/{aggregate}", get_aggregate),
        ("GET", "models/{id}/summary", summary),
        ("POST", "models/{id}/aggregate_now", aggregate_now),
        ("POST", "models/{id}/publish", publish),
    ]
    for method, path, handler in public:
        for suffix in ("", "/"):
            app.router.add_route(method, f"{TOKEN_PREFIX}/{path}{suffix}",
                                 _token_auth(digests, _mapped(handler)))
            app.router.add_route(method, f"{BEARER_PREFIX}/{path}{suffix}", _mapped(handler))
    for method, path, handler in admin:
        for suffix in ("", "/"):
            app.router.add_route(method, f"{BEARER_PREFIX}/{path}{suffix}", _mapped(handler))
    app.cleanup_ctx.append(_schedule)
    return service


# ---------------------------------------------------------------- auth, errors, logs


def _token_auth(digests: list[str], handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        throttle = request.app[THROTTLE]
        refused = throttled(throttle, request, "url")
        if refused is not None:
            raise refused
        given = token_namespace(request.match_info["token"], digests)
        if given is None:
            throttle.failed(client_address(request.remote))
            raise ApiError(401, "the token in the URL is not accepted by this server",
                           field="url", fix="use the base URL http://HOST:PORT/fl/<token> "
                           "with a token the server accepts (AsyncFederatedClient."
                           "webclient_url() gives it)")
        request[NS] = given
        return await handler(request)

    return guarded


def _mapped(handler: Handler) -> Handler:
    """The engine's lookup and registration errors as HTTP answers."""

    @functools.wraps(handler)
    async def mapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except FederatedNotFoundError as exc:
            raise ApiError(404, str(exc), field=exc.field, fix=exc.fix) from None
        except NotRegisteredError as exc:
            raise ApiError(403, str(exc), field="CLIENT-UUID",
                           fix=f"register first (POST .../models/{exc.model_id}/"
                           "register_client/) and send the uuid it returns in the CLIENT-UUID "
                           "header") from None

    return mapped


# ---------------------------------------------------------------- the periodic schedule


async def _schedule(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_run_schedule(app[FEDERATED]), name="qwidgets-federated-schedule")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _run_schedule(service: FederatedService) -> None:
    while True:
        due = service.next_due()
        wait = SCHEDULE_MAX_SLEEP_S if due is None else due - service.clock()
        if wait <= 0:
            try:
                await asyncio.to_thread(service.tick)
            except Exception:  # one bad model must not stop the schedule of the others
                log.exception("periodic aggregation failed")
            wait = 0.0
        await asyncio.sleep(min(max(wait, 0.01), SCHEDULE_MAX_SLEEP_S))


# ---------------------------------------------------------------- request helpers


def _service(request: web.Request) -> FederatedService:
    return request.app[FEDERATED]


async def _call(request: web.Request, method: Callable[..., Any], *args: Any,
                **kwargs: Any) -> Any:
    # in a thread: aggregation reads and averages every client's update
    return await asyncio.to_thread(method, request[NS], *args, **kwargs)


async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw and optional:
        return {}
    if len(raw) > 1 << 20:
        return await asyncio.to_thread(parse_json_object, raw)
    return parse_json_object(raw)


def _model_id(request: web.Request) -> int:
    return check_id(request.match_info["id"], "federated_model")


def _client(request: web.Request, body: dict[str, Any] | None) -> str | None:
    """The client uuid from the CLIENT-UUID header, else from ``client`` (body or query)."""
    header = request.headers.get("CLIENT-UUID")
    given = body.get("client") if body is not None else request.query.get("client")
    from_header = check_client_uuid(header, "CLIENT-UUID") if header else None
    from_field = check_client_uuid(given, "client") if given is not None else None
    if from_header and from_field and from_header != from_field:
        raise ValidationError("client", given, f"differs from the CLIENT-UUID header "
                              f"({from_header})", "send one client uuid")
    return from_header or from_field


def _query_int(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationError(key, raw, f"must be an integer from {low} to {high}",
                              f"e.g. ?{key}={default}")
    return value


def _query_flag(request: web.Request, key: str) -> bool:
    raw = request.query.get(key, "0").lower()
    if raw not in ("0", "1", "true", "false"):
        raise ValidationError(key, raw, "must be 0, 1, true or false", f"e.g. ?{key}=1")
    return raw in ("1", "true")


def _json(body: Any, status: int = 200) -> web.Response:
    return json_response(body if body is not None else {}, status)


# ---------------------------------------------------------------- the WebClient routes


async def register(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    client = _client(request, await _body(request, optional=True))
    uuid, created = await _call(request, _service(request).register, model_id, client)
    return _json({"uuid": uuid}, 201 if created else 200)


async def send_update(request: web.Request) -> web.Response:
    body = await _body(request)
    model_id = check_id(body.get("federated_model"), "federated_model")
    if "data" not in body:
        raise ValidationError("data", None, "is required", "send the update's weights as data")
    base = body.get("base_aggregate")
    base = None if base is None else check_id(base, "base_aggregate")
    client = _client(request, body)
    if client is None:
        raise NotRegisteredError(None, model_id)
    answer = await _call(request, _service(request).add_update, model_id, client,
                         body["data"], base_aggregate=base, num_samples=body.get("num_samples"))
    return _json(answer, 201)


async def _seen(request: web.Request, model_id: int) -> None:
    await _call(request, _service(request).seen, model_id, _client(request, None),
                required=False)


async def latest_aggregate(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    await _seen(request, model_id)
    return _json(await _call(request, _service(request).latest_aggregate, model_id))


async def current_artifact(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    await _seen(request, model_id)
    return _json(await _call(request, _service(request).current_artifact, model_id))


async def latest_model(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    await _seen(request, model_id)
    return _json(await _call(request, _service(request).latest_model, model_id))


async def send_scores(request: web.Request) -> web.Response:
    body = await _body(request)
    model_id = check_id(body.get("federated_model"), "federated_model")
    aggregate_id = check_id(body.get("aggregate"), "aggregate")
    if "validation_results" not in body:
        raise ValidationError("validation_results", None, "is required",
                              "send the client's validation results for the aggregate")
    client = _client(request, body)
    if client is None:
        raise NotRegisteredError(None, model_id)
    answer = await _call(request, _service(request).add_scores, model_id, client, aggregate_id,
                         body["validation_results"])
    return _json(answer, 201)


# ---------------------------------------------------------------- admin routes


async def create_model(request: web.Request) -> web.Response:
    body = await _body(request)
    known = {"name", "rule", "aggregation", "x_updates", "period_s", "initial_artifact",
             "score_key"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValidationError(unknown[0], body[unknown[0]], f"is not a field of a federated "
                              f"model; known: {', '.join(sorted(known))}", "remove it")
    rule = make_rule(body.get("rule", "all_clients"), body.get("aggregation", "mean"),
                     body.get("x_updates"), body.get("period_s"))
    answer = await _call(request, _service(request).create_model,
                         name=check_name(body.get("name")), rule=rule,
                         initial_artifact=body.get("initial_artifact"),
                         score_key=check_score_key(body.get("score_key", DEFAULT_SCORE_KEY)))
    return _json(answer, 201)


async def list_models(request: web.Request) -> web.Response:
    return _json(await _call(request, _service(request).models))


async def get_model(request: web.Request) -> web.Response:
    return _json(await _call(request, _service(request).model, _model_id(request)))


async def list_clients(request: web.Request) -> web.Response:
    return _json(await _call(request, _service(request).clients, _model_id(request)))


async def list_aggregates(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    return _json(await _call(
        request, _service(request).aggregates, model_id,
        after=_query_int(request, "after", 0, 0, 2**62),
        limit=_query_int(request, "limit", 100, 1, MAX_LIST),
        values=_query_flag(request, "values")))


async def get_aggregate(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    aggregate_id = check_id(request.match_info["aggregate"], "aggregate")
    return _json(await _call(request, _service(request).aggregate_row, model_id, aggregate_id))


async def summary(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    return _json(await _call(
        request, _service(request).summary, model_id,
        after=_query_int(request, "after", 0, 0, 2**62),
        limit=_query_int(request, "limit", 500, 1, MAX_LIST)))


async def aggregate_now(request: web.Request) -> web.Response:
    made = await _call(request, _service(request).aggregate_now, _model_id(request))
    return _json(made, 201 if made else 200)


async def publish(request: web.Request) -> web.Response:
    model_id = _model_id(request)
    body = await _body(request)
    aggregate_id = check_id(body.get("aggregate"), "aggregate")
    return _json(await _call(request, _service(request).publish, model_id, aggregate_id), 201)
