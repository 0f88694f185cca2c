"""The simulator's aiohttp application: qcog routes over the SQLite store and the trainings'
scheduler over its backend (worker processes by default). ``make_app`` builds it;
``embedded.start`` and the CLI run it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from qwidgets.sim.braket import auth as braket_auth
from qwidgets.sim.braket import device_routes, job_routes
from qwidgets.sim.braket.aws_wire import unserved_aws_routes
from qwidgets.sim.federated import routes as federated_routes
from qwidgets.sim.server import logs
from qwidgets.sim.server.backend import Backend
from qwidgets.sim.server.limits import DEFAULT_MAX_BODY_BYTES, ServerLimits
from qwidgets.sim.server.middleware import (
    auth_middleware,
    body_limit_middleware,
    errors_middleware,
    idempotency_middleware,
)
from qwidgets.sim.server.process_pool import ProcessPool
from qwidgets.sim.server.qcog_routes import CONTEXT, Context, add_routes
from qwidgets.sim.server.store import Store
from qwidgets.sim.server.throttle import THROTTLE, AuthThrottle
from qwidgets.sim.server.trainings import TrainingJobs

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerLimits", "make_app", "runner_options"]


def make_app(
    store: Store | str | Path, token: str | Iterable[str], *,
    max_body_bytes: int | None = None, limits: ServerLimits | None = None,
    training_workers: int | None = None, progress_interval: float = 0.2, max_attempts: int = 3,
    run_job_code: bool = False, training_backend: Backend | None = None,
) -> web.Application:
    """The application, serving every qcog route under ``/api/v1/``.

    ``store``: a ``Store`` (the caller closes it) or a directory (opened, locked and closed
    with the app). ``token``: one token or several, each its own namespace. ``limits``: what
    one request and one token may cost (``max_body_bytes`` overrides its general body limit;
    run the app with ``runner_options(app)`` for its header timeout). On startup, models
    a previous server left ``pending``/``processing`` are resumed from their checkpoints.
    ``run_job_code``: hybrid jobs may run uploaded sources (each in a sandboxed process).
    ``training_backend``: where trainings run; None: a pool of ``training_workers`` worker
    processes (default: one per core), started by the first training, stopped with the app.
    """
    tokens = {token} if isinstance(token, str) else set(token)
    if not tokens or not all(isinstance(t, str) and t.strip() == t and t for t in tokens):
        raise ValueError("token must be a non-empty string without surrounding spaces "
                         "(or a set of them)")
    bounds = limits or ServerLimits()
    if max_body_bytes is not None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes}")
        bounds = dataclasses.replace(bounds, max_body_bytes=max_body_bytes)
    owns_store = not isinstance(store, Store)
    the_store = Store(store) if not isinstance(store, Store) else store
    backend = training_backend if training_backend is not None else ProcessPool(training_workers)
    jobs = TrainingJobs(the_store, backend, progress_interval=progress_interval,
                        max_attempts=max_attempts,
                        max_running_per_token=bounds.quotas.max_running_trainings)
    throttle = AuthThrottle(allowed=bounds.auth_failures)
    logs.install(tokens)
    app = web.Application(
        client_max_size=bounds.max_body_bytes,
        # unserved_aws_routes before the body limit: AWS clients get their services' error
        # shapes for what it and the router refuse, qcog clients ours
        middlewares=[errors_middleware, auth_middleware(tokens, throttle), unserved_aws_routes,
                     body_limit_middleware(bounds), idempotency_middleware(the_store)])
    app[THROTTLE] = throttle
    app[CONTEXT] = Context(the_store, jobs, bounds)
    add_routes(app)
    # fma-connect routes under /fl/<token>/ and /api/v1/federated/, plus their schedule
    federated_routes.add_routes(app, the_store, tokens)
    # Braket devices and quantum tasks (SigV4 auth, secret key = a token) and their queues
    braket_auth.install(app, tokens)
    device_routes.setup(app, the_store)
    # Braket hybrid jobs: they wait in the same device queues, then run in worker threads
    job_routes.setup(app, the_store, run_job_code=run_job_code)

    def start_trainings() -> None:
        jobs.start()
        jobs.recover()

    async def recover(_app: web.Application) -> None:
        await asyncio.to_thread(start_trainings)

    async def close(_app: web.Application) -> None:
        # Stop the workers before the store their results go to goes away. Called directly:
        # at interpreter exit (atexit) the loop's default executor refuses new work, and the
        # trainings notice the stop between chunks, so the loop waits only briefly.
        jobs.shutdown()
        if owns_store:
            the_store.close()
        logs.forget(tokens)

    app.on_startup.append(recover)
    app.on_cleanup.append(close)
    return app


def runner_options(app: web.Application) -> dict[str, Any]:
    """Keyword arguments of ``web.AppRunner`` / ``web.run_app`` for ``app``: aiohttp starts
    its keep-alive timer when a connection opens, so it also closes a connection that has not
    sent its request headers in time (a slow-header client holds nothing longer)."""
    return {"keepalive_timeout": app[CONTEXT].limits.header_timeout}
