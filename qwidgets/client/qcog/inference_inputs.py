"""Inference inputs checked, scaled and encoded once, for every model that takes them.

A sweep scores each of its configurations on the same held-out rows; checking, scaling and
encoding those rows (pandas CSV, then base64) cost more of a small sweep's time than the
forecasts themselves. ``AsyncQcogClient.encode_inference`` does it once; ``inference`` takes
the result instead of a frame, after checking that it was made for a model like its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qwidgets.client.errors import ApiError, UsageError
from qwidgets.client.qcog import encoding
from qwidgets.client.qcog.checks import check_numeric_frame, inference_split
from qwidgets.protocol.scaling import FrameScaling


@dataclass(frozen=True)
class EncodedInputs:
    """``payload``: the B64 frame the service reads; ``targets``: the operators to keep from
    its answer (None: all of them). The other fields say which models it fits."""

    payload: str
    targets: tuple[str, ...] | None
    operators: tuple[str, ...] | None
    to_forecast: tuple[str, ...] | None
    scaling: FrameScaling | None

    def check_fits(self, operators: Sequence[str] | None, to_forecast: Sequence[str] | None,
                   scaling: FrameScaling | None) -> None:
        """Refuse inputs encoded for a model with other operators or other units: the
        forecast would silently use the wrong columns or scaling."""
        if self.operators != _names(operators):
            raise UsageError(f"these inputs were encoded for a model of operators "
                             f"{list(self.operators or [])}, not {list(operators or [])}: "
                             "encode them again with this client's encode_inference()")
        if self.to_forecast != _names(to_forecast):
            raise UsageError(f"these inputs were encoded to forecast "
                             f"{list(self.to_forecast or [])}, not {list(to_forecast or [])}: "
                             "pass the same operators_to_forecast, or encode them again")
        if self.scaling != scaling:
            raise UsageError("these inputs were scaled for a model trained on other units: "
                             "encode them again with this client's encode_inference()")

    def forecast(self, answer: dict[str, Any], to_forecast: Sequence[str] | None,
                 scaling: FrameScaling | None) -> pd.DataFrame:
        """The service's ``answer`` to these inputs as a frame in the caller's units, cut
        down to the operators asked for."""
        try:
            frame = encoding.decode_b64(answer["response"]["data"])
        except (KeyError, TypeError):
            raise ApiError(None, f"unexpected inference answer: {str(answer)[:200]}") from None
        if to_forecast is not None and self.targets is not None:
            kept = [c for c in frame.columns if str(c) in self.targets]
            if len(kept) < len(frame.columns):  # a selection copies the frame
                frame = frame[kept]
        return frame if scaling is None else scaling.invert(frame)


def encode_inputs(data: pd.DataFrame, operators: Sequence[str] | None,
                  to_forecast: Sequence[str] | None,
                  scaling: FrameScaling | None) -> EncodedInputs:
    """Check ``data`` against the model's ``operators`` (when known), drop the columns to
    forecast, put it in the model's units and encode it."""
    targets: list[str] | None = None
    if operators is not None:
        data, targets = inference_split(data, operators, to_forecast)
    else:
        check_numeric_frame(data)
    if scaling is not None:
        data = scaling.apply(data)
    return EncodedInputs(encoding.encode_b64(data), _names(targets), _names(operators),
                         _names(to_forecast), scaling)


def _names(names: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(map(str, names))
