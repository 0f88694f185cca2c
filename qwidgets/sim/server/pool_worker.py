"""One worker process of ``process_pool.ProcessPool``: ``python -m
qwidgets.sim.server.pool_worker CMD_FD MSG_FD NICENESS THREADS``.

It lowers its priority before it imports numpy and the engine (a second of CPU that would
otherwise compete with the server's event loop). A listening thread reads the commands
(``data``, ``run``, ``stop``, ``exit``) from one pipe; the main thread trains one task at a
time with ``backend.run_task`` and sends the task's messages on the other pipe. The listening
thread is what makes ``stop`` reach a training between two chunks, and what ends the process as
soon as the server's end of the pipe closes (the server exited or was killed): a worker never
outlives its server. It listens from before the imports: the pool starts its workers with the
first training, and a server that stops (or dies) right after that ends them at once, not a
few seconds of imports later.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwidgets.sim.server.backend import Key, Message, TrainingTask

DataKey = tuple[str, str]  # (namespace, dataset guid)
Csv = tuple[str, list[int]]


class DatasetCache:
    """Which datasets a worker keeps, least recently used first out. The server keeps one
    copy per worker with sizes only and the worker the same with the data: both evict the
    same datasets, so the server knows without asking which ones a worker still has."""

    def __init__(self, max_entries: int = 4, max_bytes: int = 512 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.sizes: OrderedDict[DataKey, int] = OrderedDict()

    def __contains__(self, key: DataKey) -> bool:
        return key in self.sizes

    def use(self, key: DataKey) -> None:
        self.sizes.move_to_end(key)

    def add(self, key: DataKey, size: int) -> list[DataKey]:
        """Record ``key`` as the newest; return what falls out (never ``key`` itself)."""
        self.sizes[key] = size
        self.sizes.move_to_end(key)
        evicted = []
        while len(self.sizes) > 1 and (len(self.sizes) > self.max_entries
                                       or sum(self.sizes.values()) > self.max_bytes):
            gone, _ = self.sizes.popitem(last=False)
            evicted.append(gone)
        return evicted


def data_key(task: TrainingTask) -> DataKey:
    return (task.namespace, task.dataset_guid)


class Worker:
    def __init__(self, out: Connection) -> None:
        self.out = out
        self.cache = DatasetCache()
        self.data: dict[DataKey, Csv] = {}
        # pickled: unpickling a task imports the engine, which the listening thread must not
        # wait for (the main thread may be importing it)
        self.tasks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.current: Key | None = None
        self.stop = threading.Event()
        self.stopped: set[Key] = set()  # stops that arrived before their task started
        self.closing = False

    def listen(self, commands: Connection) -> None:
        try:
            while True:
                kind, *args = commands.recv()
                if kind == "data":
                    key, csv = args
                    with self.lock:
                        for gone in self.cache.add(key, len(csv[0])):
                            self.data.pop(gone, None)
                        self.data[key] = csv
                elif kind == "run":
                    self.tasks.put(args[0])
                elif kind == "stop":
                    with self.lock:
                        self.stopped.add(args[0])
                        if self.current == args[0]:
                            self.stop.set()
                elif kind == "exit":
                    with self.lock:
                        if self.current is None:
                            # nothing to stop or report (the main thread may still be
                            # importing): a task not yet begun ends as stopped by the
                            # pool's own account
                            os.kill(os.getpid(), signal.SIGKILL)
                        self.closing = True
                        self.stop.set()
                    self.tasks.put(None)
                    return
        except (EOFError, OSError):
            # the server is gone: nobody left to report to, nothing to save, and the main
            # thread may be deep in a batch
            os.kill(os.getpid(), signal.SIGKILL)

    def serve(self) -> None:
        from qwidgets.sim.server.backend import Failed, run_task

        while (pickled := self.tasks.get()) is not None:
            task: TrainingTask = pickle.loads(pickled)
            with self.lock:
                self.current = task.key
                self.stop.clear()
                if task.key in self.stopped or self.closing:
                    self.stop.set()
                csv = task.csv if task.csv[0] else self.data.get(data_key(task))
                if data_key(task) in self.cache:
                    self.cache.use(data_key(task))
            try:
                if csv is None:  # cannot happen while the server mirrors the cache
                    self.send(Failed(task.key, "internal error in the simulator: dataset "
                                     f"{task.dataset_guid} did not reach the worker"))
                else:
                    run_task(task, self.send, self.stop.is_set, frame_csv=csv)
            finally:
                with self.lock:
                    self.current = None
                    self.stopped.discard(task.key)

    def send(self, message: Message) -> None:
        try:
            self.out.send(message)
        except OSError:
            raise SystemExit(0) from None  # the server is gone (run_task lets this through)


def main(argv: list[str]) -> None:
    cmd_fd, msg_fd, niceness, threads = (int(a) for a in argv)
    if niceness:
        os.nice(niceness)
    worker = Worker(Connection(msg_fd, readable=False))
    threading.Thread(target=worker.listen, args=(Connection(cmd_fd, writable=False),),
                     name="qwidgets-pool-commands", daemon=True).start()
    from qwidgets.sim.engine import parts  # numpy: after the nice

    parts.set_threads(threads)
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
