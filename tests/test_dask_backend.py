"""Trainings on a Dask cluster (a two-process LocalCluster): one upload of a dataset serves
several trainings, progress streams back while a worker trains, a cancel stops the work on
the worker, a killed worker's training is retried or failed as with the local pool, and
without ``distributed`` the error says what to install."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .dask_support import require_distributed

require_distributed()

from distributed import Client  # noqa: E402

import qwidgets.sim as sim  # noqa: E402
from qwidgets.client import AsyncQcogClient  # noqa: E402
from qwidgets.sim.engine.training import Progress  # noqa: E402
from qwidgets.sim.server.backend import (  # noqa: E402
    Checkpoint,
    Finished,
    Message,
    Stopped,
    TrainingTask,
    Update,
)
from qwidgets.sim.server.dask_backend import INSTALL_HINT, DaskBackend  # noqa: E402
from qwidgets.sim.server.dask_worker import latest  # noqa: E402
from qwidgets.sim.server.store import namespace  # noqa: E402

from .dask_support import dask_client, dask_cluster  # noqa: E402, F401
from .server_support import TOKEN, linear_frame, quick_params, serving, slow_params  # noqa: E402
from .test_server_embedded import ROOT, request, train_one  # noqa: E402
from .test_server_workers import until_completion  # noqa: E402


class Inbox:
    """What a backend delivers, with when it arrived."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, Message]] = []
        self.changed = threading.Condition()

    def __call__(self, message: Message) -> None:
        with self.changed:
            self.messages.append((time.monotonic(), message))
            self.changed.notify_all()

    def wait_for(self, kind: type, guid: str, timeout: float = 120.0) -> Message:
        with self.changed:
            found = self.changed.wait_for(lambda: self.of(kind, guid), timeout)
            assert found, f"no {kind.__name__} for {guid}: {self.kinds(guid)}"
            return self.of(kind, guid)[-1]

    def of(self, kind: type, guid: str) -> list[Message]:
        return [m for _, m in self.messages if isinstance(m, kind) and m.key[1] == guid]

    def kinds(self, guid: str) -> list[str]:
        return [type(m).__name__ for _, m in self.messages if m.key[1] == guid]


def _task(guid: str, params: dict, dataset: str = "ds", rows: int = 2000) -> TrainingTask:
    frame = linear_frame(rows)
    return TrainingTask(("ns", guid), "pauli", params, dataset, (frame.to_csv(), [0]),
                        progress_interval=0.05)


def _worker_of(client: Client, guid: str) -> str | None:
    """The address of the worker running the training of ``guid``, if one does."""
    for worker, keys in client.processing().items():
        if any(guid in str(key) for key in keys):
            return str(worker)
    return None


