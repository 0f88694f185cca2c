"""``AsyncQcogClient``: the qcog-python-client API, over one pooled connection, with local
validation before any request and exceptions of our own.

    hsm = (await AsyncQcogClient.create()).pauli(["x", "y", "z"])
    await hsm.data(df)
    await hsm.train(batch_size=100, num_passes=3, weight_optimization={}, get_states_extra={})
    await hsm.wait_for_training()
    forecast = await hsm.inference(df[["x", "y"]], InferenceParameters())
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import pandas as pd

from qwidgets.client import activity
from qwidgets.client.connect import resolve
from qwidgets.client.errors import (
    ApiError,
    TrainingCancelledError,
    TrainingFailedError,
    UsageError,
    ValidationError,
)
from qwidgets.client.http import FilePart, HttpClient
from qwidgets.client.qcog import encoding
from qwidgets.client.qcog.checks import check_numeric_frame
from qwidgets.client.qcog.inference_inputs import EncodedInputs, encode_inputs
from qwidgets.client.qcog.parameters import (
    InferenceParameters,
    StateParameters,
    WeightParameters,
    as_wire,
)
from qwidgets.client.qcog.status import (
    WAITING_STATUSES,
    progress_view,
    timed_out,
    validate_version,
)
from qwidgets.client.qcog.sweep import CONCURRENCY, POLL_TIME, Sweep
from qwidgets.client.qcog.sweep_start import attach_sweep, start_sweep
from qwidgets.client.retry import RetryPolicy
from qwidgets.protocol.data import check_columns_match
from qwidgets.protocol.params import validate_inference, validate_model, validate_training_parameters
from qwidgets.protocol.scaling import DataWarning, FrameScaling, check_features, default_targets

DEFAULT_QCOG_VERSION = "0.0.63"
# Above this many bytes of CSV a frame travels gzip-compressed as multipart instead of as
# base64 JSON (which inflates it by a third and must be held whole in memory by the server).
UPLOAD_THRESHOLD = 1 << 20
# The scaling of each model trained in this process, by (service, model guid): the transform
# stays client-side (nothing new on the wire), so preloaded_model(guid) finds it again here.
_SCALINGS: dict[tuple[str, str], FrameScaling] = {}

Operator = str | int


class AsyncQcogClient:
    """Async client of a qcog-compatible service (by default, the embedded simulator)."""

    def __init__(
        self,
        http: HttpClient,
        *,
        version: str = DEFAULT_QCOG_VERSION,
        upload_threshold: int = UPLOAD_THRESHOLD,
    ) -> None:
        self._http = http
        self._version = validate_version(version)
        self.upload_threshold = upload_threshold
        self._model_name: str | None = None
        self._model: dict[str, Any] | None = None
        self._dataset: dict[str, Any] | None = None
        self._dataset_columns: list[str] | None = None
        self._training_parameters: dict[str, Any] | None = None
        self._trained_model: dict[str, Any] | None = None
        self._data_scaling: FrameScaling | None = None
        self._scaling: FrameScaling | None = None
        self.last_status: str | None = None

    @classmethod
    async def create(
        cls,
        *,
        token: str | None = None,
        hostname: str | None = None,
        port: int = 443,
        api_version: str = "v1",
        safe_mode: bool = False,
        version: str = DEFAULT_QCOG_VERSION,
        timeout: float = 60.0,
        retry: RetryPolicy | int | None = None,
        upload_threshold: int = UPLOAD_THRESHOLD,
    ) -> AsyncQcogClient:
        """Connect to ``hostname`` (https, http for loopback), or with no hostname to the
        embedded simulator. ``retry``: a RetryPolicy or a number of attempts."""
        validate_version(version)  # before starting anything
        endpoint = await resolve(token, hostname, port, api_version)
        policy = RetryPolicy(attempts=retry) if isinstance(retry, int) else retry
        http = HttpClient(endpoint.base_url, endpoint.token, timeout=timeout, retry=policy)
        client = cls(http, version=version, upload_threshold=upload_threshold)
        if safe_mode:
            try:
                await http.get("status/")
            except BaseException:
                await http.close()
                raise
        return client

    # ------------------------------------------------------------ lifecycle, properties

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncQcogClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http.base_url!r}, model_guid={self.model_guid!r})"

    @property
    def http_client(self) -> HttpClient:
        return self._http

    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, value: str) -> None:
        self._version = validate_version(value)

    @property
    def model(self) -> dict[str, Any]:
        """The model payload (``parameters.model`` on the wire) set by pauli/ensemble."""
        return dict(_require(self._model, "no model yet: call pauli(...) or ensemble(...)"))

    @property
    def dataset(self) -> dict[str, Any]:
        return dict(_require(self._dataset, "no dataset yet: call data(df) or preloaded_data"))

    @property
    def training_parameters(self) -> dict[str, Any]:
        return dict(_require(self._training_parameters,
                             "no training parameters yet: call train(...)"))

    @property
    def trained_model(self) -> dict[str, Any]:
        return dict(_require(self._trained_model,
                             "no model trained yet: call train(...) or preloaded_model(guid)"))

    @property
    def dataset_guid(self) -> str | None:
        if self._dataset is not None:
            return str(self._dataset["guid"])
        return self._trained_model.get("dataset_guid") if self._trained_model else None

    @property
    def training_parameters_guid(self) -> str | None:
        if self._training_parameters is not None:
            return str(self._training_parameters["guid"])
        if self._trained_model:
            return self._trained_model.get("training_parameters_guid")
        return None

    @property
    def model_guid(self) -> str | None:
        return str(self._trained_model["guid"]) if self._trained_model else None

    # ------------------------------------------------------------ model choice (no I/O)

    def pauli(
        self,
        operators: Sequence[Operator],
        qbits: int = 2,
        pauli_weight: int = 2,
        sigma_sq: Mapping[str, float] | float | None = None,
        sigma_sq_optimization: Mapping[str, float] | None = None,
        seed: int = 42,
        target_operator: Sequence[Operator] | None = None,
    ) -> AsyncQcogClient:
        """Select the Pauli model; validated now, so a bad value fails here."""
        return self._set_model("pauli", {
            "operators": _labels(operators), "qbits": qbits,
            "pauli_weight": pauli_weight, **_common(sigma_sq, sigma_sq_optimization, seed,
                                                    target_operator)})

    def ensemble(
        self,
        operators: Sequence[Operator],
        dim: int = 16,
        num_axes: int = 4,
        sigma_sq: Mapping[str, float] | float | None = None,
        sigma_sq_optimization: Mapping[str, float] | None = None,
        seed: int = 42,
        target_operator: Sequence[Operator] | None = None,
    ) -> AsyncQcogClient:
        """Select the Ensemble model; validated now, so a bad value fails here."""
        return self._set_model("ensemble", {
            "operators": _labels(operators), "dim": dim, "num_axes": num_axes,
            **_common(sigma_sq, sigma_sq_optimization, seed, target_operator)})

    def _set_model(self, name: str, payload: dict[str, Any]) -> AsyncQcogClient:
        model = validate_model(name, payload)
        if self._dataset_columns is not None:
            check_columns_match(self._dataset_columns, model["operators"])
        self._model_name, self._model = name, model
        return self

    # ------------------------------------------------------------ datasets

    async def data(self, data: pd.DataFrame, *, standardize: bool = False,
                   classes: Sequence[str] = (), warn: bool = True) -> AsyncQcogClient:
        """Upload a training DataFrame (gzip multipart above ``upload_threshold`` bytes).

        ``standardize``: train on (column - mean) / std; ``classes``: columns of class labels
        whose forecasts come back as the nearest label. Both are recorded with the model
        trained on this data, so ``inference`` takes and gives the caller's units. Problems
        (scales, constant columns, class labels as a number) warn with DataWarning."""
        columns = check_numeric_frame(data)
        if self._model is not None:
            check_columns_match(columns, self._model["operators"])
        if warn:
            targets = default_targets([], self._model["target_operators"]) if self._model else []
            for note in check_features(data, targets, standardize=standardize, classes=classes):
                warnings.warn(str(note), DataWarning, stacklevel=2)
        scaling = FrameScaling.fit(data, standardize=standardize, classes=classes)
        if not scaling.identity:
            data = scaling.apply(data)
        csv_text = encoding.frame_csv(data)
        if len(csv_text) >= self.upload_threshold:
            dataset_id = str(uuid.uuid4())
            body = await self._http.post(
                "dataset/upload",
                params={"dataset_id": dataset_id, "format": "dataframe", "source": "client",
                        "encoding": "gzip"},
                file=FilePart("file", "data.csv", encoding.encode_gzip(data, csv_text),
                              "application/gzip"))
        else:
            body = await self._http.post("dataset/", {
                "format": "dataframe", "source": "client", "project_guid": None,
                "data": encoding.encode_b64(data, csv_text)})
        self._dataset, self._dataset_columns = _object(body, "guid"), columns
        self._data_scaling = None if scaling.identity else scaling
        return self

    @property
    def scaling(self) -> FrameScaling | None:
        """The transform recorded with the current model (None: raw units). Save
        ``scaling.to_dict()`` with the model guid; set it back after ``preloaded_model`` in
        another process."""
        return self._scaling

    @scaling.setter
    def scaling(self, value: FrameScaling | None) -> None:
        self._scaling = value
        if value is not None and self.model_guid is not None:
            _SCALINGS[(self._http.base_url, self.model_guid)] = value

    async def preloaded_data(self, guid: str) -> AsyncQcogClient:
        """Use a dataset uploaded earlier (its columns are checked by the server)."""
        self._dataset = _object(await self._http.get(f"dataset/{_guid(guid)}/"), "guid")
        self._dataset_columns = None
        self._data_scaling = None
        return self

    # ------------------------------------------------------------ training

    async def preloaded_training_parameters(
        self, guid: str, rebuild: bool = False
    ) -> AsyncQcogClient:
        """Fetch training parameters; ``rebuild`` also makes their model the current one."""
        body = _object(await self._http.get(f"training_parameters/{_guid(guid)}/"), "guid")
        self._training_parameters = body
        if rebuild:
            name = str(body.get("model"))
            model = validate_model(name, (body.get("parameters") or {}).get("model"))
            self._model_name, self._model = name, model
        return self

    async def preloaded_model(self, guid: str) -> AsyncQcogClient:
        """Reattach to a model (trained, training or failed) and to its model choice."""
        trained = _object(await self._http.get(f"model/{_guid(guid)}/"), "guid")
        parameters = trained.get("training_parameters_guid")
        if not isinstance(parameters, str) or not parameters:
            raise ApiError(None, f"the service answered model {guid} without its "
                           f"'training_parameters_guid' (got {parameters!r}; keys "
                           f"{sorted(map(str, trained))[:12]}), so its model choice cannot be "
                           "restored; check that the guid names a qcog model")
        await self.preloaded_training_parameters(parameters, rebuild=True)
        self._trained_model = trained
        self._scaling = _SCALINGS.get((self._http.base_url, str(trained["guid"])))
        self.last_status = trained.get("status")
        return self

    async def train(
        self,
        batch_size: int,
        num_passes: int,
        weight_optimization: WeightParameters | None = None,
        get_states_extra: StateParameters | None = None,
    ) -> AsyncQcogClient:
        """Post the training parameters, then the model: the training starts on the server."""
        name = self._model_name
        model = _require(self._model, "no model yet: call pauli(...) or ensemble(...)")
        dataset = _require(self._dataset, "no dataset yet: call data(df) or preloaded_data")
        weights = as_wire(weight_optimization, "weight_optimization") or {}
        states = as_wire(get_states_extra, "get_states_extra") or {}
        checked = validate_training_parameters(str(name), {
            "model": model, "batch_size": batch_size, "num_passes": num_passes,
            "weight_optimization_kwargs": weights, "state_kwargs": states})
        if self._dataset_columns is not None:
            check_columns_match(self._dataset_columns, checked["model"]["operators"])
        parameters: dict[str, Any] = {
            "model": checked["model"], "batch_size": checked["batch_size"],
            "num_passes": checked["num_passes"]}
        # Left out when empty, as the public client does: the service applies its defaults.
        for key, given in (("weight_optimization_kwargs", weights), ("state_kwargs", states)):
            if given:
                parameters[key] = checked[key]
        self._training_parameters = _object(await self._http.post(
            "training_parameters/", {"model": name, "parameters": parameters}), "guid")
        accepted = _object(await self._http.post("model/", {
            "training_parameters_guid": self._training_parameters["guid"],
            "dataset_guid": dataset["guid"], "qcog_version": self._version}), "guid")
        self._trained_model = {"status": "pending", "loss": None, "training_completion": 0,
                               "current_batch_completion": 0, **accepted}
        self.last_status = self._trained_model["status"]
        self.scaling = self._data_scaling
        activity.started("training", str(accepted["guid"]), self)
        return self

    async def _refresh(self) -> dict[str, Any]:
        guid = self._model_guid_or_raise()
        self._trained_model = _object(await self._http.get(f"model/{guid}/"), "status")
        self.last_status = str(self._trained_model["status"])
        return self._trained_model

    async def status(self) -> str:
        """The training's status: pending, processing, completed, failed, cancelled..."""
        return str((await self._refresh())["status"])

    async def progress(self) -> dict[str, Any]:
        """status, training_completion, current_batch_completion (percentages), pass/batch
        indices and counts, the latest loss and, when failed, the server's reason."""
        return progress_view(await self._refresh())

    async def loss(self) -> list[list[float]]:
        """The passes x batches loss matrix so far."""
        return [list(row) for row in (await self._refresh()).get("loss") or []]

    async def cancel(self) -> AsyncQcogClient:
        """Ask the server to stop the training (status cancelled_pending, then cancelled)."""
        guid = self._model_guid_or_raise()
        answer = await self._http.post(f"model/{guid}/cancel/", {})
        if isinstance(answer, dict):
            self._trained_model = {**(self._trained_model or {}), **answer}
            self.last_status = self._trained_model.get("status", self.last_status)
        return self

    async def wait_for_training(self, poll_time: float = 60,
                                timeout: float | None = None) -> AsyncQcogClient:
        """Wait until the training ends; raise if it did not complete.

        Polls quickly at first, backing off to ``poll_time`` seconds between polls, so a
        short training on the simulator returns at once and a long one costs few requests.
        ``timeout``: give up after that many seconds with ``TrainingTimeoutError``, which says
        how far the training got (it goes on running on the server).
        """
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or not timeout > 0):
            raise ValidationError("timeout", timeout, "must be a positive number of seconds "
                                  "or None", "e.g. wait_for_training(timeout=600)")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        interval = min(0.05, max(poll_time, 0.01))
        while (status := await self.status()) in WAITING_STATUSES:
            if deadline is not None and loop.time() >= deadline:
                assert timeout is not None
                raise timed_out(self._model_guid_or_raise(), timeout, self._trained_model or {})
            wait = interval if deadline is None else min(interval, deadline - loop.time())
            await asyncio.sleep(max(wait, 0.0))
            interval = min(max(poll_time, 0.01), interval * 1.5)
        if status == "completed":
            return self
        guid = self._model_guid_or_raise()
        if status == "cancelled":
            raise TrainingCancelledError(guid)
        reason = (self._trained_model or {}).get("failure_reason")
        raise TrainingFailedError(guid, status, reason)

    # ------------------------------------------------------------ inference

    def encode_inference(self, data: pd.DataFrame,
                         operators_to_forecast: Sequence[str] | None = None) -> EncodedInputs:
        """``data`` checked, scaled and encoded once for ``inference``: to forecast the same
        rows with many models of one dataset (a sweep's), without encoding them each time."""
        to_forecast = validate_inference(
            {"operators_to_forecast": operators_to_forecast})["operators_to_forecast"]
        operators = self._model["operators"] if self._model is not None else None
        return encode_inputs(data, operators, to_forecast, self._scaling)

    async def inference(
        self, data: pd.DataFrame | EncodedInputs,
        parameters: InferenceParameters | Mapping[str, Any] | None
    ) -> pd.DataFrame:
        """Forecast the operators the data lacks (or ``operators_to_forecast``). ``data``: a
        frame, or what ``encode_inference`` made of one for a model like this one."""
        checked = validate_inference(as_wire(parameters, "parameters"))
        guid = self._model_guid_or_raise()
        to_forecast = checked["operators_to_forecast"]
        operators = self._model["operators"] if self._model is not None else None
        if isinstance(data, EncodedInputs):
            inputs = data
            inputs.check_fits(operators, to_forecast, self._scaling)
        else:
            inputs = encode_inputs(data, operators, to_forecast, self._scaling)
        answer = _object(await self._http.post(f"model/{guid}/inference/", {
            "data": inputs.payload, "parameters": checked["state_parameters"]}), "response")
        frame = inputs.forecast(answer, to_forecast, self._scaling)
        # Lets `%qw_grid on` show inference results, and only those, as an InferenceGrid.
        frame.attrs["qwidgets"] = {"kind": "inference", "model_guid": guid}
        return frame

    # ------------------------------------------------------------ sweeps

    def start_sweep(self, data: pd.DataFrame, configs: Any, *, holdout: float = 0.25,
                    metric: str | None = None, seed: int = 0,
                    target: str | Sequence[str] | None = None, concurrency: int = CONCURRENCY,
                    standardize: bool = True, poll_time: float = POLL_TIME) -> Sweep:
        """Train every configuration (a list of dicts, or a grid: a dict of lists) on the same
        data and rank them on held-out rows; returns at once a ``Sweep`` running on this loop.
        Fields and behaviour: ``qwidgets.client.qcog.sweep`` and ``docs/sweep.md``."""
        return start_sweep(self, data, configs, holdout=holdout, metric=metric, seed=seed,
                           target=target, concurrency=concurrency, standardize=standardize,
                           poll_time=poll_time)

    async def sweep(self, data: pd.DataFrame, configs: Any, **options: Any) -> pd.DataFrame:
        """``start_sweep(...)`` and wait for it: the leaderboard, best first."""
        return await self.start_sweep(data, configs, **options).wait()

    async def attach_sweep(self, sweep_id: str, *, concurrency: int | None = None,
                           poll_time: float = POLL_TIME) -> Sweep:
        """A sweep saved by an earlier kernel, running again (see ``Sweep.id``)."""
        return await attach_sweep(self, sweep_id, concurrency=concurrency, poll_time=poll_time)

    def _model_guid_or_raise(self) -> str:
        guid = self.model_guid
        if guid is None:
            raise UsageError("no model trained yet: call train(...) or preloaded_model(guid)")
        return guid


def _require(value: dict[str, Any] | None, message: str) -> dict[str, Any]:
    if value is None:
        raise UsageError(message)
    return value


def _labels(values: Any) -> Any:
    # Operators may be int on the user's side; they travel as str (as the public client).
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        return values  # the schema rejects it with a message naming the field
    return [v if isinstance(v, bool) else str(v) if isinstance(v, int) else v for v in values]


def _common(
    sigma_sq: Mapping[str, float] | float | None,
    sigma_sq_optimization: Mapping[str, float] | None,
    seed: int,
    target_operator: Sequence[Operator] | None,
) -> dict[str, Any]:
    return {"sigma_sq": {} if sigma_sq is None else sigma_sq,
            "sigma_sq_optimization_kwargs": dict(sigma_sq_optimization or {}),
            "seed": seed, "target_operators": _labels(target_operator or [])}


def _guid(guid: str) -> str:
    if not isinstance(guid, str) or not guid or "/" in guid or "?" in guid:
        raise ValidationError("guid", guid, "must be a non-empty guid string")
    return guid


def _object(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or key not in body:
        raise ApiError(None, f"the service answered without {key!r}: {str(body)[:200]}")
    return body
