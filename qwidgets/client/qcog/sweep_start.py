"""Starting a sweep, and reattaching one saved by an earlier kernel (``Sweep`` itself: the
``sweep`` module). A sweep followed in this process is never followed twice: attaching its id
again gives the live object, so no queued row is trained twice."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from qwidgets.client.errors import UsageError, ValidationError
from qwidgets.client.qcog import sweep_store
from qwidgets.client.qcog.sweep import CONCURRENCY, Sweep
from qwidgets.client.qcog.sweep_configs import expand, plan, varying
from qwidgets.client.qcog.sweep_data import SweepData, classes_metric, prepare
from qwidgets.client.qcog.sweep_rows import SweepRow, check_metric

if TYPE_CHECKING:
    from qwidgets.client.qcog.client import AsyncQcogClient

__all__ = ["attach_sweep", "start_sweep"]

# The sweeps this process follows, by id (gone with their last reference).
_LIVE: weakref.WeakValueDictionary[str, Sweep] = weakref.WeakValueDictionary()


def start_sweep(parent: AsyncQcogClient, data: pd.DataFrame,
                configs: Sequence[Mapping[str, Any]] | Mapping[str, Any], *,
                holdout: float, metric: str | None, seed: int,
                target: str | Sequence[str] | None, concurrency: int, standardize: bool,
                poll_time: float) -> Sweep:
    """Validate everything, then start the sweep as a task on the running loop."""
    asyncio.get_running_loop()  # a clear RuntimeError outside a loop, before any work
    _check_positive("concurrency", concurrency, True)
    _check_positive("poll_time", poll_time, False)
    expanded = expand(configs)
    shared, training = prepare(data, target, holdout, seed, standardize)
    metric_name = check_metric(metric, classes_metric(shared))
    rows = [SweepRow(i, c) for i, c in enumerate(expanded)]
    for row in rows:
        try:
            plan(row.config, shared.operators, shared.targets, shared.training_rows)
        except ValidationError as exc:
            row.status, row.reason = "invalid", str(exc)
    sweep = Sweep(parent, uuid.uuid4().hex[:12], rows, varying(expanded, configs), metric_name, shared,
                  concurrency=concurrency, poll_time=float(poll_time))
    _LIVE[sweep.id] = sweep
    return sweep.start(training)


async def attach_sweep(parent: AsyncQcogClient, sweep_id: str, *,
                       concurrency: int | None, poll_time: float) -> Sweep:
    """The sweep saved under ``sweep_id``, live again: it polls its running trainings, scores
    the ones that ended, and starts those that were still queued."""
    live = _LIVE.get(sweep_store.check_id(sweep_id))
    if live is not None and not live.done:
        if live.loop is not asyncio.get_running_loop():
            raise UsageError(f"sweep {sweep_id} is followed in this process on another event "
                             "loop; use the Sweep object that start_sweep returned there")
        return live
    body = sweep_store.load(sweep_id)
    base_url = parent.http_client.base_url
    if body.get("base_url") != base_url:
        raise UsageError(f"sweep {sweep_id} ran on {body.get('base_url')}, not on {base_url}; "
                         "connect a client to that service to reattach it")
    rows = [SweepRow.from_dict(r) for r in body["rows"]]
    limit = int(body.get("concurrency") or CONCURRENCY) if concurrency is None else concurrency
    _check_positive("concurrency", limit, True)
    sweep = Sweep(parent, sweep_id, rows, list(body["columns"]), str(body["metric"]),
                  SweepData.from_dict(body["data"]), concurrency=limit,
                  poll_time=float(poll_time))
    _LIVE[sweep_id] = sweep.start()  # refused (another process follows it): not kept
    return sweep


def _check_positive(name: str, value: Any, integer: bool) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise ValidationError(name, value, "must be a positive number",
                              f"e.g. {name}={CONCURRENCY if name == 'concurrency' else 1.0}")
