"""What a Dask worker runs for ``DaskBackend``: ``work``, a training whose messages go to the
server's ``distributed.Queue`` and whose stop request is a ``distributed.Event``.

The training never waits on the scheduler: its messages leave from a sender thread, in
order, and ``work`` returns only once the last one (the terminal message) is in the queue,
so the server never sees a finished task before its result. A thread of its own polls the
run's stop event every ``STOP_POLL`` seconds; ``should_stop()`` only reads a local flag.

``distributed`` is imported inside the functions: this module is imported wherever
``DaskBackend`` is, including where the extra is missing.
"""

from __future__ import annotations

import logging
import pickle
import queue
import threading
from typing import TYPE_CHECKING

from qwidgets.sim.server.backend import Lost, Message, TrainingTask, run_task

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger("qwidgets.sim.server.dask_worker")

STOP_POLL = 0.2  # seconds between a worker's looks at its run's stop event


def event_name(server: str, run_id: str, kind: str) -> str:
    """The name of a run's ``stop`` or ``started`` event on the scheduler."""
    return f"{server}-{kind}-{run_id}"


class Outbox:
    """The run's messages to the server, sent in order by a thread of its own.

    Before the first message goes out it marks the run ``started`` on the scheduler; a run
    that finds the mark already set is the scheduler's rerun of a task whose worker died,
    and reports only ``Lost`` (the server retries from its own checkpoint) and asks the
    training to stop."""

    def __init__(self, client: Client, server: str, run_id: str, task: TrainingTask,
                 stop: threading.Event) -> None:
        self.client = client  # the worker's: a thread of ours cannot look it up
        self.server = server
        self.run_id = run_id
        self.task = task
        self.stop = stop
        self.rerun = False
        self._pending: queue.Queue[Message | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send_all, name="qwidgets-dask-outbox",
                                        daemon=True)
        self._thread.start()

    def put(self, message: Message) -> None:
        self._pending.put(message)

    def close(self) -> None:
        """Wait until every message is in the server's queue."""
        self._pending.put(None)
        self._thread.join()

    def _send_all(self) -> None:
        from distributed import Event, Queue

        channel = None
        try:
            channel = Queue(self.server, client=self.client)
            started = Event(event_name(self.server, self.run_id, "started"), client=self.client)
            if started.is_set():
                self.rerun = True
                self.stop.set()
                channel.put(self._packed(Lost(self.task.key, "the Dask worker running it "
                                                             "died (the scheduler restarted it)")))
            else:
                started.set()
            while (message := self._pending.get()) is not None:
                if not self.rerun:
                    channel.put(self._packed(message))
        except Exception:  # the scheduler is gone: the server writes the training off
            log.warning("cannot send a training's messages to the server", exc_info=True)
            while self._pending.get() is not None:
                pass
        finally:
            if channel is not None:
                channel.close()

    def _packed(self, message: Message) -> bytes:
        return pickle.dumps((self.run_id, message))


def work(task: TrainingTask, csv: str, indexing: list[int], server: str, run_id: str) -> None:
    """A training on a Dask worker: ``run_task`` with its messages in the server's queue."""
    from distributed import Event, get_client

    client = get_client()
    asked = threading.Event()
    done = threading.Event()
    outbox = Outbox(client, server, run_id, task, asked)
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
