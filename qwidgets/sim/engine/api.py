"""The engine's front door: validate, train, infer, save and load. No I/O beyond bytes.

    model = train("pauli", params, df, progress=print)
    forecast = infer(model, df[["x", "y"]])
    blob = model.to_bytes(); same = TrainedModel.from_bytes(blob)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.protocol.data import inference_matrix, training_matrix
from qwidgets.protocol.params import validate_inference, validate_training_parameters
from qwidgets.sim.engine.hamiltonian import Hamiltonian, expectations
from qwidgets.sim.engine.models import HilbertModel, build_model
from qwidgets.sim.engine.parts import map_parts
from qwidgets.sim.engine.solvers import solve
from qwidgets.sim.engine.training import ProgressCallback, StopCheck, Trainer

FORMAT = "qwidgets-model/1"


@dataclass
class TrainedModel:
    """A model with the parameters it was trained with and its passes x batches loss."""

    model_name: str
    params: dict[str, Any]
    model: HilbertModel
    loss: list[list[float]] = field(default_factory=list)

    @property
    def operators(self) -> list[str]:
        return self.model.operators

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive: the arrays plus a JSON header; loadable without pickle."""
        header = {"format": FORMAT, "model": self.model_name, "params": self.params,
                  "loss": self.loss}
        buffer = io.BytesIO()
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                  **self.model.arrays()}
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # mypy: a key could be 'allow_pickle'
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TrainedModel:
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes().decode())
                arrays = {k: archive[k] for k in archive.files if k != "header"}
        except (ValueError, OSError, KeyError) as exc:
            raise ValidationError("model", f"{len(blob)} bytes", "is not a saved qwidgets model",
                                  "pass bytes made by TrainedModel.to_bytes()") from exc
        if header.get("format") != FORMAT:
            raise ValidationError("model.format", header.get("format"), f"must be {FORMAT!r}")
        params = validate_training_parameters(header["model"], header["params"])
        model = build_model(header["model"], params["model"])
        model.load_arrays(arrays)
        return cls(header["model"], params, model, header["loss"])


def train(
    model_name: str, parameters: Mapping[str, Any], data: pd.DataFrame, *,
    progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
    resume: TrainedModel | None = None,
    on_checkpoint: Callable[[TrainedModel], None] | None = None,
) -> TrainedModel:
    """Validate everything, then train; raises ``TrainingCancelled`` if ``should_stop()``.

    ``resume`` continues a checkpoint (the passes in its loss are skipped);
    ``on_checkpoint`` receives the model after every completed pass.
    """
    params = validate_training_parameters(model_name, parameters)
    X = training_matrix(data, params["model"]["operators"])

    def checkpoint(trainer: Trainer) -> None:
        if on_checkpoint is not None:
            on_checkpoint(TrainedModel(model_name, params, trainer.model, trainer.loss))

    trainer = Trainer(
        model_name, params, X, progress=progress, should_stop=should_stop,
        model=resume.model if resume else None, loss=resume.loss if resume else None,
        on_pass_end=checkpoint)
    trainer.run()
    return TrainedModel(model_name, params, trainer.model, trainer.loss)


def infer(
    trained: TrainedModel, data: pd.DataFrame, parameters: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Forecast the operators missing from ``data`` (or ``operators_to_forecast``).

    The state of each row is the ground state of H built only from the operators present;
    the forecast of operator j is <psi|A_j|psi>. The result keeps ``data``'s index.
    """
    spec = validate_inference(parameters)
    model = trained.model
    X, inputs, targets = inference_matrix(data, model.operators, spec["operators_to_forecast"])
    A = model.operator_stack()
    given = [model.operators.index(c) for c in inputs]
    wanted = [model.operators.index(c) for c in targets]
    ham = Hamiltonian(A[given], model.sigma[given])
    rng = np.random.default_rng(trained.params["model"]["seed"])
    out = np.empty((len(X), len(targets)))
    targets_A = A[wanted]

    def forecast(part: slice, generator: np.random.Generator) -> None:
        found = solve(ham.rows(X[part]), spec["state_parameters"], None, generator)
        out[part] = expectations(found.states, targets_A)

    map_parts(forecast, len(X), rng)
    return pd.DataFrame(out, index=data.index.copy(), columns=targets)
