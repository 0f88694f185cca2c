"""SweepBoard's view of a sweep, unit by unit: what a row becomes in the browser (decimated
loss, config cells, None for non-finite numbers), the rows' order for a sort column, the
throttled pushes with the last state always sent, the static form (escaped, sorted as the
browser shows it), and bad requests answered with the field and the fix.

These drive the board with a small stand-in of the ``Sweep`` interface, holding H3's real
``SweepRow``s, so each behaviour is seen in isolation and on demand; the board against a real
sweep on the real simulator is tests/test_widget_sweep_board.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from qwidgets.client.qcog.sweep_rows import SweepRow
from qwidgets.errors import ValidationError
from qwidgets.widgets.sweep_board import SweepBoard
from qwidgets.widgets.sweep_board_rows import SPARK_POINTS, board_html, row_view, sorted_rows
from tests.widget_support import Wire, until


class StandIn:
    """The names of ``Sweep`` the board reads, over a list of rows a test edits."""

    def __init__(self, rows: list[SweepRow], columns: list[str]) -> None:
        self.id = "stand-in"
        self.rows = rows
        self.columns = columns
        self.metric_name = "r2"
        self.version = 0
        self.done = False
        self.cancelled: list[int | None] = []
        self._callbacks: list[Callable[..., Any]] = []

    def on_change(self, callback: Callable[..., Any]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def bump(self) -> None:
        self.version += 1
        for callback in list(self._callbacks):
            callback(self)

    async def cancel(self, index: int | None = None) -> None:
        self.cancelled.append(index)

    async def client_for(self, index: int) -> Any:
        raise AssertionError("not used here")

    async def wait(self) -> None:
        return None

    def leaderboard(self) -> Any:
        return None


def rows(n: int) -> list[SweepRow]:
    return [SweepRow(index=i, config={"model": "pauli" if i % 2 else "ensemble", "qbits": 2 + i % 3,
                                      "learning_rate": 0.1 / (i + 1)}) for i in range(n)]


def test_a_row_becomes_compact_cells_and_a_decimated_loss() -> None:
    loss = list(np.sin(np.arange(1000) / 30.0) * np.exp(-np.arange(1000) / 400.0))
    loss[517] = 50.0  # a spike the decimation must keep
    row = SweepRow(index=3, config={"model": "pauli", "qbits": 2, "sigma_sq": {"x": 1.0},
                                    "lr": float("nan")},
                   status="completed", progress=100.0, loss=loss, metric=0.875,
                   train_time_s=1.5, guid="g-3")
    view = row_view(row, ["model", "qbits", "sigma_sq", "lr", "absent"])
    assert view["config"] == {"model": "pauli", "qbits": 2, "sigma_sq": '{"x":1.0}', "lr": None,
                              "absent": None}
    assert len(view["loss"]) <= SPARK_POINTS
    assert max(view["loss"]) == 50.0
    assert min(view["loss"]) == pytest.approx(min(loss))
    assert view["last_loss"] == pytest.approx(loss[-1])
    assert view["steps"] == 1000
    assert (view["metric"], view["train_time_s"], view["guid"]) == (0.875, 1.5, "g-3")
    short = row_view(SweepRow(index=0, config={}, loss=[1.0, float("nan"), 0.5]), [])
    assert short["loss"] == [1.0, None, 0.5]  # short series whole; NaN is a gap


def test_sorting_is_stable_with_missing_values_last_in_both_directions() -> None:
    views = [{"index": i, "config": {"m": m}, "metric": v, "last_loss": None}
             for i, (m, v) in enumerate([("b", 0.5), ("a", None), ("b", 0.9), ("a", 0.1),
                                          ("b", 0.5)])]
    order = lambda col, desc: [r["index"] for r in sorted_rows(views, col, desc)]  # noqa: E731
    assert order("metric", False) == [3, 0, 4, 2, 1]
    assert order("metric", True) == [2, 0, 4, 3, 1]
    assert order("m", False) == [1, 3, 0, 2, 4]
    assert order("m", True) == [0, 2, 4, 1, 3]
    assert order("", True) == [0, 1, 2, 3, 4]


async def test_a_burst_of_changes_is_throttled_and_the_last_state_is_sent() -> None:
    sweep = StandIn(rows(12), ["model", "qbits", "learning_rate"])
    board = SweepBoard(sweep)
    wire = Wire(board)
    started = asyncio.get_running_loop().time()
    for step in range(400):  # far faster than ten a second
        sweep.rows[step % 12].loss.append(1.0 / (step + 1))
        sweep.rows[step % 12].progress = min(100.0, step / 4)
        sweep.rows[step % 12].status = "processing"
        sweep.bump()
        await asyncio.sleep(0.002)
    sweep.rows[5].status, sweep.rows[5].reason = "failed", "singular matrix"
    sweep.bump()
    await until(lambda: any(r["status"] == "failed" for r in board.rows), what="last state")
    elapsed = asyncio.get_running_loop().time() - started
    pushes = [u for u in wire.updates() if "rows" in u]
    assert len(pushes) <= elapsed * 10 + 1, (len(pushes), elapsed)
    assert len(pushes) >= 2
    last = wire.last()["rows"]
    assert last[5]["status"] == "failed"
    assert last[5]["reason"] == "singular matrix"
    assert last[11]["steps"] == len(sweep.rows[11].loss)
    board.close()


async def test_a_flush_recomputes_only_the_rows_that_changed() -> None:
    sweep = StandIn(rows(3), ["model"])
    for row in sweep.rows:
        row.loss = list(np.linspace(1, 0, 5_000))
    board = SweepBoard(sweep, update_interval=0.01)
    before = list(board.rows)
    sweep.rows[1].loss.append(0.5)  # one more batch of row 1, nothing else
    sweep.bump()
    await until(lambda: board.rows[1]["steps"] == 5_001, what="the new batch")
    assert board.rows[0] is before[0]
    assert board.rows[2] is before[2]
    assert board.rows[1] is not before[1]
    assert board.rows[1]["last_loss"] == 0.5
    sweep.rows[2].status, sweep.rows[2].reason = "failed", "diverged"
    sweep.bump()
    await until(lambda: board.rows[2]["status"] == "failed", what="the failure")
    assert board.rows[2]["reason"] == "diverged"
    board.close()


async def test_static_form_follows_the_sort_and_escapes_everything() -> None:
    sweep = StandIn(rows(4), ["model"])
    sweep.rows[0].config["model"] = "<img src=x onerror=alert(1)>"
    for i, metric in enumerate([0.2, None, 0.9, 0.5]):
        sweep.rows[i].status = "completed" if metric is not None else "failed"
        sweep.rows[i].metric = metric
        sweep.rows[i].loss = [1.0, 0.5, 0.25]
    sweep.rows[1].reason = "<script>bad()</script>"
    sweep.done = True
    board = SweepBoard(sweep)
    board.sort_by, board.descending = "metric", True  # as the browser sets them
    html = board.static_html()
    assert "<img" not in html
    assert "<script>" not in html
    assert "&lt;img src=x" in html
    assert "&lt;script&gt;bad()" in html
    order = [int(cell.split("</td>")[0].split(">")[-1].split(" ")[0])
             for cell in html.split("<tr>")[2:]]
    assert order == [2, 3, 0, 1]  # best r2 first, the failed row last
    assert html.count("<svg") == 4
    assert "4 configurations" in board.static_text()
    board.sort_by = "no such column"  # a column the board lacks leaves the order as it was
    assert board.sort_by == "metric"
    assert board_html({"rows": [], "columns": []}, {}).count("<tr>") == 1
    board.close()


async def test_bad_requests_are_answered_with_the_field_and_the_fix() -> None:
    sweep = StandIn(rows(3), ["model"])
    sweep.rows[0].status = "completed"
    sweep.rows[1].status = "processing"
    board = SweepBoard(sweep)
    wire = Wire(board)
    board._requests.receive({"id": "c1", "kind": "cancel_sweep", "index": 0}, [])
    board._requests.receive({"id": "c2", "kind": "cancel_sweep", "index": 7}, [])
    board._requests.receive({"id": "u1", "kind": "use_model", "index": 1}, [])
    board._requests.receive({"id": "c3", "kind": "cancel_sweep", "index": 1}, [])
    await until(lambda: len(wire.replies()) == 4, what="four replies")
    replies = {r["id"]: r for r in wire.replies()}
    assert "index" in replies["c1"]["error"]
    assert "completed" in replies["c1"]["error"]
    assert "0..2" in replies["c2"]["error"]
    assert "pick a completed row" in replies["u1"]["error"]
    assert replies["c3"]["ok"]
    assert replies["c3"]["result"] == {"cancelled": [1]}
    assert sweep.cancelled == [1]
    assert "use this model failed" in board.error
    with pytest.raises(ValidationError, match="sweep"):
        board.follow(object())
    board.close()


def test_the_magic_line_becomes_the_plain_functions_arguments() -> None:
    from qwidgets.errors import QwidgetsError
    from qwidgets.extension import parse_sweep_line

    namespace = {"df": "frame", "grid": {"qbits": [2, 3]}, "c": "client"}
    assert parse_sweep_line("df grid target=a,b holdout=0.3 seed=2 concurrency=3 metric=mae "
                            "client=c", namespace) == {
        "data": "frame", "configs": {"qbits": [2, 3]}, "target": ["a", "b"], "holdout": 0.3,
        "seed": 2, "concurrency": 3, "metric": "mae", "client": "client"}
    assert parse_sweep_line("df grid target=z", namespace)["target"] == "z"
    assert parse_sweep_line("attach abc123 client=c", namespace) == {"sweep_id": "abc123",
                                                                     "client": "client"}
    with pytest.raises(QwidgetsError, match="no variable named 'd'"):
        parse_sweep_line("df grid dashboard=d", namespace)
