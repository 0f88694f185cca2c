"""Local checks of DataFrames, run before any byte is sent, with the engine's own rules."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from qwidgets.protocol.data import inference_matrix, numeric_matrix


def check_numeric_frame(frame: pd.DataFrame, field: str = "data") -> list[str]:
    """The engine's rules for data it trains on or forecasts from (a DataFrame, rows, unique
    numeric columns, finite values): the frame's columns as str, or a DataValidationError
    naming the faulty columns."""
    _, names = numeric_matrix(frame, field)
    return names


def inference_split(
    frame: pd.DataFrame, operators: Sequence[str], to_forecast: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """The frame to send (inputs only) and the operators to return.

    Only the state parameters travel on the wire and the server forecasts every operator the
    data lacks, so ``operators_to_forecast`` is honoured here: named targets are dropped from
    the data before sending, and the answer is cut down to them afterwards.
    """
    _, inputs, targets = inference_matrix(frame, operators, to_forecast)
    keep = [i for i, name in enumerate(map(str, frame.columns)) if name in inputs]
    return frame.iloc[:, keep], targets
