"""A sweep's configurations: flat dicts (or a grid of lists) of the fields below, each checked
up front with the protocol's validators and turned into the arguments of ``pauli(...)`` /
``ensemble(...)``, ``train(...)`` and ``inference(...)``.

Fields (anything else is refused, never ignored):

- ``model``: ``"pauli"`` (default) or ``"ensemble"``.
- Pauli: ``qbits`` (2), ``pauli_weight`` (2). Ensemble: ``dim`` (16), ``num_axes`` (4).
- ``sigma_sq`` ({} : 1 for every operator), ``seed`` (42): the model's.
- ``batch_size`` (100, at most the training rows), ``num_passes`` (5).
- ``optimization_method``: the weights' optimizer, ``"ANALYTIC"`` (default), ``"GRAD"``,
  ``"ADAM"``; its ``iterations``, ``learning_rate`` (GRAD), ``step_size``, ``epsilon``,
  ``first_moment_decay``, ``second_moment_decay`` (ADAM).
- ``state_method``: the state solver, ``"NP_EIGH"`` (default), ``"EIGH"``, ``"EIGS"``,
  ``"LOBPCG_FAST"``, ``"LOBPCB"``, ``"POWER_ITER"``, ``"GRAD"``; its ``state_iterations``,
  ``state_learning_rate``, ``tol``, ``max_eig_iter``, ``learning_rate_axes``,
  ``normalize_axes``. The same solver finds the states of the held-out rows. An iterative
  solver's ``state_iterations`` defaults to 50 here (an upper bound: it stops at ``tol``).
  In a grid, each solver and optimizer takes only the fields it has (``state_iterations``
  goes to LOBPCG_FAST rows, not to NP_EIGH rows), as each model takes only its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qwidgets.errors import ValidationError
from qwidgets.protocol.params import STATE, WEIGHT_OPTIMIZATION, validate_training_parameters

DEFAULT_BATCH_SIZE = 100
DEFAULT_NUM_PASSES = 5
# The wire requires an iteration budget for the iterative state solvers; in a sweep it is an
# upper bound they rarely reach (they stop at their tolerance), and a warning reports rows
# that reach it. Set state_iterations to change it.
DEFAULT_STATE_ITERATIONS = 50

MODEL_FIELDS = {"pauli": ("qbits", "pauli_weight"), "ensemble": ("dim", "num_axes")}
COMMON_MODEL_FIELDS = ("sigma_sq", "seed")
WEIGHT_FIELDS = {"optimization_method": "optimization_method", "iterations": "iterations",
                 "learning_rate": "learning_rate", "step_size": "step_size",
                 "epsilon": "epsilon", "first_moment_decay": "first_moment_decay",
                 "second_moment_decay": "second_moment_decay"}
STATE_FIELDS = {"state_method": "state_method", "state_iterations": "iterations",
                "state_learning_rate": "learning_rate", "tol": "tol",
                "max_eig_iter": "max_eig_iter", "learning_rate_axes": "learning_rate_axes",
                "normalize_axes": "normalize_axes"}
FIELDS = ("model", *MODEL_FIELDS["pauli"], *MODEL_FIELDS["ensemble"], *COMMON_MODEL_FIELDS,
          "batch_size", "num_passes", *WEIGHT_FIELDS, *STATE_FIELDS)
# The wire's dotted names back to the sweep's flat ones, so a reason names what the user wrote.
_FLAT = {**{f"model.{f}": f for f in (*MODEL_FIELDS["pauli"], *MODEL_FIELDS["ensemble"],
                                      *COMMON_MODEL_FIELDS)},
         **{f"parameters.{f}": f for f in ("batch_size", "num_passes")},
         **{f"weight_optimization_kwargs.{w}": f for f, w in WEIGHT_FIELDS.items()},
         **{f"state_kwargs.{w}": f for f, w in STATE_FIELDS.items()}}


@dataclass(frozen=True)
class Plan:
    """What one valid configuration sends: model name and payload, training arguments."""

    model: str
    model_kwargs: dict[str, Any]
    batch_size: int
    num_passes: int
    weights: dict[str, Any]
    state: dict[str, Any]


def expand(configs: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The configurations of a list of dicts, or of a grid (a dict of lists: their product,
    the first field varying slowest; a value that is not a list is the same in all). In a
    grid, the Pauli fields (qbits, pauli_weight) apply to Pauli rows only and the Ensemble
    ones (dim, num_axes) to Ensemble rows only; a list of dicts must say exactly what it
    means (a stray field is reported)."""
    if isinstance(configs, Mapping):
        keys = [str(k) for k in configs]
        axes = [list(v) if isinstance(v, (list, tuple, range)) else [v]
                for v in configs.values()]
        if any(not axis for axis in axes):
            empty = next(k for k, a in zip(keys, axes, strict=True) if not a)
            raise ValidationError(f"configs.{empty}", [], "a grid's list needs a value",
                                  f"give {empty} at least one value or leave it out")
        out: list[dict[str, Any]] = []
        for values in itertools.product(*axes):
            config = _for_its_model(dict(zip(keys, values, strict=True)))
            if config not in out:
                out.append(config)
        unused = next((k for k in keys if not any(k in c for c in out)), None)
        if unused is not None:  # never drop what the user asked for without a word
            raise ValidationError(f"configs.{unused}", configs[unused],
                                  "applies to none of the grid's models and methods",
                                  f"leave {unused} out, or add a model or method that takes it")
        return out
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence):
        raise ValidationError("configs", configs, "must be a list of dicts or a grid (a dict "
                              "of lists)", "e.g. {'model': ['pauli'], 'qbits': [2, 3]}")
    listed: list[dict[str, Any]] = []
    for i, item in enumerate(configs):
        if not isinstance(item, Mapping):
            raise ValidationError(f"configs[{i}]", item, "must be a dict of fields",
                                  "e.g. {'model': 'ensemble', 'dim': 8}")
        listed.append({str(k): v for k, v in item.items()})
    if not listed:
        raise ValidationError("configs", configs, "needs at least one configuration",
                              "e.g. [{'qbits': 2}, {'qbits': 3}]")
    return listed


