"""What the federated client sends and expects: its routes, the values it checks before a
request, numpy values made JSON, and the shape of an answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from qwidgets.client.errors import ApiError, ValidationError
from qwidgets.protocol.federated import check_id

ROOT = "federated"


def model_path(model_id: int, rest: str = "") -> str:
    return f"{ROOT}/models/{check_id(model_id, 'federated_model_id')}/{rest}"


def optional_id(value: Any, field_name: str) -> int | None:
    return None if value is None else check_id(value, field_name)


def bounded(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(name, value, f"must be an integer from {low} to {high}")
    return value


def non_negative(value: Any, name: str) -> int:
    return 0 if value == 0 else check_id(value, name)


def jsonable(value: Any) -> Any:
    """numpy arrays and scalars as plain JSON values (lists, floats)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return [jsonable(v) for v in value] if any(
            isinstance(v, (np.ndarray, np.generic, Mapping, list, tuple)) for v in value
        ) else list(value)
    return value


def expect_object(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or key not in body:
        raise ApiError(None, f"unexpected answer (no {key!r}): {str(body)[:200]}")
    return body


def expect_list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ApiError(None, f"unexpected answer (not a list): {str(body)[:200]}")
    return body
