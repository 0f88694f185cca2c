"""Trainings run by the server in worker threads, off the event loop, with their state in the
store: ``pending`` -> ``processing`` -> ``completed`` | ``failed`` | ``cancelled``.

numpy's LAPACK calls release the GIL, so the event loop keeps answering while a thread trains.
A checkpoint is saved after every pass; a server that stops (or dies) mid-training leaves the
model ``processing`` and the next server on the same store resumes it from that checkpoint.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from qwidgets.errors import TrainingCancelled, ValidationError
from qwidgets.protocol.qcog_wire import CsvPayload
from qwidgets.sim import engine
from qwidgets.sim.engine import TrainedModel
from qwidgets.sim.engine.training import Progress
from qwidgets.sim.server.store import Store

log = logging.getLogger("qwidgets.sim.server.trainings")

Key = tuple[str, str]  # (namespace, model guid)


class ProgressWriter:
    """Turns the engine's progress callbacks into store updates, at most one per ``interval``
    seconds (the final one always), and rebuilds the passes x batches loss matrix."""

    def __init__(self, store: Store, key: Key, interval: float,
                 loss: list[list[float]] | None = None) -> None:
        self.store = store
        self.key = key
        self.interval = interval
        self.loss = [list(row) for row in loss or []]
        self._last_write = 0.0
        self._pending: Progress | None = None

    def __call__(self, p: Progress) -> None:
        if p.current_batch_completion >= 100:
            while len(self.loss) <= p.pass_index:
                self.loss.append([])
            self.loss[p.pass_index].append(float(p.loss))
        self._pending = p
        now = time.monotonic()
        if now - self._last_write >= self.interval or p.training_completion >= 100:
            self.flush()

    def flush(self) -> None:
        p = self._pending
        if p is None:
            return
        self._pending = None
        self._last_write = time.monotonic()
        self.store.update_progress(
            *self.key, loss=self.loss, training_completion=p.training_completion,
            current_batch_completion=p.current_batch_completion,
            progress={"pass_index": p.pass_index, "batch_index": p.batch_index,
                      "num_passes": p.num_passes, "num_batches": p.num_batches})


class TrainingJobs:
    """The server's trainings: a thread pool, one stop event per running model."""

    def __init__(self, store: Store, *, workers: int | None = None,
                 progress_interval: float = 0.2, max_attempts: int = 3) -> None:
        self.store = store
        self.progress_interval = progress_interval
        self.max_attempts = max_attempts
        workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="qwidgets-train")
        self._stops: dict[Key, threading.Event] = {}
        self._futures: dict[Key, Future[None]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    # ------------------------------------------------------------ control (event loop side)

    def submit(self, ns: str, guid: str) -> None:
        key = (ns, guid)
        with self._lock:
            if self._closing.is_set():
                return  # stays pending in the store; the next server picks it up
            stop = self._stops.setdefault(key, threading.Event())
            future = self._pool.submit(self._run, key, stop)
            self._futures[key] = future
        future.add_done_callback(lambda _f: self._forget(key))

    def cancel(self, ns: str, guid: str) -> bool:
        """Stop a training: a queued one is ``cancelled`` at once, a running one goes through
        ``cancelled_pending`` until its thread notices. False if it was not active."""
        key = (ns, guid)
        if self.store.set_status(ns, guid, "cancelled", when=("pending",)):
            with self._lock:
                future = self._futures.get(key)
            if future is not None:
                future.cancel()  # frees its place in the queue; the worker would skip it anyway
            return True
        if not self.store.set_status(ns, guid, "cancelled_pending", when=("processing",)):
            return False
        with self._lock:
            stop = self._stops.get(key)
        if stop is None:
            # no worker owns it (cannot normally happen): finish the transition here
            self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
        else:
            stop.set()
        return True

    def recover(self) -> None:
        """Resume what a previous server left unfinished; never leave a model processing."""
        for ns, guid, status in self.store.active_models():
            if status == "cancelled_pending":
                self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
                continue
            row = self.store.model(ns, guid)
            if row is not None and row["attempts"] >= self.max_attempts:
                self.store.set_status(
                    ns, guid, "failed", when=ACTIVE_STATUSES,
                    failure_reason=f"the server stopped during this training {row['attempts']} "
                    "times; giving up. Start a new training (smaller batches or fewer passes).")
                continue
            self.store.set_status(ns, guid, "pending", when=("processing",))
            log.info("resuming training of model %s", guid)
            self.submit(ns, guid)

    def running(self) -> int:
        with self._lock:
            return len(self._futures)

    def shutdown(self) -> None:
        """Interrupt every training (they stay resumable) and wait for the threads to end."""
        with self._lock:
            self._closing.set()
            for stop in self._stops.values():
                stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _forget(self, key: Key) -> None:
        with self._lock:
            self._futures.pop(key, None)
            self._stops.pop(key, None)

    # ------------------------------------------------------------ work (worker thread side)

    def _run(self, key: Key, stop: threading.Event) -> None:
        ns, guid = key
        try:
            attempt = self.store.start_attempt(ns, guid)
            if attempt is None:  # cancelled (or taken) before a worker got to it
                self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
                return
            self._train(key, stop)
        except TrainingCancelled:
            if self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",)):
                return
            if self._closing.is_set():
                # interrupted by a shutdown, not by the user: resumable, and not held against it
                self.store.release_attempt(ns, guid)
                log.info("training of model %s interrupted by shutdown; resumable", guid)
        except ValidationError as exc:
            self._fail(key, str(exc))
        except Exception as exc:
            log.exception("training of model %s failed", guid)
            self._fail(key, f"internal error in the simulator: {type(exc).__name__}: {exc}")

    def _train(self, key: Key, stop: threading.Event) -> None:
        ns, guid = key
        row = self.store.model(ns, guid)
        assert row is not None
        tp = self.store.training_parameters(ns, row["training_parameters_guid"])
        data = self.store.dataset_csv(ns, row["dataset_guid"])
        if tp is None or data is None:
            raise ValidationError("dataset_guid", row["dataset_guid"],
                                  "the dataset or training parameters are gone")
        frame = CsvPayload(*data).frame()
        resume = self._checkpoint(key)
        writer = ProgressWriter(self.store, key, self.progress_interval,
                                resume.loss if resume else None)

        def checkpoint(model: TrainedModel) -> None:
            self.store.save_checkpoint(ns, guid, model.to_bytes(), model.loss)

        trained = engine.train(tp["model"], tp["parameters"], frame, progress=writer,
                               should_stop=stop.is_set, resume=resume, on_checkpoint=checkpoint)
        writer.flush()
        if not self.store.complete(ns, guid, trained.to_bytes(), trained.loss):
            # a cancel was acknowledged after the last check: the user's request wins
            self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))

    def _checkpoint(self, key: Key) -> TrainedModel | None:
        blob = self.store.checkpoint(*key)
        if blob is None:
            return None
        try:
            return TrainedModel.from_bytes(blob)
        except ValidationError:
            log.warning("checkpoint of model %s is unreadable; training from scratch", key[1])
            return None

    def _fail(self, key: Key, reason: str) -> None:
        self.store.set_status(*key, "failed", when=ACTIVE_STATUSES, failure_reason=reason)


ACTIVE_STATUSES = ("pending", "processing", "cancelled_pending")
