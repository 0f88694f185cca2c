"""The seed's parameter types, by the seed's names, as small frozen dataclasses.

Each one is also a read-only ``Mapping`` of its wire dict (``optimization_method`` /
``state_method`` included), so ``dict(p)`` is what travels, and every method that takes one
equally takes a plain dict with the wire's field names. Defaults and bounds come from
``qwidgets.protocol.params``, the one schema; construction validates and names the bad field.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypedDict

from qwidgets.errors import ValidationError
from qwidgets.protocol.params import STATE, WEIGHT_OPTIMIZATION, validate_inference
from qwidgets.protocol.schema import Choice

__all__ = [
    "AdamOptimizationParameters",
    "AnalyticOptimizationParameters",
    "EIGHStateParameters",
    "EIGSStateParameters",
    "EmptyDictionary",
    "GradOptimizationParameters",
    "GradStateParameters",
    "InferenceParameters",
    "LOBPCGFastStateParameters",
    "LOBPCGStateParameters",
    "NPEIGHStateParameters",
    "PowerIterStateParameters",
    "StateParameters",
    "WeightParameters",
    "as_wire",
]


class EmptyDictionary(TypedDict):
    """``{}``: let the service choose its default method."""


def _default(choice: Choice, method: str, name: str) -> Any:
    return choice.options[method].defaults()[name]


@dataclass(frozen=True, kw_only=True, eq=False)
class _WireParameters(Mapping[str, Any]):
    _choice: ClassVar[Choice]
    _method: ClassVar[str]

    def __post_init__(self) -> None:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        self._choice.options[self._method].validate(body, type(self).__name__)

    def to_wire(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        return {self._choice.key: self._method, **body}

    def model_dump(self) -> dict[str, Any]:
        """The name pydantic users (and qcog-python-client) know."""
        return self.to_wire()

    def __getitem__(self, key: str) -> Any:
        return self.to_wire()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_wire())

    def __len__(self) -> int:
        return len(self.to_wire())

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"{type(self).__name__}({inner})"


# ---------------------------------------------------------------- weight optimization

_W = WEIGHT_OPTIMIZATION


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class GradOptimizationParameters(_WireParameters):
    """Gradient descent on the weights."""

    _choice: ClassVar[Choice] = _W
    _method: ClassVar[str] = "GRAD"
    iterations: int
    learning_rate: float


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AdamOptimizationParameters(_WireParameters):
    """Adam on the weights; ``epsilon`` defaults to the wire's string ``"1e-08"``."""

    _choice: ClassVar[Choice] = _W
    _method: ClassVar[str] = "ADAM"
    iterations: int
    step_size: float = _default(_W, "ADAM", "step_size")
    epsilon: float | str = _default(_W, "ADAM", "epsilon")
    first_moment_decay: float = _default(_W, "ADAM", "first_moment_decay")
    second_moment_decay: float = _default(_W, "ADAM", "second_moment_decay")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class AnalyticOptimizationParameters(_WireParameters):
    """Closed-form weights (the whole dataset as one batch)."""

    _choice: ClassVar[Choice] = _W
    _method: ClassVar[str] = "ANALYTIC"


# ---------------------------------------------------------------- state solvers


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class _StateParameters(_WireParameters):
    _choice: ClassVar[Choice] = STATE
    learning_rate_axes: float = _default(STATE, "EIGH", "learning_rate_axes")
    normalize_axes: bool = _default(STATE, "EIGH", "normalize_axes")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class LOBPCGFastStateParameters(_StateParameters):
    _method: ClassVar[str] = "LOBPCG_FAST"
    iterations: int
    tol: float = _default(STATE, "LOBPCG_FAST", "tol")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class LOBPCGStateParameters(_StateParameters):
    """Block LOBPCG; the wire spells its method ``LOBPCB``."""

    _method: ClassVar[str] = "LOBPCB"
    iterations: int
    tol: float = _default(STATE, "LOBPCB", "tol")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class PowerIterStateParameters(_StateParameters):
    _method: ClassVar[str] = "POWER_ITER"
    iterations: int
    tol: float = _default(STATE, "POWER_ITER", "tol")
    max_eig_iter: int = _default(STATE, "POWER_ITER", "max_eig_iter")


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class EIGHStateParameters(_StateParameters):
    _method: ClassVar[str] = "EIGH"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class EIGSStateParameters(_StateParameters):
    _method: ClassVar[str] = "EIGS"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class NPEIGHStateParameters(_StateParameters):
    _method: ClassVar[str] = "NP_EIGH"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class GradStateParameters(_StateParameters):
    _method: ClassVar[str] = "GRAD"
    iterations: int
    learning_rate: float


WeightParameters = (
    GradOptimizationParameters | AdamOptimizationParameters | AnalyticOptimizationParameters
    | EmptyDictionary | Mapping[str, Any]
)
StateParameters = (
    LOBPCGFastStateParameters | LOBPCGStateParameters | PowerIterStateParameters
    | EIGHStateParameters | EIGSStateParameters | NPEIGHStateParameters | GradStateParameters
    | EmptyDictionary | Mapping[str, Any]
)


# ---------------------------------------------------------------- inference


@dataclass(frozen=True, kw_only=True, eq=False)
class InferenceParameters(Mapping[str, Any]):
    """What to forecast and how to find the states; only ``state_parameters`` travels."""

    operators_to_forecast: list[str] | None = None
    state_parameters: StateParameters | None = None

    def __post_init__(self) -> None:
        validate_inference(self.to_wire())

    def to_wire(self) -> dict[str, Any]:
        return {"operators_to_forecast": self.operators_to_forecast,
                "state_parameters": as_wire(self.state_parameters, "state_parameters") or {}}

    def __getitem__(self, key: str) -> Any:
        return self.to_wire()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_wire())

    def __len__(self) -> int:
        return 2


def as_wire(value: Any, field: str) -> dict[str, Any] | None:
    """A plain JSON-able dict from one of our types, a dict, or a pydantic model (so the
    public client's parameter objects work too)."""
    if value is None:
        return None
    if isinstance(value, (_WireParameters, InferenceParameters)):
        return value.to_wire()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{field}.{k}") for k, v in value.items()}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return as_wire(dump(), field)
    raise ValidationError(field, value, "must be a dict or a qwidgets parameter object",
                          "e.g. NPEIGHStateParameters() or {'state_method': 'NP_EIGH'}")


def _plain(value: Any, field: str) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping) or hasattr(value, "model_dump"):
        return as_wire(value, field)
    return value
