"""``ModelConfigForm``: the training parameters of a qcog model as a form generated from the
engine's one schema (``qwidgets.protocol.params.describe_all``), validated in the kernel with the
very validators the client and the server use, and a Train button that starts the training
through ``AsyncQcogClient``.

    form = ModelConfigForm(data=df)
    form.on_train(lambda client: monitor.watch(client))
    form                      # edit, then Train; or: client = await form.train()
    print(form.code())        # the same thing as Python
"""

from __future__ import annotations

import asyncio
import copy
import functools
import html
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import traitlets
from pandas.api.types import is_complex_dtype, is_numeric_dtype

from qwidgets.client.qcog.checks import check_numeric_frame
from qwidgets.client.qcog.client import AsyncQcogClient
from qwidgets.errors import QwidgetsError, ValidationError
from qwidgets.protocol.data import check_columns_match
from qwidgets.protocol.params import (
    MODELS,
    STATE,
    TRAINING,
    WEIGHT_OPTIMIZATION,
    describe_all,
    validate_model,
    validate_training_parameters,
)
from qwidgets.protocol.request_kinds import Request
from qwidgets.protocol.schema import Choice, ParamSet
from qwidgets.widgets.base import QWidget, bundle
from qwidgets.widgets.codegen import client_model_call, training_code
from qwidgets.widgets.holdout import data_notes

log = logging.getLogger(__name__)

DEFAULT_FAMILY = "pauli"
# Starting values of the two training fields the schema requires without a default: a few
# quick passes, so a first Train on the simulator finishes in seconds.
DEFAULT_BATCH_SIZE = 100
DEFAULT_NUM_PASSES = 5

_MODEL = "model"
_FAMILY_KEY = "model_name"
_CHOICES: tuple[Choice, ...] = (WEIGHT_OPTIMIZATION, STATE)
# Traits the form computes itself; passing them to the constructor would be overwritten.
_COMPUTED = ("schema", "columns", "errors", "status", "error", "busy", "model_guid", "notes")

OnTrain = Callable[[AsyncQcogClient], Any]


