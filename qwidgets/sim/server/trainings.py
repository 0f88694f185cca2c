"""The server's trainings: a fair scheduler over a ``Backend`` (by default a pool of worker
processes), with their state in the store: ``pending`` -> ``processing`` -> ``completed`` |
``failed`` | ``cancelled``.

Each token (namespace) has its own queue; whenever a slot frees, the token with the fewest
trainings running, then the one served longest ago, goes next. So a token that queued twenty
trainings delays another token's one training by at most one slot.

Workers never touch the store: the scheduler reads what a training needs into a
``TrainingTask`` and writes what comes back (progress, a checkpoint after every pass, the
result). Those writes happen on the backend's threads and the scheduler's own thread, never
on the event loop. A server that stops (or dies) mid-training leaves the model
``processing``; the next server on the same store resumes it from its checkpoint. A worker
that dies counts as an attempt, like a server that dies.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import Any

from qwidgets.errors import ValidationError
from qwidgets.sim.server.backend import (
    Backend,
    Checkpoint,
    Failed,
    Finished,
    Key,
    Lost,
    Message,
    Stopped,
    TrainingTask,
    Update,
)
from qwidgets.sim.server.store import Store

log = logging.getLogger("qwidgets.sim.server.trainings")

ACTIVE_STATUSES = ("pending", "processing", "cancelled_pending")


class TrainingJobs:
    """Queues per token, the trainings the backend runs, and the store writes of both."""

    def __init__(self, store: Store, backend: Backend, *, progress_interval: float = 0.2,
                 max_attempts: int = 3, max_running_per_token: int | None = None) -> None:
        self.store = store
        self.backend = backend
        self.progress_interval = progress_interval
        self.max_attempts = max_attempts
        self.max_running_per_token = max_running_per_token
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Key]] = {}
        self._running: dict[str, set[Key]] = {}  # holding a slot, from dispatch to the end
        self._served: dict[str, int] = {}  # when each token last got a slot
        self._turns = count()
        self._stops: set[Key] = set()  # cancels of trainings holding a slot
        self._started = False
        self._closing = False
        # one thread reads the store and hands tasks over, in order, off the event loop
        self._dispatcher = ThreadPoolExecutor(1, thread_name_prefix="qwidgets-schedule")

    @property
    def slots(self) -> int:
        """Read at every dispatch: a Dask cluster's workers may join or leave meanwhile."""
        return max(1, self.backend.slots)

    @property
    def per_token(self) -> int:
        slots = self.slots
        return min(self.max_running_per_token or slots, slots)

    # ------------------------------------------------------------ control

    def start(self) -> None:
        """Start the backend (its workers); queued trainings start as slots allow."""
        self.backend.start(self._deliver)
        with self._lock:
            self._started = True
        self._kick()

    def submit(self, ns: str, guid: str) -> None:
        with self._lock:
            if self._closing:
                return  # stays pending in the store; the next server picks it up
            self._queues.setdefault(ns, deque()).append((ns, guid))
        self._kick()

    def cancel(self, ns: str, guid: str) -> bool:
        """Stop a training: a queued one is ``cancelled`` at once, a running one goes through
        ``cancelled_pending`` until its worker stops. False if it was not active."""
        key = (ns, guid)
        if self.store.set_status(ns, guid, "cancelled", when=("pending",)):
            with self._lock:
                queue = self._queues.get(ns)
                if queue is not None and key in queue:
                    queue.remove(key)
            return True
        if not self.store.set_status(ns, guid, "cancelled_pending", when=("processing",)):
            return False
        with self._lock:
            holding = key in self._running.get(ns, ())
            if holding:
                self._stops.add(key)
        if holding:
            self.backend.stop(key)
        else:  # no worker owns it (cannot normally happen): finish the transition here
            self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
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
            return sum(len(keys) for keys in self._running.values())

    def queued(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def shutdown(self) -> None:
        """Interrupt every training (they stay resumable) and release the workers."""
        with self._lock:
            self._closing = True
        self._dispatcher.shutdown(wait=True)
        if self._started:
            self.backend.shutdown()

    # ------------------------------------------------------------ scheduling

    def _kick(self) -> None:
        with self._lock:
            if self._closing or not self._started:
                return
            self._dispatcher.submit(self._dispatch)

    def _dispatch(self) -> None:
        while (key := self._next()) is not None:
            self._launch(key)

    def _next(self) -> Key | None:
        """The next training to run, its slot taken; None if no slot or nothing may run."""
        with self._lock:
            slots = self.slots
            if self._closing or sum(len(k) for k in self._running.values()) >= slots:
                return None
            per_token = min(self.max_running_per_token or slots, slots)
            ready = [ns for ns, q in self._queues.items()
                     if q and len(self._running.get(ns, ())) < per_token]
            if not ready:
                return None
            ns = min(ready, key=lambda n: (len(self._running.get(n, ())),
                                           self._served.get(n, -1)))
            key = self._queues[ns].popleft()
            self._running.setdefault(ns, set()).add(key)
            self._served[ns] = next(self._turns)
            return key

    def _launch(self, key: Key) -> None:
        ns, guid = key
        try:
            if self.store.start_attempt(ns, guid) is None:  # cancelled before it got a slot
                self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
                self._release(key)
                return
            task = self._task(key)
        except ValidationError as exc:
            self._end(key, "failed", str(exc))
            return
        except Exception as exc:
            log.exception("cannot start training of model %s", guid)
            self._end(key, "failed", f"internal error in the simulator: "
                      f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            stop_now = key in self._stops
        if stop_now:
            self._apply(Stopped(key))
            return
        try:
            self.backend.run(task)
        except Exception as exc:
            self._apply(Lost(key, f"the training backend could not start it ({exc})"))
            return
        with self._lock:
            stop_now = key in self._stops  # a cancel between the check above and run()
        if stop_now:
            self.backend.stop(key)

    def _task(self, key: Key) -> TrainingTask:
        ns, guid = key
        row = self.store.model(ns, guid)
        if row is None:
            raise ValidationError("guid", guid, "the model is gone")
        tp = self.store.training_parameters(ns, row["training_parameters_guid"])
        data = self.store.dataset_csv(ns, row["dataset_guid"])
        if tp is None or data is None:
            raise ValidationError("dataset_guid", row["dataset_guid"],
                                  "the dataset or training parameters are gone")
        return TrainingTask(key, tp["model"], tp["parameters"], row["dataset_guid"], data,
                            resume=self.store.checkpoint(ns, guid),
                            progress_interval=self.progress_interval)

    def _release(self, key: Key, *, requeue: bool = False) -> None:
        """Free the slot of ``key`` (and put it first in its token's queue to retry it)."""
        ns = key[0]
        with self._lock:
            self._running.get(ns, set()).discard(key)
            self._stops.discard(key)
            if requeue and not self._closing:
                self._queues.setdefault(ns, deque()).appendleft(key)
        self._kick()

    def _end(self, key: Key, status: str, reason: str | None = None) -> None:
        self.store.set_status(*key, status, when=ACTIVE_STATUSES, failure_reason=reason)
        self._release(key)

    # ------------------------------------------------------------ messages (backend threads)

    def _deliver(self, message: Message) -> None:
        try:
            self._apply(message)
        except Exception:  # a closed store at exit, a full disk: log it, keep the reader going
            log.exception("could not record %s of model %s", type(message).__name__,
                          message.key[1])

    def _apply(self, message: Message) -> None:
        ns, guid = key = message.key
        if isinstance(message, Update):
            p = message.progress
            progress: dict[str, Any] = {  # the store's rows keep them as JSON
                "pass_index": p.pass_index, "batch_index": p.batch_index,
                "num_passes": p.num_passes, "num_batches": p.num_batches,
                "solved_rows": p.solved_rows, "unconverged_rows": p.unconverged_rows,
                "state_warning": p.state_warning}
            self.store.update_progress(
                ns, guid, loss=message.loss, training_completion=p.training_completion,
                current_batch_completion=p.current_batch_completion, progress=progress)
        elif isinstance(message, Checkpoint):
            self.store.save_checkpoint(ns, guid, message.model, message.loss)
        elif isinstance(message, Finished):
            if not self.store.complete(ns, guid, message.model, message.loss):
                # a cancel was acknowledged after the last check: the user's request wins
                self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",))
            self._release(key)
        elif isinstance(message, Failed):
            self._end(key, "failed", message.reason)
        elif isinstance(message, Stopped):
            self._stopped(key)
        elif isinstance(message, Lost):
            self._lost(key, message.reason)

    def _stopped(self, key: Key) -> None:
        ns, guid = key
        if self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",)):
            self._release(key)
            return
        # interrupted by a shutdown (or the backend's own), not by the user: resumable, and
        # not held against it
        self.store.release_attempt(ns, guid)
        with self._lock:
            closing = self._closing
        if closing:
            log.info("training of model %s interrupted by shutdown; resumable", guid)
            self._release(key)
        else:
            self.store.set_status(ns, guid, "pending", when=("processing",))
            self._release(key, requeue=True)

    def _lost(self, key: Key, reason: str) -> None:
        ns, guid = key
        if self.store.set_status(ns, guid, "cancelled", when=("cancelled_pending",)):
            self._release(key)
            return
        row = self.store.model(ns, guid)
        with self._lock:
            closing = self._closing
        if row is None or row["status"] != "processing" or closing:
            self._release(key)  # a closing server leaves it processing: the next resumes it
            return
        if row["attempts"] >= self.max_attempts:
            self._end(key, "failed", f"{reason} on each of its {row['attempts']} attempts; "
                      "giving up. If it ran out of memory, start a new training with smaller "
                      "batches (batch_size), a smaller model or fewer rows.")
            return
        log.warning("training of model %s lost (%s); retrying from its last checkpoint",
                    guid, reason)
        self.store.set_status(ns, guid, "pending", when=("processing",))
        self._release(key, requeue=True)
