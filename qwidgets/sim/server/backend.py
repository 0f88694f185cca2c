"""Where the server's trainings run, and what crosses between a worker and the server.

A worker never touches the store: it receives a ``TrainingTask`` (everything one training
needs, picklable), runs ``run_task`` and sends ``Message`` objects back. The server writes
them to the store. So a training can run in a local worker process or on a Dask worker on
another machine, and the server keeps the one copy of models, checkpoints and statuses.

Every task ends with exactly one terminal message: ``Finished``, ``Failed``, ``Stopped``
(asked to stop: a cancel or a shutdown) or, sent by the backend itself when the worker
running it died, ``Lost``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from qwidgets.errors import TrainingCancelled, ValidationError
from qwidgets.protocol.qcog_wire import CsvPayload
from qwidgets.sim import engine
from qwidgets.sim.engine import TrainedModel
from qwidgets.sim.engine.training import Progress

Key = tuple[str, str]  # (namespace, model guid); the namespace is the token's


@dataclass(frozen=True)
class TrainingTask:
    """One training as a worker receives it. ``csv`` is the dataset as stored
    (``CsvPayload`` fields); ``dataset_guid`` lets a backend send one dataset once to the
    workers that train several models on it."""

    key: Key
    model: str
    parameters: dict[str, Any]
    dataset_guid: str
    csv: tuple[str, list[int]]
    resume: bytes | None = None  # a checkpoint (``TrainedModel.to_bytes()``)
    progress_interval: float = 0.2

    @property
    def namespace(self) -> str:
        return self.key[0]

    def without_data(self) -> TrainingTask:
        """The same task with the dataset left out, for a backend that ships data apart."""
        return TrainingTask(self.key, self.model, self.parameters, self.dataset_guid, ("", []),
                            self.resume, self.progress_interval)


@dataclass(frozen=True)
class Update:
    """Progress, at most one per ``progress_interval`` (the last one always), with the whole
    passes x batches loss matrix so far."""

    key: Key
    progress: Progress
    loss: list[list[float]]


@dataclass(frozen=True)
class Checkpoint:
    key: Key
    model: bytes
    loss: list[list[float]]


@dataclass(frozen=True)
class Finished:
    key: Key
    model: bytes
    loss: list[list[float]]


@dataclass(frozen=True)
class Failed:
    """The training cannot succeed: ``reason`` is shown to the user as the failure reason."""

    key: Key
    reason: str


@dataclass(frozen=True)
class Stopped:
    """The worker stopped the training because it was asked to (cancel or shutdown)."""

    key: Key


@dataclass(frozen=True)
class Lost:
    """The worker running the training died (killed, out of memory, its machine gone); the
    server retries it from its last checkpoint or fails it after ``max_attempts``."""

    key: Key
    reason: str


Message = Update | Checkpoint | Finished | Failed | Stopped | Lost
Deliver = Callable[[Message], None]


@dataclass
class LossRecorder:
    """Rebuilds the loss matrix from progress callbacks and throttles updates: at most one
    per ``interval`` seconds, the final one always."""

    key: Key
    emit: Deliver
    interval: float
    loss: list[list[float]] = field(default_factory=list)
    pending: Progress | None = None
    last_sent: float = 0.0

    def __call__(self, p: Progress) -> None:
        if p.current_batch_completion >= 100:
            while len(self.loss) <= p.pass_index:
                self.loss.append([])
            self.loss[p.pass_index].append(float(p.loss))
        self.pending = p
        now = time.monotonic()
        if now - self.last_sent >= self.interval or p.training_completion >= 100:
            self.flush()

    def flush(self) -> None:
        p, self.pending = self.pending, None
        if p is None:
            return
        self.last_sent = time.monotonic()
        self.emit(Update(self.key, p, [list(row) for row in self.loss]))


def run_task(task: TrainingTask, emit: Deliver, should_stop: Callable[[], bool],
             frame_csv: tuple[str, list[int]] | None = None) -> None:
    """Train ``task`` and emit its messages; never raises, always ends with one terminal
    message. ``frame_csv`` replaces ``task.csv`` when the backend shipped the data apart."""
    key = task.key
    try:
        frame = CsvPayload(*(frame_csv or task.csv)).frame()
        resume = _readable_checkpoint(task.resume)
        recorder = LossRecorder(key, emit, task.progress_interval,
                                [list(r) for r in resume.loss] if resume else [])

        def checkpoint(model: TrainedModel) -> None:
            emit(Checkpoint(key, model.to_bytes(), [list(r) for r in model.loss]))

        trained = engine.train(task.model, task.parameters, frame, progress=recorder,
                               should_stop=should_stop, resume=resume,
                               on_checkpoint=checkpoint)
        recorder.flush()
        emit(Finished(key, trained.to_bytes(), [list(r) for r in trained.loss]))
    except TrainingCancelled:
        emit(Stopped(key))
    except ValidationError as exc:
        emit(Failed(key, str(exc)))
    except MemoryError:
        emit(Failed(key, "the worker ran out of memory training this model; use smaller "
                         "batches (batch_size), a smaller dim, or fewer rows"))
    except Exception as exc:  # a bug in the simulator: report it, never take the worker down
        emit(Failed(key, f"internal error in the simulator: {type(exc).__name__}: {exc}"))


def _readable_checkpoint(blob: bytes | None) -> TrainedModel | None:
    if blob is None:
        return None
    try:
        return TrainedModel.from_bytes(blob)
    except ValidationError:
        return None  # an unreadable checkpoint: train from scratch rather than fail


class Backend(Protocol):
    """Runs tasks somewhere. The server's scheduler (``trainings.TrainingJobs``) decides
    which task runs next and never gives a backend more running tasks than ``slots``.
    ``deliver`` may be called from any thread; the server copes."""

    @property
    def slots(self) -> int: ...

    def start(self, deliver: Deliver) -> None: ...

    def run(self, task: TrainingTask) -> None: ...

    def stop(self, key: Key) -> None:
        """Ask a running task to stop; it ends with ``Stopped`` (or another terminal message
        if it finished first). Within a second, wherever the worker is."""
        ...

    def shutdown(self) -> None:
        """Stop every running task (each ends with ``Stopped``) and release the workers."""
        ...
