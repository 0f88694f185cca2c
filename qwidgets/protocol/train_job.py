"""The hyperparameters of the built-in hybrid-job program ``qwidgets.sim.braket.programs.train``,
checked here so the client refuses a bad job before sending it and the simulator answers 400.

Hyperparameters (strings, as on the wire; all optional):

    model             'pauli' (default) or 'ensemble'
    qbits, pauli_weight   pauli model size (default 2, 2)
    dim, num_axes     ensemble model size (default 16, 4)
    operators         comma-separated columns to train on (default: every column)
    num_passes        passes over the data (default 3)
    batch_size        rows per batch (default 100)
    optimization_method   'ANALYTIC' (default), 'GRAD' or 'ADAM'
    learning_rate, iterations, step_size   for GRAD / ADAM
    state_method      'NP_EIGH' (default) or any engine state method
    seed              model seed (default 42)
    rows, noise, data_seed   the generated dataset when no 'input' channel is given:
                      z = 0.5 x - 0.3 y + noise * N(0, 1), x and y uniform in [-1, 1]
                      (default 400 rows, noise 0, data_seed 7)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.params import validate_training_parameters

FIELD = "hyperParameters"
MAX_ROWS = 200_000

_INT = ("qbits", "pauli_weight", "dim", "num_axes", "num_passes", "batch_size", "iterations",
        "seed", "rows", "data_seed")
_FLOAT = ("learning_rate", "step_size", "noise")
_TEXT = ("model", "operators", "optimization_method", "state_method")
KNOWN = frozenset(_INT + _FLOAT + _TEXT)


@dataclass(frozen=True)
class TrainSpec:
    model: str
    parameters: dict[str, Any]  # the engine's training parameters, without operators yet
    operators: list[str] | None
    rows: int
    noise: float
    data_seed: int


def _number(hp: Mapping[str, str], key: str, kind: Callable[[str], Any], default: Any) -> Any:
    if key not in hp:
        return default
    try:
        value = kind(hp[key])
    except ValueError:
        name = "a whole number" if kind is int else "a number"
        raise ValidationError(f"{FIELD}.{key}", hp[key], f"must be {name} written as a string",
                              f"e.g. '{kind('3')}'") from None
    if isinstance(value, float) and not np.isfinite(value):
        raise ValidationError(f"{FIELD}.{key}", hp[key], "must be a finite number")
    return value


def parse(hp: Mapping[str, str]) -> TrainSpec:
    unknown = sorted(set(hp) - KNOWN)
    if unknown:
        raise ValidationError(f"{FIELD}.{unknown[0]}", hp[unknown[0]],
                              "is not a hyperparameter of qwidgets.sim.braket.programs.train",
                              f"use only {sorted(KNOWN)}")
    model = hp.get("model", "pauli")
    if model == "pauli":
        shape = {"qbits": _number(hp, "qbits", int, 2),
                 "pauli_weight": _number(hp, "pauli_weight", int, 2)}
    elif model == "ensemble":
        shape = {"dim": _number(hp, "dim", int, 16), "num_axes": _number(hp, "num_axes", int, 4)}
    else:
        raise ValidationError(f"{FIELD}.model", model, "must be 'pauli' or 'ensemble'")
    method = hp.get("optimization_method", "ANALYTIC")
    optimization: dict[str, Any] = {"optimization_method": method}
    for key, kind in (("learning_rate", float), ("iterations", int), ("step_size", float)):
        if key in hp:
            optimization[key] = _number(hp, key, kind, None)
    operators = None
    if "operators" in hp:
        operators = [c.strip() for c in hp["operators"].split(",") if c.strip()]
    parameters = {
        "model": {**shape, "seed": _number(hp, "seed", int, 42)},
        "num_passes": _number(hp, "num_passes", int, 3),
        "batch_size": _number(hp, "batch_size", int, 100),
        "weight_optimization_kwargs": optimization,
        "state_kwargs": {"state_method": hp.get("state_method", "NP_EIGH")},
    }
    rows = _number(hp, "rows", int, 400)
    if not 2 <= rows <= MAX_ROWS:
        raise ValidationError(f"{FIELD}.rows", hp.get("rows"), f"must be 2 to {MAX_ROWS}")
    noise = _number(hp, "noise", float, 0.0)
    if noise < 0:
        raise ValidationError(f"{FIELD}.noise", hp.get("noise"), "must be >= 0")
    spec = TrainSpec(model, parameters, operators, rows, noise, _number(hp, "data_seed", int, 7))
    # every engine rule, checked now with the operators the generated data would have
    engine_parameters(spec, operators or ["x", "y", "z"])
    return spec


def engine_parameters(spec: TrainSpec, operators: list[str]) -> dict[str, Any]:
    params = {**spec.parameters, "model": {**spec.parameters["model"], "operators": operators}}
    try:
        return validate_training_parameters(spec.model, params)
    except ValidationError as exc:
        raise ValidationError(f"{FIELD} ({exc.field})", exc.value, exc.allowed,
                              exc.fix) from exc


def check_hyperparameters(hp: Mapping[str, str]) -> None:
    parse(hp)
