"""One configuration's place on a sweep's board, and the board itself as a DataFrame."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qwidgets.errors import ValidationError

STATUSES = ("invalid", "queued", "pending", "processing", "completed", "failed", "cancelled")
ACTIVE = frozenset({"pending", "processing"})
FINAL = frozenset({"invalid", "completed", "failed", "cancelled"})
METRICS = ("accuracy", "r2", "mae")
HIGHER_IS_BETTER = {"accuracy": True, "r2": True, "mae": False}


@dataclass
class SweepRow:
    """``status``: invalid, queued, pending, processing, completed, failed, cancelled;
    ``reason``: why it is not completed (or what it waits for); ``progress``: 0-100;
    ``loss``: the batch losses in order; ``metric``: the sweep's metric on the held-out rows;
    ``scores``: every score computed (accuracy, or r2 and mae); ``train_time_s``: from the
    last poll that saw the training waiting for a place on the service (``pending``) to the
    poll that saw it end: its own time, give or take a poll interval, without its wait."""

    index: int
    config: dict[str, Any]
    status: str = "queued"
    reason: str = ""
    guid: str | None = None
    progress: float = 0.0
    loss: list[float] = field(default_factory=list)
    metric: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    train_time_s: float | None = None
    started_at: float | None = None  # wall clock (time.time), so it survives a restart

    @property
    def final(self) -> bool:
        """Completed rows count as final once scored (or once scoring failed)."""
        return self.status in FINAL and not (self.status == "completed" and self.metric is None
                                             and not self.scores)

    def to_dict(self) -> dict[str, Any]:
        # Shallow (asdict deep-copies every loss list): it is serialised at once.
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> SweepRow:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in body.items() if k in known})


def check_metric(metric: str | None, classes: bool) -> str:
    """The metric to rank by: ``accuracy`` for class-like targets, else ``r2`` by default."""
    if metric is None:
        return "accuracy" if classes else "r2"
    if metric not in METRICS:
        raise ValidationError("metric", metric, f"must be one of {list(METRICS)} or None",
                              "None picks accuracy for class labels, r2 otherwise")
    if metric == "accuracy" and not classes:
        raise ValidationError("metric", metric, "needs class-like targets (2 to 20 integer "
                              "labels); this target is a number", "use metric='r2' or 'mae'")
    return metric


def flat_loss(matrix: Any) -> list[float]:
    """The passes x batches loss matrix as one list, in training order (finite values)."""
    out: list[float] = []
    for row in matrix or []:
        for value in row or []:
            if isinstance(value, (int, float)) and math.isfinite(value):
                out.append(float(value))
    return out


def ranked(rows: Sequence[SweepRow], metric: str) -> list[SweepRow]:
    """Best first: scored rows by the metric, then the rest in their order."""
    sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0

    def key(row: SweepRow) -> tuple[int, float, int]:
        value = row.metric
        if row.status != "completed" or value is None or not math.isfinite(value):
            return (1, 0.0, row.index)
        return (0, sign * value, row.index)

    return sorted(rows, key=key)


def leaderboard(rows: Sequence[SweepRow], columns: Sequence[str], metric: str) -> pd.DataFrame:
    """Config columns, the metric (and the other scores), train_time_s, status, reason, guid;
    indexed by the row's index."""
    scores = [metric] + [m for m in METRICS if m != metric and m != "accuracy"] \
        if metric != "accuracy" else ["accuracy"]
    records = []
    order = ranked(rows, metric)
    for row in order:
        record: dict[str, Any] = {c: row.config.get(c) for c in columns}
        for name in scores:
            record[name] = row.scores.get(name, row.metric if name == metric else None)
        record.update(train_time_s=row.train_time_s, status=row.status, reason=row.reason,
                      guid=row.guid)
        records.append(record)
    names = [*columns, *scores, "train_time_s", "status", "reason", "guid"]
    frame = pd.DataFrame.from_records(records, columns=names,
                                      index=pd.Index([r.index for r in order], name="row"))
    for name in [*scores, "train_time_s"]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    for name in columns:  # qbits stays 2, not 2.0, where ensemble rows leave it empty
        given = [r.config[name] for r in order if r.config.get(name) is not None]
        if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
            frame[name] = frame[name].astype("Int64")
    return frame
