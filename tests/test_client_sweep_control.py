"""Controlling a sweep on the real embedded simulator: cancelling one row and all, a server whose
per-token quota of active trainings answers 429 (waited out, not failed), reattaching by id from
a new client on a new event loop, and the blocking facade."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from qwidgets.client import QcogClient, RetryPolicy, Sweep, SyncSweep
from qwidgets.client.errors import UsageError
from qwidgets.sim import SimServer
from qwidgets.sim.server.limits import Quotas, ServerLimits
from tests.client_support import client_for, count_rows
from tests.fixtures import StartSim

# Long enough to be caught running (thousands of batches), ended by a cancel.
LONG = {"num_passes": 5000, "batch_size": 10}


@pytest.fixture(autouse=True)
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QWIDGETS_SWEEP_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


async def until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def running(sweep: Sweep, index: int) -> Callable[[], bool]:
    return lambda: sweep.rows[index].status == "processing" and sweep.rows[index].progress > 0


async def test_cancel_one_row_then_all(server: SimServer, iris: pd.DataFrame) -> None:
    async with await client_for(server.url, server.token) as client:
        sweep = client.start_sweep(iris, [LONG, LONG, {"num_passes": 1}], concurrency=1)
        await until(running(sweep, 0))
        assert [r.status for r in sweep.rows[1:]] == ["queued", "queued"]
        await sweep.cancel(0)
        await until(running(sweep, 1))
        assert sweep.rows[0].status == "cancelled"
        assert sweep.rows[0].reason == "cancelled"
        await sweep.cancel()
        board = await sweep.wait()
    assert [r.status for r in sweep.rows] == ["cancelled"] * 3
    assert sweep.rows[2].guid is None
    assert sweep.rows[2].reason == "cancelled before it started"
    assert sweep.rows[1].loss
    assert sweep.rows[1].progress < 100
    assert sweep.best is None
    assert sweep.best_guid is None
    assert list(board["status"]) == ["cancelled"] * 3
    with pytest.raises(UsageError, match="no trained model"):
        await sweep.client_for(0)


async def test_the_quota_of_active_trainings_is_waited_out(start_sim: StartSim,
                                                           iris: pd.DataFrame) -> None:
    server = start_sim(limits=ServerLimits(quotas=Quotas(max_active_trainings=1)))
    # Two quick attempts per request: the 429 reaches the sweep, which must wait, not fail.
    fast = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)
    async with await client_for(server.url, server.token, retry=fast) as client, \
            await client_for(server.url, server.token) as other:
        # Another training of the same token holds the only place.
        other.pauli([str(c) for c in iris.columns])
        await (await other.data(iris, warn=False)).train(10, 5000, {}, {})
        sweep = client.start_sweep(iris, {"num_passes": [1, 2, 3]}, concurrency=3)
        waiting = "waiting for a free training place (HTTP 429"
        await until(lambda: all(r.reason.startswith(waiting) for r in sweep.rows))
        assert [r.status for r in sweep.rows] == ["queued"] * 3
        await other.cancel()
        board = await sweep.wait()
    assert list(board["status"]) == ["completed"] * 3, board
    assert count_rows(server, "models") == 4


def test_reattach_by_id_in_a_new_loop(server: SimServer, iris: pd.DataFrame,
                                      sweep_dir: Path) -> None:
    configs = [LONG, {"num_passes": 1}, {"num_passes": 2}]
    models = count_rows(server, "models")

    async def first_kernel() -> tuple[str, str]:
        async with await client_for(server.url, server.token) as client:
            sweep = client.start_sweep(iris, configs, concurrency=1)
            await until(running(sweep, 0))
            await sweep.detach()  # what a kernel restart does to the task
            guid = sweep.rows[0].guid
            assert guid is not None
            assert sweep.done
            with pytest.raises(UsageError, match="attach_sweep"):
                await sweep.wait()
            return sweep.id, guid

    async def second_kernel(sweep_id: str) -> Sweep:
        async with await client_for(server.url, server.token) as client:
            sweep = await client.attach_sweep(sweep_id)
            saved = sweep.rows[0].progress
            await until(lambda: sweep.rows[0].progress > saved)  # polled again
            await sweep.cancel(0)
            await sweep.wait()
            return sweep

    sweep_id, guid = asyncio.run(first_kernel())
    saved = json.loads((sweep_dir / f"{sweep_id}.json").read_text())
    assert [r["status"] for r in saved["rows"]][1:] == ["queued", "queued"]
    assert saved["rows"][0]["status"] in ("pending", "processing")
    assert saved["rows"][0]["guid"] == guid
    assert server.token not in json.dumps(saved)
    sweep = asyncio.run(second_kernel(sweep_id))
    assert [r.status for r in sweep.rows] == ["cancelled", "completed", "completed"]
    assert sweep.rows[0].guid == guid  # the same training, followed again, not a new one
    assert sweep.best is not None
    assert sweep.best.metric is not None
    assert count_rows(server, "models") == models + 3


def test_the_blocking_facade(server: SimServer, iris: pd.DataFrame) -> None:
    with QcogClient.create(token=server.token, hostname=server.host, port=server.port) as client:
        board = client.sweep(iris, {"pauli_weight": [1, 2]}, holdout=0.2)
        assert list(board["status"]) == ["completed"] * 2
        assert list(board.columns[:2]) == ["pauli_weight", "accuracy"]
        sweep = client.start_sweep(iris, [LONG, {"qbits": 3, "pauli_weight": 3}])
        assert isinstance(sweep, SyncSweep)
        assert isinstance(sweep.sweep, Sweep)
        deadline = time.monotonic() + 60
        while sweep.rows[1].status != "completed" or sweep.rows[1].metric is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sweep.cancel(0)
        board = sweep.wait(timeout=60)
        assert sweep.done
        assert sweep.best_guid == board["guid"].iloc[0]
        best = sweep.client_for(1)
        forecast = best.inference(iris.drop(columns=["target"]).head(5), None)
        assert list(forecast.columns) == ["target"]
        assert client.attach_sweep(sweep.id).wait(timeout=60)["status"].to_list() == \
            ["completed", "cancelled"]
