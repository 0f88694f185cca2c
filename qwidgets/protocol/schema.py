"""A small declarative schema: fields with types, defaults and bounds, validated with errors
that name the field, the value and what is allowed.

It exists so that one definition of each parameter set (see ``params.py``) serves the engine,
the server, the client's local validation and the generated forms (via ``describe``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwidgets.errors import ValidationError

Kind = Literal["int", "float", "bool", "str", "labels", "float_or_map", "map"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Field:
    """One named value of a parameter set, as it travels on the wire."""

    name: str
    kind: Kind
    default: Any = REQUIRED
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    string_number: bool = False  # the wire may carry this number as a string ("1e-08")
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def allowed(self) -> str:
        kind = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "labels": "a list of column names (str or int)",
            "float_or_map": "a positive number or a mapping {operator: positive number}",
            "map": "a mapping {name: number}",
        }[self.kind]
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.exclusive_minimum else '>='} {_bound(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"{'<' if self.exclusive_maximum else '<='} {_bound(self.maximum)}")
        return f"must be {kind}" + (f" {' and '.join(bounds)}" if bounds else "")

    def check(self, value: Any, path: str) -> Any:
        """Return the normalised value or raise a ValidationError naming ``path``."""
        if value is None and self.nullable:
            return None
        converted = _convert(self, value, path)
        if self.kind in ("int", "float"):
            self._check_bounds(converted, value, path)
        if self.string_number and isinstance(value, str):
            # Kept as the text it came as (the wire's default is "1e-08"): validating the
            # output again gives the same output.
            return value.strip()
        return converted

    def _check_bounds(self, number: float, original: Any, path: str) -> None:
        low, high = self.minimum, self.maximum
        too_low = low is not None and (
            number <= low if self.exclusive_minimum else number < low
        )
        too_high = high is not None and (
            number >= high if self.exclusive_maximum else number > high
        )
        if too_low or too_high:
            raise ValidationError(path, original, self.allowed())

    def describe(self) -> dict[str, Any]:
        """A JSON-able description, used to generate forms and documentation."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "doc": self.doc}
        out["required"] = self.required
        if not self.required:
            out["default"] = self.default
        for key in ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum", "nullable"):
            val = getattr(self, key)
            if val is not None and val is not False:  # 0 is a bound too
                out[key] = val
        return out


def _convert(spec: Field, value: Any, path: str) -> Any:
    kind = spec.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValidationError(path, value, spec.allowed())
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError(path, value, spec.allowed())
        if isinstance(value, numbers.Integral):
            return int(value)
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return int(number)
        raise ValidationError(path, value, spec.allowed())
    if kind == "float":
        return _to_float(spec, value, path)
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ValidationError(path, value, spec.allowed())
    if kind == "labels":
        return _to_labels(spec, value, path)
    if kind == "float_or_map":
        if isinstance(value, Mapping):
            return {str(k): _positive(spec, v, f"{path}.{k}") for k, v in value.items()}
        return _positive(spec, value, path)
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ValidationError(path, value, spec.allowed())
        return {str(k): _to_float(spec, v, f"{path}.{k}") for k, v in value.items()}
    raise AssertionError(kind)  # pragma: no cover - kinds are a closed set


def _to_float(spec: Field, value: Any, path: str) -> float:
    if isinstance(value, str) and spec.string_number:
        try:
            value = float(value)
        except ValueError:
            raise ValidationError(path, value, spec.allowed() + " (a numeric string)") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(path, value, spec.allowed())
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(path, value, spec.allowed() + " (finite)")
    return number


def _positive(spec: Field, value: Any, path: str) -> float:
    number = _to_float(spec, value, path)
    if number <= 0:
        raise ValidationError(path, value, spec.allowed())
    return number


def _to_labels(spec: Field, value: Any, path: str) -> list[str]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ValidationError(path, value, spec.allowed(), "pass a list such as ['x', 'y']")
    labels: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, numbers.Integral)):
            raise ValidationError(path, item, spec.allowed())
        label = str(item)
        if label in labels:
            raise ValidationError(path, value, "names must be unique", f"remove the repeated {label!r}")
        labels.append(label)
    return labels


Check = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class ParamSet:
    """A named group of fields plus the cross-field rules between them."""

    name: str
    fields: tuple[Field, ...]
    doc: str = ""
    checks: tuple[Check, ...] = field(default=())

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def validate(self, payload: Mapping[str, Any] | None, path: str = "") -> dict[str, Any]:
        """Check every field, fill defaults, reject unknown names; return a new dict."""
        payload = {} if payload is None else payload
        if not isinstance(payload, Mapping):
            raise ValidationError(path or self.name, payload, "must be a JSON object (a dict)")
        prefix = f"{path}." if path else ""
        known = {f.name: f for f in self.fields}
        unknown = [k for k in payload if k not in known]
        if unknown:
            raise ValidationError(
                prefix + str(unknown[0]),
                payload[unknown[0]],
                f"is not a field of {self.name}",
                f"use only {sorted(known) or 'no fields'}",
            )
        out: dict[str, Any] = {}
        for spec in self.fields:
            if spec.name in payload:
                out[spec.name] = spec.check(payload[spec.name], prefix + spec.name)
            elif spec.required:
                raise ValidationError(
                    prefix + spec.name, None, f"is required ({spec.allowed()})",
                    f"add {spec.name!r} to {path or self.name}",
                )
            else:
                out[spec.name] = _copy_default(spec.default)
        for check in self.checks:
            check(out, prefix)
        return out

    def defaults(self) -> dict[str, Any]:
        return {f.name: _copy_default(f.default) for f in self.fields if not f.required}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "fields": [f.describe() for f in self.fields]}


@dataclass(frozen=True)
class Choice:
    """A parameter set chosen by a discriminating field (``state_method``, ...)."""

    name: str
    key: str
    options: Mapping[str, ParamSet]
    default: str | None = None
    doc: str = ""

    def validate(self, payload: Mapping[str, Any] | None, path: str = "") -> dict[str, Any]:
        path = path or self.name
        if payload is not None and not isinstance(payload, Mapping):
            raise ValidationError(path, payload, "must be a JSON object (a dict)",
                                  f"send {{{self.key!r}: ...}} or leave it out")
        if not payload:
            if self.default is None:
                raise ValidationError(path, payload, f"needs {self.key!r}",
                                      f"choose one of {sorted(self.options)}")
            payload = {self.key: self.default}
        method = payload.get(self.key)
        if not isinstance(method, str) or method not in self.options:
            raise ValidationError(
                f"{path}.{self.key}", method, f"must be one of {sorted(self.options)}",
                "check the spelling (LOBPCB is spelled as on the wire)"
                if self.key == "state_method" else None,
            )
        body = {k: v for k, v in payload.items() if k != self.key}
        out = self.options[method].validate(body, path)
        return {self.key: method, **out}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "default": self.default,
            "doc": self.doc,
            "options": {k: v.describe() for k, v in self.options.items()},
        }


def _copy_default(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def _bound(value: float) -> str:
    """A bound as written: integers in full (a seed's "4294967295", not "4.29497e+09")."""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return f"{value:g}"
