"""The held-out split and the scores of qwidgets.widgets.holdout, on their own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qwidgets.errors import ValidationError
from qwidgets.widgets.holdout import describe, score, split


def test_the_split_is_a_partition_fixed_by_its_seed() -> None:
    frame = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0) ** 0.5})
    train, held = split(frame, 0.3, seed=1)
    assert len(held) == 30
    assert len(train) == 70
    assert sorted([*train, *held]) == list(range(100))
    assert list(split(frame, 0.3, seed=1)[1]) == list(held)
    assert list(split(frame, 0.3, seed=2)[1]) != list(held)


def test_a_class_target_is_split_alike_in_every_class() -> None:
    labels = np.array([0] * 90 + [1] * 10, dtype=float)
    frame = pd.DataFrame({"x": np.arange(100.0), "label": labels})
    _, held = split(frame, 0.3, seed=0, target="label")
    assert (labels[held] == 1).sum() == 3
    assert (labels[held] == 0).sum() == 27


def test_tiny_frames_and_bad_sizes() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    train, held = split(frame, 0.1)
    assert len(train) == 1
    assert len(held) == 1
    assert len(split(frame, 0.0)[1]) == 0
    with pytest.raises(ValidationError, match="held_out"):
        split(frame, 1.0)


def test_scores() -> None:
    actual = pd.Series([0.0, 1.0, 2.0, 1.0])
    assert score(actual, pd.Series([0.0, 1.0, 1.0, 1.0]), classes=True) == {"accuracy": 0.75}
    found = score(actual, actual + 0.5, classes=False)
    assert found["mae"] == pytest.approx(0.5)
    assert found["r2"] == pytest.approx(1 - 1.0 / 2.0)
    assert score(actual, pd.Series([actual.mean()] * 4), classes=False)["r2"] == 0
    assert describe({"mae": 0.5, "r2": 0.25}) == "MAE 0.5, R² 0.25"
