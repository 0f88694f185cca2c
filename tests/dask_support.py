"""The Dask backend's test fixtures: a real ``distributed.LocalCluster`` of two worker
processes (one thread each) per test module, since starting one takes seconds.

Without ``distributed`` these tests skip, unless ``QWIDGETS_REQUIRE_DASK`` is set (as in CI),
where a missing extra is a failure."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from distributed import Client

INSTALL = 'pip install "qwidgets[dask]"'


def require_distributed() -> None:
    """Skip the calling module when ``distributed`` is missing and CI does not require it."""
    if importlib.util.find_spec("distributed") is not None:
        return
    if os.environ.get("QWIDGETS_REQUIRE_DASK"):
        pytest.fail(f"QWIDGETS_REQUIRE_DASK is set but distributed is not installed: {INSTALL}",
                    pytrace=False)
    pytest.skip(f"dask.distributed is not installed ({INSTALL}; QWIDGETS_REQUIRE_DASK=1 makes "
                "this a failure)", allow_module_level=True)


# The cluster lives in a process of its own, like a classroom's cluster that the server reaches
# by address; its workers are that process's children, and so is the resource tracker that
# multiprocessing starts with them, which would otherwise outlive the cluster in pytest's own
# process until pytest exits.
CLUSTER_SCRIPT = """
import logging, sys
from distributed import LocalCluster
logging.getLogger("distributed").setLevel(logging.ERROR)
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                  dashboard_address=None) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()  # until the test closes it
"""


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """The scheduler address of a fresh two-process LocalCluster, closed at the end."""
    process = subprocess.Popen([sys.executable, "-c", CLUSTER_SCRIPT], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("tcp://"), "the LocalCluster did not start"
        yield address
    finally:
        process.stdin.close()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def dask_client(dask_cluster: str) -> Iterator[Client]:
    """A client of ``dask_cluster``, closed at the end."""
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        yield client
