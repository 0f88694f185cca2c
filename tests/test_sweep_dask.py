"""The issue's "same sweep on a LocalCluster-backed server": twelve configurations on iris,
swept once on a server whose trainings run in its local worker processes and once on a
server whose trainings run on a two-process Dask LocalCluster. The models are seeded, so the
two leaderboards must agree row for row: the backend changes where a training runs, never
what it computes."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from .dask_support import require_distributed

require_distributed()

import qwidgets.sim as sim  # noqa: E402
from qwidgets.client import AsyncQcogClient  # noqa: E402

from .dask_support import dask_cluster  # noqa: E402, F401

GRID = {"model": ["pauli", "ensemble"], "qbits": [2, 3], "dim": [4, 8],
        "state_method": ["NP_EIGH", "LOBPCG_FAST"], "learning_rate": [0.05, 0.2],
        "optimization_method": ["GRAD"], "iterations": [3], "num_passes": [3]}


def iris() -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.data.copy()
    frame["species"] = data.target
    return frame


async def sweep_on(server: sim.SimServer) -> pd.DataFrame:
    client = await AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                          port=server.port)
    async with client:
        return await client.sweep(iris(), GRID, target="species", holdout=0.25, seed=3,
                                  concurrency=4)


@pytest.mark.timeout(600)
async def test_the_same_sweep_gives_the_same_board_on_a_dask_cluster(
        dask_cluster: str) -> None:  # noqa: F811
    with sim.start() as local:
        on_pool = await sweep_on(local)
    with sim.start(dask=dask_cluster) as clustered:
        on_dask = await sweep_on(clustered)
    assert len(on_pool) == 16
    assert set(on_pool["status"]) == {"completed"}, on_pool[["status", "reason"]]
    assert set(on_dask["status"]) == {"completed"}, on_dask[["status", "reason"]]
    columns = ["model", "qbits", "dim", "state_method", "learning_rate"]
    pool_scores = on_pool.sort_index()[[*columns, "accuracy"]]
    dask_scores = on_dask.sort_index()[[*columns, "accuracy"]]
    pd.testing.assert_frame_equal(pool_scores, dask_scores)
