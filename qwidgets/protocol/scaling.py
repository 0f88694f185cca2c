"""What in a DataFrame misleads the model, and the transform that fixes the commonest case.

The engine weighs every operator's residual with ``sigma_sq`` (1 by default), so a column in
the thousands (wine's proline) drowns a column near 1 (its hue): the loss is the big column's
variance and the forecasts barely move. Standardizing fixes it; the transform is recorded with
the model (client-side, nothing new on the wire), so inference applies it to the inputs and
gives forecasts back in the caller's units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.errors import DataValidationError, QwidgetsWarning
from qwidgets.protocol.data import numeric_matrix

# Spreads within this factor of each other train well with sigma_sq = 1 (measured on
# sklearn's sets: wine's raw ratio is ~1,400 and gives near-constant forecasts).
SCALE_RATIO = 10.0
# A target with at most this many distinct integer values is read as class labels.
MAX_CLASSES = 20


class DataWarning(QwidgetsWarning):
    """A DataFrame that trains, but on which the model's forecasts would mislead."""


@dataclass(frozen=True)
class DataNote:
    """One problem of the data: ``kind`` (scales, constant, classes), the columns at fault, what
    is wrong and the fix."""

    kind: str
    columns: list[str]
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "message": self.message,
                "fix": self.fix}


def class_labels(values: np.ndarray) -> list[float] | None:
    """The sorted distinct labels when ``values`` look like integer class labels, else None."""
    if len(values) == 0 or not np.all(np.isfinite(values)):
        return None
    distinct = np.unique(values)
    if not 2 <= len(distinct) <= MAX_CLASSES or not np.all(distinct == np.round(distinct)):
        return None
    if len(distinct) > max(2, len(values) // 2):
        return None  # as many values as rows: a count, not a label
    return [float(v) for v in distinct]


def default_targets(operators: Sequence[str], targets: Sequence[str]) -> list[str]:
    """The operators a forecast is for: the targets named, else the last operator (as the
    dashboard forecasts)."""
    return [str(t) for t in targets] or [str(o) for o in operators[-1:]]


def check_features(frame: pd.DataFrame, targets: Sequence[str] = (), *,
                   standardize: bool = False, classes: Sequence[str] = ()) -> list[DataNote]:
    """The notes a person should read before training on ``frame`` (numeric, already checked
    by ``numeric_matrix``); ``standardize``/``classes`` are the fixes already chosen."""
    values, names = numeric_matrix(frame)
    spread = values.std(axis=0)
    notes: list[DataNote] = []
    constant = [n for n, s in zip(names, spread, strict=True) if s == 0]
    if constant:
        notes.append(DataNote(
            "constant", constant, f"columns {constant} hold one value in every row, so they "
            "carry no information", "drop them from the operators"))
    moving = spread > 0
    if not standardize and moving.any():
        high, low = int(np.argmax(np.where(moving, spread, -np.inf))), \
            int(np.argmin(np.where(moving, spread, np.inf)))
        ratio = spread[high] / spread[low]
        if ratio > SCALE_RATIO:
            notes.append(DataNote(
                "scales", [names[high], names[low]],
                f"features are on very different scales ({names[high]} spreads "
                f"{_num(spread[high])}, {names[low]} {_num(spread[low])}: {ratio:,.0f} times "
                "less), so the model fits the large columns and its forecasts barely move",
                "standardize the features (the transform is kept with the model and undone "
                "on its forecasts)"))
    for target in targets:
        if target in names and target not in classes:
            labels = class_labels(values[:, names.index(target)])
            if labels is not None:
                shown = ", ".join(_num(v) for v in labels[:6]) + (", ..." if len(labels) > 6 else "")
                notes.append(DataNote(
                    "classes", [target], f"target {target} holds {len(labels)} integer class "
                    f"labels ({shown}) but is forecast as a number between them",
                    f"treat {target} as classes (forecasts rounded to the nearest label, "
                    "scored by accuracy)"))
    return notes


@dataclass
class FrameScaling:
    """Per column ``(value - center) / scale``; ``classes`` columns come back as the nearest
    of their labels. Recorded with a model: apply to inputs, invert on forecasts."""

    center: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    classes: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, standardize: bool = True,
            classes: Sequence[str] = ()) -> FrameScaling:
        values, names = numeric_matrix(frame)
        found: dict[str, list[float]] = {}
        for name in map(str, classes):
            if name not in names:
                raise DataValidationError("classes", [name], f"names a column the data lacks "
                                          f"(columns {names})", "name target columns only")
            labels = class_labels(values[:, names.index(name)])
            if labels is None:
                raise DataValidationError(
                    "classes", [name], f"column {name} does not hold integer class labels "
                    f"(2 to {MAX_CLASSES} distinct integers)", "leave it out of classes")
            found[name] = labels
        if not standardize:
            return cls(classes=found)
        spread = values.std(axis=0)
        # Class labels keep their values: measured (bench/quality.py), rounding forecasts of
        # the raw labels scores better than of standardized ones (wine: 0.94 -> 0.97).
        # A constant column keeps its unit: dividing by 0 would make it NaN.
        kept = [i for i, n in enumerate(names) if n not in found]
        return cls(center={names[i]: float(values[:, i].mean()) for i in kept},
                   scale={names[i]: float(spread[i]) if spread[i] > 0 else 1.0 for i in kept},
                   classes=found)

    @property
    def identity(self) -> bool:
        return not self.center and not self.classes

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` in the model's units (any subset of the fitted columns)."""
        return self._map(frame, lambda v, c, s: (v - c) / s)

    def invert(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Forecasts back in the caller's units, class columns as their nearest label."""
        out = self._map(frame, lambda v, c, s: v * s + c)
        for name, labels in self.classes.items():
            for label, column in zip(map(str, out.columns), out.columns, strict=True):
                if label == name:
                    grid = np.asarray(labels)
                    values = out[column].to_numpy(dtype=np.float64)
                    out[column] = grid[np.abs(values[:, None] - grid[None, :]).argmin(axis=1)]
        return out

    def _map(self, frame: pd.DataFrame, op: Any) -> pd.DataFrame:
        if not self.center:
            return frame.copy()
        out = frame.astype(np.float64)
        for label in out.columns:
            name = str(label)
            if name in self.center:
                out[label] = op(out[label].to_numpy(), self.center[name], self.scale[name])
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, to save with a model guid (``from_dict`` restores it)."""
        return {"center": dict(self.center), "scale": dict(self.scale),
                "classes": {k: list(v) for k, v in self.classes.items()}}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> FrameScaling:
        return cls({str(k): float(v) for k, v in dict(body.get("center") or {}).items()},
                   {str(k): float(v) for k, v in dict(body.get("scale") or {}).items()},
                   {str(k): [float(x) for x in v]
                    for k, v in dict(body.get("classes") or {}).items()})


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
