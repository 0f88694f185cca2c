"""Checks that turn a DataFrame into the float matrix the engine works on, or say exactly why not.

Nothing is dropped or coerced silently: every problem names the columns and how many rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from qwidgets.errors import DataValidationError


def column_names(frame: pd.DataFrame) -> list[str]:
    """Columns as strings (operators travel as str on the wire)."""
    return [str(c) for c in frame.columns]


def numeric_matrix(frame: pd.DataFrame, field: str = "data") -> tuple[np.ndarray, list[str]]:
    """Return ``(values as float64 (rows, cols), column names)`` after every generic check."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(field, [], f"must be a pandas DataFrame, not {type(frame).__name__}",
                                  "wrap the values with pd.DataFrame(...)")
    names = column_names(frame)
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise DataValidationError(field, dupes, f"has duplicate columns {dupes}",
                                  "rename or drop the repeated columns")
    if len(frame) == 0:
        raise DataValidationError(field, names, "has zero rows", "pass at least one row")
    if frame.shape[1] == 0:
        raise DataValidationError(field, [], "has no columns", "pass at least one column")
    bad = [n for n, dtype in zip(names, frame.dtypes, strict=False) if not _is_number(dtype)]
    if bad:
        raise DataValidationError(
            field, bad, f"has non-numeric columns {bad}",
            "convert them to numbers (pd.to_numeric, one-hot encode categories) or drop them")
    values = frame.to_numpy(dtype=np.float64, copy=True)
    finite = np.isfinite(values)
    if not finite.all():
        bad_cols = [n for n, ok in zip(names, finite.all(axis=0), strict=False) if not ok]
        bad_rows = int((~finite.all(axis=1)).sum())
        raise DataValidationError(
            field, bad_cols,
            f"has NaN or infinite values in columns {bad_cols} ({bad_rows} of {len(frame)} rows)",
            "fill or drop those rows (df.dropna(), df.fillna(...)) before sending")
    return values, names


def training_matrix(frame: pd.DataFrame, operators: Sequence[str]) -> np.ndarray:
    """The training data, its columns reordered to ``operators``; they must match exactly."""
    values, names = numeric_matrix(frame)
    check_columns_match(names, operators)
    order = [names.index(op) for op in operators]
    return np.ascontiguousarray(values[:, order])


def check_columns_match(names: Sequence[str], operators: Sequence[str]) -> None:
    """Training data must carry exactly the model's operators."""
    missing = [op for op in operators if op not in names]
    extra = [n for n in names if n not in operators]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks the model's operators {missing}")
        if extra:
            parts.append(f"has columns that are not operators {extra}")
        raise DataValidationError(
            "data", missing + extra, "; ".join(parts),
            "make the model's operators equal to the DataFrame's columns")


def inference_matrix(
    frame: pd.DataFrame, operators: Sequence[str], to_forecast: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Return ``(values, input operators, operators to forecast)`` for an inference request."""
    values, names = numeric_matrix(frame)
    unknown = [n for n in names if n not in operators]
    if unknown:
        raise DataValidationError(
            "data", unknown, f"has columns {unknown} that the model does not know",
            f"use only the model's operators {list(operators)}")
    if to_forecast is None:
        targets = [op for op in operators if op not in names]
    else:
        targets = [str(t) for t in to_forecast]
        strange = [t for t in targets if t not in operators]
        if strange:
            raise DataValidationError(
                "operators_to_forecast", strange, f"are not operators of the model {list(operators)}",
                "ask only for the model's operators")
    if not targets:
        raise DataValidationError(
            "data", names, "leaves no operator to forecast",
            "drop the target columns from the data or name them in operators_to_forecast")
    inputs = [n for n in names if n not in targets]
    if not inputs:
        raise DataValidationError(
            "data", names, "has no input column left once the forecast columns are removed",
            "keep at least one input operator in the data")
    order = [names.index(n) for n in inputs]
    return np.ascontiguousarray(values[:, order]), inputs, targets


def _is_number(dtype: object) -> bool:
    if isinstance(dtype, np.dtype) and dtype.kind == "c":
        return False  # operators are real observables
    return bool(is_numeric_dtype(dtype) or is_bool_dtype(dtype)) and str(dtype) != "object"