class ModelConfigForm(QWidget):
    """A form for model, training, weight optimizer and state solver parameters.

    ``value`` is the normalised ``training_parameters`` body (with ``model.model_name``);
    setting an invalid one keeps it as given and lists the problems in ``errors``.
    """

    _bundle_name = "config_form"
    _esm = bundle("config_form")

    schema = traitlets.Dict(help="describe_all(): the controls are built from it").tag(sync=True)
    columns = traitlets.List(traitlets.Unicode(), help="the DataFrame's column names (never its "
                             "data): the choices of operators and targets").tag(sync=True)
    value = traitlets.Dict(help="the training parameters; normalised with defaults when valid"
                           ).tag(sync=True)
    errors = traitlets.Dict(help="{field: message} of what is wrong with value").tag(sync=True)
    status = traitlets.Unicode("ready", help="ready, invalid, submitting, started or failed; "
                               "then the training's outcome when someone watches it "
                               "(training_ended): completed, cancelled, disconnected"
                               ).tag(sync=True)
    error = traitlets.Unicode("", help="why the last Train failed").tag(sync=True)
    busy = traitlets.Bool(False, help="a training is being submitted").tag(sync=True)
    model_guid = traitlets.Unicode(None, allow_none=True,
                                   help="the model of the last training started").tag(sync=True)
    _code = traitlets.Unicode("").tag(sync=True)
    standardize = traitlets.Bool(False, help="train on (x - mean) / std per column; recorded "
                                 "with the model and undone on its forecasts").tag(sync=True)
    classes = traitlets.List(traitlets.Unicode(), help="target columns of class labels: their "
                             "forecasts come back as the nearest label").tag(sync=True)
    notes = traitlets.List(traitlets.Dict(), help="what in the data would mislead the model, "
                           "each with its fix (holdout.data_notes)").tag(sync=True)

    def __init__(self, data: pd.DataFrame | None = None, client: AsyncQcogClient | None = None,
                 **kwargs: Any) -> None:
        computed = sorted(set(kwargs) & set(_COMPUTED))
        if computed:
            raise TypeError(f"ModelConfigForm() computes {', '.join(computed)} itself; pass "
                            "data=..., client=... and value=...")
        if client is not None and not isinstance(client, AsyncQcogClient):
            raise TypeError(f"client must be an AsyncQcogClient (await AsyncQcogClient.create(...)),"
                            f" not {type(client).__name__}")
        self._client = client
        self._owns_client = False
        self._data: pd.DataFrame | None = None
        self._labels: dict[str, Any] = {}
        self._data_check: tuple[tuple[str, ...], ValidationError | None] | None = None
        self._callbacks: list[OnTrain] = []
        self.last_client: AsyncQcogClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._set_data(data)
        value = kwargs.pop("value", None)
        super().__init__(schema=describe_all(), columns=list(self._labels), **kwargs)
        self.value = dict(value) if value is not None else self._default_value()
        self._requests.register(Request.TRAIN, self._on_train_request)

    # ------------------------------------------------------------ data

    @property
    def data(self) -> pd.DataFrame | None:
        return self._data

    @data.setter
    def data(self, frame: pd.DataFrame | None) -> None:
        self._set_data(frame)
        self.columns = list(self._labels)
        value = dict(self.value)
        model = value.get(_MODEL)
        if isinstance(model, Mapping) and not model.get("operators"):
            value[_MODEL] = {**model, "operators": self._default_operators()}
        self._revalidate(value)
        self._update_notes()

    @traitlets.observe("value", "standardize", "classes")
    def _update_notes(self, _change: Any = None) -> None:
        notes = data_notes(self._data, self.value, self.standardize, self.classes)
        self.notes = [n.to_dict() for n in notes]
        if _change is not None and _change["name"] != "value" and not self.errors:
            self._code = self._code_for(self.check())  # the code says how the data is sent

    def _set_data(self, frame: pd.DataFrame | None) -> None:
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise ValidationError("data", frame, "must be a pandas DataFrame or None",
                                  "wrap the values with pd.DataFrame(...)")
        self._data = frame
        self._labels = {} if frame is None else {str(c): c for c in frame.columns}
        self._data_check = None

    def _default_operators(self) -> list[str]:
        if self._data is None:
            return []
        return [name for name, dtype in zip(self._labels, self._data.dtypes, strict=False)
                if is_numeric_dtype(dtype) and not is_complex_dtype(dtype)]

    def _default_value(self) -> dict[str, Any]:
        rows = len(self._data) if self._data is not None else DEFAULT_BATCH_SIZE
        return {
            _MODEL: {_FAMILY_KEY: DEFAULT_FAMILY, "operators": self._default_operators()},
            "batch_size": max(1, min(DEFAULT_BATCH_SIZE, rows)),
            "num_passes": DEFAULT_NUM_PASSES,
            **{c.name: {c.key: c.default} for c in _CHOICES},
        }

    def _selection(self, operators: list[str]) -> list[Any] | None:
        """The frame's labels of ``operators``; None when that is the whole frame as it is."""
        labels = [self._labels[op] for op in operators]
        if self._data is not None and labels == list(self._data.columns):
            return None
        return labels

    def _selected_frame(self, operators: list[str]) -> pd.DataFrame:
        assert self._data is not None
        labels = self._selection(operators)
        return self._data if labels is None else self._data[labels]

    def _check_data(self, operators: list[str]) -> None:
        """The operators must be columns of the frame, and those columns trainable (numeric,
        finite, unique). Remembered for the last operator list: the frame check reads every
        value, and most edits do not touch the operators."""
        if self._data is None:
            return
        key = tuple(operators)
        if self._data_check is None or self._data_check[0] != key:
            problem: ValidationError | None = None
            try:
                check_columns_match([c for c in self._labels if c in operators], operators)
                check_numeric_frame(self._selected_frame(operators))
            except ValidationError as exc:
                problem = exc
            self._data_check = (key, problem)
        if self._data_check[1] is not None:
            raise self._data_check[1]

    # ------------------------------------------------------------ validation

    @traitlets.validate("value")
    def _validate_value(self, proposal: Any) -> dict[str, Any]:
        value = proposal["value"]
        normalized, problems = check_value(value, self._check_data)
        self._show_problems(normalized, problems)
        # A copy, so that changing the dict given afterwards cannot change the form unseen.
        return normalized if normalized is not None else copy.deepcopy(value)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        # An edit from the browser is answered in one message (value, errors, code, status).
        with self.hold_sync():
            super().set_state(sync_data)

    def _revalidate(self, value: dict[str, Any]) -> None:
        # Assigning runs _validate_value even when the value is unchanged: the data may be new.
        self.value = value

    def _show_problems(self, normalized: dict[str, Any] | None,
                       problems: dict[str, ValidationError]) -> None:
        with self.hold_sync():  # one message to the browser per edit, not one per trait
            self.errors = {key: str(exc) for key, exc in problems.items()}
            if normalized is not None:
                self._code = self._code_for(normalized)
            else:
                lines = [f"# {m}" for m in self.errors.values()]
                self._code = "# Fix the form first:\n" + "\n".join(lines) + "\n"
            if not self.busy:
                self.status = "invalid" if problems else "ready"

    def check(self) -> dict[str, Any]:
        """The normalised parameters, or the first ValidationError (naming field and fix)."""
        normalized, problems = check_value(self.value, self._check_data)
        if problems:
            raise next(iter(problems.values()))
        assert normalized is not None
        return normalized

    # ------------------------------------------------------------ code

    def code(self, frame_name: str = "df") -> str:
        """Python that trains what the form holds (top-level ``await``, as in a notebook);
        ``frame_name`` is the variable holding the DataFrame."""
        return self._code_for(self.check(), frame_name)

    def _code_for(self, normalized: dict[str, Any], frame_name: str = "df") -> str:
        given = self._client is not None and not self._owns_client
        base_url = self._client.http_client.base_url if given and self._client else None
        operators = normalized[_MODEL]["operators"]
        known = self._data is not None and all(o in self._labels for o in operators)
        selection = self._selection(operators) if known else None
        return training_code(normalized, base_url=base_url, frame_name=frame_name,
                             selection=selection, data_options={
                                 "standardize": self.standardize, "classes": self.classes})

    # ------------------------------------------------------------ training

    def on_train(self, callback: OnTrain, remove: bool = False) -> None:
        """Call ``callback(client)`` (sync or async) each time a training has started."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    @property
    def client(self) -> AsyncQcogClient | None:
        """The client given, or the one created on the first Train (embedded simulator)."""
        return self._client

    async def train(self) -> AsyncQcogClient:
        """Validate, then start the training; returns the client that trains (its own
        AsyncQcogClient sharing the form's connection, so each training keeps its state).
        Failures are also shown in the form (``errors``, ``error``, ``status``)."""
        if self.busy:
            raise QwidgetsError("a training is already being submitted; wait until it started")
        self.busy = True
        try:
            return await self._train()
        finally:
            self.busy = False

    def _on_train_request(self) -> dict[str, Any]:
        """The Train button: answer at once and run the submission as a task (a request is
        cancelled when the browser stops waiting; a submission must not be)."""
        if self.busy:
            raise QwidgetsError("a training is already being submitted; wait until it started")
        self.busy = True  # at once, so a second click is refused before the task runs
        # Requests already runs on the loop of the cells (see _requests.py), so the client
        # this hands over works in a cell.
        self._task = asyncio.get_running_loop().create_task(self._train_from_button())
        return {"started": True}

    async def _train_from_button(self) -> None:
        try:
            await self._train()
        except Exception:  # already shown in the form by _train
            log.debug("Train failed (shown in the form)", exc_info=True)
        finally:
            self.busy = False

    async def _train(self) -> AsyncQcogClient:
        self.error = ""
        try:
            parameters = self.check()
            if self._data is None:
                raise ValidationError("data", None, "the form has no DataFrame to train on",
                                      "pass data=df to ModelConfigForm or set form.data = df")
            self.status = "submitting"
            base = await self._base_client()
            client = AsyncQcogClient(base.http_client, version=base.version,
                                     upload_threshold=base.upload_threshold)
            family, arguments = client_model_call(parameters[_MODEL])
            getattr(client, family)(**arguments)
            # warn=False: the same notes are shown in the form (``notes``)
            await client.data(self._selected_frame(parameters[_MODEL]["operators"]),
                              standardize=self.standardize, classes=self.classes, warn=False)
            await client.train(
                batch_size=parameters["batch_size"], num_passes=parameters["num_passes"],
                weight_optimization=parameters["weight_optimization_kwargs"],
                get_states_extra=parameters["state_kwargs"])
        except ValidationError as exc:
            self.errors = {**self.errors, error_key(exc.field): str(exc)}
            self._failed(exc)
            raise
        except Exception as exc:
            self._failed(exc)
            raise
        self.last_client = client
        self.model_guid = client.model_guid
        self.status = "started"
        self.refresh_static()
        await self._notify(client)
        return client

    async def _base_client(self) -> AsyncQcogClient:
        if self._client is None:
            self._client = await AsyncQcogClient.create()
            self._owns_client = True
        return self._client

    def _failed(self, exc: BaseException) -> None:
        self.status = "failed"
        self.error = str(exc) if isinstance(exc, QwidgetsError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ValidationError) and len(self.errors) > 1:
            # Every problem is marked at its field; the summary must not pretend there is one.
            self.error = f"{len(self.errors)} fields need fixing (each is marked); the first: {exc}"

    def training_ended(self, model_guid: str | None, status: str) -> None:
        """Say how the training of ``model_guid`` ended (a watcher such as the dashboard's
        monitor calls this), so the form stops saying "Training started" once it is over."""
        if model_guid == self.model_guid and self.status == "started" and not self.busy:
            self.status = "failed" if status == "failed" else status
            if status == "failed":
                self.error = f"the training of model {model_guid} failed on the server"

    async def _notify(self, client: AsyncQcogClient) -> None:
        for callback in list(self._callbacks):
            try:
                result = callback(client)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.exception("on_train callback failed")
                name = getattr(callback, "__name__", type(callback).__name__)
                self.error = f"the training started, but the on_train callback {name} failed: {exc}"

    async def aclose(self) -> None:
        """Close the widget and the connection it opened itself (not a client it was given)."""
        self.close()
        if self._owns_client and self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------ static form

    def _rows(self) -> list[tuple[str, str]]:
        rows = [(key, _shown(v)) for key, v in flatten(self.value)]
        if self.model_guid:
            rows.append(("model guid", self.model_guid))
        return rows

    def static_html(self) -> str:
        esc = html.escape
        body = "".join(f"<tr><th style='text-align:left;font-family:monospace'>{esc(k)}</th>"
                       f"<td>{esc(v)}</td></tr>" for k, v in self._rows())
        problems = "".join(f"<li>{esc(m)}</li>" for m in self.errors.values())
        problems += "".join(f"<li>{esc(n['message'])}. Fix: {esc(n['fix'])}</li>" for n in self.notes)
        errors = f"<ul style='color:#d32f2f'>{problems}</ul>" if problems else ""
        return (f"<div class='qw-static qw-config-form'><table><caption style='text-align:left'>"
                f"ModelConfigForm ({esc(self.status)})</caption>{body}</table>{errors}</div>")

    def static_text(self) -> str:
        lines = [f"ModelConfigForm ({self.status})"]
        lines += [f"  {k}: {v}" for k, v in self._rows()]
        lines += [f"  error: {m}" for m in self.errors.values()]
        lines += [f"  note: {n['message']}. Fix: {n['fix']}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------- validation, by field


def error_key(field: str) -> str:
    """The form control a ValidationError's field belongs to: ``model.sigma_sq.x`` ->
    ``model.sigma_sq``, ``parameters.batch_size`` -> ``batch_size``, ``data`` (columns) ->
    ``model.operators``."""
    parts = field.split(".")
    if parts[0] == "parameters" and len(parts) > 1:
        parts = parts[1:]
    if parts == ["data"]:
        return f"{_MODEL}.operators"
    if parts == [_MODEL]:
        return f"{_MODEL}.{_FAMILY_KEY}"
    choice = next((c for c in _CHOICES if c.name == parts[0]), None)
    if choice is not None and len(parts) == 1:
        return f"{choice.name}.{choice.key}"
    depth = 2 if parts[0] == _MODEL or choice is not None else 1
    return ".".join(parts[:depth])


def check_value(value: Mapping[str, Any], check_data: Callable[[list[str]], None] | None = None
                ) -> tuple[dict[str, Any] | None, dict[str, ValidationError]]:
    """Validate a form value section by section so that every section's problem shows at
    once; within a section, each field is checked alone first (so two bad fields give two
    messages). Returns the normalised value (None if anything is wrong) and the problems by
    control key."""
    problems: dict[str, ValidationError] = {}
    raw_model = value.get(_MODEL)
    family = raw_model.get(_FAMILY_KEY, DEFAULT_FAMILY) if isinstance(raw_model, Mapping) \
        else DEFAULT_FAMILY
    model = _section(problems, MODELS.get(str(family)), raw_model, _MODEL,
                     lambda: validate_model(str(family), raw_model))
    training = {k: value[k] for k in TRAINING.field_names() if k in value}
    _section(problems, TRAINING, training, "", lambda: TRAINING.validate(training))
    for choice in _CHOICES:
        payload = value.get(choice.name)
        method = payload.get(choice.key) if isinstance(payload, Mapping) else None
        _section(problems, choice.options.get(str(method)), payload, choice.name,
                 functools.partial(choice.validate, payload, choice.name))
    if model is not None and check_data is not None:
        _collect(problems, lambda: check_data(model["operators"]))
    if problems:
        return None, problems
    normalized = _collect(problems, lambda: validate_training_parameters(str(family), value))
    if normalized is not None:
        # Twice: a string-number default ("1e-08") comes back as given, and as a float once
        # validated again, so one pass is not a fixed point and the value would change on
        # its echo from the browser.
        normalized = _collect(problems,
                              lambda: validate_training_parameters(str(family), normalized))
    return normalized, problems


def _section(problems: dict[str, ValidationError], fields: ParamSet | None, payload: Any,
             path: str, validate: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    found: dict[str, ValidationError] = {}
    if fields is not None and isinstance(payload, Mapping):
        for spec in fields.fields:
            if spec.name in payload:
                where = f"{path}.{spec.name}" if path else spec.name
                _collect(found, functools.partial(spec.check, payload[spec.name], where))
    if found:
        for key, exc in found.items():
            problems.setdefault(key, exc)
        return None
    return _collect(problems, validate)


def _collect(problems: dict[str, ValidationError], call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ValidationError as exc:
        problems.setdefault(error_key(exc.field), exc)
        return None


def flatten(value: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(control key, value) pairs in the form's order, for the static table."""
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, Mapping) and (key == _MODEL or any(c.name == key for c in _CHOICES)):
            rows += [(f"{key}.{k}", v) for k, v in item.items()]
        else:
            rows.append((key, item))
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
