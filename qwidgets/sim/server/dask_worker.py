"""What a Dask worker runs for ``DaskBackend``: ``work``, a training whose messages go to the
server's ``distributed.Queue`` and whose stop request is a ``distributed.Event``.

The training never waits on the scheduler: its messages leave from a sender thread, in
order and a few at a time, and ``work`` returns only once the last one (the terminal
message) is in the queue, so the server never sees a finished task before its result. A
thread of its own polls the run's stop event every ``STOP_POLL`` seconds; ``should_stop()``
only reads a local flag.

``distributed`` is imported inside the functions: this module is imported wherever
``DaskBackend`` is, including where the extra is missing.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
import uuid
from typing import TYPE_CHECKING

from qwidgets.sim.engine import parts
from qwidgets.sim.server.backend import (
    Checkpoint,
    Finished,
    Message,
    TrainingTask,
    Update,
    run_task,
)

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("qwidgets.sim.server.dask_worker")

STOP_POLL = 0.2  # seconds between a worker's looks at its run's stop event
SIZED: set[str] = set()  # the worker addresses of this process whose row threads are set
# Who sends a run's messages: a second sender of one run is the scheduler's rerun of a task
# whose worker died, which the server stops and writes off (it retries from its checkpoint).
PROCESS = uuid.uuid4().hex


def event_name(server: str, run_id: str, kind: str) -> str:
    """The name of a run's ``stop`` event on the scheduler."""
    return f"{server}-{kind}-{run_id}"


class Outbox:
    """The run's messages to the server, sent in order by a thread of its own, at most one
    put per ``interval`` seconds (the first and the last at once): what queued up meanwhile
    goes in one put, less what a later message supersedes (``latest``)."""

    def __init__(self, client: Client, server: str, run_id: str, interval: float) -> None:
        self.client = client  # the worker's: a thread of ours cannot look it up
        self.server = server
        self.run_id = run_id
        self.interval = interval
        self._pending: queue.Queue[Message | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._send_all, name="qwidgets-dask-outbox",
                                        daemon=True)
        self._thread.start()

    def put(self, message: Message) -> None:
        self._pending.put(message)

    def close(self) -> None:
        """Wait until every message is in the server's queue."""
        self._closing.set()
        self._pending.put(None)
        self._thread.join()

    def _send_all(self) -> None:
        try:
            ended = False
            while not ended:
                batch = self._waiting()
                ended = None in batch
                messages = latest([m for m in batch if m is not None])
                if messages:
                    self._put(packed(self.run_id, messages))
                    self._closing.wait(self.interval)  # cut short by the end of the run
        except Exception:  # the scheduler (or the server's queue) is gone: the server
            # writes the training off
            log.warning("cannot send a training's messages to the server", exc_info=True)
            while None not in self._waiting():
                pass

    def _put(self, payload: bytes) -> None:
        """Into the queue the server made: the scheduler's ``queue_put``, which
        ``distributed.Queue.put`` calls, without a ``Queue`` of our own, whose making and
        release cost a scheduler round trip and a message per training (and which would
        keep the queue alive after its server released it)."""
        scheduler = self.client.scheduler
        if scheduler is None:
            raise RuntimeError("the worker's client has no scheduler")
        self.client.sync(scheduler.queue_put, name=self.server, data=payload, timeout=None)

    def _waiting(self) -> list[Message | None]:
        """The next message and all that queued up behind it."""
        batch = [self._pending.get()]
        while True:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                return batch


def packed(run_id: str, messages: list[Message], process: str | None = None) -> bytes:
    """What goes in the server's queue: ``(run id, process, messages)``, pickled (the queue
    carries msgpack, which knows bytes but not our dataclasses). ``process`` names the
    sender: this worker process by default, "" for the server itself."""
    return pickle.dumps((run_id, PROCESS if process is None else process, messages))


def latest(messages: list[Message]) -> list[Message]:
    """``messages`` less those a later one supersedes: an ``Update`` followed by another
    (each carries the whole loss matrix so far) and a ``Checkpoint`` followed by another or
    by the result. A short training thus costs one put, not one per pass."""
    kept: list[Message] = []
    for i, message in enumerate(messages):
        later = messages[i + 1:]
        if isinstance(message, Update) and any(isinstance(m, Update) for m in later):
            continue
        if isinstance(message, Checkpoint) and any(isinstance(m, (Checkpoint, Finished))
                                                   for m in later):
            continue
        kept.append(message)
    return kept


def share_the_cores(client: Client) -> None:
    """Run a training's rows on this machine's cores divided among the worker threads on it,
    as the local pool does: two trainings on two cores must not each start two row threads.
    Once per worker process; ``QWIDGETS_ROW_THREADS`` (set for the workers) wins."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    address = get_worker().address
    if address in SIZED or os.environ.get(parts.THREADS_ENV):
        return
    SIZED.add(address)
    try:
        host = get_address_host(address)
        workers = client.scheduler_info()["workers"]
        threads = sum(int(w.get("nthreads", 1)) for a, w in workers.items()
                      if get_address_host(a) == host)
    except Exception:  # an old scheduler's answer: keep the default
        log.debug("cannot count the worker threads on this machine", exc_info=True)
        return
    parts.set_threads(max(1, parts.cores() // max(1, threads)))


def work(task: TrainingTask, csv: str, indexing: list[int], server: str, run_id: str) -> None:
    """A training on a Dask worker: ``run_task`` with its messages in the server's queue."""
    from distributed import Event, get_client

    client = get_client()
    share_the_cores(client)
    asked = threading.Event()
    done = threading.Event()
    outbox = Outbox(client, server, run_id, task.progress_interval)
    stop = Event(event_name(server, run_id, "stop"), client=client)

    def poll() -> None:
        # the first look after STOP_POLL: a run stopped before it started stops there
        while not done.wait(STOP_POLL):
            try:
                if stop.is_set():
                    asked.set()
                    return
            except Exception:  # the scheduler is briefly unreachable: look again later
                log.debug("stop event unreachable", exc_info=True)

    poller = threading.Thread(target=poll, name="qwidgets-dask-stop", daemon=True)
    poller.start()
    try:
        run_task(task, outbox.put, asked.is_set, frame_csv=(csv, indexing))
    finally:
        done.set()
        outbox.close()
        poller.join()
