from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qwidgets.errors import DataValidationError
from qwidgets.protocol.data import inference_matrix, training_matrix
from qwidgets.sim.engine import infer, train

from .server_support import training_params

OPS = ["x", "y", "z"]


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns or {"x": [1.0, 2.0], "y": [0.5, 0.1], "z": [3.0, 1.0]})


def test_columns_are_reordered_to_the_operators() -> None:
    df = frame()[["z", "x", "y"]]
    np.testing.assert_array_equal(training_matrix(df, OPS), frame().to_numpy())


def test_non_numeric_columns_are_named() -> None:
    df = frame().assign(y=["a", "b"])
    with pytest.raises(DataValidationError, match=r"non-numeric columns \['y'\]") as info:
        training_matrix(df, OPS)
    assert info.value.columns == ["y"]


def test_nan_and_inf_name_columns_and_count_rows() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [0.0, 1.0, np.inf], "z": [1.0, 2.0, 3.0]})
    with pytest.raises(DataValidationError, match=r"\['x', 'y'\] \(2 of 3 rows\)"):
        training_matrix(df, OPS)


def test_duplicate_columns() -> None:
    df = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["x", "x", "z"])
    with pytest.raises(DataValidationError, match=r"duplicate columns \['x'\]"):
        training_matrix(df, OPS)


def test_int_and_str_labels_that_collide_are_duplicates() -> None:
    df = pd.DataFrame([[1.0, 2.0]], columns=[1, "1"])
    with pytest.raises(DataValidationError, match="duplicate"):
        training_matrix(df, ["1"])


def test_zero_rows() -> None:
    with pytest.raises(DataValidationError, match="zero rows"):
        training_matrix(frame().iloc[:0], OPS)


def test_columns_must_match_operators() -> None:
    df = frame().drop(columns="z").assign(w=1.0)
    expected = r"lacks the model's operators \['z'\].*not operators \['w'\]"
    with pytest.raises(DataValidationError, match=expected):
        training_matrix(df, OPS)


def test_complex_columns_are_refused() -> None:
    with pytest.raises(DataValidationError, match="non-numeric"):
        training_matrix(frame().assign(z=[1j, 2.0]), OPS)


def test_bool_and_int_columns_are_numbers() -> None:
    df = frame().assign(x=[True, False], y=[1, 2])
    assert training_matrix(df, OPS).dtype == np.float64


def test_inference_columns_must_be_known() -> None:
    with pytest.raises(DataValidationError, match=r"\['w'\] that the model does not know"):
        inference_matrix(frame().drop(columns="z").assign(w=1.0), OPS, None)


def test_inference_needs_something_to_forecast() -> None:
    with pytest.raises(DataValidationError, match="no operator to forecast"):
        inference_matrix(frame(), OPS, None)


def test_inference_needs_an_input() -> None:
    with pytest.raises(DataValidationError, match="no input column"):
        inference_matrix(frame()[["z"]], OPS, ["z"])


def test_training_refuses_bad_data_without_touching_the_frame(linear_frame) -> None:
    before = linear_frame.copy()
    bad = linear_frame.copy()
    bad.iloc[3, 0] = np.nan
    with pytest.raises(DataValidationError, match="1 of 400 rows"):
        train("pauli", training_params(), bad)
    pd.testing.assert_frame_equal(linear_frame, before)


def test_inference_of_unknown_forecast_operator(linear_frame) -> None:
    model = train("pauli", training_params(num_passes=1), linear_frame)
    with pytest.raises(DataValidationError, match="operators_to_forecast"):
        infer(model, linear_frame[["x"]], {"operators_to_forecast": ["q"]})