def _for_its_model(config: dict[str, Any]) -> dict[str, Any]:
    # A grid over both models crosses qbits with dim, and NP_EIGH with LOBPCG_FAST's
    # state_iterations: each row keeps the fields of its own model and methods only.
    model = config.get("model", "pauli")
    others = [f for m, fields in MODEL_FIELDS.items() if m != model for f in fields]
    kept = {k: v for k, v in config.items() if k not in others or model not in MODEL_FIELDS}
    for choice, flat in ((STATE, STATE_FIELDS), (WEIGHT_OPTIMIZATION, WEIGHT_FIELDS)):
        method = kept.get(choice.key, choice.default)
        options = choice.options.get(method) if isinstance(method, str) else None
        if options is None:
            continue  # an unknown method: plan() reports it
        takes = set(options.field_names())
        kept = {k: v for k, v in kept.items()
                if k not in flat or k == choice.key or flat[k] in takes}
    return kept


def varying(configs: Sequence[Mapping[str, Any]],
            given: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[str]:
    """The fields that take two values or more among the configurations that set them (all
    fields if none does), in the grid's order or else in order of first appearance."""
    order = list(given) if isinstance(given, Mapping) else []
    seen = list(dict.fromkeys([*order, *(k for c in configs for k in c)]))
    moving = [k for k in seen if len({repr(c[k]) for c in configs if k in c}) > 1]
    return moving or seen


def plan(config: Mapping[str, Any], operators: Sequence[str], targets: Sequence[str],
         training_rows: int) -> Plan:
    """The validated arguments of one configuration, or a ValidationError naming the flat
    field and the fix."""
    unknown = [k for k in config if k not in FIELDS]
    if unknown:
        raise ValidationError(unknown[0], config[unknown[0]], "is not a sweep field",
                              f"use only {list(FIELDS)}")
    model = config.get("model", "pauli")
    if model not in MODEL_FIELDS:
        raise ValidationError("model", model, f"must be one of {sorted(MODEL_FIELDS)}")
    other = next(m for m in MODEL_FIELDS if m != model)
    stray = [f for f in MODEL_FIELDS[other] if f in config]
    if stray:
        raise ValidationError(stray[0], config[stray[0]], f"applies to the {other} model only",
                              f"leave it out, or set model={other!r}")
    payload = {f: config[f] for f in (*MODEL_FIELDS[model], *COMMON_MODEL_FIELDS)
               if f in config}
    payload.update(operators=list(operators), target_operators=list(targets))
    weights = {w: config[f] for f, w in WEIGHT_FIELDS.items() if f in config}
    state = {w: config[f] for f, w in STATE_FIELDS.items() if f in config}
    method = STATE.options.get(str(state.get("state_method", STATE.default)))
    if method is not None and "iterations" in method.field_names():
        state.setdefault("iterations", DEFAULT_STATE_ITERATIONS)
    batch = config.get("batch_size", max(1, min(DEFAULT_BATCH_SIZE, training_rows)))
    passes = config.get("num_passes", DEFAULT_NUM_PASSES)
    try:
        checked = validate_training_parameters(model, {
            "model": payload, "batch_size": batch, "num_passes": passes,
            "weight_optimization_kwargs": weights, "state_kwargs": state})
    except ValidationError as exc:
        raise flat_error(exc) from None
    kwargs = {k: v for k, v in checked["model"].items()
              if k not in ("model_name", "sigma_sq_optimization_kwargs")}
    return Plan(model, kwargs, checked["batch_size"], checked["num_passes"],
                checked["weight_optimization_kwargs"], checked["state_kwargs"])


def flat_error(exc: ValidationError) -> ValidationError:
    """The same error under the sweep's field name (``state_kwargs.iterations`` ->
    ``state_iterations``)."""
    field = _FLAT.get(exc.field, exc.field)
    if field == exc.field:
        return exc
    wire = exc.field.rpartition(".")[2]
    fix = exc.fix or ""
    for group in ("state_kwargs", "weight_optimization_kwargs", "parameters", "model"):
        fix = fix.replace(f"{wire!r} to {group}", f"{field!r} to the configuration")
    return ValidationError(field, exc.value, exc.allowed, fix or None)


def model_arguments(plan: Plan) -> dict[str, Any]:
    """Keyword arguments of ``pauli(...)`` / ``ensemble(...)``."""
    body = dict(plan.model_kwargs)
    out = {k: body[k] for k in (*MODEL_FIELDS[plan.model], "sigma_sq", "seed")}
    out["operators"] = body["operators"]
    out["target_operator"] = body["target_operators"]
    return out
