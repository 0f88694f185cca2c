"""Trainings on a Dask distributed cluster: a ``Backend`` (see ``backend.py``) whose workers
are the cluster's worker threads, wherever the cluster runs.

- Data goes out once: each dataset is scattered to the cluster the first time a training
  needs it and the submitted tasks carry only a reference to it (``task.without_data()``).
- Progress comes back through one ``distributed.Queue`` per server: the worker puts its
  messages in it in order and its task ends only once the terminal one is in, behind its
  updates; a thread here drains it and delivers. Every message travels with the id of its
  run, so a message from a run the server already wrote off is dropped.
- Cancel sets a ``distributed.Event`` per run that a thread on the worker polls
  (``dask_worker``, which holds everything that runs on a worker).
- A worker that dies: its future errs, or the scheduler reruns the task elsewhere, which
  shows as a second worker process sending the run's messages; the training gets ``Lost``
  and the rerun is stopped (the server retries from its own latest checkpoint).

``distributed`` is imported lazily: without it, ``DaskBackend`` raises
``DaskUnavailableError`` with the command that installs it.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import pickle
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qwidgets.sim.server.backend import (
    Deliver,
    Failed,
    Finished,
    Key,
    Lost,
    Message,
    Stopped,
    TrainingTask,
)
from qwidgets.sim.server.dask_placement import Placement
from qwidgets.sim.server.dask_worker import event_name, packed, work

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger("qwidgets.sim.server.dask_backend")

INSTALL_HINT = 'pip install "qwidgets[dask]"'
SLOTS_REFRESH = 1.0  # seconds between reads of the cluster's worker threads
# How long the futures of ended runs are kept before they are released (unless a submit comes
# first): a release sent just before the next submit delays it by the client's and the
# scheduler's batching intervals (10 + 5 ms), at every slot's turn.
RELEASE_DELAY = 0.05
TERMINAL = (Finished, Failed, Stopped, Lost)
HALT = ""  # the run id of the marker that ends the drain thread
PRIORITY = {"submit": 0, "stop": 0, "stop-rerun": 0, "done": 1, "forget": 1, "end": 2}
DatasetId = tuple[str, str]  # (namespace, dataset guid)


class DaskUnavailableError(ImportError):
    """``dask.distributed`` is not installed here."""

    def __init__(self) -> None:
        super().__init__("trainings on a Dask cluster need dask.distributed, which is not "
                         f"installed in this environment: {INSTALL_HINT}")


def import_distributed() -> Any:
    """The ``distributed`` module, or ``DaskUnavailableError`` naming the install command."""
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError() from exc
    return distributed


@dataclass
class Run:
    """One submission of a training: a retry of the same model is a new run."""

    task: TrainingTask
    run_id: str
    future: Future | None = None  # until it ends: a result still wanted is recomputed
    submitted: bool = False
    process: str = ""  # the worker process its messages come from
    stop_requested: bool = False
    ended: bool = False
    holds_data: bool = False
    worker: str | None = None  # where it was placed (see ``dask_placement``)

    @property
    def dataset(self) -> DatasetId:
        return (self.task.namespace, self.task.dataset_guid)


class DaskBackend:
    """Runs trainings on the Dask cluster at ``address_or_client``: a scheduler address
    (``tcp://host:8786``; the client made for it is closed by ``shutdown``) or a running
    synchronous ``distributed.Client`` (left open). ``max_slots``: run at most this many
    trainings at once (default: one per worker thread of the cluster). ``keep_datasets``: how
    many datasets no running training uses stay on the cluster, for the next training."""

    def __init__(self, address_or_client: str | Client, *, max_slots: int | None = None,
                 connect_timeout: float = 30.0, keep_datasets: int = 4) -> None:
        if max_slots is not None and max_slots < 1:
            raise ValueError(f"max_slots (--workers) must be at least 1, not {max_slots}")
        distributed = import_distributed()
        if isinstance(address_or_client, str):
            try:
                self.client: Client = distributed.Client(
                    address_or_client, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValueError(
                    f"dask: cannot reach the Dask scheduler at {address_or_client!r} ({exc}); "
                    "start one with `dask scheduler` and give its address "
                    "(tcp://HOST:8786)") from exc
            self.owns_client = True
        elif isinstance(address_or_client, distributed.Client):
            if address_or_client.asynchronous:
                raise ValueError("dask: pass a synchronous distributed.Client (one made "
                                 "without asynchronous=True) or the scheduler's address")
            self.client = address_or_client
            self.owns_client = False
        else:
            raise ValueError("dask: expected the scheduler's address (tcp://HOST:8786) or a "
                             f"distributed.Client, not {type(address_or_client).__name__}")
        self.name = f"qwidgets-{uuid.uuid4().hex[:12]}"
        self.keep_datasets = keep_datasets
        self.max_slots = max_slots
        self.datasets_sent = 0  # scatters to the cluster (as ProcessPool.datasets_sent)
        self._distributed = distributed
        self._deliver: Deliver | None = None
        self._runs: dict[Key, Run] = {}
        self._by_id: dict[str, Run] = {}
        self._data: dict[DatasetId, Future] = {}
        self._users: collections.Counter[DatasetId] = collections.Counter()
        self._idle: collections.OrderedDict[DatasetId, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._deliver_lock = threading.RLock()
        # submits and stops first, housekeeping after, the end marker last; FIFO within each
        self._commands: queue.PriorityQueue[tuple[int, int, str, Run | None]] = \
            queue.PriorityQueue()
        self._order = itertools.count()
        self._halt = threading.Event()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._slots = 1
        self._slots_read = 0.0
        self._placement = Placement()
        self._numbers = itertools.count()
        self._spent: list[Future] = []  # ended runs' futures, released after the next submit
        self._spent_since = 0.0
        try:
            self._refresh_slots()
            self._queue = distributed.Queue(self.name, client=self.client)
        except Exception:
            if self.owns_client:
                self.client.close()
            raise

    # ------------------------------------------------------------ Backend

    @property
    def slots(self) -> int:
        """The cluster's worker threads, at most ``max_slots`` (read every ``SLOTS_REFRESH`` s
        by the control thread, so this never waits on the network); at least 1, so that
        trainings queue on the scheduler until a worker joins rather than never leaving the
        server."""
        return self._slots

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        for target, name in ((self._control, "control"), (self._drain, "drain")):
            thread = threading.Thread(target=target, name=f"qwidgets-dask-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def run(self, task: TrainingTask) -> None:
        run = Run(task, f"{next(self._numbers)}-{uuid.uuid4().hex[:8]}")
        with self._lock:
            self._runs[task.key] = run
            self._by_id[run.run_id] = run
            data = self._data.get((task.namespace, task.dataset_guid))
        if data is None or data.status != "finished":
            self._command("submit", run)  # the control thread scatters the dataset first
            return
        # Its dataset is on the cluster: submitted from the caller's thread (the scheduler's,
        # never the event loop), a thread hop less between a slot freeing and the next
        # training starting. A dataset lost meanwhile fails the run as Lost; its retry comes
        # back here and the control thread scatters the dataset again.
        try:
            self._submit(run, data)
        except Exception as exc:
            self._unreachable("submit", run, exc)

    def stop(self, key: Key) -> None:
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.ended or run.stop_requested:
                return
            run.stop_requested = True
        self._command("stop", run)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop every run, wait up to ``timeout`` s for their ``Stopped``, write off the
        rest as stopped, and release the queue, the events and the data (and the client it
        made). A second call does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            active = [r for r in self._runs.values() if not r.ended]
        for run in active:
            self.stop(run.task.key)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(r.ended for r in active):
                    break
            time.sleep(0.05)
        for run in active:
            self._end(run, Stopped(run.task.key))
            if run.future is not None:
                run.future.cancel()
        self._halt.set()
        if self._threads:
            control, drain = self._threads
            self._command("end", None)
            control.join(timeout)
            with contextlib.suppress(Exception):  # the scheduler may already be gone
                self._queue.put(packed(HALT, [], process=""))
            drain.join(timeout)
        with contextlib.suppress(Exception):  # the scheduler may already be gone
            self._queue.close()
        with self._lock:
            self._data.clear()
            self._idle.clear()
            self._users.clear()
        if self.owns_client:
            self.client.close()

    # ------------------------------------------------------------ the control thread

    def _command(self, what: str, run: Run | None) -> None:
        self._commands.put((PRIORITY[what], next(self._order), what, run))

    def _control(self) -> None:
        """Submits and stops in the order asked, off the caller's thread: scattering a large
        dataset or reaching a remote scheduler must not hold up the server's event loop."""
        while True:
            try:
                _, _, what, run = self._commands.get(
                    timeout=RELEASE_DELAY if self._spent else SLOTS_REFRESH)
            except queue.Empty:
                what, run = "tick", None
            if what == "end":
                self._spent.clear()
                return
            try:
                if time.monotonic() - self._slots_read >= SLOTS_REFRESH:
                    self._refresh_slots()
                if run is None:
                    pass
                elif what == "submit":
                    self._submit(run)
                elif (what == "stop" and not run.ended) or what == "stop-rerun":
                    self._event(run, "stop").set()
                elif what == "done":
                    future, run.future = run.future, None  # else a lost result is rerun
                    if future is not None:
                        if not self._spent:
                            self._spent_since = time.monotonic()
                        self._spent.append(future)
                    if not run.ended:
                        # behind the run's own messages in the queue: the drain thread sees
                        # its terminal message first, if the worker sent one
                        lost = Lost(run.task.key, lost_reason(future))
                        self._queue.put(packed(run.run_id, [lost], process=""))
                elif what == "forget" and run.stop_requested:
                    self._event(run, "stop").clear()
            except Exception as exc:
                self._unreachable(what, run, exc)
            if self._spent and (what in ("submit", "tick") or
                                time.monotonic() - self._spent_since >= RELEASE_DELAY):
                self._spent.clear()  # after the submit: its message goes out first

    def _unreachable(self, what: str, run: Run | None, exc: Exception) -> None:
        log.warning("Dask backend: %s failed: %s: %s", what, type(exc).__name__, exc)
        if run is not None and what != "forget":
            self._end(run, Lost(run.task.key, f"the Dask cluster could not be reached "
                                              f"({type(exc).__name__}: {exc})"))

    def _submit(self, run: Run, data: Future | None = None) -> None:
        """``data``: the dataset's future, already on the cluster; None: scatter it if it is
        not (the control thread only)."""
        if run.stop_requested:  # stopped before it reached the cluster
            self._end(run, Stopped(run.task.key))
            return
        task = run.task
        data = self._dataset(task, data)
        run.holds_data = True
        run.worker = self._placement.take()
        where = {} if run.worker is None else {"workers": [run.worker],
                                               "allow_other_workers": True}
        future = self.client.submit(
            work, task.without_data(), data, task.csv[1], self.name, run.run_id,
            key=f"qwidgets-train-{task.key[1]}-{run.run_id}", pure=False, retries=0, **where)
        run.future = future
        run.submitted = True
        future.add_done_callback(lambda _f: self._command("done", run))

    def _dataset(self, task: TrainingTask, data: Future | None) -> Future:
        """The dataset's future on the cluster (``data`` if given), scattered on first use
        (only the control thread scatters, so one dataset is never sent twice)."""
        ident = (task.namespace, task.dataset_guid)
        if data is None:
            with self._lock:
                data = self._data.get(ident)
        if data is None or data.status != "finished":  # new, or lost with its worker
            # the CSV text alone: a scattered tuple would be scattered item by item
            data = self.client.scatter(task.csv[0], hash=False)
            self.datasets_sent += 1
        with self._lock:
            self._data[ident] = data
            self._users[ident] += 1
            self._idle.pop(ident, None)
        return data

    def _release_dataset(self, ident: DatasetId) -> None:
        with self._lock:
            self._users[ident] -= 1
            if self._users[ident] > 0:
                return
            del self._users[ident]
            self._idle[ident] = None
            while len(self._idle) > self.keep_datasets:
                old, _ = self._idle.popitem(last=False)
                self._data.pop(old, None)  # the last reference: the cluster forgets it

    def _event(self, run: Run, kind: str) -> Any:
        return self._distributed.Event(event_name(self.name, run.run_id, kind),
                                       client=self.client)

    # ------------------------------------------------------------ the drain thread

    def _drain(self) -> None:
        """Delivers the queue's messages as they arrive; ends on the ``HALT`` marker that
        ``shutdown`` puts (a get that waits without a timeout: a timed-out get is an error
        in the scheduler's log)."""
        failing = False
        while True:
            try:
                run_id, process, messages = pickle.loads(self._queue.get())
                failing = False
            except Exception as exc:
                if self._halt.is_set():
                    return
                if not failing:  # the scheduler went away: keep trying until shutdown
                    log.warning("Dask backend: lost touch with the scheduler: %s", exc)
                failing = True
                self._halt.wait(0.5)
                continue
            if run_id == HALT:
                return
            for message in messages:
                self._accept(run_id, process, message)

    def _accept(self, run_id: str, process: str, message: Message) -> None:
        with self._lock:
            run = self._by_id.get(run_id)
        if run is None or run.ended:
            return  # from a run already written off
        if process and process != run.process:
            if run.process:  # a second process: the scheduler reran it, its worker died
                run.stop_requested = False  # so that nothing clears the rerun's stop event
                self._end(run, Lost(run.task.key, "the Dask worker running it died"))
                self._command("stop-rerun", run)
                return
            run.process = process
        if isinstance(message, TERMINAL):
            self._end(run, message)
        else:
            with self._deliver_lock:
                if not run.ended:
                    self._send(message)

    def _end(self, run: Run, message: Message) -> None:
        """Deliver ``run``'s one terminal message and let go of what it held."""
        with self._deliver_lock:
            with self._lock:
                if run.ended:
                    return
                run.ended = True
                self._by_id.pop(run.run_id, None)
                if self._runs.get(run.task.key) is run:
                    del self._runs[run.task.key]
            self._send(message)
        if run.holds_data:
            self._release_dataset(run.dataset)
        if run.worker is not None:
            self._placement.give_back(run.worker)
        if run.submitted and not self._halt.is_set():
            self._command("forget", run)

    def _send(self, message: Message) -> None:
        if self._deliver is None:
            return
        try:
            self._deliver(message)
        except Exception:  # the server's bug: keep delivering the other trainings' messages
            log.exception("Dask backend: delivering %s failed", type(message).__name__)

    def _refresh_slots(self) -> None:
        self._slots_read = time.monotonic()
        workers = self.client.nthreads()
        self._placement.refresh(workers)
        threads = max(1, sum(workers.values()))
        self._slots = min(threads, self.max_slots or threads)


def lost_reason(future: Future | None) -> str:
    if future is None:
        return "the Dask cluster never ran it"
    if future.status == "finished":
        return "the Dask task ended without a result"
    if future.status == "cancelled":
        return ("the Dask cluster dropped it (the worker holding its dataset died, or the "
                "scheduler restarted)")
    try:
        exc = future.exception(timeout=1)
    except Exception as error:
        exc = error
    return f"the Dask worker running it died ({type(exc).__name__}: {exc})"
