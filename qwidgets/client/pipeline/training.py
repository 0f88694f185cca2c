"""The qcog training workflow as a pipeline: load dataset -> train -> publish -> serve.

    client = await AsyncQcogClient.create()
    pipe = TrainingPipeline(client, data=df, model="pauli",
                            model_parameters={"operators": ["x", "y", "z"]},
                            batch_size=100, num_passes=3,
                            inference_data=df[["x", "y"]], name="xyz")
    PipelineView(pipe)               # optional: states, timeline, Stop / Resume
    forecast = await pipe.run()

    # after a kernel restart:
    pipe = TrainingPipeline.load(checkpoint_path("xyz"), await AsyncQcogClient.create())
    forecast = await pipe.resume()   # skips what is done; re-attaches to a running training

Every action does its work through the client. Train polls the server from 50 ms on with a
short backoff, so its status follows the server's (TrainCreated while pending, Training while
processing, TrainFinished as soon as it completes), and stopping it cancels the server-side
training. Publish checks the model loads back (``preloaded_model``) and completed with a finite
loss, then gives it the next version number of its name in a registry file next to the
checkpoint. Serve runs ``inference`` on the given data and returns the forecast frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from qwidgets.client.errors import (
    ConflictError,
    NotFoundError,
    TrainingCancelledError,
    TrainingFailedError,
    UsageError,
)
from qwidgets.client.pipeline.action import Action
from qwidgets.client.pipeline.events import ActionState, HandlerLike
from qwidgets.client.pipeline.runner import Pipeline
from qwidgets.client.pipeline.state import (
    default_directory,
    json_safe,
    publish,
    read_checkpoint,
)
from qwidgets.client.qcog.client import AsyncQcogClient
from qwidgets.client.qcog.parameters import (
    InferenceParameters,
    StateParameters,
    WeightParameters,
    as_wire,
)
from qwidgets.client.qcog.status import WAITING_STATUSES, last_loss
from qwidgets.errors import ValidationError
from qwidgets.protocol.params import validate_inference, validate_training_parameters

MODELS = ("pauli", "ensemble")
# Server status -> Train status while the training is not over.
TRAIN_RUNNING = {"pending": "TrainCreated", "processing": "Training",
                 "cancelled_pending": "TrainStopping"}
POLL_FIRST = 0.05
POLL_MAX = 0.5


class _ClientAction(Action):
    def __init__(self, client: AsyncQcogClient, name: str | None = None) -> None:
        super().__init__(name)
        self.client = client


class LoadDatasetAction(_ClientAction):
    """Upload the training frame (or fetch a dataset uploaded earlier, by guid)."""

    default_name = "LoadDataset"
    statuses: ClassVar[Mapping[ActionState, str]] = {
        ActionState.Preceding: "DatasetPending", ActionState.Running: "DatasetLoading",
        ActionState.Done: "DatasetLoaded", ActionState.Error: "DatasetLoadFailed",
        ActionState.Stopped: "DatasetLoadStopped"}

    def __init__(self, client: AsyncQcogClient, data: pd.DataFrame | str | None) -> None:
        super().__init__(client)
        self.source = data

    async def execute(self, input: Any) -> dict[str, Any]:
        data = self.source
        if isinstance(data, str):
            self.report("DatasetFetching", guid=data)
            await self.client.preloaded_data(data)
            return {"dataset_guid": self.client.dataset["guid"], "rows": None, "columns": None}
        if data is None:
            raise ValidationError("data", None, "the training DataFrame (or a dataset guid) is "
                                  "needed: the dataset was not loaded before",
                                  "pass data=<the training DataFrame>")
        self.report("DatasetUploading", rows=len(data), columns=[str(c) for c in data.columns])
        await self.client.data(data)
        return {"dataset_guid": self.client.dataset["guid"], "rows": len(data),
                "columns": [str(c) for c in data.columns]}

    def done_data(self, output: Any) -> Mapping[str, Any]:
        return {"guid": output["dataset_guid"], "rows": output["rows"]}


class TrainAction(_ClientAction):
    """Start the training (or re-attach to the one a checkpoint names) and follow it."""

    default_name = "Train"
    statuses: ClassVar[Mapping[ActionState, str]] = {
        ActionState.Preceding: "TrainSubmitting", ActionState.Running: "Training",
        ActionState.Done: "TrainFinished", ActionState.Error: "TrainFailed",
        ActionState.Stopped: "TrainStopped"}

    def __init__(self, client: AsyncQcogClient, *, model: str, model_parameters: Mapping[str, Any],
                 batch_size: int, num_passes: int, weight_optimization: Mapping[str, Any],
                 get_states_extra: Mapping[str, Any], poll_first: float = POLL_FIRST,
                 poll_max: float = POLL_MAX) -> None:
        super().__init__(client)
        self.model, self.model_parameters = model, dict(model_parameters)
        self.batch_size, self.num_passes = batch_size, num_passes
        self.weight_optimization = dict(weight_optimization)
        self.get_states_extra = dict(get_states_extra)
        self.poll_first, self.poll_max = poll_first, max(poll_max, poll_first)
        self.polls = 0
        self._submit: asyncio.Future[Any] | None = None

    async def execute(self, input: Any) -> dict[str, Any]:
        guid = self.progress.get("model_guid")
        if guid:
            try:
                await self.client.preloaded_model(guid)
            except NotFoundError:
                guid = None  # the server lost it (a wiped data directory): train again
            if guid and self.client.last_status in ("cancelled", "failed"):
                guid = None  # stopped or failed before: a resume trains again
            elif guid:
                self.report(TRAIN_RUNNING.get(str(self.client.last_status), "Training"),
                            guid=guid, reattached=True, server_status=self.client.last_status)
        if not guid:
            guid = await self._submit_training(input)
        view = await self._follow()
        if view["status"] == "completed":
            return {"model_guid": guid, "dataset_guid": self.client.dataset_guid,
                    "training_parameters_guid": self.client.training_parameters_guid,
                    "loss": view["loss"]}
        if view["status"] == "cancelled":
            raise TrainingCancelledError(guid)
        raise TrainingFailedError(guid, str(view["status"]), view.get("failure_reason"))

    async def _submit_training(self, dataset: Mapping[str, Any] | None) -> str:
        dataset_guid = (dataset or {}).get("dataset_guid")
        if not dataset_guid:
            raise ValidationError("input", dataset, "Train needs the dataset guid of "
                                  "LoadDataset's output")
        if _dataset_of(self.client) != dataset_guid:
            await self.client.preloaded_data(dataset_guid)
        getattr(self.client, self.model)(**self.model_parameters)
        # Shielded: a stop during the POSTs lets them finish, so on_stop learns the guid of a
        # training the server may already have started, and cancels it.
        self._submit = asyncio.ensure_future(self.client.train(
            self.batch_size, self.num_passes, self.weight_optimization, self.get_states_extra))
        await asyncio.shield(self._submit)
        guid = str(self.client.model_guid)
        self.remember(model_guid=guid)
        self.report("TrainCreated", guid=guid, server_status=self.client.last_status,
                    progress=0)
        return guid

    async def _follow(self) -> dict[str, Any]:
        interval, seen = self.poll_first, None
        while True:
            view = await self.client.progress()
            self.polls += 1
            status = str(view["status"])
            key = (status, view["training_completion"], view["pass_index"], view["batch_index"])
            if status in WAITING_STATUSES and key != seen:
                if seen is not None and status != seen[0]:
                    interval = self.poll_first  # a new phase: look closely again
                seen = key
                self.report(TRAIN_RUNNING.get(status, "Training"), **_progress_data(view))
            if status not in WAITING_STATUSES:
                return view
            await asyncio.sleep(interval)
            interval = min(self.poll_max, interval * 1.5)

    async def on_stop(self) -> Mapping[str, Any]:
        if self._submit is not None and not self._submit.done():
            with contextlib.suppress(Exception):
                await self._submit
        if self._submit is not None and self._submit.done() and not self._submit.cancelled() \
                and self._submit.exception() is None and self.client.model_guid:
            self.progress.setdefault("model_guid", self.client.model_guid)
        guid = self.progress.get("model_guid")
        if not guid:
            return {}
        if self.client.model_guid != guid:
            await self.client.preloaded_model(guid)
        with contextlib.suppress(ConflictError):  # it completed or failed meanwhile
            await self.client.cancel()
        status, interval = await self.client.status(), self.poll_first
        if status in WAITING_STATUSES:
            self.report("TrainStopping", guid=guid, server_status=status)
        while status in WAITING_STATUSES:
            await asyncio.sleep(interval)
            interval = min(self.poll_max, interval * 1.5)
            status = await self.client.status()
        return {"guid": guid, "server_status": status}

    def done_data(self, output: Any) -> Mapping[str, Any]:
        return {"guid": output["model_guid"], "progress": 100, "loss": output["loss"]}

    def error_data(self, exc: BaseException) -> Mapping[str, Any]:
        return {**super().error_data(exc), "guid": self.progress.get("model_guid")}


class PublishAction(_ClientAction):
    """Check the trained model loads back and completed, then record it as the next
    version of ``publish_name``."""

    default_name = "Publish"
    statuses: ClassVar[Mapping[ActionState, str]] = {
        ActionState.Preceding: "ModelPublishing", ActionState.Running: "ModelPublishing",
        ActionState.Done: "ModelPublished", ActionState.Error: "ModelPublishFailed",
        ActionState.Stopped: "ModelPublishStopped"}

    def __init__(self, client: AsyncQcogClient, publish_name: str, registry: Path) -> None:
        super().__init__(client)
        self.publish_name, self.registry = publish_name, registry

    async def execute(self, input: Any) -> dict[str, Any]:
        guid = str(input["model_guid"])
        self.report(guid=guid)
        await self.client.preloaded_model(guid)
        trained = self.client.trained_model
        status = trained.get("status")
        if status != "completed":
            raise ValidationError("model_guid", guid, f"is {status}; only a completed training "
                                  "can be published", "resume the pipeline to train again")
        loss = last_loss(trained.get("loss"))
        if loss is None:
            raise ValidationError("model_guid", guid, "has no finite loss; it cannot be "
                                  "published", "train again with a smaller learning rate")
        entry = publish(self.registry, self.publish_name, guid, {
            "dataset_guid": trained.get("dataset_guid"),
            "training_parameters_guid": trained.get("training_parameters_guid"),
            "model": self.client.model, "loss": loss})
        return {**dict(input), "name": entry["name"], "version": entry["version"],
                "published_at": entry["published_at"], "loss": loss}

    def done_data(self, output: Any) -> Mapping[str, Any]:
        return {"guid": output["model_guid"], "name": output["name"],
                "version": output["version"]}


class ServeAction(_ClientAction):
    """Run inference with the published model on ``data``; the output is the forecast."""

    default_name = "Serve"
    statuses: ClassVar[Mapping[ActionState, str]] = {
        ActionState.Preceding: "Created", ActionState.Running: "Deploying",
        ActionState.Done: "Deployed", ActionState.Error: "DeployFailed",
        ActionState.Stopped: "DeployStopped"}

    def __init__(self, client: AsyncQcogClient, data: pd.DataFrame | None,
                 parameters: Mapping[str, Any]) -> None:
        super().__init__(client)
        self.frame, self.parameters = data, dict(parameters)
        self._guid: str | None = None

    async def execute(self, input: Any) -> pd.DataFrame:
        if self.frame is None:
            raise ValidationError("inference_data", None, "Serve needs the frame to forecast",
                                  "pass inference_data=<a DataFrame>")
        self._guid = guid = str(input["model_guid"])
        if self.client.model_guid != guid:
            await self.client.preloaded_model(guid)
        self.report(guid=guid, rows=len(self.frame), version=input.get("version"))
        return await self.client.inference(self.frame, self.parameters)

    def to_record(self, output: Any) -> Any:
        # The frame stays in memory; the checkpoint keeps what it was.
        return {"model_guid": self._guid, "rows": len(output),
                "columns": [str(c) for c in output.columns]}

    def done_data(self, output: Any) -> Mapping[str, Any]:
        return {"guid": self._guid, "rows": len(output),
                "columns": [str(c) for c in output.columns]}


# The schema's field names -> this class's argument names, so the error names what to change.
_TRAIN_FIELDS = (("parameters.weight_optimization_kwargs", "weight_optimization"),
                 ("parameters.state_kwargs", "get_states_extra"),
                 ("weight_optimization_kwargs", "weight_optimization"),
                 ("state_kwargs", "get_states_extra"), ("parameters.", ""))
_INFERENCE_FIELDS = (("parameters.state_parameters", "inference_parameters"),
                     ("parameters.", "inference_parameters."))


def _renamed(exc: ValidationError, names: tuple[tuple[str, str], ...]) -> ValidationError:
    field, fix = exc.field, exc.fix
    for theirs, ours in names:
        if field.startswith(theirs):
            field = ours + field[len(theirs):]
            fix = fix.replace(theirs, ours) if fix and ours else fix
            break
    return ValidationError(field, exc.value, exc.allowed, fix)


def _dataset_of(client: AsyncQcogClient) -> str | None:
    try:
        return str(client.dataset["guid"])
    except UsageError:
        return None


def _progress_data(view: Mapping[str, Any]) -> dict[str, Any]:
    return {"guid": view["guid"], "server_status": view["status"],
            "progress": view["training_completion"], "pass_index": view["pass_index"],
            "num_passes": view["num_passes"], "batch_index": view["batch_index"],
            "num_batches": view["num_batches"], "loss": view["loss"]}


class TrainingPipeline(Pipeline):
    """LoadDataset -> Train -> Publish -> Serve (Serve only with ``inference_data``).

    ``data``: the training frame, or the guid of a dataset uploaded earlier. ``model``:
    "pauli" or "ensemble", with ``model_parameters`` the arguments of ``client.pauli`` /
    ``client.ensemble``. ``checkpoint``: True (``~/.cache/qwidgets/pipelines/<name>.json``, or
    under ``$QWIDGETS_DATA_DIR``), a path, or False. Everything is validated here, before any
    request.
    """

    kind: ClassVar[str] = "training"

    def __init__(
        self,
        client: AsyncQcogClient,
        *,
        data: pd.DataFrame | str | None,
        model: str = "pauli",
        model_parameters: Mapping[str, Any],
        batch_size: int,
        num_passes: int,
        weight_optimization: WeightParameters | Mapping[str, Any] | None = None,
        get_states_extra: StateParameters | Mapping[str, Any] | None = None,
        inference_data: pd.DataFrame | None = None,
        inference_parameters: InferenceParameters | Mapping[str, Any] | None = None,
        publish_name: str | None = None,
        name: str = "training",
        checkpoint: str | Path | bool = True,
        registry: str | Path | None = None,
        handlers: tuple[HandlerLike, ...] = (),
        poll_first: float = POLL_FIRST,
        poll_max: float = POLL_MAX,
        _restoring: bool = False,
        _serve: bool | None = None,
    ) -> None:
        if not isinstance(client, AsyncQcogClient):
            raise ValidationError("client", type(client).__name__, "must be an AsyncQcogClient",
                                  "client = await AsyncQcogClient.create()")
        if model not in MODELS:
            raise ValidationError("model", model, f"must be one of {list(MODELS)}")
        if not isinstance(model_parameters, Mapping):
            raise ValidationError("model_parameters", model_parameters, "must be a dict of "
                                  f"client.{model}(...) arguments", "e.g. {'operators': ['x', 'y']}")
        try:
            getattr(client, model)(**model_parameters)
        except TypeError as exc:
            raise ValidationError("model_parameters", sorted(model_parameters),
                                  f"must be arguments of client.{model}(...): {exc}") from None
        if data is None and not _restoring:
            raise ValidationError("data", None, "must be the training DataFrame or a dataset guid")
        if data is not None and not isinstance(data, (pd.DataFrame, str)):
            raise ValidationError("data", type(data).__name__, "must be a pandas DataFrame or a "
                                  "dataset guid string")
        if inference_data is not None and not isinstance(inference_data, pd.DataFrame):
            raise ValidationError("inference_data", type(inference_data).__name__,
                                  "must be a pandas DataFrame (or None: no Serve step)")
        for field, value in (("poll_first", poll_first), ("poll_max", poll_max)):
            if not isinstance(value, (int, float)) or not 0 < value <= 600:
                raise ValidationError(field, value, "must be seconds in (0, 600]")
        weights = as_wire(weight_optimization, "weight_optimization") or {}
        states = as_wire(get_states_extra, "get_states_extra") or {}
        inference = as_wire(inference_parameters, "inference_parameters") or {}
        try:
            validate_training_parameters(model, {
                "model": client.model, "batch_size": batch_size, "num_passes": num_passes,
                "weight_optimization_kwargs": weights, "state_kwargs": states})
        except ValidationError as exc:
            raise _renamed(exc, _TRAIN_FIELDS) from None
        try:
            validate_inference(inference)
        except ValidationError as exc:
            raise _renamed(exc, _INFERENCE_FIELDS) from None
        serve = inference_data is not None if _serve is None else _serve
        self.client = client
        self._settings: dict[str, Any] = json_safe({
            "model": model, "model_parameters": dict(model_parameters),
            "batch_size": batch_size, "num_passes": num_passes,
            "weight_optimization": weights, "get_states_extra": states,
            "inference_parameters": inference, "serve": serve,
            "publish_name": publish_name or name,
            "data_guid": data if isinstance(data, str) else None,
            "poll_first": poll_first, "poll_max": poll_max})
        path = self.resolve_checkpoint(name, checkpoint)
        self.registry = (Path(registry).expanduser() if registry is not None else
                         path.parent if path is not None else default_directory())
        actions: list[Action] = [
            LoadDatasetAction(client, data),
            TrainAction(client, model=model, model_parameters=model_parameters,
                        batch_size=batch_size, num_passes=num_passes,
                        weight_optimization=weights, get_states_extra=states,
                        poll_first=poll_first, poll_max=poll_max),
            PublishAction(client, publish_name or name, self.registry)]
        if serve:
            actions.append(ServeAction(client, inference_data, inference))
        super().__init__(actions, name=name, checkpoint=checkpoint, handlers=handlers)

    def config(self) -> dict[str, Any]:
        return dict(self._settings)

    # ------------------------------------------------------------ results

    @property
    def model_guid(self) -> str | None:
        guid = self.action("Train").progress.get("model_guid")
        return str(guid) if guid else None

    @property
    def dataset_guid(self) -> str | None:
        record = self.action("LoadDataset").record
        return record.get("dataset_guid") if isinstance(record, dict) else None

    @property
    def published(self) -> dict[str, Any] | None:
        record = self.action("Publish").record
        return dict(record) if isinstance(record, dict) else None

    @property
    def forecast(self) -> pd.DataFrame | None:
        if not self._settings["serve"]:
            return None
        output = self.action("Serve").output
        return output if isinstance(output, pd.DataFrame) else None

    # ------------------------------------------------------------ after a restart

    @classmethod
    def load(cls, path: str | Path, client: AsyncQcogClient, *,
             data: pd.DataFrame | None = None, inference_data: pd.DataFrame | None = None,
             handlers: tuple[HandlerLike, ...] = ()) -> TrainingPipeline:
        """Rebuild a pipeline from its checkpoint, with a new client; ``resume()`` then
        skips its done actions. The frames are not in the checkpoint: pass ``data`` if the
        dataset was not loaded yet, ``inference_data`` if Serve did not run."""
        where = Path(path).expanduser()
        body = read_checkpoint(where)
        if body.get("kind") != cls.kind:
            raise ValidationError("path", str(where), f"must be a checkpoint of a {cls.kind} "
                                  f"pipeline, not {body.get('kind')!r}")
        config: dict[str, Any] = body.get("config") or {}
        states = {str(e.get("name")): e.get("state") for e in body["actions"]}
        if data is None and states.get("LoadDataset") != "Done" and not config.get("data_guid"):
            raise ValidationError("data", None, "is needed: the dataset was not loaded before the "
                                  "checkpoint was written", "pass data=<the training DataFrame>")
        if config.get("serve") and inference_data is None and states.get("Serve") != "Done":
            raise ValidationError("inference_data", None, "is needed: Serve did not run before "
                                  "the checkpoint was written",
                                  "pass inference_data=<the frame to forecast>")
        pipeline = cls(
            client, data=data if data is not None else config.get("data_guid"),
            model=config.get("model", "pauli"),
            model_parameters=config.get("model_parameters") or {},
            batch_size=config.get("batch_size", -1), num_passes=config.get("num_passes", -1),
            weight_optimization=config.get("weight_optimization") or None,
            get_states_extra=config.get("get_states_extra") or None,
            inference_data=inference_data,
            inference_parameters=config.get("inference_parameters") if config.get("serve")
            else None,
            publish_name=config.get("publish_name"), name=str(body.get("name")),
            checkpoint=where, handlers=handlers,
            poll_first=config.get("poll_first", POLL_FIRST),
            poll_max=config.get("poll_max", POLL_MAX), _restoring=True,
            _serve=bool(config.get("serve")))
        pipeline.restore(where)
        return pipeline

