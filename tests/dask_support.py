"""The Dask backend's test fixtures: a real ``distributed.LocalCluster`` of two worker
processes (one thread each) per test module, since starting one takes seconds.

Without ``distributed`` these tests skip, unless ``QWIDGETS_REQUIRE_DASK`` is set (as in CI),
where a missing extra is a failure."""

from __future__ import annotations

import importlib.util
import os
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


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """The scheduler address of a fresh two-process LocalCluster (in a process of its own,
    as a classroom's is), closed at the end."""
    from qwidgets.sim.server.dask_local import local_cluster

    with local_cluster(workers=2, threads=1) as address:
        yield address


@pytest.fixture(scope="module")
def dask_client(dask_cluster: str) -> Iterator[Client]:
    """A client of ``dask_cluster``, closed at the end."""
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        yield client
