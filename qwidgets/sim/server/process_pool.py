"""The server's default training backend: N worker processes on this machine.

Trainings hold the GIL between numpy calls; in the server's process they slowed every request
(a status poll waited ~270 ms behind 50 trainings). In worker processes they cannot, and the
workers run at a lower priority so the server's event loop gets a core as soon as it wants
one. Workers are plain ``python -m qwidgets.sim.server.pool_worker`` children talking over two
pipes: no ``fork`` of a process that has threads (a Jupyter kernel), no forkserver or resource
tracker left running, and a worker sees its server die as the end of its command pipe.

The workers start with the first training, not with the server: a server that only answers
status polls, Braket devices or federated routes (or a test suite that starts hundreds of
servers) never pays their imports. Each keeps the last few datasets it was sent
(``pool_worker.DatasetCache``, mirrored here), so a sweep of many trainings on one dataset
sends it once per worker.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import site
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import qwidgets
from qwidgets.sim.engine import parts
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
from qwidgets.sim.server.pool_worker import DatasetCache, data_key

log = logging.getLogger("qwidgets.sim.server.process_pool")

# A worker asked to stop notices between two chunks of rows, which at a large dim or under
# load can take seconds; past this grace it is killed and replaced instead. That loses
# nothing: a stopped training keeps only its last pass's checkpoint either way.
STOP_GRACE_S = 0.5
SHUTDOWN_GRACE_S = 1.0
BLAS_THREADS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class WorkerProcess:
    """One worker as the server sees it: its process, both pipes, its task and its datasets."""

    def __init__(self, niceness: int, threads: int) -> None:
        cmd_read, cmd_write = os.pipe()
        msg_read, msg_write = os.pipe()
        env = {**os.environ, "PYTHONPATH": child_python_path(),
               **{name: str(threads) for name in BLAS_THREADS_ENV}}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "qwidgets.sim.server.pool_worker", str(cmd_read),
                 str(msg_write), str(niceness), str(threads)],
                pass_fds=(cmd_read, msg_write), stdin=subprocess.DEVNULL, env=env,
                # out of the server's process group: JupyterLab interrupts a kernel with a
                # SIGINT to its whole group, which killed the trainings; a worker ends with
                # its server's end of the pipe, or when the pool asks or kills it
                start_new_session=True)
        except BaseException:
            for fd in (cmd_write, msg_read):
                os.close(fd)
            raise
        finally:
            os.close(cmd_read)  # the child's ends: only the child may hold them, so that
            os.close(msg_write)  # each side sees the other's death as end of file
        self.commands = Connection(cmd_write, readable=False)
        self.messages = Connection(msg_read, writable=False)
        # Commands go out from a thread of their own: a dataset of megabytes fills the pipe
        # until the worker reads it, and neither the event loop (a cancel) nor the scheduler
        # may wait for that, nor for a worker that is still starting.
        self.outbox: queue.SimpleQueue[tuple[object, ...] | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, daemon=True,
                                       name=f"qwidgets-pool-writer-{self.process.pid}")
        self.writer.start()
        self.cache = DatasetCache()
        self.task: Key | None = None
        self.reader: threading.Thread | None = None
        self.stopped_by_kill = False  # its task ends as Stopped, not Lost

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, *command: object) -> None:
        """Queue a command; one the worker does not live to read is dropped (its reader then
        reports the task it held as lost)."""
        self.outbox.put(command)

    def _write(self) -> None:
        while (command := self.outbox.get()) is not None:
            try:
                self.commands.send(command)
            except OSError:
                break
        self.commands.close()

    def close(self) -> None:
        self.outbox.put(None)
        self.messages.close()


class ProcessPool:
    """A ``Backend`` of ``workers`` processes (default: the machine's cores), each training
    one task at a time at ``niceness`` on ``threads`` row threads (default: its share of the
    cores). The workers start on the first ``run`` (with ``warm``: at ``start``, so that
    the first training does not wait seconds for their imports); from then on a worker that
    dies is replaced at once and its task delivered as ``Lost``."""

    def __init__(self, workers: int | None = None, *, niceness: int = 10,
                 threads: int | None = None, warm: bool = False) -> None:
        size = workers if workers is not None else os.cpu_count() or 1
        if size < 1:
            raise ValueError(f"training_workers must be at least 1, not {size}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.size = size
        self.niceness = max(0, niceness)
        self.threads = threads or max(1, parts.cores() // size)
        self.warm = warm
        self._workers: list[WorkerProcess] = []
        self._lock = threading.Lock()
        self._deliver: Deliver | None = None
        self._closing = False
        self.datasets_sent = 0  # datasets written to a worker (the rest were cached there)

    @property
    def slots(self) -> int:
        return self.size

    def worker_pids(self) -> list[int]:
        """The pids of the live workers: none before the first training, then one per slot
        (once replacements have started)."""
        with self._lock:
            return [w.pid for w in self._workers]

    def running(self) -> dict[Key, int]:
        """The task each busy worker runs, with that worker's pid."""
        with self._lock:
            return {w.task: w.pid for w in self._workers if w.task is not None}

    def start(self, deliver: Deliver) -> None:
        with self._lock:
            if self._deliver is not None:
                raise RuntimeError("the process pool is already started")
            self._deliver = deliver
            if self.warm:
                try:
                    self._fill()
                except OSError:  # the first training tries again, and reports it
                    log.warning("cannot start the training workers yet", exc_info=True)

    def run(self, task: TrainingTask) -> None:
        dataset = data_key(task)
        with self._lock:
            if self._closing:
                raise RuntimeError("the process pool is shutting down")
            if self._deliver is None:
                raise RuntimeError("start the process pool before running tasks")
            # Under the lock, so a shutdown sees either no worker or all of them. A start
            # costs a fork and exec (milliseconds); the imports happen in the child while
            # the task waits on its writer thread, so the scheduler never waits for them.
            self._fill()
            idle = [w for w in self._workers if w.task is None]
            if not idle:
                raise RuntimeError(f"all {self.size} workers are busy: the scheduler runs "
                                   "no more tasks than slots")
            worker = next((w for w in idle if dataset in w.cache), idle[0])
            worker.task = task.key
            fresh = dataset not in worker.cache
            if fresh:
                worker.cache.add(dataset, len(task.csv[0]))
                self.datasets_sent += 1
            else:
                worker.cache.use(dataset)
        if fresh:
            worker.send("data", dataset, task.csv)
        # pickled here: the worker's listening thread must not import the engine to read it
        worker.send("run", pickle.dumps(task.without_data()))

    def stop(self, key: Key) -> None:
        with self._lock:
            worker = next((w for w in self._workers if w.task == key), None)
        if worker is not None:
            worker.send("stop", key)
            timer = threading.Timer(STOP_GRACE_S, self._kill_if_running, (worker, key))
            timer.daemon = True
            timer.start()

    def _kill_if_running(self, worker: WorkerProcess, key: Key) -> None:
        with self._lock:
            if worker.task != key or worker.stopped_by_kill:
                return
            worker.stopped_by_kill = True
        log.info("training worker %d did not stop model %s within %.1f s; killing it",
                 worker.pid, key[1], STOP_GRACE_S)
        worker.process.kill()

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        for w in workers:
            w.send("exit")
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for w in workers:
            if w.reader is not None:
                w.reader.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.reader is not None and w.reader.is_alive():
                log.info("training worker %d did not stop in %.1f s; killing it", w.pid,
                         SHUTDOWN_GRACE_S)
                w.process.kill()
                w.reader.join(5.0)

    # ------------------------------------------------------------ workers

    def _fill(self) -> None:
        """Start the missing workers: all of them on the first run; later, one whose
        replacement could not be started."""
        while len(self._workers) < self.size:
            try:
                self._workers.append(self._spawn())
            except OSError:
                if not any(w.task is None for w in self._workers):
                    raise
                log.exception("cannot start a training worker; %d of %d running",
                              len(self._workers), self.size)
                return

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess(self.niceness, self.threads)
        worker.reader = threading.Thread(target=self._read, args=(worker,), daemon=True,
                                         name=f"qwidgets-pool-reader-{worker.pid}")
        worker.reader.start()
        return worker

    def _read(self, worker: WorkerProcess) -> None:
        while True:
            try:
                message: Message = worker.messages.recv()
            except Exception:  # EOF, or a message cut short by the worker's death
                break
            if isinstance(message, Finished | Failed | Stopped):
                with self._lock:  # idle before the scheduler hears its slot is free
                    if worker.task == message.key:
                        worker.task = None
            self._send_on(message)
        self._bury(worker)

    def _bury(self, worker: WorkerProcess) -> None:
        try:
            code = worker.process.wait(5.0)
        except subprocess.TimeoutExpired:  # its pipe broke but it lives on: no use any more
            worker.process.kill()
            code = worker.process.wait()
        worker.close()
        with self._lock:
            key, worker.task = worker.task, None
            if worker in self._workers:
                self._workers.remove(worker)
            closing = self._closing
            if not closing:
                try:
                    self._workers.append(self._spawn())
                except OSError:
                    log.exception("cannot start a training worker to replace %d", worker.pid)
        if key is None:
            if not closing:
                log.warning("idle training worker %d died (%s); replaced", worker.pid,
                            exit_description(code))
            return
        if closing or worker.stopped_by_kill:
            self._send_on(Stopped(key))
        else:
            log.warning("training worker %d died (%s) running model %s; replaced", worker.pid,
                        exit_description(code), key[1])
            self._send_on(Lost(key, f"the worker process running it died "
                                    f"({exit_description(code)})"))

    def _send_on(self, message: Message) -> None:
        assert self._deliver is not None
        try:
            self._deliver(message)
        except Exception:  # the scheduler's bug: keep reading, or the worker would block
            log.exception("delivering %s failed", type(message).__name__)


def child_python_path() -> str:
    """``PYTHONPATH`` for a worker: it imports this very copy of qwidgets, also when that copy
    is a checkout the server found through its working directory or a path it was given. An
    installed copy is found anyway; its site-packages is not put ahead of the standard
    library."""
    current = os.environ.get("PYTHONPATH", "")
    root = str(Path(qwidgets.__file__).resolve().parent.parent)
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(),
                                                    site.getusersitepackages()]}
    if root in installed or root in current.split(os.pathsep):
        return current
    return os.pathsep.join(p for p in (root, current) if p)


def exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
