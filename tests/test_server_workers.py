"""Trainings in worker processes: they run outside the server's process, a cancel reaches
them, a killed worker is replaced and its training retried (or failed with the reason), the
token queues are served in turn, and no worker outlives its server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from qwidgets.sim.engine import parts
from qwidgets.sim.server import limits
from qwidgets.sim.server.backend import Checkpoint, Key, Stopped, TrainingTask, Update
from qwidgets.sim.server.limits import Quotas, ServerLimits
from qwidgets.sim.server.pool_worker import DatasetCache
from qwidgets.sim.server.process_pool import ProcessPool
from qwidgets.sim.server.store import namespace

from .server_support import (
    OTHER_TOKEN,
    Api,
    b64_frame,
    linear_frame,
    quick_params,
    serving,
    slow_params,
)

ROOMY = ServerLimits(quotas=Quotas(max_active_trainings=20))


class RecordingPool(ProcessPool):
    """The real pool, noting the order in which the scheduler hands it tasks."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.started: list[Key] = []

    def run(self, task: TrainingTask) -> None:
        self.started.append(task.key)
        super().run(task)


async def _running_pid(pool: ProcessPool, key: Key, not_in: Collection[int] = (),
                       timeout: float = 120.0) -> int:
    """The pid of the worker running ``key`` (one not in ``not_in``)."""
    deadline = time.monotonic() + timeout
    while (pid := pool.running().get(key)) is None or pid in not_in:
        assert time.monotonic() < deadline, f"{key} never ran on a new worker"
        await asyncio.sleep(0.02)
    return pid


async def until_completion(api: Api, guid: str, percent: int) -> dict[str, Any]:
    """The model's row once its training reached ``percent`` (still running, or done)."""
    deadline = time.monotonic() + 120
    while (row := await api.model(guid))["training_completion"] < percent:
        assert row["status"] in ("pending", "processing"), row
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    return row


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_trainings_run_in_lower_priority_worker_processes(tmp_path: Path) -> None:
    pool = ProcessPool(2)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        await api.wait(guid, until=("processing",))
        pid = await _running_pid(pool, (_ns(api), guid))
        workers = pool.worker_pids()
        assert len(workers) == 2
        assert pid != os.getpid()
        assert pid in workers
        worker = psutil.Process(pid)
        assert worker.ppid() == os.getpid()
        deadline = time.monotonic() + 30  # it lowers its priority first thing once it runs
        while worker.nice() <= psutil.Process().nice():
            assert time.monotonic() < deadline, "the worker runs at the server's priority"
            await asyncio.sleep(0.05)
        await api.call("POST", f"model/{guid}/cancel/")
        await api.wait(guid, until=("cancelled",))
    assert all(_gone(p) for p in workers), "a worker outlived its server"


async def test_a_server_that_never_trains_starts_no_worker(tmp_path: Path) -> None:
    before = set(psutil.Process().children(recursive=True))
    async with serving(tmp_path / "s", training_workers=2) as api:  # the default backend
        await api.dataset(linear_frame())
        await api.training_parameters(quick_params())
        assert (await api.call("GET", "status/"))[0] == 200
        started = set(psutil.Process().children(recursive=True)) - before
        assert started == set(), f"worker processes before any training: {started}"


async def test_the_first_training_starts_every_worker_and_completes(tmp_path: Path) -> None:
    pool = ProcessPool(2)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        assert (pool.slots, pool.worker_pids()) == (2, [])
        guid = (await api.start_training(linear_frame(), quick_params()))["guid"]
        assert (await api.wait(guid))["status"] == "completed"
        workers = pool.worker_pids()
        assert len(workers) == 2
        assert set(workers) <= {c.pid for c in psutil.Process().children()}
    assert all(_gone(p) for p in workers)


async def test_a_warm_pool_starts_its_workers_with_the_server(tmp_path: Path) -> None:
    # what the notebooks' embedded server and `serve` use: the first training must not wait
    # seconds for the workers' imports
    pool = ProcessPool(2, warm=True)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        workers = pool.worker_pids()
        assert len(workers) == 2  # before any training
        guid = (await api.start_training(linear_frame(), quick_params()))["guid"]
        assert (await api.wait(guid))["status"] == "completed"
        assert pool.worker_pids() == workers  # those workers trained it
    assert all(_gone(p) for p in workers)


