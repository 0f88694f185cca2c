"""SweepBoard on real sweeps (``client.start_sweep``) against the real simulator on loopback:
rows filling in and ending with the sweep's own leaderboard, throttled pushes counted at the
comm, an invalid configuration kept with its reason, Cancel of one row from the browser
confirmed by the server, "Use this model" into a dashboard and into ``board.chosen``, the static
form and the offline export, reattaching by id, and ``%qw_sweep``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from qwidgets.client import AsyncQcogClient
from qwidgets.errors import QwidgetsError
from qwidgets.export import page_html
from qwidgets.sim.server.limits import ServerLimits
from qwidgets.widgets.dashboard import Dashboard
from qwidgets.widgets.sweep_board import SweepBoard
from tests.client_support import client_for
from tests.widget_support import Wire, until
from tests.widget_support import linear_frame as frame

QUICK = {"model": "pauli", "qbits": 2, "batch_size": 100, "num_passes": 3,
         "optimization_method": "GRAD", "iterations": 2, "learning_rate": 0.1}
FINAL = {"completed", "failed", "cancelled", "invalid"}


@pytest.fixture(autouse=True)
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QWIDGETS_SWEEP_DIR", str(tmp_path / "sweeps"))
    return tmp_path / "sweeps"


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


def quick_grid() -> list[dict[str, object]]:
    """Four quick configurations and one the service would refuse (qbits 0)."""
    return [{**QUICK, "learning_rate": lr, "state_method": sm}
            for lr in (0.05, 0.2) for sm in ("NP_EIGH", "EIGH")] + [{**QUICK, "qbits": 0}]


async def test_a_real_sweep_fills_the_board_and_ends_as_its_leaderboard(client):
    sweep = client.start_sweep(frame(400), quick_grid(), holdout=0.25, concurrency=2)
    board = SweepBoard(sweep)
    wire = Wire(board)
    leaderboard = await asyncio.wait_for(board.wait(), 120)
    assert board.done
    assert board.sweep_id == sweep.id
    assert board.columns == list(sweep.columns)
    assert "learning_rate" in board.columns
    assert board.metric_name == sweep.metric_name == "r2"
    by_index = {r["index"]: r for r in board.rows}
    assert len(by_index) == 5
    invalid = by_index[4]
    assert invalid["status"] == "invalid"
    assert "qbits" in invalid["reason"]
    for row in sweep.rows[:4]:
        shown = by_index[row.index]
        assert shown["status"] == row.status == "completed", row.reason
        assert shown["metric"] == pytest.approx(row.metric)
        assert shown["progress"] == 100.0
        assert shown["steps"] == len(row.loss) > 0
        assert shown["last_loss"] == pytest.approx(row.loss[-1])
        assert len(shown["loss"]) == min(len(row.loss), 64)
        assert shown["train_time_s"] == pytest.approx(row.train_time_s)
    assert list(leaderboard.index) == list(sweep.leaderboard().index)
    # the browser saw rows fill in, at most ten pushes a second, and the final state last
    pushes = wire.timed_updates()
    span = pushes[-1][0] - pushes[0][0]
    assert len(pushes) <= span * 10 + 3, (len(pushes), span)
    statuses = [{r["status"] for r in u["rows"]} for _, u in pushes if "rows" in u]
    assert any(s - FINAL for s in statuses), "no push showed a configuration still running"
    assert wire.last()["done"] is True
    assert wire.last()["rows"] == board.rows
    board.close()


async def test_cancel_one_row_from_the_browser_is_the_servers_cancel(server, client):
    slow = {**QUICK, "qbits": 5, "batch_size": 250, "num_passes": 300}
    sweep = client.start_sweep(frame(2_000), [slow, QUICK], concurrency=2)
    board = SweepBoard(sweep)
    wire = Wire(board)
    await until(lambda: board.rows and board.rows[0]["status"] == "processing"
                and board.rows[0]["guid"], what="the slow training running")
    board._requests.receive({"id": "x1", "kind": "cancel_sweep", "index": 0}, [])
    await asyncio.wait_for(board.wait(), 120)
    reply = next(r for r in wire.replies() if r["id"] == "x1")
    assert reply["ok"]
    assert reply["result"] == {"cancelled": [0]}
    cancelled, quick = board.rows
    assert cancelled["status"] == "cancelled"
    assert cancelled["reason"]
    assert quick["status"] == "completed"
    async with await client_for(server.url, server.token) as other:  # the server's own word
        await other.preloaded_model(cancelled["guid"])
        assert await other.status() == "cancelled"
    html = board.static_html()
    assert "cancelled: cancelled" in html
    assert "1 cancelled, 1 completed" in html
    # a row that ended cannot be cancelled again: the answer names the field and the fix
    board._requests.receive({"id": "x2", "kind": "cancel_sweep", "index": 1}, [])
    await until(lambda: any(r["id"] == "x2" for r in wire.replies()), what="reply")
    late = next(r for r in wire.replies() if r["id"] == "x2")
    assert not late["ok"]
    assert "index" in late["error"]
    assert "completed" in late["error"]
    board.close()


async def test_a_refused_training_stays_failed_with_the_servers_reason(start_sim, tmp_path):
    # The server refuses trainings past its memory limit: 8 qubits are past 140 MiB, 2 are not.
    server = start_sim(limits=ServerLimits(max_model_memory=140 * 2**20))
    async with await client_for(server.url, server.token) as client:
        sweep = client.start_sweep(frame(400), [{**QUICK, "qbits": q} for q in (2, 8)])
        board = SweepBoard(sweep)
        await asyncio.wait_for(board.wait(), 120)
        small, large = board.rows
        assert small["status"] == "completed"
        assert large["status"] == "failed"
        assert "max-model-memory" in large["reason"]
        assert large["metric"] is None
        html = board.static_html()
        assert "failed: parameters.model" in html
        assert "1 completed, 1 failed" in board.static_text()
        board.close()


async def test_cancel_all_stops_the_running_and_the_queued(client):
    slow = {**QUICK, "qbits": 5, "batch_size": 250, "num_passes": 300}
    sweep = client.start_sweep(frame(2_000), [slow] * 3, concurrency=1)
    board = SweepBoard(sweep)
    wire = Wire(board)
    await until(lambda: board.rows and board.rows[0]["status"] == "processing",
                what="the first training running")
    board._requests.receive({"id": "all", "kind": "cancel_sweep", "index": None}, [])
    await asyncio.wait_for(board.wait(), 120)
    reply = next(r for r in wire.replies() if r["id"] == "all")
    assert reply["ok"]
    assert reply["result"] == {"cancelled": [0, 1, 2]}
    assert [r["status"] for r in board.rows] == ["cancelled"] * 3
    assert board.rows[1]["reason"] == board.rows[2]["reason"] == "cancelled before it started"
    board.close()


async def test_use_this_model_goes_to_the_dashboard_monitor_and_grid(server, client):
    df = frame(400)
    sweep = client.start_sweep(df, quick_grid()[:2], concurrency=2)
    dash = Dashboard(df, client)
    board = SweepBoard(sweep)
    dash.add(board)  # joining the dashboard: "Use this model" hands models to it
    assert board.dashboard is dash
    assert board._has_dashboard
    wire = Wire(board)
    await asyncio.wait_for(board.wait(), 120)
    best = sweep.best
    assert best is not None
    board._requests.receive({"id": "u1", "kind": "use_model", "index": best.index}, [])
    await until(lambda: any(r["id"] == "u1" for r in wire.replies()), what="reply")
    reply = next(r for r in wire.replies() if r["id"] == "u1")
    assert reply["ok"], reply
    assert reply["result"] == {"index": best.index, "model_guid": best.guid}
    assert board.chosen_index == best.index
    assert board.chosen is not None
    assert dash.monitor is not None
    assert dash.monitor.model_guid == best.guid
    assert dash.monitor.status == "completed"
    assert dash.grid is not None
    assert dash.forecast is not None
    assert len(dash.forecast) == len(sweep.held_out)
    assert "handed to the dashboard" in board.message
    assert f"{best.index} (chosen)" in board.static_html()
    # the board's state and page carry no token
    assert server.token not in str(board.get_state()) + board.static_html()
    dash.close()


async def test_use_this_model_without_a_dashboard_and_reattach_by_id(server, client, tmp_path):
    sweep = client.start_sweep(frame(400), quick_grid()[:2], concurrency=2)
    board = SweepBoard(sweep)
    chosen: list[AsyncQcogClient] = []
    board.on_choose(chosen.append)
    await asyncio.wait_for(board.wait(), 120)
    with pytest.raises(QwidgetsError, match="index"):
        await board.use(99)
    picked = await board.use(1)
    assert chosen == [picked]
    assert board.chosen is picked
    forecast = await picked.inference(sweep.held_out[["x", "y"]], {"operators_to_forecast": ["z"]})
    assert len(forecast) == len(sweep.held_out)
    # offline export: the board's module and last state, and its static form
    page = page_html([board], title="sweep")
    assert "qw-sweep-static" in page
    assert sweep.id in page
    assert server.token not in page
    board.close()
    # a new kernel: another client, the sweep found again by its id
    async with await client_for(server.url, server.token) as other:
        again = await SweepBoard.attach(sweep.id, other)
        await asyncio.wait_for(again.wait(), 60)
        assert [(r["index"], r["status"], r["metric"]) for r in again.rows] == \
            [(r.index, r.status, r.metric) for r in sweep.rows]
        with pytest.raises(QwidgetsError, match="sweep_id"):
            await SweepBoard.attach("", other)
        again.close()


async def test_the_magic_starts_a_sweep_and_attaches_one(client, sweep_dir):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "qwidgets")
    try:
        shell.user_ns.update(df=frame(300), grid={**{k: [v] for k, v in QUICK.items()},
                                                   "learning_rate": [0.05, 0.2]}, c=client)
        board = shell.run_line_magic("qw_sweep",
                                     "df grid client=c target=z holdout=0.3 concurrency=2")
        assert isinstance(board, SweepBoard)
        await until(lambda: board.done, timeout=120, what="the magic's sweep")
        assert [r["status"] for r in board.rows] == ["completed", "completed"]
        assert board.columns == ["learning_rate"]
        again = shell.run_line_magic("qw_sweep", f"attach {board.sweep_id} client=c")
        await until(lambda: again.done, timeout=60, what="reattached")
        assert [r["metric"] for r in again.rows] == [r["metric"] for r in board.rows]
        for bad, words in (("df", "DataFrame and configurations"), ("df grid nope=1", "nope"),
                           ("df missing", "no variable named 'missing'"),
                           ("attach", "sweep's id"), ("df grid seed=x", "not a number")):
            with pytest.raises(QwidgetsError, match=words):
                shell.run_line_magic("qw_sweep", bad)
        failing = shell.run_line_magic("qw_sweep", "df grid client=c metric=accuracy")
        await until(lambda: bool(failing.error), what="the refusal shown on the board")
        assert "metric" in failing.error
        for b in (board, again, failing):
            b.close()
    finally:
        shell.run_line_magic("unload_ext", "qwidgets")
