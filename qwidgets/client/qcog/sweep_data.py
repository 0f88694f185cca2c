"""A sweep's data: the targets, the held-out split (stratified for class labels), the rows it
scores on, and the scores of a forecast of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.client.qcog.checks import check_numeric_frame
from qwidgets.errors import ValidationError
from qwidgets.protocol.holdout import score, split
from qwidgets.protocol.scaling import class_labels, default_targets

HOLDOUT = 0.25


@dataclass
class SweepData:
    """What every configuration of a sweep shares; ``classes``: the class-like targets (their
    forecasts come back as the nearest label)."""

    operators: list[str]
    targets: list[str]
    classes: list[str]
    holdout: float
    seed: int
    standardize: bool
    training_rows: int
    held_out: pd.DataFrame
    dataset_guid: str | None = None
    scaling: dict[str, Any] | None = None

    @property
    def inputs(self) -> pd.DataFrame:
        return self.held_out.drop(columns=self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {"operators": self.operators, "targets": self.targets, "classes": self.classes,
                "holdout": self.holdout, "seed": self.seed, "standardize": self.standardize,
                "training_rows": self.training_rows, "dataset_guid": self.dataset_guid,
                "scaling": self.scaling, "held_out": self.held_out_dict}

    @cached_property
    def held_out_dict(self) -> dict[str, Any]:
        """The held-out rows as JSON; once, as they never change (the sweep's file is
        rewritten as its rows progress)."""
        return {"columns": list(self.held_out.columns),
                "index": [int(i) for i in self.held_out.index],
                "data": self.held_out.to_numpy(dtype=np.float64).tolist()}

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> SweepData:
        held = body["held_out"]
        frame = pd.DataFrame(held["data"], columns=held["columns"], index=held["index"],
                             dtype=np.float64)
        return cls(list(body["operators"]), list(body["targets"]), list(body["classes"]),
                   float(body["holdout"]), int(body["seed"]), bool(body["standardize"]),
                   int(body["training_rows"]), frame, body.get("dataset_guid"),
                   body.get("scaling"))


def prepare(data: pd.DataFrame, target: str | Sequence[str] | None, holdout: float, seed: int,
            standardize: bool) -> tuple[SweepData, pd.DataFrame]:
    """The shared part and the training frame (uploaded once; not kept on disk)."""
    names = check_numeric_frame(data)
    frame = data.copy()
    frame.columns = pd.Index(names)
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) \
            or not 0 < holdout < 1:
        raise ValidationError("holdout", holdout, "must be above 0 and below 1: the sweep "
                              "ranks its models on the held-out rows", "e.g. holdout=0.25")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", seed, "must be an integer >= 0 (the split's seed)",
                              "e.g. seed=0")
    given = [target] if isinstance(target, str) else list(target or [])
    targets = default_targets(names, [str(t) for t in given])
    strange = [t for t in targets if t not in names]
    if strange:
        raise ValidationError("target", strange, f"must name columns of the data ({names})",
                              "pass target='<column to forecast>'")
    if len(set(targets)) >= len(names):
        raise ValidationError("target", targets, "leaves no input column",
                              "keep at least one column out of target")
    classes = [t for t in targets
               if class_labels(frame[t].to_numpy(dtype=np.float64)) is not None]
    train, held = split(frame, float(holdout), seed, targets[0])
    if len(train) == 0 or len(held) == 0:
        raise ValidationError("data", len(frame), "needs rows to train on and rows held out",
                              "give more rows or another holdout")
    # A class present in every row set keeps its labels on both sides of the split.
    classes = [t for t in classes
               if class_labels(frame[t].iloc[train].to_numpy(dtype=np.float64)) is not None]
    shared = SweepData(names, targets, classes, float(holdout), seed, standardize, len(train),
                       frame.iloc[held].reset_index(drop=True))
    return shared, frame.iloc[train].reset_index(drop=True)


def classes_metric(shared: SweepData) -> bool:
    """Whether accuracy can rank this sweep: every target holds class labels."""
    return bool(shared.classes) and set(shared.classes) == set(shared.targets)


def scores(shared: SweepData, forecast: pd.DataFrame, metric: str) -> dict[str, float]:
    """The mean over targets of each score: accuracy, or r2 and mae."""
    found: dict[str, list[float]] = {}
    labels = {str(c): c for c in forecast.columns}
    for target in shared.targets:
        if target not in labels:
            raise ValidationError("forecast", list(labels), f"lacks target {target}",
                                  "check that the model forecasts the sweep's target")
        got = score(shared.held_out[target], forecast[labels[target]].reset_index(drop=True),
                    classes=metric == "accuracy")
        for name, value in got.items():
            found.setdefault(name, []).append(value)
    return {name: float(np.mean(values)) for name, values in found.items()}
