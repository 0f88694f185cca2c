"""The training tests of ``test_server_training`` again, every server on a Dask cluster: a
two-process ``LocalCluster`` behind a ``DaskBackend`` (``training_workers`` caps its slots,
as it sizes the local pool)."""

from __future__ import annotations

import pytest

from .dask_support import require_distributed

require_distributed()

from distributed import Client  # noqa: E402

from qwidgets.sim.server.dask_backend import DaskBackend  # noqa: E402

from .dask_support import dask_client, dask_cluster  # noqa: E402, F401
from .test_server_training import *  # noqa: E402, F403
from .test_server_training import BackendFactory  # noqa: E402


@pytest.fixture
def training_backend_factory(dask_client: Client) -> BackendFactory:  # noqa: F811
    return lambda workers: DaskBackend(dask_client, max_slots=workers)
