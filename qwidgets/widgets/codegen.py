"""The Python a form's Train button amounts to, written out for teaching and for scripts.

Everything is derived from the normalised parameters and the client's own signatures and
parameter classes, so the code shown is the code that runs: ``ModelConfigForm.train`` calls
the client through ``client_model_call`` too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from qwidgets.client.connect import LOOPBACK
from qwidgets.client.qcog import parameters as wire_types
from qwidgets.client.qcog.client import AsyncQcogClient
from qwidgets.errors import QwidgetsError
from qwidgets.protocol.params import STATE, WEIGHT_OPTIMIZATION
from qwidgets.protocol.schema import Choice

# The public client names two model arguments differently from the wire (qcog-python-client).
_ARGUMENT_OF_FIELD = {
    "sigma_sq_optimization_kwargs": "sigma_sq_optimization",
    "target_operators": "target_operator",
}
_DISCRIMINATOR = "model_name"
_INDENT = "    "


def client_model_call(model: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The client method (``pauli``/``ensemble``) and its keyword arguments for a validated
    model payload (``parameters.model`` on the wire)."""
    family = str(model[_DISCRIMINATOR])
    method = getattr(AsyncQcogClient, family, None)
    if method is None:
        raise QwidgetsError(f"AsyncQcogClient has no method {family!r} for model {family!r}")
    accepted = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {}
    for name, value in model.items():
        if name == _DISCRIMINATOR:
            continue
        argument = _ARGUMENT_OF_FIELD.get(name, name)
        if argument not in accepted:
            raise QwidgetsError(
                f"model.{name} has no argument in AsyncQcogClient.{family}(); "
                f"map it in qwidgets/widgets/codegen.py (_ARGUMENT_OF_FIELD)")
        kwargs[argument] = value
    return family, kwargs


def connect_line(base_url: str | None) -> str:
    """``client = await AsyncQcogClient.create(...)`` for a service URL (None: the embedded
    simulator). The token never appears: it comes from QCOG_API_TOKEN."""
    if base_url is None:
        return "client = await AsyncQcogClient.create()"
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    args = [f"hostname={host!r}"]
    if port != 443:
        args.append(f"port={port}")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[-2] == "api" and segments[-1] != "v1":
        args.append(f"api_version={segments[-1]!r}")
    where = "a loopback service" if host in LOOPBACK else "the service"
    return (f"# the token of {where} comes from QCOG_API_TOKEN (or pass token=...)\n"
            f"client = await AsyncQcogClient.create({', '.join(args)})")


def training_code(parameters: Mapping[str, Any], *, base_url: str | None = None,
                  frame_name: str = "df", selection: Sequence[Any] | None = None,
                  data_options: Mapping[str, Any] | None = None) -> str:
    """Runnable code (top-level ``await``, as in a notebook cell) that trains what
    ``parameters`` (normalised training parameters) describe on the frame ``frame_name``;
    ``selection``: the frame's column labels to keep, None for the whole frame;
    ``data_options``: keyword arguments of ``client.data`` (standardize, classes)."""
    family, model_kwargs = client_model_call(parameters["model"])
    weights = _parameter_object(WEIGHT_OPTIMIZATION, parameters["weight_optimization_kwargs"])
    states = _parameter_object(STATE, parameters["state_kwargs"])
    imports = sorted({"AsyncQcogClient", weights[0], states[0]} - {""})
    frame = frame_name if selection is None else f"{frame_name}[{list(selection)!r}]"
    shown = {k: v for k, v in model_kwargs.items() if v not in ({}, [])}
    lines = [
        _import("qwidgets.client", imports),
        "",
        connect_line(base_url),
        _call(f"client.{family}", shown),
        f"await client.data({', '.join([frame, *_keywords(data_options or {})])})",
        _call("await client.train", {
            "batch_size": parameters["batch_size"], "num_passes": parameters["num_passes"]},
            {"weight_optimization": weights[1], "get_states_extra": states[1]}),
        "print(client.model_guid)",
        "# await client.wait_for_training()  # returns when the training has ended",
    ]
    return "\n".join(lines) + "\n"


def _keywords(options: Mapping[str, Any]) -> list[str]:
    return [f"{k}={v!r}" for k, v in options.items() if v]


def _parameter_object(choice: Choice, payload: Mapping[str, Any]) -> tuple[str, str]:
    """(class name to import, source) of the client's parameter object for a choice payload;
    a dict literal if the client has no class for that method."""
    method = payload[choice.key]
    fields = {f.name: f for f in choice.options[method].fields}
    arguments = {}
    for name, value in payload.items():
        spec = fields.get(name)
        if spec is None:
            continue  # the discriminator
        if not spec.required and spec.check(spec.default, name) == value:
            continue  # the class has the same default: keep the code short
        arguments[name] = value
    for class_name in wire_types.__all__:
        cls = getattr(wire_types, class_name)
        if getattr(cls, "_choice", None) is choice and getattr(cls, "_method", None) == method:
            inner = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
            return class_name, f"{class_name}({inner})"
    return "", repr(dict(payload))


def _import(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= 88:
        return line
    return f"from {module} import (\n" + "".join(f"{_INDENT}{n},\n" for n in names) + ")"


def _call(function: str, arguments: Mapping[str, Any],
          sources: Mapping[str, str] | None = None) -> str:
    parts = [f"{k}={v!r}" for k, v in arguments.items()]
    parts += [f"{k}={v}" for k, v in (sources or {}).items()]
    if not parts:
        return f"{function}()"
    body = "".join(f"{_INDENT}{p},\n" for p in parts)
    return f"{function}(\n{body})"
