"""The held-out split and its scores, plain numpy: the dashboard shows them, a client's sweep
ranks its models by them, and ``bench/quality.py`` compares scikit-learn on the very same rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.protocol.scaling import class_labels

HELD_OUT = 0.3
SEED = 0


def split(frame: pd.DataFrame, fraction: float = HELD_OUT, seed: int = SEED,
          target: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training rows and of the held-out rows (``fraction`` of them, at least
    one when fraction > 0 and at least one row is left to train on). With a class-like
    ``target`` each class is split alike, so a small class is never all held out."""
    if not 0 <= fraction < 1:
        raise ValidationError("held_out", fraction, "must be at least 0 and below 1",
                              "e.g. 0.3 holds out 30% of the rows")
    rng = np.random.default_rng(seed)
    rows = len(frame)
    labels = None
    if target is not None and target in map(str, frame.columns):
        column = frame[next(c for c in frame.columns if str(c) == target)]
        values = column.to_numpy(dtype=np.float64)
        labels = values if class_labels(values) is not None else None
    groups = [np.arange(rows)] if labels is None else \
        [np.flatnonzero(labels == v) for v in np.unique(labels)]
    held: list[np.ndarray] = []
    for group in groups:
        count = round(fraction * len(group))
        if fraction > 0 and len(groups) == 1:
            count = min(max(count, 1), rows - 1)
        held.append(rng.permutation(group)[:count])
    out = np.sort(np.concatenate(held)) if held else np.array([], dtype=int)
    return np.setdiff1d(np.arange(rows), out), out


def score(actual: pd.Series, forecast: pd.Series, classes: bool) -> dict[str, float]:
    """accuracy for class labels; MAE and R² (1 - SSE / SST around the actual mean) otherwise."""
    a = actual.to_numpy(dtype=np.float64)
    f = forecast.to_numpy(dtype=np.float64)
    if classes:
        return {"accuracy": float(np.mean(a == f))}
    total = float(np.sum((a - a.mean()) ** 2))
    r2 = 1.0 - float(np.sum((a - f) ** 2)) / total if total > 0 else float("nan")
    return {"mae": float(np.mean(np.abs(a - f))), "r2": r2}


def describe(metrics: Mapping[str, float]) -> str:
    names = {"accuracy": "accuracy", "mae": "MAE", "r2": "R²"}
    return ", ".join(f"{names.get(k, k)} {v:.3g}" for k, v in metrics.items())
