"""Which Dask worker a training goes to.

Dask's scheduler puts a task where its inputs are: every training depends on its scattered
dataset, which sits on one worker, so left alone the scheduler queues a whole sweep on that
worker while the others idle, until work stealing moves some of it (measured: 16 trainings
on a 2-worker cluster ran 16/0 or 12/4 in half the sweeps, 1.2-1.3 times as long as 8/8).
Copies made by ``broadcast`` do not last either: the Active Memory Manager drops a key's
extra replicas every 2 s unless a waiting task needs them.

So each training is submitted with a loose restriction (``workers=[w],
allow_other_workers=True``) to the worker with the most threads not running one of this
server's trainings: the dataset follows it worker to worker (a fetch from a peer, once per
replica), and the scheduler may still run it elsewhere if ``w`` leaves.
"""

from __future__ import annotations

import collections
import threading


class Placement:
    """This server's running trainings per worker, against the workers' threads."""

    def __init__(self) -> None:
        self._threads: dict[str, int] = {}
        self._running: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def refresh(self, threads: dict[str, int]) -> None:
        """The cluster's workers as ``Client.nthreads()`` gives them: address -> threads."""
        with self._lock:
            self._threads = dict(threads)

    def take(self) -> str | None:
        """The worker for the next training (counted as running there until ``give_back``);
        None while the cluster has no worker, for the scheduler to decide when one joins."""
        with self._lock:
            if not self._threads:
                return None
            worker = max(self._threads, key=lambda w: self._threads[w] - self._running[w])
            self._running[worker] += 1
            return worker

    def give_back(self, worker: str) -> None:
        with self._lock:
            self._running[worker] -= 1
            if self._running[worker] <= 0:
                del self._running[worker]

    def running(self) -> dict[str, int]:
        with self._lock:
            return dict(self._running)
