"""Trainings on the server: progress while training, polls answered meanwhile, and restarts
in the middle of a training (resumed from the last checkpoint, never stuck).

Every server here starts through the ``serve`` fixture, which takes its backend from
``training_backend_factory`` (None: the default process pool). Another backend runs this whole
module by importing it and overriding that one fixture."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qwidgets.sim.server.backend import Backend
from qwidgets.sim.server.store import DB_NAME

from .server_support import Api, linear_frame, quick_params, serving, slow_params

BackendFactory = Callable[[int | None], Backend]
Serve = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def training_backend_factory() -> BackendFactory | None:
    """``factory(training_workers)`` -> the ``Backend`` of each server this module starts;
    None: ``make_app``'s default, a pool of worker processes."""
    return None


@pytest.fixture
def serve(training_backend_factory: BackendFactory | None) -> Serve:
    """``serve(store_dir, **make_app options)``: the real app on loopback, on the module's
    backend (``training_workers`` sizes it)."""

    @asynccontextmanager
    async def serve_one(store_dir: Path, **kwargs: Any) -> AsyncIterator[Api]:
        if training_backend_factory is not None:
            kwargs["training_backend"] = training_backend_factory(
                kwargs.pop("training_workers", None))
        async with serving(store_dir, **kwargs) as api:
            yield api

    return serve_one


