"""The one definition of every parameter set the service accepts, with the wire's field names
and defaults (``docs/qcog-wire-format.md``).

The engine validates with these, the server answers 4xx from them, the client checks them
before sending, and the forms are generated from ``describe_all()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwidgets.errors import ValidationError
from qwidgets.protocol.schema import Choice, Field, ParamSet

MAX_QBITS = 8  # N = 256, the largest Hilbert dimension seen in practice
MAX_DIM = 512

# ---------------------------------------------------------------- model


def _check_operators(out: dict[str, Any], prefix: str) -> None:
    ops = out["operators"]
    if not ops:
        raise ValidationError(prefix + "operators", ops, "needs at least one operator",
                              "pass the DataFrame's column names")
    strange = [t for t in out["target_operators"] if t not in ops]
    if strange:
        raise ValidationError(prefix + "target_operators", strange,
                              f"every target must be one of operators {ops}",
                              "add the column to operators or remove it from the targets")
    if set(out["target_operators"]) == set(ops):
        raise ValidationError(prefix + "target_operators", out["target_operators"],
                              "at least one operator must be an input, not a target",
                              "leave an input column out of target_operators")
    sigma = out["sigma_sq"]
    if isinstance(sigma, dict):
        strange = [k for k in sigma if k not in ops]
        if strange:
            raise ValidationError(prefix + "sigma_sq", strange,
                                  f"keys must be among operators {ops}",
                                  "give sigma_sq only for columns the model has")


def _check_pauli(out: dict[str, Any], prefix: str) -> None:
    if out["pauli_weight"] > out["qbits"]:
        raise ValidationError(prefix + "pauli_weight", out["pauli_weight"],
                              f"must be <= qbits ({out['qbits']})",
                              f"use pauli_weight between 1 and {out['qbits']}")


def _check_model_name(expected: str) -> Any:
    def check(out: dict[str, Any], prefix: str) -> None:
        if out["model_name"] != expected:
            raise ValidationError(prefix + "model_name", out["model_name"],
                                  f"must be {expected!r} for this parameter set")
    return check


_COMMON_MODEL = (
    Field("operators", "labels", doc="Column names of the training data, one operator each."),
    Field("sigma_sq", "float_or_map", default={},
          doc="Variance per operator (number for all, or {operator: value}); a small value "
              "weighs that operator more. Missing operators use 1."),
    Field("sigma_sq_optimization_kwargs", "map", default={},
          doc="Carried on the wire for compatibility; the simulator keeps sigma_sq fixed."),
    Field("seed", "int", default=42, minimum=0, maximum=2**32 - 1,
          doc="Seed of the weight initialisation and of the iterative solvers' first states."),
    Field("target_operators", "labels", default=[],
          doc="Operators to forecast by default at inference."),
)

PAULI = ParamSet(
    "pauli",
    (
        *_COMMON_MODEL[:1],
        Field("qbits", "int", default=2, minimum=1, maximum=MAX_QBITS,
              doc="Number of qubits: the Hilbert dimension is 2**qbits."),
        Field("pauli_weight", "int", default=2, minimum=1, maximum=MAX_QBITS,
              doc="Largest number of non-identity factors in a Pauli string."),
        *_COMMON_MODEL[1:],
        Field("model_name", "str", default="pauli"),
    ),
    doc="Operators as real combinations of Pauli strings.",
    checks=(_check_operators, _check_pauli, _check_model_name("pauli")),
)

ENSEMBLE = ParamSet(
    "ensemble",
    (
        *_COMMON_MODEL[:1],
        Field("dim", "int", default=16, minimum=2, maximum=MAX_DIM,
              doc="Hilbert-space dimension."),
        Field("num_axes", "int", default=4, minimum=1, maximum=4096,
              doc="Number of shared axes (rank-one projectors) the operators are built from."),
        *_COMMON_MODEL[1:],
        Field("model_name", "str", default="ensemble"),
    ),
    doc="Operators as weighted sums of shared rank-one projectors.",
    checks=(_check_operators, _check_model_name("ensemble")),
)

MODELS: dict[str, ParamSet] = {"pauli": PAULI, "ensemble": ENSEMBLE}

# ---------------------------------------------------------------- training

TRAINING = ParamSet(
    "training",
    (
        Field("batch_size", "int", minimum=1, doc="Rows per batch."),
        Field("num_passes", "int", minimum=1, maximum=100_000,
              doc="Passes over the whole dataset."),
    ),
)

_ITERATIONS = Field("iterations", "int", minimum=1, maximum=1_000_000,
                    doc="Steps per batch (an upper bound for the iterative state solvers).")

WEIGHT_OPTIMIZATION = Choice(
    "weight_optimization_kwargs",
    "optimization_method",
    {
        "GRAD": ParamSet("GRAD", (
            _ITERATIONS,
            Field("learning_rate", "float", minimum=0, exclusive_minimum=True,
                  doc="Step of gradient descent on the weights."),
        ), doc="Gradient descent with Hellmann-Feynman gradients, states held fixed."),
        "ADAM": ParamSet("ADAM", (
            _ITERATIONS,
            Field("step_size", "float", default=0.001, minimum=0, exclusive_minimum=True),
            Field("epsilon", "float", default="1e-08", minimum=0, exclusive_minimum=True,
                  string_number=True, doc="Adam's denominator guard; a string on the wire."),
            Field("first_moment_decay", "float", default=0.9, minimum=0, maximum=1,
                  exclusive_maximum=True),
            Field("second_moment_decay", "float", default=0.999, minimum=0, maximum=1,
                  exclusive_maximum=True),
        ), doc="Adam on the weights, states held fixed."),
        "ANALYTIC": ParamSet("ANALYTIC", (), doc=(
            "Closed-form least-squares weights for fixed states, whole dataset as one batch.")),
    },
    default="ANALYTIC",
    doc="How the weights move once the states of a batch are known.",
)

_AXES = (
    Field("learning_rate_axes", "float", default=0.0, minimum=0,
          doc="Step of the ensemble's shared axes during the state step (0: axes fixed)."),
    Field("normalize_axes", "bool", default=True, doc="Renormalise the axes after each step."),
)
_TOL = Field("tol", "float", default=0.2, minimum=0, exclusive_minimum=True,
             doc="Relative residual ||H psi - E psi|| / rms eigenvalue at which a row stops.")

STATE = Choice(
    "state_kwargs",
    "state_method",
    {
        "LOBPCG_FAST": ParamSet("LOBPCG_FAST", (*_AXES, _ITERATIONS, _TOL),
                                doc="Single-vector LOBPCG, batched, warm-started."),
        "LOBPCB": ParamSet("LOBPCB", (*_AXES, _ITERATIONS, _TOL),
                           doc="Block LOBPCG (two vectors per row: robust near degeneracy)."),
        "POWER_ITER": ParamSet("POWER_ITER", (
            *_AXES, _ITERATIONS, _TOL,
            Field("max_eig_iter", "int", default=5, minimum=1, maximum=10_000,
                  doc="Power steps that estimate the largest eigenvalue for the shift."),
        ), doc="Shifted power iteration, warm-started."),
        "EIGH": ParamSet("EIGH", _AXES, doc="scipy.linalg.eigh, exact."),
        "NP_EIGH": ParamSet("NP_EIGH", _AXES, doc="Exact, from numpy's LAPACK: eigvalsh, then the "
                            "lowest vector by inverse iteration."),
        "EIGS": ParamSet("EIGS", _AXES, doc="Lanczos on matrix-vector products (sparse style)."),
        "GRAD": ParamSet("GRAD", (
            *_AXES, _ITERATIONS,
            Field("learning_rate", "float", minimum=0, exclusive_minimum=True,
                  doc="Step of gradient descent on the Rayleigh quotient (relative to |H|)."),
        ), doc="Projected gradient descent on the Rayleigh quotient, warm-started."),
    },
    default="NP_EIGH",
    doc="How each row's ground state is found.",
)

INFERENCE = ParamSet(
    "inference",
    (
        Field("operators_to_forecast", "labels", default=None, nullable=True,
              doc="Operators to predict; default: the model's operators missing from the data."),
    ),
)

# ---------------------------------------------------------------- whole payloads


def validate_model(model: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a model payload (``parameters.model`` on the wire)."""
    if not isinstance(model, str) or model not in MODELS:
        raise ValidationError("model", model, f"must be one of {sorted(MODELS)}")
    if payload is not None and not isinstance(payload, Mapping):
        raise ValidationError("model", payload, "must be a JSON object of model parameters",
                              f"send e.g. {{'operators': ['x', 'y', 'z']}} for {model!r}")
    body = dict(payload or {})
    body.setdefault("model_name", model)
    return MODELS[model].validate(body, "model")