async def _running_on(client: Client, guid: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while (worker := await asyncio.to_thread(_worker_of, client, guid)) is None:
        assert time.monotonic() < deadline, f"{guid} never ran on a worker"
        await asyncio.sleep(0.05)
    return worker


def _kill(client: Client, worker: str) -> int:
    pid = int(client.run(os.getpid, workers=[worker])[worker])
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.fixture
def whole(dask_client: Client) -> Client:  # noqa: F811
    """The cluster with both workers (a test before may have killed one)."""
    dask_client.wait_for_workers(2, timeout=60)
    return dask_client


def test_progress_streams_back_while_the_worker_trains(whole: Client) -> None:
    backend = DaskBackend(whole)
    inbox = Inbox()
    backend.start(inbox)
    try:
        assert backend.slots == 2
        backend.run(_task("slow", slow_params(3)))
        deadline = time.monotonic() + 120
        while (worker := _worker_of(whole, "slow")) is None:
            assert time.monotonic() < deadline, "the training never ran"
            time.sleep(0.02)
        finished = inbox.wait_for(Finished, "slow")
    finally:
        backend.shutdown()
    # its rows ran on its share of the machine's cores, as in the local pool (two worker
    # threads on this machine)
    threads, cores = whole.run(row_threads, workers=[worker])[worker]
    assert threads == max(1, cores // 2)
    arrivals = [(t, m) for t, m in inbox.messages if m.key[1] == "slow"]
    updates = [(t, m) for t, m in arrivals if isinstance(m, Update)]
    # streamed: many updates, the first long before the end; the terminal message comes last
    assert len(updates) >= 5
    assert arrivals[-1][1] is finished
    assert updates[0][0] < arrivals[-1][0] - 0.5
    completions = [m.progress.training_completion for _, m in updates]
    assert completions == sorted(completions)
    assert completions[-1] == 100
    # one a pass; the last one may travel with the result, which supersedes it
    assert len(inbox.of(Checkpoint, "slow")) in (2, 3)
    assert isinstance(finished, Finished)
    assert np.array(finished.loss).shape == (3, 8)


def test_two_trainings_of_one_dataset_run_on_two_workers(whole: Client) -> None:
    # Dask puts a task where its inputs are: left alone, both would queue on the one worker
    # holding the scattered dataset while the other idles
    backend = DaskBackend(whole)
    inbox = Inbox()
    backend.start(inbox)
    try:
        for guid in ("left", "right"):
            backend.run(_task(guid, slow_params(2), dataset="spread"))
        deadline = time.monotonic() + 120
        while None in (workers := [_worker_of(whole, g) for g in ("left", "right")]):
            assert not inbox.of(Finished, "left") + inbox.of(Finished, "right"), \
                "the two trainings ran one after the other"
            assert time.monotonic() < deadline, f"not both running: {workers}"
            time.sleep(0.02)
        assert workers[0] != workers[1], f"both trainings were put on {workers[0]}"
    finally:
        backend.shutdown()


def test_a_batch_of_messages_keeps_the_latest_of_each_kind_in_order() -> None:
    key = ("ns", "g")
    progress = [Progress(pass_index=0, batch_index=b, num_passes=1, num_batches=3, loss=0.5,
                         training_completion=100 * (b + 1) // 3, current_batch_completion=100)
                for b in range(3)]
    first, second, last = (Update(key, p, [[0.5] * (i + 1)]) for i, p in enumerate(progress))
    checkpoints = [Checkpoint(key, bytes([i]), [[0.5]]) for i in range(2)]
    result = Finished(key, b"model", [[0.5]])
    assert latest([first, checkpoints[0], second, checkpoints[1]]) == [second, checkpoints[1]]
    assert latest([first, checkpoints[0], last, checkpoints[1], result]) == [last, result]
    assert latest([checkpoints[0], first]) == [checkpoints[0], first]
    assert latest([]) == []


async def test_one_dataset_is_sent_once_for_several_trainings(
        whole: Client, tmp_path: Path) -> None:
    backend = DaskBackend(whole)
    async with serving(tmp_path / "s", training_backend=backend) as api:
        dataset = await api.dataset(linear_frame())
        other = await api.dataset(linear_frame(seed=8))
        guids = []
        for ds, lr in ((dataset, 0.05), (dataset, 0.1), (dataset, 0.2), (other, 0.1)):
            params = quick_params(weight_optimization_kwargs={
                "optimization_method": "GRAD", "iterations": 2, "learning_rate": lr})
            tp = await api.training_parameters(params)
            status, body = await api.call("POST", "model/", json={
                "training_parameters_guid": tp, "dataset_guid": ds,
                "qcog_version": "0.0.123"})
            assert status == 200, body
            guids.append(body["guid"])
        rows = [await api.wait(g) for g in guids]
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert backend.datasets_sent == 2  # one scatter per dataset, not per training
    # different learning rates, same data: really four trainings
    assert len({str(r["loss"]) for r in rows}) == 4


async def test_cancel_stops_the_work_on_the_worker_which_then_trains_the_next(
        whole: Client, tmp_path: Path) -> None:
    pids = whole.run(os.getpid)
    backend = DaskBackend(whole, max_slots=1)
    async with serving(tmp_path / "s", training_backend=backend) as api:
        running = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        after = (await api.start_training(linear_frame(), quick_params()))["guid"]
        worker = await _running_on(whole, running)
        await api.wait(running, until=("processing",))
        start = time.perf_counter()
        status, body = await api.call("POST", f"model/{running}/cancel/")
        assert (status, body["status"]) == (200, "cancelled_pending")
        await api.wait(running, until=("cancelled",))
        print(f"\ncancel to cancelled on a Dask worker: "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        assert (await api.wait(after))["status"] == "completed"
        # the work itself stopped: the worker holds no training, and was not restarted
        assert await asyncio.to_thread(_worker_of, whole, running) is None
        assert whole.processing()[worker] == ()
    assert whole.run(os.getpid) == pids


async def test_a_killed_worker_loses_the_training_which_resumes_elsewhere(
        whole: Client, tmp_path: Path) -> None:
    backend = DaskBackend(whole)
    async with serving(tmp_path / "s", training_backend=backend, max_attempts=3) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(4)))["guid"]
        worker = await _running_on(whole, guid)
        row = await until_completion(api, guid, 30)  # past the first pass: checkpointed
        first_pass = row["loss"][0]
        await asyncio.to_thread(_kill, whole, worker)
        done = await api.wait(guid)
    assert np.array(done["loss"]).shape == (4, 8)
    assert done["loss"][0] == first_pass  # resumed from the checkpoint, not restarted


async def test_a_training_whose_worker_dies_every_time_fails_with_the_reason(
        whole: Client, tmp_path: Path) -> None:
    backend = DaskBackend(whole)
    async with serving(tmp_path / "s", training_backend=backend, max_attempts=2) as api:
        guid = (await api.start_training(linear_frame(2000), slow_params(1000)))["guid"]
        killed: set[str] = set()
        for _ in range(2):
            await api.wait(guid, until=("processing",))
            worker = await _running_on(whole, guid)
            await asyncio.to_thread(_kill, whole, worker)
            killed.add(worker)
            deadline = time.monotonic() + 60  # until the server has seen the loss
            while (await api.model(guid))["status"] == "processing" and \
                    await asyncio.to_thread(_worker_of, whole, guid) in (worker, None):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        failed = await api.wait(guid, until=("failed",))
        await asyncio.to_thread(whole.wait_for_workers, 2, 60)
        again = (await api.start_training(linear_frame(), quick_params()))["guid"]
        assert (await api.wait(again))["status"] == "completed"
    reason = failed["failure_reason"]
    assert "Dask" in reason
    assert "giving up" in reason
    assert "batch_size" in reason


async def test_start_with_dask_trains_through_the_public_client(
        whole: Client, dask_cluster: str) -> None:  # noqa: F811
    with sim.start(dask=dask_cluster, training_workers=2) as server:
        client = await AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                              port=server.port)
        async with client:
            await client.data(linear_frame())
            client.pauli(["x", "y", "z"], qbits=2)
            await client.train(batch_size=100, num_passes=3)
            await client.wait_for_training(poll_time=0.05, timeout=120)
            progress = await client.progress()
            loss = await client.loss()
    assert progress["status"] == "completed"
    assert np.array(loss).shape == (3, 3)
    # the server's own client is gone with it; the cluster is not
    assert whole.status == "running"
    assert len(whole.nthreads()) == 2


def test_serve_dask_runs_the_trainings_on_the_cluster(
        whole: Client, dask_cluster: str, tmp_path: Path) -> None:  # noqa: F811
    tokens = tmp_path / "tokens"
    tokens.write_text("classroom-token-1\n")
    tokens.chmod(0o600)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwidgets.sim", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "d"), "--token-file", str(tokens), "--dask", dask_cluster],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"trainings on the Dask cluster at {dask_cluster}" in banner, banner
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # the banner comes before the port is bound
        while True:
            try:
                assert request(url + "/api/v1/status/", "classroom-token-1")[0] == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.1)
        guid = train_one(url, "classroom-token-1")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    history = whole.run_on_scheduler(scheduler_history)
    assert [key for key in history if guid in key]  # it ran there, not in a local pool


