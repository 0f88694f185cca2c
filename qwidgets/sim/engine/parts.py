"""Rows cut into fixed parts and solved on a shared pool of threads.

numpy's LAPACK, matmul and einsum loops release the GIL, so the parts of a batch run on every
core. While parts run, BLAS is held to one thread of its own, even with a single part or core:
OpenBLAS's threads spin while waiting, and two parts each waking them run slower than one part
alone; and a threaded matmul rounds differently from a one-thread one, which an iterative
solver's stopping test would turn into a different answer. Part boundaries never depend on the
core count, and each part gets its own random generator spawned in order, so a training is the
same on one core and on sixteen.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

PART_ROWS = 512  # a 1,000-row batch still splits in two; smaller parts pay numpy's call overhead
T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas: ThreadpoolController | None = None
_limiter: Any = None  # threadpoolctl's limiter while parts run, else None
_users = 0
_threads: int | None = None  # set_threads(); None: every core

THREADS_ENV = "QWIDGETS_ROW_THREADS"


def set_threads(count: int | None) -> None:
    """Run the parts of a batch on at most ``count`` threads (None: every core). Worker
    processes that share the cores with each other set it so that N trainings on N cores do
    not each start N threads. ``QWIDGETS_ROW_THREADS`` sets it for a whole process."""
    global _pool, _threads
    if count is not None and count < 1:
        raise ValueError(f"threads must be at least 1, not {count}")
    with _lock:
        _threads = count
        old, _pool = _pool, None
    if old is not None:
        old.shutdown(wait=False)


def threads() -> int:
    """Threads the parts of a batch run on: ``set_threads``, else the environment's
    ``QWIDGETS_ROW_THREADS``, else every core; never more than the cores."""
    wanted = _threads
    if wanted is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        wanted = int(env) if env.isdigit() and int(env) > 0 else None
    return min(wanted, cores()) if wanted else cores()


def cores() -> int:
    """Cores this process may run on (the affinity mask, as a container or taskset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def parts(count: int, size: int = PART_ROWS) -> list[slice]:
    """[0, count) in slices of ``size`` rows; the last one takes a short tail so no part is
    smaller than half of ``size``."""
    edges = [*range(0, count, size), count]
    if len(edges) > 2 and edges[-1] - edges[-2] < size // 2:
        del edges[-2]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def map_parts(fn: Callable[[slice, np.random.Generator], T], count: int,
              rng: np.random.Generator) -> list[T]:
    """``fn(part, generator)`` for every part of [0, count), results in order; on the pool when
    there is more than one part and more than one core. Each part's generator is spawned from
    ``rng`` (generators are not thread-safe, and spawning keeps the draws core-independent)."""
    slices = parts(count)
    generators = rng.spawn(len(slices))
    with one_blas_thread():
        if len(slices) <= 1 or threads() == 1:
            return [fn(s, g) for s, g in zip(slices, generators, strict=True)]
        return list(_shared_pool().map(fn, slices, generators))


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread while any map_parts (or a whole training batch) runs (the
    limit is process-wide, so it is counted: two trainings at once restore it only when both
    are done)."""
    global _limiter, _users
    with _lock:
        if _users == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def _controller() -> ThreadpoolController:
    """Made on first use, when numpy's and scipy's BLAS libraries are loaded and can be found."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(threads(), thread_name_prefix="qwidgets-rows")
        return _pool