def validate_weight_optimization(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    return WEIGHT_OPTIMIZATION.validate(payload)


def validate_state(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    return STATE.validate(payload)


def validate_training_parameters(model: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the whole ``training_parameters`` body and return it normalised."""
    if not isinstance(parameters, Mapping):
        raise ValidationError("parameters", parameters, "must be a JSON object (a dict)")
    known = {"model", "batch_size", "num_passes", "weight_optimization_kwargs", "state_kwargs"}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValidationError(f"parameters.{unknown[0]}", parameters[unknown[0]],
                              "is not a training parameter", f"use only {sorted(known)}")
    if "model" not in parameters:
        raise ValidationError("parameters.model", None, "is required",
                              "call pauli(...) or ensemble(...) first")
    if not isinstance(parameters["model"], Mapping):
        raise ValidationError("parameters.model", parameters["model"],
                              "must be a JSON object of model parameters",
                              "send e.g. {'operators': ['x', 'y', 'z'], 'qbits': 2}")
    training = TRAINING.validate(
        {k: parameters[k] for k in ("batch_size", "num_passes") if k in parameters}, "parameters")
    return {
        "model": validate_model(model, parameters["model"]),
        **training,
        "weight_optimization_kwargs": WEIGHT_OPTIMIZATION.validate(
            parameters.get("weight_optimization_kwargs"), "weight_optimization_kwargs"),
        "state_kwargs": STATE.validate(parameters.get("state_kwargs"), "state_kwargs"),
    }


def validate_inference(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Inference parameters: ``operators_to_forecast`` plus validated state parameters."""
    body = dict(parameters or {})
    if "state_parameters" not in body and "state_method" in body:
        body = {"state_parameters": body}  # only the state parameters travel on the wire
    state = body.pop("state_parameters", None)
    out = INFERENCE.validate(body, "parameters")
    out["state_parameters"] = STATE.validate(state, "parameters.state_parameters")
    return out


def describe_all() -> dict[str, Any]:
    """Every parameter set as JSON-able descriptions, for forms and documentation."""
    return {
        "models": {name: spec.describe() for name, spec in MODELS.items()},
        "training": TRAINING.describe(),
        "weight_optimization": WEIGHT_OPTIMIZATION.describe(),
        "state": STATE.describe(),
    }
