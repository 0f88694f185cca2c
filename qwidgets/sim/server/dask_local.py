"""A ``distributed.LocalCluster`` of worker processes run by a process of its own, as a
classroom's scheduler would be: for trying ``--dask`` on one machine, and for the tests and
benchmarks of ``DaskBackend``. Its workers and the resource tracker that multiprocessing
starts with them are that process's children, so nothing of the cluster outlives it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

CLUSTER_SCRIPT = """
import logging, sys
from distributed import LocalCluster
logging.getLogger("distributed").setLevel(logging.ERROR)
with LocalCluster(n_workers={workers}, threads_per_worker={threads}, processes=True,
                  host="127.0.0.1", dashboard_address=None) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the parent closes it
"""


@contextlib.contextmanager
def local_cluster(workers: int = 2, threads: int = 1, timeout: float = 60.0) -> Iterator[str]:
    """The scheduler address of a LocalCluster of ``workers`` processes with ``threads``
    threads each, on loopback; closed (workers and all) when the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT.format(workers=int(workers), threads=int(threads))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        start_new_session=True)  # a kernel's interrupt (SIGINT to its group) must not end it
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        address = process.stdout.readline().strip()
        if not address.startswith("tcp://"):
            raise RuntimeError("the LocalCluster did not start (is dask.distributed installed? "
                               'pip install "qwidgets[dask]")')
        yield address
    finally:
        process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