# A kernel: its server's workers start with it; an interrupt (SIGINT) only stops a cell.
KERNEL = """
import signal, sys
import qwidgets.sim as sim
signal.signal(signal.SIGINT, lambda *_: None)
with sim.start(warm_workers=True, training_workers=1, data_dir=sys.argv[1]):
    print("up", flush=True)
    sys.stdin.read()
"""


def test_interrupting_the_kernel_leaves_its_training_workers_running(tmp_path: Path) -> None:
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, str(tmp_path / "s")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)  # as Jupyter starts kernels
    assert kernel.stdin is not None
    assert kernel.stdout is not None
    try:
        assert kernel.stdout.readline().strip() == "up"
        deadline = time.monotonic() + 30
        while not (workers := [p for p in psutil.Process(kernel.pid).children()
                               if "pool_worker" in " ".join(p.cmdline())]):
            assert time.monotonic() < deadline, "the warm server started no worker"
            time.sleep(0.05)
        time.sleep(1.0)  # past its imports
        os.killpg(kernel.pid, signal.SIGINT)  # JupyterLab's interrupt button
        time.sleep(1.0)
        assert all(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        kernel.stdin.close()
        assert kernel.wait(60) == 0
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


async def test_shutdown_during_the_workers_start_leaves_nothing(tmp_path: Path) -> None:
    before = set(psutil.Process().children(recursive=True))
    pool = ProcessPool(2)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        deadline = time.monotonic() + 60
        while not pool.worker_pids():  # still importing numpy: leave now
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
    started = set(psutil.Process().children(recursive=True)) - before
    assert started == set(), f"left behind: {started}"
    async with serving(tmp_path / "s", training_backend=ProcessPool(1)) as api:
        # interrupted before it began: resumed by the next server
        assert (await api.wait(guid, until=("processing",)))["status"] == "processing"
        await api.call("POST", f"model/{guid}/cancel/")
        await api.wait(guid, until=("cancelled",))


def test_a_shutdown_racing_the_first_run_leaves_no_worker() -> None:
    """Straight on the pool: ``run`` on the scheduler's thread while the server stops."""
    frame = linear_frame()
    task = TrainingTask(("ns", "m"), "pauli", quick_params(), "d", (frame.to_csv(), [0]))
    before = set(psutil.Process().children(recursive=True))
    for pause in (0.0, 0.001, 0.01, 0.05):
        pool = ProcessPool(2)
        ends: list[object] = []
        pool.start(ends.append)
        runner = threading.Thread(target=_run_or_refused, args=(pool, task, ends))
        runner.start()
        time.sleep(pause)
        pool.shutdown()
        runner.join(30)
        assert pool.worker_pids() == []
        left = set(psutil.Process().children(recursive=True)) - before
        assert left == set(), f"left behind after a shutdown {pause} s into the start: {left}"
        # refused, or begun and then stopped by the shutdown: never lost, never silent
        [end] = [m for m in ends if not isinstance(m, Update | Checkpoint)]
        assert isinstance(end, _Refused | Stopped), end


def _run_or_refused(pool: ProcessPool, task: TrainingTask, ends: list[object]) -> None:
    try:
        pool.run(task)
    except RuntimeError:
        ends.append(_Refused())


class _Refused:
    pass


async def test_cancel_reaches_the_worker_which_then_takes_the_next_training(
        tmp_path: Path) -> None:
    pool = ProcessPool(1)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        running = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        after = (await api.start_training(linear_frame(), quick_params()))["guid"]
        await api.wait(running, until=("processing",))
        start = time.perf_counter()
        status, body = await api.call("POST", f"model/{running}/cancel/")
        assert (status, body["status"]) == (200, "cancelled_pending")
        await api.wait(running, until=("cancelled",))
        print(f"\ncancel to cancelled: {(time.perf_counter() - start) * 1000:.0f} ms")
        assert (await api.wait(after))["status"] == "completed"
        # stopped between two chunks, or killed past the grace and replaced: one worker still
        [worker] = pool.worker_pids()
        assert psutil.Process(worker).is_running()


async def test_a_killed_worker_is_replaced_and_its_training_resumes(tmp_path: Path) -> None:
    pool = ProcessPool(1)
    async with serving(tmp_path / "s", training_backend=pool, max_attempts=3) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(4)))["guid"]
        pid = await _running_pid(pool, (_ns(api), guid))
        row = await until_completion(api, guid, 30)  # past the first pass: checkpointed
        first_pass = row["loss"][0]
        os.kill(pid, signal.SIGKILL)
        done = await api.wait(guid)
        [replacement] = pool.worker_pids()  # the pool is whole again
        assert replacement != pid
        assert psutil.Process(replacement).is_running()
        assert (await api.model(guid))["status"] == "completed"
    assert np.array(done["loss"]).shape == (4, 8)
    assert done["loss"][0] == first_pass  # resumed from the checkpoint, not restarted


