"""Federated learning, the engine (no I/O): model updates as JSON tensors, the rules that decide
when updates become an aggregate, unweighted-mean and FedAvg aggregation, validation scores
averaged per aggregate, and the choice between the latest aggregate and the current artifact.

Tensors. An update's ``data`` (and an aggregate's ``results``, an artifact's ``values``) is a
number, a rectangular nested list of numbers, or an object whose values are such tensors
(``{"w": [[0.1], [0.2]], "b": 0.0}``, a state dict). Every update of a model must have the
same structure (shape and keys) as the model's first artifact or first update.

Rules (``Rule.rule``):

- ``all_clients``: aggregate once every registered client sent an update since the last
  aggregate;
- ``x_updates``: aggregate once ``x_updates`` updates arrived since the last aggregate;
- ``periodic``: aggregate every ``period_s`` seconds whatever arrived (at least one update).

With ``period_s`` set, ``all_clients`` and ``x_updates`` are checked on that schedule only (as
the reference service's scheduler does); without it, on every update. A client counts once per
aggregate: its latest update since the last aggregate replaces its earlier ones (all of them
are consumed), so a chatty client cannot outweigh the others.

Aggregation (``Rule.aggregation``): ``mean`` is the unweighted mean of the clients' updates;
``fedavg`` weighs each update by its ``num_samples`` (McMahan et al. 2017), a positive integer
the update carries: the field ``num_samples`` of the request body, or, for a client that can
only send ``data`` (the public fma-connect client), the envelope
``data = {"values": <tensor>, "num_samples": <n>}`` with exactly those two keys.

Scores. ``validation_results`` is a number or an object of named numbers (``{"r2": 0.9,
"mse": 0.1}``); a bare number counts as the model's ``score_key`` metric. An aggregate's
``validation_score`` is the mean over its clients of that metric (each client's latest
report), and ``metrics`` holds the mean of every metric reported."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwidgets.errors import QwidgetsError, ValidationError

RULES = ("all_clients", "x_updates", "periodic")


AGGREGATIONS = ("mean", "fedavg")


MAX_ELEMENTS = 8_000_000  # 64 MB of float64 per update: about what the federated body limit holds


MAX_DEPTH = 16


MAX_KEYS = 10_000


MAX_METRICS = 64


# The metric an aggregate's validation_score is the mean of, unless the model names another.
# One name for every side: a model created with the defaults and participants reporting with
# the defaults must meet, or the score stays empty while the clients do report.
DEFAULT_SCORE_KEY = "score"


MAX_SAMPLES = 10**12


MIN_PERIOD_S = 0.05


MAX_NAME = 200


# a signature: "number", a shape list, or an object of signatures (sorted keys)
Signature = Any


class FederatedNotFoundError(QwidgetsError, LookupError):
    """A federated model, aggregate or client this namespace does not have."""

    def __init__(self, field: str, value: Any, what: str, fix: str) -> None:
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(f"no {what} {value!r} for this token")


class NotRegisteredError(QwidgetsError, PermissionError):
    """A request names a client that did not register with the model."""

    def __init__(self, client: str | None, model_id: int) -> None:
        self.client = client
        self.model_id = model_id
        what = "no client uuid was sent" if client is None else \
            f"client {client} is not registered with federated model {model_id}"
        super().__init__(what)


@dataclass(frozen=True)
class Rule:
    """When and how updates become an aggregate (see the module docstring)."""

    rule: str = "all_clients"
    aggregation: str = "mean"
    x_updates: int | None = None
    period_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "aggregation": self.aggregation,
                "x_updates": self.x_updates, "period_s": self.period_s}

    @property
    def on_update(self) -> bool:
        """Aggregation is checked when an update arrives (else on the periodic schedule)."""
        return self.period_s is None

    def ready(self, pending_clients: Sequence[str], registered: Iterable[str]) -> bool:
        """``pending_clients``: the sender of each update since the last aggregate."""
        if not pending_clients:
            return False
        if self.rule == "all_clients":
            members = set(registered)
            return bool(members) and members <= set(pending_clients)
        if self.rule == "x_updates":
            return len(pending_clients) >= (self.x_updates or 1)
        return True

    def waiting(self, pending_clients: Sequence[str], registered: Sequence[str]
                ) -> dict[str, Any]:
        """What the next aggregate waits for, for people watching the round."""
        sent = set(pending_clients)
        out: dict[str, Any] = {"pending_updates": len(pending_clients),
                               "clients_sent": [c for c in registered if c in sent],
                               "ready": self.ready(pending_clients, registered)}
        if self.rule == "all_clients":
            out["waiting_for"] = [c for c in registered if c not in sent]
        elif self.rule == "x_updates":
            out["updates_needed"] = max(0, (self.x_updates or 1) - len(pending_clients))
        return out


def make_rule(rule: Any = "all_clients", aggregation: Any = "mean", x_updates: Any = None,
              period_s: Any = None) -> Rule:
    """A checked ``Rule``; every refusal names the field and the fix."""
    if rule not in RULES:
        raise ValidationError("rule", rule, f"must be one of {', '.join(RULES)}",
                              "use 'all_clients', 'x_updates' (with x_updates=N) or "
                              "'periodic' (with period_s=S)")
    if aggregation not in AGGREGATIONS:
        raise ValidationError("aggregation", aggregation,
                              f"must be one of {', '.join(AGGREGATIONS)}",
                              "use 'mean' (unweighted) or 'fedavg' (weighted by num_samples)")
    if rule == "x_updates":
        if not _is_int(x_updates) or not 1 <= x_updates <= 1_000_000:
            raise ValidationError("x_updates", x_updates, "must be an integer from 1 to "
                                  "1000000 with rule 'x_updates'", "e.g. x_updates=3")
    elif x_updates is not None:
        raise ValidationError("x_updates", x_updates, f"only applies to rule 'x_updates', "
                              f"not {rule!r}", "leave x_updates out or use rule='x_updates'")
    if period_s is not None:
        if (not isinstance(period_s, (int, float)) or isinstance(period_s, bool)
                or not math.isfinite(period_s) or not MIN_PERIOD_S <= period_s <= 86400 * 365):
            raise ValidationError("period_s", period_s, f"must be seconds from {MIN_PERIOD_S} "
                                  "to one year", "e.g. period_s=60")
        period_s = float(period_s)
    elif rule == "periodic":
        raise ValidationError("period_s", None, "is required with rule 'periodic'",
                              "give period_s=S: aggregate every S seconds")
    return Rule(rule, aggregation, x_updates, period_s)


def rule_from_dict(value: Mapping[str, Any]) -> Rule:
    return make_rule(value.get("rule", "all_clients"), value.get("aggregation", "mean"),
                     value.get("x_updates"), value.get("period_s"))


def check_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ValidationError(field, value, f"must be a non-empty string of at most {MAX_NAME} "
                              "characters", "e.g. name='housing-regression'")
    return value.strip()


def check_score_key(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 100:
        raise ValidationError("score_key", value, "must be a metric name (a non-empty string)",
                              "e.g. score_key='accuracy'")
    return value


def check_client_uuid(value: Any, field: str = "CLIENT-UUID") -> str:
    """The canonical form of a client uuid."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValidationError(field, value, "must be a client uuid",
                              "send the uuid register_client answered with") from None


