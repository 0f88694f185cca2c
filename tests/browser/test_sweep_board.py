"""SweepBoard in JupyterLab: a real sweep on the embedded simulator fills the board in, a long
configuration is cancelled with its row's button (the server confirms it, the row keeps its
reason), headers sort by click and by keyboard (the kernel gets the order), the focus survives
the re-render at the sweep's end, the sparklines are drawn, the badges stay readable in the
dark theme, and nothing lands in the console."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from tests.browser.lab import (
    CONTRASTS,
    Lab,
    console_errors,
    open_and_run,
    ours,
    run_cell_text,
    screenshot,
    set_theme,
)

SETUP = """
import numpy as np, pandas as pd
from qwidgets.client import AsyncQcogClient
from qwidgets.widgets import SweepBoard

rng = np.random.default_rng(7)
df = pd.DataFrame(rng.uniform(-1, 1, (2000, 2)), columns=["x", "y"])
df["z"] = 0.5 * df.x - 0.3 * df.y
quick = {"model": "pauli", "qbits": 2, "batch_size": 150, "num_passes": 4,
         "optimization_method": "GRAD", "iterations": 2}
# configuration 0 runs for minutes (a 32-dim Hilbert space, 300 passes): it is cancelled below
configs = [{**quick, "qbits": 5, "batch_size": 250, "num_passes": 300, "learning_rate": 0.1}]
configs += [{**quick, "learning_rate": lr, "state_method": s}
            for lr in (0.02, 0.1, 0.3) for s in ("NP_EIGH", "EIGH")]