def _sql(store_dir: Path, statement: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(store_dir / DB_NAME) as conn:
        return conn.execute(statement, args).fetchall()


async def _poll_until_done(api: Api, guid: str, timeout: float = 120.0
                           ) -> tuple[list[dict[str, Any]], list[float]]:
    """Every answer of GET model/ while training, and how long each took."""
    seen: list[dict[str, Any]] = []
    latencies: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        start = time.perf_counter()
        row = await api.model(guid)
        latencies.append(time.perf_counter() - start)
        seen.append(row)
        if row["status"] not in ("pending", "processing"):
            return seen, latencies
        await asyncio.sleep(0.01)
    raise AssertionError(f"not done after {timeout} s: {seen[-1]}")


async def test_progress_rises_in_integers_and_loss_is_passes_by_batches(
        serve: Serve, tmp_path: Path) -> None:
    async with serve(tmp_path / "s") as api:
        created = await api.start_training(linear_frame(2000), slow_params(3))
        seen, _ = await _poll_until_done(api, created["guid"])
    statuses = [r["status"] for r in seen]
    assert statuses[-1] == "completed"
    assert "processing" in statuses
    # statuses only move forward
    order = {"pending": 0, "processing": 1, "completed": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    completions = [r["training_completion"] for r in seen]
    assert all(isinstance(c, int) for c in completions)
    assert completions == sorted(completions)
    assert len({c for c in completions if 0 < c < 100}) >= 3  # seen rising, not just 0 and 100
    assert all(isinstance(r["current_batch_completion"], int) for r in seen)
    # partial loss rows while training, the full 3 x 8 matrix at the end
    partial = [r["loss"] for r in seen if r["status"] == "processing" and r["loss"]]
    assert partial
    assert all(len(p) <= 3 for p in partial)
    assert np.array(seen[-1]["loss"]).shape == (3, 8)
    last = seen[-1]["progress"]
    assert {k: last[k] for k in ("pass_index", "batch_index", "num_passes", "num_batches")} == {
        "pass_index": 2, "batch_index": 7, "num_passes": 3, "num_batches": 8}
    # the state solver's report of the last batch: every row solved, all converged
    assert (last["solved_rows"], last["unconverged_rows"], last["state_warning"]) == (250, 0, "")


async def test_status_polls_are_answered_while_training(serve: Serve, tmp_path: Path) -> None:
    async with serve(tmp_path / "s") as api:
        created = await api.start_training(linear_frame(2000), slow_params(3))
        await api.wait(created["guid"], until=("processing",))
        latencies: list[float] = []
        while (await api.model(created["guid"]))["status"] == "processing":
            for path in ("status/", f"model/{created['guid']}/"):
                start = time.perf_counter()
                status, _ = await api.call("GET", path)
                latencies.append(time.perf_counter() - start)
                assert status == 200
            await asyncio.sleep(0.01)
    assert len(latencies) >= 20, "the training was too short to measure anything"
    p50 = statistics.median(latencies) * 1000
    p99 = float(np.percentile(latencies, 99)) * 1000
    print(f"\nstatus poll latency while training: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} polls")
    # a poll blocked behind the training would take a whole batch (~0.2 s) or more
    assert p50 < 50
    assert p99 < 250


async def test_restart_mid_training_resumes_from_the_checkpoint(
        serve: Serve, tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    async with serve(store_dir) as api:
        created = await api.start_training(linear_frame(2000), slow_params(4))
        guid = created["guid"]
        await api.wait(guid, until=("processing",))
        deadline = time.monotonic() + 120
        while True:  # past the first pass (checkpointed), before the end
            row = await api.model(guid)
            if row["training_completion"] >= 30 or row["status"] != "processing":
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert row["status"] == "processing", "training ended before the restart"
        first_pass = row["loss"][0]
    # the first server is gone, mid-training: the row says so, with a checkpoint
    [(status, has_checkpoint)] = _sql(
        store_dir, "SELECT status, checkpoint IS NOT NULL FROM models WHERE guid=?", guid)
    assert (status, has_checkpoint) == ("processing", 1)

    async with serve(store_dir) as api:
        done = await api.wait(guid, timeout=120)
    assert done["status"] == "completed"
    assert np.array(done["loss"]).shape == (4, 8)
    # resumed, not restarted: the first pass is the one trained before the restart
    assert done["loss"][0] == first_pass
    [(attempts,)] = _sql(store_dir, "SELECT attempts FROM models WHERE guid=?", guid)
    assert attempts == 1  # a clean shutdown is not held against the training


async def test_restart_with_an_unreadable_checkpoint_trains_from_scratch(
        serve: Serve, tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    async with serve(store_dir) as api:
        guid = (await api.start_training(linear_frame(), quick_params()))["guid"]
        await api.wait(guid)
    # a server that died mid-training with a damaged checkpoint
    _sql(store_dir, "UPDATE models SET status='processing', checkpoint=?, weights=NULL "
         "WHERE guid=?", b"garbage", guid)
    async with serve(store_dir) as api:
        done = await api.wait(guid)
    assert np.array(done["loss"]).shape == (3, 3)


async def test_restart_gives_up_after_repeated_crashes_with_a_reason(
        serve: Serve, tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    async with serve(store_dir) as api:
        guid = (await api.start_training(linear_frame(), quick_params()))["guid"]
        await api.wait(guid)
    # as left by a server killed during its third attempt
    _sql(store_dir, "UPDATE models SET status='processing', attempts=3 WHERE guid=?", guid)
    async with serve(store_dir, max_attempts=3) as api:
        row = await api.wait(guid, until=("failed",))
    assert "giving up" in row["failure_reason"]


async def test_restart_finishes_pending_cancels_and_fails_what_cannot_run(
        serve: Serve, tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    async with serve(store_dir, training_workers=1) as api:
        running = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        queued = (await api.start_training(linear_frame(), quick_params()))["guid"]
        orphan = (await api.start_training(linear_frame(), quick_params()))["guid"]
        await api.wait(running, until=("processing",))
        assert (await api.model(queued))["status"] == "pending"
    _sql(store_dir, "UPDATE models SET status='cancelled_pending' WHERE guid=?", running)
    # the dataset of the third one disappears while the server is down
    _sql(store_dir, "DELETE FROM datasets WHERE guid=(SELECT dataset_guid FROM models "
         "WHERE guid=?)", orphan)
    async with serve(store_dir) as api:
        assert (await api.wait(running, until=("cancelled",)))["status"] == "cancelled"
        assert (await api.wait(queued))["status"] == "completed"
        failed = await api.wait(orphan, until=("failed",))
    assert "dataset" in failed["failure_reason"]
    leftovers = _sql(store_dir, "SELECT guid FROM models WHERE status IN "
                     "('pending', 'processing', 'cancelled_pending')")
    assert leftovers == []


@pytest.mark.parametrize("stage", ["pending", "processing"])
async def test_cancel_while_pending_or_processing(serve: Serve, tmp_path: Path, stage: str) -> None:
    async with serve(tmp_path / "s", training_workers=1) as api:
        blocker = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        target = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        await api.wait(blocker, until=("processing",))
        if stage == "processing":
            await api.call("POST", f"model/{blocker}/cancel/")
            await api.wait(target, until=("processing",))
        assert (await api.model(target))["status"] == stage
        status, body = await api.call("POST", f"model/{target}/cancel/")
        assert status == 200
        assert body["status"] in ("cancelled_pending", "cancelled")
        assert (await api.wait(target, until=("cancelled",)))["status"] == "cancelled"
        await api.call("POST", f"model/{blocker}/cancel/")
        await api.wait(blocker, until=("cancelled",))
