"""Federated aggregation on the simulator's side: the latest update per client, mean and
FedAvg, score summaries and the model a client downloads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.federated import Tensor


@dataclass(frozen=True)
class PendingUpdate:
    """An update not yet in an aggregate (oldest first in every sequence)."""

    id: int
    client: str
    tensor: Tensor
    num_samples: int | None


def latest_per_client(pending: Sequence[PendingUpdate]) -> list[PendingUpdate]:
    """Each client's latest update, in order of arrival."""
    latest: dict[str, PendingUpdate] = {}
    for update in pending:
        latest.pop(update.client, None)
        latest[update.client] = update
    return list(latest.values())


def aggregate(updates: Sequence[PendingUpdate], aggregation: str) -> np.ndarray:
    """The flat aggregate of ``updates`` (one per client, see ``latest_per_client``)."""
    if not updates:
        raise ValueError("nothing to aggregate")
    if aggregation == "fedavg":
        counts = [u.num_samples for u in updates]
        if any(c is None for c in counts):
            raise ValidationError("num_samples", None, "is required on every update of a "
                                  "'fedavg' model", "send num_samples with each update")
        weights = np.array(counts, dtype=np.float64)
    else:
        weights = np.ones(len(updates))
    weights /= weights.sum()
    total = np.zeros_like(updates[0].tensor.flat)
    # a running weighted sum: memory of one update, not of the whole stack
    for weight, update in zip(weights, updates, strict=True):
        total += weight * update.tensor.flat
    return total


def summarize_scores(reports: Iterable[Mapping[str, float]], score_key: str
                     ) -> tuple[float | None, dict[str, float]]:
    """``(validation_score, metrics)``: per-metric means over the clients' reports.

    Each value is divided before it is added, so the mean of finite scores stays finite
    (two reports of 1e308 would otherwise sum to infinity, which no JSON can carry)."""
    values: dict[str, list[float]] = {}
    for report in reports:
        for key, metric in report.items():
            values.setdefault(key, []).append(metric)
    metrics = {k: sum(v / len(values[k]) for v in values[k]) for k in sorted(values)}
    return metrics.get(score_key), metrics


def latest_model(aggregate_row: Mapping[str, Any] | None, artifact_row: Mapping[str, Any] | None
                 ) -> dict[str, Any]:
    """The newer of the latest aggregate and the current artifact (by creation time; an
    artifact published from an aggregate at the same moment wins): ``{values, aggregate,
    artifact}``, ``aggregate`` None when the values are the artifact's; ``{}`` if neither."""
    if aggregate_row is None and artifact_row is None:
        return {}
    if artifact_row is not None and (aggregate_row is None
                                     or artifact_row["created"] >= aggregate_row["created"]):
        return {"values": artifact_row["values"], "aggregate": None,
                "artifact": artifact_row["id"]}
    assert aggregate_row is not None
    return {"values": aggregate_row["results"], "aggregate": aggregate_row["id"],
            "artifact": None}


class ManualClock:
    """A clock that moves only when told (periodic aggregation in tests)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now

