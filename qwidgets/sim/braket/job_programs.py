"""The programs a simulated hybrid job runs: the built-in entry points, loaded by name only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.protocol.hybrid_jobs import BUILTIN_ENTRY_POINTS, ENTRY_FIX, normalise_entry_point


@dataclass(frozen=True)
class JobContext:
    """What an entry point receives: the job's own inputs, and how to report and stop."""

    job_name: str
    device: str
    hyperparameters: Mapping[str, str]
    input_data: Mapping[str, pd.DataFrame]
    should_stop: Callable[[], bool]
    log_metric: Callable[[str, float, int], None]


def load_entry_point(entry_point: str) -> Callable[[JobContext], dict[str, Any]]:
    """The callable of a built-in entry point (only those: nothing else is ever imported)."""
    entry = normalise_entry_point(entry_point)
    if entry not in BUILTIN_ENTRY_POINTS:
        raise ValidationError("entryPoint", entry_point, "is not a built-in entry point",
                              ENTRY_FIX)
    module_name, _, attr = entry.partition(":")
    function: Callable[[JobContext], dict[str, Any]] = getattr(
        importlib.import_module(module_name), attr)
    return function


def _algorithm(entry: str) -> Any:
    return importlib.import_module(entry.partition(":")[0])