async def test_a_training_whose_worker_dies_every_time_fails_with_the_reason(
        tmp_path: Path) -> None:
    pool = ProcessPool(1)
    async with serving(tmp_path / "s", training_backend=pool, max_attempts=2) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        killed: set[int] = set()
        for _ in range(2):
            pid = await _running_pid(pool, (_ns(api), guid), not_in=killed)
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        failed = await api.wait(guid, until=("failed",))
        # the pool is whole again and takes new work
        assert len(pool.worker_pids()) == 1
        assert (await api.wait((await api.start_training(linear_frame(), quick_params()))
                               ["guid"]))["status"] == "completed"
    reason = failed["failure_reason"]
    assert "worker process" in reason
    assert "SIGKILL" in reason
    assert "giving up" in reason
    assert "batch_size" in reason  # what to do about it


async def test_a_lone_token_waits_at_most_one_slot_behind_a_busy_one(tmp_path: Path) -> None:
    pool = RecordingPool(1)
    async with serving(tmp_path / "s", training_backend=pool, limits=ROOMY) as api:
        busy = [(await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
                for _ in range(6)]
        await api.wait(busy[0], until=("processing",))
        started_before = len(pool.started)
        lone = (await api.start_training(linear_frame(2000), slow_params(1000),
                                         token=OTHER_TOKEN))["guid"]
        await api.call("POST", f"model/{busy[0]}/cancel/")
        other = Api(api.client, OTHER_TOKEN)
        await other.wait(lone, until=("processing",))
        waited = [k[1] for k in pool.started].index(lone) - started_before
        assert waited <= 1
        assert [(await api.model(g))["status"] for g in busy[1:]] == ["pending"] * 5
        for guid in busy:
            await api.call("POST", f"model/{guid}/cancel/")
        await other.call("POST", f"model/{lone}/cancel/")
        await other.wait(lone, until=("cancelled",))


async def test_a_token_runs_no_more_than_its_limit_at_once(tmp_path: Path) -> None:
    bounds = ServerLimits(quotas=Quotas(max_active_trainings=20, max_running_trainings=1))
    async with serving(tmp_path / "s", training_backend=ProcessPool(2), limits=bounds) as api:
        first, second = [(await api.start_training(linear_frame(2000), slow_params(1000)))
                         ["guid"] for _ in range(2)]
        await api.wait(first, until=("processing",))
        other = Api(api.client, OTHER_TOKEN)
        lone = (await other.start_training(linear_frame(), slow_params(1000)))["guid"]
        # the free slot went to the other token, though this token's second came first
        await other.wait(lone, until=("processing",))
        assert (await api.model(second))["status"] == "pending"
        await api.call("POST", f"model/{first}/cancel/")
        await api.wait(second, until=("processing",))
        await api.call("POST", f"model/{second}/cancel/")
        await other.call("POST", f"model/{lone}/cancel/")
        await other.wait(lone, until=("cancelled",))


async def test_a_sweep_on_one_dataset_sends_it_once_per_worker(tmp_path: Path) -> None:
    pool = ProcessPool(1)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        dataset = await api.dataset(linear_frame())
        sweep = [quick_params(num_passes=n) for n in (1, 2, 3)]
        guids = [await _model_on(api, dataset, params) for params in sweep]
        rows = [await api.wait(g) for g in guids]
    assert [np.array(r["loss"]).shape for r in rows] == [(1, 3), (2, 3), (3, 3)]
    assert pool.datasets_sent == 1


async def test_a_worker_keeps_its_last_datasets_and_is_sent_the_others_again(
        tmp_path: Path) -> None:
    pool = ProcessPool(1)
    keep = DatasetCache().max_entries
    async with serving(tmp_path / "s", training_backend=pool) as api:
        datasets = [await api.dataset(linear_frame(seed=s)) for s in range(keep + 1)]
        # the first falls out of the worker's cache once the last is sent; the second stays
        order = [*datasets, datasets[-2], datasets[0]]
        for dataset in order:
            assert (await api.wait(await _model_on(api, dataset, quick_params())))[
                "status"] == "completed"
    assert pool.datasets_sent == keep + 2


def test_the_dataset_cache_drops_the_least_recently_used() -> None:
    cache = DatasetCache(max_entries=2, max_bytes=100)
    assert cache.add(("ns", "a"), 10) == []
    assert cache.add(("ns", "b"), 10) == []
    cache.use(("ns", "a"))
    assert cache.add(("ns", "c"), 10) == [("ns", "b")]
    assert cache.add(("ns", "d"), 95) == [("ns", "a"), ("ns", "c")]  # too many bytes
    assert cache.add(("ns", "e"), 500) == [("ns", "d")]  # the newest stays, however large
    assert ("ns", "e") in cache


async def _model_on(api: Api, dataset: str, params: dict[str, Any]) -> str:
    body = {"training_parameters_guid": await api.training_parameters(params),
            "dataset_guid": dataset, "qcog_version": "0.0.123"}
    status, created = await api.call("POST", "model/", json=body)
    assert status == 200, created
    return str(created["guid"])


async def test_shutdown_leaves_the_training_resumable_and_no_worker(tmp_path: Path) -> None:
    pool = ProcessPool(2)
    async with serving(tmp_path / "s", training_backend=pool) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        await api.wait(guid, until=("processing",))
        workers = pool.worker_pids()
    assert all(_gone(p) for p in workers)
    async with serving(tmp_path / "s", training_backend=ProcessPool(1)) as api:
        assert (await api.wait(guid, until=("processing",)))["status"] == "processing"
        await api.call("POST", f"model/{guid}/cancel/")
        await api.wait(guid, until=("cancelled",))


SERVER_SCRIPT = """
import json, sys, time, urllib.request
from qwidgets.sim import start
server = start(data_dir=sys.argv[1], training_workers=2)
def post(path, body):
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}/", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["guid"]
dataset, parameters = json.loads(open(sys.argv[2]).read())
post("model", {"training_parameters_guid": post("training_parameters", parameters),
               "dataset_guid": post("dataset", dataset), "qcog_version": "0.0.123"})
print(json.dumps({"training": True}), flush=True)
time.sleep(600)
"""


def test_workers_exit_when_their_server_is_killed(tmp_path: Path) -> None:
    dataset = {"format": "dataframe", "source": "client", "project_guid": None,
               "data": b64_frame(linear_frame(2000))}
    parameters = {"model": "pauli", "parameters": slow_params(1000)}
    bodies = tmp_path / "bodies.json"
    bodies.write_text(json.dumps([dataset, parameters]))
    server = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(tmp_path / "s"),
                               str(bodies)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert json.loads(server.stdout.readline()) == {"training": True}
        deadline = time.monotonic() + 60  # the training starts them, on the server's thread
        while len(workers := psutil.Process(server.pid).children()) < 2:
            assert time.monotonic() < deadline, f"workers: {workers}"
            time.sleep(0.01)
        assert len(workers) == 2
    finally:
        server.kill()
        server.wait()
    # their command pipe closes with the server: they exit on their own, nobody kills them
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []


def test_row_threads_knob() -> None:
    try:
        parts.set_threads(1)
        assert parts.threads() == 1
        parts.set_threads(None)
        assert parts.threads() == parts.cores()
    finally:
        parts.set_threads(None)
    with pytest.raises(ValueError, match="threads"):
        parts.set_threads(0)


def test_running_limit_option_and_its_check() -> None:
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    args = parser.parse_args(["--max-running-trainings", "2"])
    assert limits.from_arguments(args, 1 << 20).quotas.max_running_trainings == 2
    assert limits.from_arguments(parser.parse_args([]), 1 << 20).quotas \
        .max_running_trainings is None
    with pytest.raises(ValueError, match="max_running_trainings"):
        ServerLimits(quotas=Quotas(max_running_trainings=0))


def _ns(api: Api) -> str:
    return namespace(api.token)
