"""TrainingMonitor against the real simulator on loopback: a training seen to completion with the
server's loss history, a real server-side cancel, reattaching by guid, errors, throttled
messages counted at the comm, min/max decimation, and a kernel loop that stays free."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pandas as pd
import pytest

from qwidgets.client import AsyncQcogClient, UsageError
from qwidgets.errors import ValidationError
from qwidgets.widgets.decimate import bucket_width, minmax
from qwidgets.widgets.loss_history import LossHistory
from qwidgets.widgets.monitor import TrainingMonitor
from tests.client_support import client_for
from tests.fault_proxy import Fault, FaultProxy
from tests.widget_support import Wire, until

GRAD = {"optimization_method": "GRAD", "iterations": 2, "learning_rate": 0.1}
EIGH = {"state_method": "NP_EIGH"}


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


def frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df


async def quick_training(client: AsyncQcogClient, passes: int = 5) -> str:
    client.pauli(["x", "y", "z"], qbits=2, pauli_weight=2)
    await client.data(frame(400))
    await client.train(100, passes, GRAD, EIGH)
    assert client.model_guid is not None
    return client.model_guid


async def slow_training(client: AsyncQcogClient, passes: int = 300) -> str:
    """Seconds per pass (32-dim Hilbert space, 2,000 rows in 8 batches): runs until cancelled."""
    client.pauli(["x", "y", "z"], qbits=5, pauli_weight=2)
    await client.data(frame(2_000))
    await client.train(250, passes, GRAD, EIGH)
    assert client.model_guid is not None
    return client.model_guid


def f32(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


# ------------------------------------------------------------------ real trainings


async def test_training_reaches_completed_with_the_servers_loss(client):
    await quick_training(client, passes=5)
    monitor = TrainingMonitor(client)
    wire = Wire(monitor)
    assert monitor.task is not None  # polling runs on this loop as one task
    status = await asyncio.wait_for(monitor.wait(), 120)
    assert status == monitor.status == "completed"
    assert monitor.task is None  # ended by itself
    assert monitor.training_completion == 100
    assert (monitor.num_passes, monitor.num_batches) == (5, 4)
    truth = await client.loss()
    assert len(truth) == 5
    assert monitor.loss_matrix() == truth
    assert monitor.loss == pytest.approx(truth[-1][-1])
    assert monitor.history.pass_ends == [4, 8, 12, 16, 20]
    # what the browser got: every value (short history: no decimation), and the pass means
    np.testing.assert_allclose(f32(monitor._batch_y), np.ravel(truth), rtol=1e-6)
    np.testing.assert_array_equal(f32(monitor._batch_x), np.arange(20))
    np.testing.assert_allclose(f32(monitor._pass_y), np.mean(truth, axis=1), rtol=1e-6)
    assert monitor._points == 20
    assert not monitor._can_cancel
    assert "status: completed" in [e["text"] for e in monitor.events]
    assert wire.updates()[-1].get("status") == "completed"
    static = monitor.static_html()
    assert "completed" in static
    assert "<svg" in static
    assert "100% complete" in static
    # Cancel after the end: the server refuses, and the widget says why
    monitor._requests.receive({"id": "late", "kind": "stop_training"}, [])
    await until(lambda: any(r["id"] == "late" for r in wire.replies()), what="reply")
    reply = next(r for r in wire.replies() if r["id"] == "late")
    assert not reply["ok"]
    assert "already completed" in reply["error"]
    assert "cancel failed" in monitor.events[-1]["text"]
    assert monitor.events[-1]["level"] == "error"
    figure = monitor.figure()
    assert len(figure.data[0].y) == 20
    assert len(figure.data[1].y) == 5


async def test_cancel_from_the_browser_cancels_on_the_server(server, client):
    guid = await slow_training(client)
    monitor = TrainingMonitor(client, poll_interval=0.1)
    wire = Wire(monitor)
    await until(lambda: monitor.status == "processing", what="processing")
    assert monitor._can_cancel
    # the message the Cancel button sends, through the widget's own request routing
    monitor._requests.receive({"id": "stop-1", "kind": "stop_training"}, [])
    status = await asyncio.wait_for(monitor.wait(), 60)
    assert status == monitor.status == "cancelled"
    reply = next(r for r in wire.replies() if r["id"] == "stop-1")
    assert reply["ok"]
    assert reply["result"]["status"] in ("cancelled_pending", "cancelled")
    async with await client_for(server.url, server.token) as other:  # the server's own word
        await other.preloaded_model(guid)
        assert await other.status() == "cancelled"
        server_loss = await other.loss()
    assert len(server_loss) < 300
    assert monitor.loss_matrix() == server_loss
    # a pass cut short by the cancel is not averaged as if it were whole
    assert all(end % 8 == 0 for end in monitor.history.pass_ends)
    texts = [e["text"] for e in monitor.all_events]
    assert "cancel requested" in texts
    assert "status: cancelled" in texts
    assert not monitor._can_cancel


async def test_reattach_by_guid_with_a_new_client(server):
    async with await client_for(server.url, server.token) as first:
        guid = await quick_training(first, passes=4)
    # as after a kernel restart: only the guid survives
    async with await client_for(server.url, server.token) as second:
        monitor = TrainingMonitor.attach(guid, client=second)
        assert monitor.model_guid == guid
        assert monitor.status == "connecting"
        assert await asyncio.wait_for(monitor.wait(), 120) == "completed"
        assert monitor.client is second
        assert second.model_guid == guid
        assert monitor.loss_matrix() == await second.loss()
        assert len(monitor.loss_matrix()) == 4


async def test_failed_training_shows_its_reason(client):
    client.pauli(["x", "y", "z"])
    await client.data(frame(400))
    await client.train(100, 3, {"optimization_method": "GRAD", "iterations": 10,
                                "learning_rate": 1e300}, {"state_method": "EIGH"})
    monitor = TrainingMonitor(client)
    assert await asyncio.wait_for(monitor.wait(), 120) == "failed"
    assert "learning_rate" in monitor.failure_reason
    errors = [e["text"] for e in monitor.events if e["level"] == "error"]
    assert any("learning_rate" in text for text in errors)
    assert "learning_rate" in monitor.static_html()


async def test_lost_connection_shows_then_recovers(server):
    proxy = FaultProxy(server.url)
    try:
        async with await client_for(proxy.url, server.token) as client:
            guid = await quick_training(client, passes=3)
            # two polls fail (each after six attempts), the third gets through
            proxy.add(Fault("503", "GET", f"model/{guid}", times=12))
            monitor = TrainingMonitor(client, poll_interval=0.02, max_interval=0.05)
            wire = Wire(monitor)
            assert await asyncio.wait_for(monitor.wait(), 60) == "completed"
            shown = [u["error"] for u in wire.updates() if u.get("error")]
            assert shown
            assert "lost connection" in shown[0]
            assert "503" in shown[0]
            assert monitor.error == ""  # cleared once the service answered
            texts = [e["text"] for e in monitor.events]
            assert "connection back" in texts
            assert any("lost connection" in t for t in texts)

            # five failed polls in a row: the monitor gives up, and start() tries again
            guid = await quick_training(client, passes=3)
            proxy.add(Fault("503", "GET", f"model/{guid}", times=30))
            monitor = TrainingMonitor(client, poll_interval=0.02, max_interval=0.05)
            assert await asyncio.wait_for(monitor.wait(), 60) == "disconnected"
            assert "lost connection" in monitor.error
            assert "monitor.start()" in monitor.error
            assert not monitor._can_cancel
            monitor.start()  # the faults are used up: the service answers again
            assert await asyncio.wait_for(monitor.wait(), 60) == "completed"
            assert monitor.error == ""
    finally:
        proxy.stop()


async def test_other_work_runs_while_the_monitor_polls(server, client):
    await slow_training(client)
    monitor = TrainingMonitor(client, poll_interval=0.05, max_interval=0.1)
    try:
        await until(lambda: monitor.status == "processing", what="processing")
        before = monitor.polls

        async def other_cell() -> str:  # what a user does in the next cell
            await asyncio.sleep(0.5)
            async with await client_for(server.url, server.token) as other:
                await other.preloaded_model(monitor.model_guid)
                return await other.status()

        assert await asyncio.wait_for(other_cell(), 30) == "processing"
        assert monitor.polls > before  # both made progress on the one loop
        assert monitor.task is not None
        assert not monitor.task.done()
    finally:
        assert await monitor.cancel() in ("cancelled_pending", "cancelled")
        assert await asyncio.wait_for(monitor.wait(), 60) == "cancelled"


def test_without_a_running_loop_wait_runs_the_polling(server):
    async def train() -> AsyncQcogClient:
        client = await client_for(server.url, server.token)
        await quick_training(client, passes=3)
        await client.close()  # its connections die with this loop; the next loop opens new ones
        return client

    client = asyncio.run(train())
    monitor = TrainingMonitor(client)  # a plain script: no loop to poll on yet
    assert monitor.task is None
    assert "await monitor.wait()" in monitor.all_events[-1]["text"]
    with pytest.raises(UsageError, match=r"await monitor\.wait\(\)"):
        monitor.start()

    async def finish() -> str:
        try:
            return await monitor.wait()
        finally:
            await client.close()

    assert asyncio.run(finish()) == "completed"
    assert len(monitor.loss_matrix()) == 3


# ------------------------------------------------------------------ feeding, throttling


async def test_a_burst_of_updates_is_throttled_and_ends_with_the_last_state():
    monitor = TrainingMonitor()
    wire = Wire(monitor)
    started = time.monotonic()
    for chunk in range(100):  # 100,000 values over about a second, the loop running between
        for i in range(1_000):
            monitor.push(float(chunk * 1_000 + i))
        await asyncio.sleep(0.01)
    monitor.finish()
    elapsed = time.monotonic() - started
    updates = wire.updates()
    assert len(wire.messages) <= 10 * elapsed + 2, (len(wire.messages), elapsed)
    assert len(updates) >= 3  # it did refresh while values arrived, not only at the end
    assert updates[-1]["_points"] == 100_000
    shown_x = wire.last_buffer("_batch_x")
    assert shown_x[-1] == 99_999
    assert len(shown_x) <= 4_000
    assert wire.last_buffer("_batch_y")[-1] == 99_999
    assert monitor.loss == 99_999.0


def test_a_tight_loop_of_pushes_sends_few_messages_and_the_last_state():
    monitor = TrainingMonitor(update_interval=0.1)
    wire = Wire(monitor)
    started = time.monotonic()
    values = np.random.default_rng(1).normal(size=100_000)
    for v in values:
        monitor.push(float(v))
    monitor.finish()
    elapsed = time.monotonic() - started
    assert len(wire.messages) <= 10 * elapsed + 2
    assert monitor._points == 100_000
    np.testing.assert_array_equal(monitor.history.values, values)
    decimated = minmax(values)
    np.testing.assert_array_equal(f32(monitor._batch_y), decimated.y.astype("<f4"))


def test_push_arrays_passes_and_updates():
    monitor = TrainingMonitor(title="local loop")
    monitor.push([3.0, 2.0])
    monitor.push(np.array([1.5]))
    monitor.end_pass()
    monitor.push(1.0)
    monitor.push(0.5)
    monitor.end_pass()
    monitor.update(status="processing", training_completion=50.0, num_passes=4)
    monitor.finish()
    assert monitor.loss_matrix() == [[3.0, 2.0, 1.5], [1.0, 0.5]]
    np.testing.assert_allclose(f32(monitor._pass_y), [6.5 / 3, 0.75])
    np.testing.assert_allclose(f32(monitor._pass_x), [1.0, 3.5])
    assert (monitor.status, monitor.training_completion, monitor.num_passes) == \
        ("processing", 50.0, 4)
    assert monitor.loss == 0.5
    with pytest.raises(ValidationError, match="stauts") as info:
        monitor.update(stauts="completed")
    assert "status" in str(info.value)


def test_bad_arguments_name_the_field():
    with pytest.raises(ValidationError, match="guid"):
        TrainingMonitor(guid="")
    with pytest.raises(ValidationError, match="client"):
        TrainingMonitor("not a client")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="poll_interval"):
        TrainingMonitor(guid="abc", poll_interval=0)
    with pytest.raises(ValidationError, match="update_interval"):
        TrainingMonitor(update_interval=-1)
    with pytest.raises(ValidationError, match="max_interval"):
        TrainingMonitor(guid="abc", poll_interval=1, max_interval=0.5)
    with pytest.raises(TypeError, match="colour"):
        TrainingMonitor(colour="red")


def test_static_form_escapes_everything():
    monitor = TrainingMonitor(title="<script>alert(1)</script>")
    monitor.update(status="failed", failure_reason="<img src=x onerror=alert(1)>")
    monitor.push([1.0, 0.5, 0.25])
    monitor.finish()
    html = monitor.static_html()
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x" in html
    assert "<svg" in html
    assert "polyline" in html
    assert monitor.static_text().startswith("TrainingMonitor(failed")


def test_history_follows_a_growing_matrix_and_rebuilds_when_it_shrinks():
    history = LossHistory()
    assert history.sync_matrix([[1.0, 2.0]], num_batches=3, final=False) == 2
    assert history.pass_ends == []
    assert history.sync_matrix([[1.0, 2.0, 3.0], [4.0]], num_batches=3, final=False) == 2
    assert history.pass_ends == [3]
    assert history.sync_matrix([[1.0, 2.0, 3.0], [4.0, None]], 3, final=False) == 1
    assert np.isnan(history.values[-1])  # a null loss is a gap, not an error
    # a server resumed from an earlier checkpoint: its matrix is shorter, so start over
    assert history.sync_matrix([[1.0, 2.0, 3.0]], num_batches=3, final=False) == 3
    assert history.matrix() == [[1.0, 2.0, 3.0]]
    assert history.pass_ends == [3]
    history.sync_matrix([[1.0, 2.0, 3.0], [5.0]], num_batches=3, final=True)  # cancelled
    assert history.pass_ends == [3]
    assert history.matrix() == [[1.0, 2.0, 3.0], [5.0]]


# ------------------------------------------------------------------ decimation


def test_a_million_points_decimate_to_4000_keeping_each_buckets_extremes():
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=1_000_003))
    y[123_457] = 1e6  # one spike: a stride would miss it
    y[654_321] = -1e6
    small = minmax(y)
    assert len(small) <= 4_000
    assert np.all(np.diff(small.x) > 0)
    np.testing.assert_array_equal(small.y, y[small.x])
    width = small.width
    assert width == bucket_width(len(y)) > 1
    buckets = small.x // width
    starts = np.arange(0, len(y), width)
    np.testing.assert_array_equal(np.unique(buckets), np.arange(len(starts)))
    # brute force: each bucket's min and max are among the points kept for it
    for k in range(0, len(starts), 97):
        part = y[starts[k]:starts[k] + width]
        kept = small.y[buckets == k]
        assert kept.min() == part.min()
        assert kept.max() == part.max()
    assert 1e6 in small.y
    assert -1e6 in small.y


def test_short_histories_come_back_exactly():
    y = np.random.default_rng(4).normal(size=4_000)
    small = minmax(y)
    np.testing.assert_array_equal(small.y, y)
    np.testing.assert_array_equal(small.x, np.arange(4_000))
    assert small.width == 1


def test_nan_never_hides_a_bucket_extreme():
    y = np.arange(10_000, dtype=float)
    y[::7] = np.nan
    y[5_000:5_100] = np.nan  # one bucket entirely NaN stays a gap
    small = minmax(y, max_points=200)
    width = small.width
    for k in range(10_000 // width):
        part = y[k * width:(k + 1) * width]
        kept = small.y[small.x // width == k]
        if np.isnan(part).all():
            assert np.isnan(kept).all()
        else:
            assert np.nanmin(kept) == np.nanmin(part)
            assert np.nanmax(kept) == np.nanmax(part)