client = await AsyncQcogClient.create()
sweep = client.start_sweep(df, configs, concurrency=3)
board = SweepBoard(sweep, title="browser sweep")
board
"""
ROWS = 7

ROW_STATUS = """([index, status]) => document.querySelector(
  `.qw-sweep tr[data-index='${index}'] .qw-badge`)?.textContent === status"""

ROW_ORDER = """() => [...document.querySelectorAll('.qw-sweep tbody tr')].map((tr) => ({
  index: Number(tr.dataset.index),
  metric: tr.querySelector('.qw-sweep-metric').textContent,
}))"""

SPARK = """() => [...document.querySelectorAll('.qw-sweep tr[data-status="completed"] polyline')]
  .map((p) => (p.getAttribute('points') || '').split(' ').filter(Boolean).length)"""


def metric_order(page: Any) -> tuple[list[int], list[float | None]]:
    rows = page.evaluate(ROW_ORDER)
    return [r["index"] for r in rows], [float(r["metric"]) if r["metric"] else None for r in rows]


def header(page: Any, label: str) -> Any:
    return page.locator(".qw-sweep").get_by_role("button", name=f"Sort by {label}", exact=True)


def aria_sort(page: Any, label: str) -> str:
    return header(page, label).locator("xpath=..").get_attribute("aria-sort")


def test_board_fills_in_cancels_sorts_and_reads_in_dark(lab: Lab, page: Any) -> None:
    errors = console_errors(page)
    url = lab.notebook("sweep_board.ipynb", [SETUP])
    open_and_run(page, url)
    board = page.locator(".qw-sweep").first
    board.wait_for(timeout=90_000)
    page.wait_for_function(f"() => document.querySelectorAll('.qw-sweep tbody tr').length === {ROWS}",
                           timeout=60_000)

    # cancel the long configuration from its row, while it runs
    slow = board.locator("tr[data-index='0']")
    page.wait_for_function(ROW_STATUS, arg=[0, "processing"], timeout=90_000)
    slow.get_by_role("button", name="Cancel configuration 0").click()
    page.wait_for_function(ROW_STATUS, arg=[0, "cancelled"], timeout=90_000)
    assert slow.locator(".qw-sweep-reason").inner_text().strip()  # the reason stays on the board
    assert slow.get_by_role("button", name="Cancel configuration 0").is_hidden()

    # the others complete; the board says so; each completed row drew its loss. The keyboard's
    # focus, left on a header meanwhile, is still there after the board's final re-render.
    header(page, "#").focus()
    page.wait_for_function(
        "() => document.querySelector('.qw-sweep .qw-head .qw-badge')?.textContent === 'done'",
        timeout=180_000)
    page.wait_for_function(
        "() => document.activeElement?.getAttribute('aria-label') === 'Sort by #'"
        " && document.activeElement.closest('.qw-sweep') !== null", timeout=5_000)
    assert "6 completed" in board.locator(".qw-sweep-summary").inner_text()
    points = page.evaluate(SPARK)
    assert len(points) == ROWS - 1
    assert min(points) >= 2, points
    screenshot(page, "sweep_board_done")

    # sort by clicking the metric's header: ascending, then descending, the cancelled row last
    header(page, "r2").click()
    page.wait_for_function("() => document.querySelector('.qw-sweep th[aria-sort=\"ascending\"]')",
                           timeout=10_000)
    order, metrics = metric_order(page)
    scored = [m for m in metrics if m is not None]
    assert scored == sorted(scored)
    assert metrics[-1] is None
    assert order[-1] == 0
    header(page, "r2").click()
    page.wait_for_function("() => document.querySelector('.qw-sweep th[aria-sort=\"descending\"]')",
                           timeout=10_000)
    _, metrics = metric_order(page)
    scored = [m for m in metrics if m is not None]
    assert scored == sorted(scored, reverse=True)
    assert metrics[-1] is None
    run_cell_text(page, "print('kernel sort', board.sort_by, board.descending)",
                  "kernel sort metric True", timeout_ms=30_000)

    # by keyboard: the '#' header reached with the focus, Enter then Space
    header(page, "#").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.qw-sweep th[aria-sort=\"ascending\"]')",
                           timeout=10_000)
    assert aria_sort(page, "#") == "ascending"
    assert metric_order(page)[0] == list(range(ROWS))
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('.qw-sweep th[aria-sort=\"descending\"]')",
                           timeout=10_000)
    assert metric_order(page)[0] == list(range(ROWS))[::-1]
    assert aria_sort(page, "r2") == "none"

    # "Use this model" on the best row, from the keyboard: the kernel holds that model
    best = board.locator("tr[data-index='6'] button.qw-sweep-use")
    best.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => /configuration 6 chosen/.test(document.querySelector('.qw-sweep .qw-message').textContent)",
        timeout=30_000)
    assert best.inner_text() == "In use"
    assert page.evaluate("() => document.activeElement?.classList.contains('qw-sweep-use')")
    run_cell_text(page, "print('chosen', board.chosen_index, board.chosen.model_guid == sweep.rows[6].guid)",
                  "chosen 6 True", timeout_ms=30_000)

    # the server's own word on the cancelled training
    run_cell_text(page, "other = await AsyncQcogClient.create(); "
                  "await other.preloaded_model(sweep.rows[0].guid); "
                  "print('server says', await other.status())",
                  "server says cancelled", timeout_ms=30_000)

    # readable badges and texts in both themes
    try:
        for dark in (False, True):
            set_theme(page, dark=dark)
            for selector in (".qw-sweep .qw-badge", ".qw-sweep td", ".qw-sweep .qw-sweep-reason"):
                found = page.evaluate(CONTRASTS, selector)
                assert found, selector
                weak = [f for f in found if f["ratio"] < 4.5 and f["text"].strip()]
                assert not weak, f"{'dark' if dark else 'light'}: {selector} under 4.5:1: {weak}"
        board.scroll_into_view_if_needed()
        screenshot(page, "sweep_board_dark")
    finally:
        set_theme(page, dark=False)
    assert not ours(errors), errors


def exported_board(folder: Path) -> Path:
    """A finished real sweep's board saved as an offline page (the sweep runs on a loop of its
    own thread: Playwright's sync API holds this one)."""
    import numpy as np
    import pandas as pd

    from qwidgets.client import AsyncQcogClient
    from qwidgets.sim import start
    from qwidgets.widgets import SweepBoard

    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.uniform(-1, 1, (300, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    grid = {"qbits": [2], "optimization_method": ["GRAD"], "iterations": [2],
            "learning_rate": [0.02, 0.1, 0.3], "num_passes": [3]}
    saved: list[Path] = []

    async def run(server: Any) -> None:
        async with await AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                                port=server.port) as client:
            board = SweepBoard(client.start_sweep(df, grid, concurrency=2))
            await board.wait()
            saved.append(board.save_html(folder / "sweep.html"))
            board.close()

    with start(data_dir=folder / "sim") as server:
        worker = threading.Thread(target=lambda: asyncio.run(run(server)))
        worker.start()
        worker.join(120)
    assert saved, "the sweep did not finish"
    return saved[0]


def test_exported_board_renders_and_sorts_without_a_kernel(page: Any, tmp_path: Path,
                                                          monkeypatch: Any) -> None:
    monkeypatch.setenv("QWIDGETS_SWEEP_DIR", str(tmp_path / "sweeps"))
    errors = console_errors(page)
    page.goto(exported_board(tmp_path).as_uri())
    page.wait_for_selector("[data-qw-rendered='true'] .qw-sweep", timeout=10_000)
    board = page.locator(".qw-sweep")
    assert "3 configurations: 3 completed" in board.locator(".qw-sweep-summary").inner_text()
    assert board.locator("button.qw-sweep-cancel-all").is_hidden()  # no kernel to ask
    assert board.locator("button.qw-sweep-use").count() == 3
    assert all(not b.is_visible() for b in board.locator("button.qw-sweep-use").all())
    assert min(page.evaluate(SPARK)) >= 2
    header(page, "r2").click()
    header(page, "r2").click()
    page.wait_for_function("() => document.querySelector('.qw-sweep th[aria-sort=\"descending\"]')",
                           timeout=10_000)
    _, metrics = metric_order(page)
    assert metrics == sorted(metrics, reverse=True)  # type: ignore[type-var]
    assert not ours(errors), errors