def row_threads() -> tuple[int, int]:
    from qwidgets.sim.engine import parts

    return parts.threads(), parts.cores()


def scheduler_history(dask_scheduler: Any) -> list[str]:
    return [str(transition[0]) for transition in dask_scheduler.transition_log]


def test_shutdown_stops_what_runs_and_leaves_a_given_client_open(whole: Client) -> None:
    backend = DaskBackend(whole)
    inbox = Inbox()
    backend.start(inbox)
    backend.run(_task("long", slow_params(1000)))
    inbox.wait_for(Update, "long")
    backend.shutdown()
    assert inbox.kinds("long")[-1] == "Stopped"
    assert len(inbox.of(Stopped, "long")) == 1
    assert whole.status == "running"
    backend.shutdown()  # again: nothing left to do


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"dask: cannot reach the Dask scheduler at "
                                         r"'tcp://127\.0\.0\.1:9'.*dask scheduler"):
        DaskBackend("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(ValueError, match="max_slots"):
        DaskBackend("tcp://127.0.0.1:9", max_slots=0)


def test_without_distributed_the_error_names_the_extra(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "qwidgets\[dask\]"'):
        DaskBackend("tcp://127.0.0.1:8786")
    with pytest.raises(ImportError, match=r'pip install "qwidgets\[dask\]"'):
        sim.start(dask="tcp://127.0.0.1:8786", data_dir=tmp_path / "d")
    assert INSTALL_HINT == 'pip install "qwidgets[dask]"'


def test_serve_without_distributed_exits_with_the_hint(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['distributed'] = None; "
    run = "from qwidgets.sim.server.cli import main; raise SystemExit(main())"
    done = subprocess.run(
        [sys.executable, "-c", hide + run, "serve", "--dask", "tcp://127.0.0.1:8786",
         "--data-dir", str(tmp_path / "d"), "--token", "t" * 20],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert 'error: --dask: ' in done.stderr
    assert 'pip install "qwidgets[dask]"' in done.stderr


def test_the_namespace_never_names_a_dask_key(whole: Client) -> None:
    backend = DaskBackend(whole)
    inbox = Inbox()
    backend.start(inbox)
    ns = namespace(TOKEN)
    frame = linear_frame()
    try:
        backend.run(TrainingTask((ns, "g"), "pauli", slow_params(1000), "ds",
                                 (frame.to_csv(), [0])))
        inbox.wait_for(Update, "g")
        keys = [str(k) for k in whole.run_on_scheduler(scheduler_keys)]
    finally:
        backend.shutdown()
    assert [k for k in keys if "-g-" in k]  # the training's own key is there
    assert not [k for k in keys if ns in k or TOKEN in k]


def scheduler_keys(dask_scheduler: Any) -> list[object]:
    return list(dask_scheduler.tasks)