def check_id(value: Any, field: str) -> int:
    """A database id: an integer, or its digits as a string (what a path or a form gives)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
        raise ValidationError(field, value, "must be a positive integer id",
                              f"give the {field} id the service returned")
    return value


@dataclass(frozen=True)
class Tensor:
    """A JSON tensor as a flat float64 vector plus its signature (to rebuild it)."""

    flat: np.ndarray
    signature: Signature

    def to_json(self) -> Any:
        return rebuild(self.flat, self.signature)


def parse_tensor(value: Any, field: str = "data") -> Tensor:
    """Check and flatten a JSON tensor; a refusal names the field (``data.w``) and the fix."""
    parts: list[np.ndarray] = []
    signature = _parse(value, field, parts, 0)
    flat = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if flat.size > MAX_ELEMENTS:
        raise ValidationError(field, f"{flat.size} numbers", f"must hold at most {MAX_ELEMENTS}",
                              "send smaller updates")
    return Tensor(flat, signature)


def _parse(value: Any, field: str, parts: list[np.ndarray], depth: int) -> Signature:
    if depth > MAX_DEPTH:
        raise ValidationError(field, "...", f"nests deeper than {MAX_DEPTH} levels",
                              "flatten the structure")
    if _is_number(value):
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(field, value, "must be a finite number",
                                  "replace NaN/inf before sending (a diverged local training?)")
        parts.append(np.array([number]))
        return "number"
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ValidationError(field, value, "must be a rectangular nested list of numbers "
                                  f"({exc})", "send e.g. weights.tolist() of a numpy array"
                                  ) from None
        if array.size == 0:
            raise ValidationError(field, value, "must not be empty", "send at least one number")
        # numpy's own type inference: strings, nulls and booleans do not become numbers
        if array.dtype.kind not in "iuf":
            raise ValidationError(field, value, "must be a rectangular nested list of numbers "
                                  f"(found {array.dtype.name} values)",
                                  "send e.g. weights.tolist() of a numpy array")
        array = array.astype(np.float64, copy=False)
        if not np.isfinite(array).all():
            raise ValidationError(field, _first_bad(array), "must hold finite numbers only",
                                  "replace NaN/inf before sending (a diverged local training?)")
        parts.append(array.ravel())
        return list(array.shape)
    if isinstance(value, dict):
        if not value or len(value) > MAX_KEYS:
            raise ValidationError(field, value, f"must be an object of 1 to {MAX_KEYS} named "
                                  "tensors", "e.g. {'w': [[0.1], [0.2]], 'b': 0.0}")
        out: dict[str, Signature] = {}
        for key in sorted(value):
            if not isinstance(key, str) or not key:
                raise ValidationError(field, key, "has a key that is not a non-empty string",
                                      "name every tensor")
            out[key] = _parse(value[key], f"{field}.{key}", parts, depth + 1)
        return out
    raise ValidationError(field, value, "must be a number, a nested list of numbers or an "
                          "object of those", "send e.g. [0.1, 0.2] or {'w': [...], 'b': 0.0}")


def rebuild(flat: np.ndarray, signature: Signature) -> Any:
    """The JSON value of ``flat`` laid out as ``signature`` (inverse of ``parse_tensor``)."""
    value, used = _rebuild(flat, signature, 0)
    if used != flat.size:
        raise ValueError(f"{flat.size} numbers do not fit signature {signature!r}")
    return value


def _rebuild(flat: np.ndarray, signature: Signature, at: int) -> tuple[Any, int]:
    if signature == "number":
        return float(flat[at]), at + 1
    if isinstance(signature, list):
        size = math.prod(signature)
        return flat[at:at + size].reshape(signature).tolist(), at + size
    out: dict[str, Any] = {}
    for key in sorted(signature):
        out[key], at = _rebuild(flat, signature[key], at)
    return out, at


def describe(signature: Signature) -> str:
    """``signature`` as a person reads it: ``{b: number, w: array[2x1]}``."""
    if signature == "number":
        return "number"
    if isinstance(signature, list):
        return "array[" + "x".join(str(n) for n in signature) + "]"
    return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in sorted(signature.items())) + "}"


def check_fits(tensor: Tensor, expected: Signature | None, field: str = "data") -> None:
    if expected is not None and tensor.signature != expected:
        raise ValidationError(field, describe(tensor.signature),
                              f"must have the model's structure {describe(expected)}",
                              "send updates shaped like the model's artifact (same keys and "
                              "shapes)")


def unwrap_samples(data: Any, num_samples: Any) -> tuple[Any, int | None]:
    """``(tensor, num_samples)`` from an update body (the envelope form included)."""
    if isinstance(data, dict) and set(data) == {"values", "num_samples"}:
        if num_samples is not None and num_samples != data["num_samples"]:
            raise ValidationError("num_samples", num_samples, "differs from "
                                  f"data.num_samples ({data['num_samples']!r})",
                                  "give the sample count once")
        data, num_samples = data["values"], data["num_samples"]
        field = "data.num_samples"
    else:
        field = "num_samples"
    if num_samples is None:
        return data, None
    if not _is_int(num_samples) or not 1 <= num_samples <= MAX_SAMPLES:
        raise ValidationError(field, num_samples, "must be a positive integer (the number of "
                              "training rows behind the update)", "e.g. num_samples=len(X)")
    return data, int(num_samples)


def parse_scores(value: Any, score_key: str, field: str = "validation_results"
                 ) -> dict[str, float]:
    """A client's validation results as ``{metric: value}``."""
    if _is_number(value):
        value = {score_key: value}
    if not isinstance(value, dict) or not value or len(value) > MAX_METRICS:
        raise ValidationError(field, value, f"must be a number or an object of 1 to "
                              f"{MAX_METRICS} named numbers", f"e.g. {{{score_key!r}: 0.93}}")
    out: dict[str, float] = {}
    for key, metric in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(field, key, "has a metric name that is not a string",
                                  "name every metric")
        if not _is_number(metric) or not math.isfinite(float(metric)):
            raise ValidationError(f"{field}.{key}", metric, "must be a finite number",
                                  "send each metric as a number")
        out[key] = float(metric)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _first_bad(array: np.ndarray) -> float:
    return float(array.ravel()[~np.isfinite(array.ravel())][0])

