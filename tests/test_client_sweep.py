"""client.sweep against the real embedded simulator: a grid on class labels (iris) and on a
number (diabetes), one upload for the whole sweep, invalid configurations reported while the
others train, the leaderboard's columns and order, the best model usable for inference;
cancelling one row and all, a per-token quota of active trainings (429) waited out, reattaching
by id from a new client on a new event loop, and the blocking facade."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

from qwidgets.client import AsyncQcogClient, QcogClient, RetryPolicy, Sweep, SyncSweep
from qwidgets.client.errors import UsageError
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from qwidgets.sim.server.limits import Quotas, ServerLimits
from tests.client_support import client_for, count_rows
from tests.fixtures import StartSim

GRID = {"model": ["pauli", "ensemble"], "pauli_weight": [1, 2], "dim": [4, 8],
        "num_passes": [1, 2], "qbits": 2}
# Long enough to be caught running (thousands of batches), ended by a cancel.
LONG = {"num_passes": 5000, "batch_size": 10}


@pytest.fixture(autouse=True)
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QWIDGETS_SWEEP_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.iloc[:200].reset_index(drop=True)


async def test_a_grid_on_class_labels_ranks_by_accuracy(server: SimServer, iris: pd.DataFrame,
                                                         sweep_dir: Path) -> None:
    client = await client_for(server.url, server.token)
    datasets, models = count_rows(server, "datasets"), count_rows(server, "models")
    seen: list[tuple[int, bool]] = []
    async with client:
        sweep = client.start_sweep(iris, GRID, holdout=0.25, seed=3)
        sweep.on_change(lambda s: seen.append((s.version, s.done)))
        board = await sweep.wait()
        # Pauli rows keep the Pauli fields, Ensemble rows the Ensemble ones: 4 + 4.
        assert len(sweep.rows) == 8
        assert sweep.columns == ["model", "pauli_weight", "dim", "num_passes"]
        assert list(board.columns) == [*sweep.columns, "accuracy", "train_time_s", "status",
                                       "reason", "guid"]
        assert sweep.metric_name == "accuracy"
        assert set(board["status"]) == {"completed"}
        scores = board["accuracy"].to_list()
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= s <= 1 for s in scores)
        assert scores[0] > 0.6
        assert (board["train_time_s"] > 0).all()
        assert all(r.loss and r.progress == 100 for r in sweep.rows)
        # One upload for the whole sweep, one training per configuration.
        assert count_rows(server, "datasets") == datasets + 1
        assert count_rows(server, "models") == models + 8
        assert [v for v, _ in seen] == sorted(v for v, _ in seen)
        assert seen[-1] == (sweep.version, True)  # the last change says it is done
        assert not any(done for _, done in seen[:-1])

        best = sweep.best
        assert best is not None
        assert sweep.best_guid == board["guid"].iloc[0] == best.guid
        model = await sweep.client_for(best.index)
        held = sweep.held_out
        assert len(held) == round(0.25 * 50) * 3  # stratified: a quarter of each class
        forecast = await model.inference(held.drop(columns=["target"]), None)
        assert set(forecast["target"]) <= {0.0, 1.0, 2.0}  # labels, not numbers between them
        accuracy = float(np.mean(forecast["target"].to_numpy() == held["target"].to_numpy()))
        assert accuracy == pytest.approx(best.metric)

        saved = (sweep_dir / f"{sweep.id}.json").read_text()
        assert server.token not in saved
        assert [r["status"] for r in json.loads(saved)["rows"]] == ["completed"] * 8
        # rows are kept encoded between writes: the file must still hold every row as it is
        fresh = json.loads(json.dumps([r.to_dict() for r in sweep.rows]))
        assert json.loads(saved)["rows"] == fresh


async def test_invalid_configurations_are_reported_and_the_others_train(
        server: SimServer, iris: pd.DataFrame) -> None:
    configs = [{"qbits": 2}, {"qbits": 9}, {"bogus": 1}, {"model": "pauli", "dim": 4},
               {"state_method": "GRAD", "state_iterations": 0, "state_learning_rate": 0.1},
               {"model": "ensemble", "dim": 4}, {"pauli_weight": 3}]
    models = count_rows(server, "models")
    async with await client_for(server.url, server.token) as client:
        sweep = client.start_sweep(iris, configs)
        invalid = {r.index: r.reason for r in sweep.rows if r.status == "invalid"}
        assert sorted(invalid) == [1, 2, 3, 4, 6]  # known before anything is sent
        board = await sweep.wait()
    assert invalid[1].startswith("qbits: got 9")
    assert invalid[2].startswith("bogus: got 1; is not a sweep field")
    assert "dim: got 4; applies to the ensemble model only" in invalid[3]
    assert invalid[4].startswith("state_iterations: got 0")
    assert invalid[6].startswith("pauli_weight: got 3; must be <= qbits (2)")
    assert list(board.index[:2]) in ([0, 5], [5, 0])
    assert list(board["status"]) == ["completed"] * 2 + ["invalid"] * 5
    assert list(board.index[2:]) == [1, 2, 3, 4, 6]  # unranked rows keep their order
    assert count_rows(server, "models") == models + 2


async def test_a_numeric_target_ranks_by_r2_or_by_mae(server: SimServer,
                                                      diabetes: pd.DataFrame) -> None:
    grid = {"model": ["pauli", "ensemble"], "dim": [4], "num_passes": [1, 3]}
    async with await client_for(server.url, server.token) as client:
        board = await client.sweep(diabetes, grid, holdout=0.3, concurrency=2)
        assert list(board.columns[:4]) == ["model", "num_passes", "r2", "mae"]
        assert set(board["status"]) == {"completed"}
        assert board["r2"].to_list() == sorted(board["r2"], reverse=True)
        assert (board["mae"] > 0).all()

        by_mae = client.start_sweep(diabetes, grid, holdout=0.3, metric="mae", target="target")
        board = await by_mae.wait()
        assert by_mae.metric_name == "mae"
        assert board["mae"].to_list() == sorted(board["mae"])
        best = by_mae.best
        assert best is not None
        assert best.metric == board["mae"].iloc[0]
        held = by_mae.held_out
        forecast = await (await by_mae.client_for(best.index)).inference(
            held.drop(columns=["target"]), None)
        mae = float(np.mean(np.abs(forecast["target"].to_numpy() - held["target"].to_numpy())))
        assert mae == pytest.approx(best.metric)


async def test_bad_sweep_arguments_name_the_field(server: SimServer, iris: pd.DataFrame,
                                                  diabetes: pd.DataFrame) -> None:
    async with await client_for(server.url, server.token) as client:
        cases = [({"data": iris, "configs": [{}], "holdout": 0}, "holdout"),
                 ({"data": iris, "configs": [{}], "holdout": 1.0}, "holdout"),
                 ({"data": iris, "configs": [{}], "target": "nope"}, "target"),
                 ({"data": iris, "configs": [{}], "metric": "f1"}, "metric"),
                 ({"data": diabetes, "configs": [{}], "metric": "accuracy"}, "metric"),
                 ({"data": iris, "configs": "qbits"}, "configs"),
                 ({"data": iris, "configs": {"qbits": []}}, "configs.qbits"),
                 ({"data": iris, "configs": [{}], "concurrency": 0}, "concurrency")]
        for options, field in cases:
            with pytest.raises(ValidationError) as caught:
                client.start_sweep(**options)  # type: ignore[arg-type]
            assert caught.value.field == field, options
            assert "Fix:" in str(caught.value) or caught.value.allowed
        with pytest.raises(ValidationError, match="index"):
            await _finished(client, iris).cancel(99)


def _finished(client: AsyncQcogClient, frame: pd.DataFrame) -> Sweep:
    return client.start_sweep(frame, [{"bogus": 0}])  # all invalid: nothing to train


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
    assert count_rows(server, "training_parameters") == 4  # stored once, however many tries


async def test_train_time_leaves_out_the_wait_for_a_place_on_the_service(
        start_sim: StartSim, iris: pd.DataFrame) -> None:
    server = start_sim(training_workers=1)  # the three trainings run one after another
    async with await client_for(server.url, server.token) as client:
        await client.sweep(iris, {"num_passes": 1})  # the worker started and imported
        sweep = client.start_sweep(iris, {"seed": [1, 2, 3], "num_passes": 60}, concurrency=3,
                                   poll_time=0.05)
        board = await sweep.wait()
    assert list(board["status"]) == ["completed"] * 3, board
    times = [r.train_time_s for r in sweep.rows]
    assert all(t is not None for t in times)
    # same work each: the last one's time is its own, not the two before it as well
    assert max(times) < 1.6 * min(times), times


def test_reattach_by_id_in_a_new_loop(server: SimServer, iris: pd.DataFrame,
                                      sweep_dir: Path) -> None:
    configs = [LONG, {"num_passes": 1}, {"num_passes": 2}]
    models = count_rows(server, "models")

    async def first_kernel() -> tuple[str, str]:
        async with await client_for(server.url, server.token) as client:
            sweep = client.start_sweep(iris, configs, concurrency=1)
            await until(running(sweep, 0))
            # Followed once per process: attaching the live sweep gives the same object.
            assert await client.attach_sweep(sweep.id) is sweep
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


# Another kernel: attaches the sweep through the public client and follows it until its stdin
# closes (the token comes in the environment, never on a command line).
OTHER_KERNEL = """
import asyncio, os, sys
from qwidgets.client import AsyncQcogClient
async def main():
    async with await AsyncQcogClient.create(token=os.environ["QW_TOKEN"],
                                            hostname=sys.argv[2], port=int(sys.argv[3])) as c:
        sweep = await c.attach_sweep(sys.argv[1])
        print("following", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await sweep.detach()
asyncio.run(main())
"""


def test_a_sweep_another_kernel_follows_is_not_attached_twice(
        server: SimServer, iris: pd.DataFrame, sweep_dir: Path) -> None:
    async def started() -> str:
        async with await client_for(server.url, server.token) as client:
            sweep = client.start_sweep(iris, [LONG, {"num_passes": 1}], concurrency=1)
            await until(running(sweep, 0))
            await sweep.detach()
            return sweep.id

    async def attach(sweep_id: str) -> list[str]:
        async with await client_for(server.url, server.token) as client:
            sweep = await client.attach_sweep(sweep_id)
            await sweep.cancel(0)
            await sweep.wait()
            return [r.status for r in sweep.rows]

    sweep_id = asyncio.run(started())
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_KERNEL, sweep_id, server.host, str(server.port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "QW_TOKEN": server.token})
    assert other.stdin is not None
    assert other.stdout is not None
    try:
        assert other.stdout.readline().strip() == "following"
        # Both would start the queued row: refused, naming who follows it.
        with pytest.raises(UsageError, match=f"followed by another process \\(pid {other.pid}"):
            asyncio.run(attach(sweep_id))
    finally:
        other.stdin.close()
        assert other.wait(60) == 0
    # Once that kernel lets go (or dies: the lock goes with its process), this one goes on.
    assert asyncio.run(attach(sweep_id)) == ["cancelled", "completed"]


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
