"""InferenceGrid in JupyterLab: rows drawn from kernel windows, markup in a cell shown as text,
sorting by header click and by keyboard, a filter, the CSV download, and the last of
10,000,000 rows reached with the End key."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

XSS = "<img src=x onerror=alert(1)>"
ROWS = 5_000

SETUP = f"""
import numpy as np, pandas as pd
from qwidgets.widgets import InferenceGrid
rng = np.random.default_rng(1)
n = {ROWS}
df = pd.DataFrame({{"label": [f"row {{i}}" for i in range(n)],
                   "score": rng.permutation(n).astype(float),
                   "y_pred": np.linspace(0, 1, n), "y_actual": np.linspace(0, 1, n) ** 2}})
df.loc[0, "label"] = {XSS!r}
grid = InferenceGrid(df)
grid
"""

BIG = """
big = pd.DataFrame({"i": np.arange(10_000_000), "v": np.arange(10_000_000) * 0.5})
grid2 = InferenceGrid(big, height=240)
grid2
"""


OFFLINE = """
grid3 = InferenceGrid(df.head(300), height=200)
grid3._offline_rows = grid3._offline_payload(max_rows=100)
grid3._offline = True
grid3
"""


def first_row(grid: Any) -> dict[str, str]:
    """The cells of the top row in view, by column header."""
    return grid.evaluate("""(el) => {
      const scroller = el.querySelector('.qw-grid-scroll');
      const top = scroller.getBoundingClientRect().top;
      const rows = [...el.querySelectorAll('.qw-grid-row:not([hidden]):not(.qw-grid-loading)')];
      const row = rows.find((r) => r.getBoundingClientRect().bottom > top + 2);
      if (!row) return {};
      const names = [...el.querySelectorAll('.qw-grid-hrow:first-child [role=columnheader]')]
        .map((c) => c.textContent.replace(/[▲▼]/g, '').trim());
      const out = {};
      [...row.children].forEach((c, i) => { out[names[i] || 'index'] = c.textContent; });
      return out;
    }""")


def visible_index_texts(grid: Any) -> list[str]:
    return grid.evaluate("""(el) => {
      const box = el.querySelector('.qw-grid-scroll').getBoundingClientRect();
      return [...el.querySelectorAll('.qw-grid-row:not([hidden]):not(.qw-grid-loading)')]
        .filter((r) => {
          const b = r.getBoundingClientRect();
          return b.top >= box.top - 1 && b.bottom <= box.bottom + 1;
        })
        .map((r) => r.firstChild.textContent);
    }""")


def wait_for_index(page: Any, nth: int, label: str, timeout: int = 30_000) -> None:
    """Wait until grid ``nth`` on the page has drawn the row labelled ``label``."""
    page.wait_for_function(
        """([nth, label]) => [...document.querySelectorAll('.qw-grid')[nth]
          .querySelectorAll('.qw-grid-row:not(.qw-grid-loading):not([hidden]) .qw-grid-idx')]
          .some((c) => c.textContent === label)""", arg=[nth, label], timeout=timeout)


def test_grid_sorts_filters_exports_and_reaches_the_last_row(lab: Lab, page: Any, tmp_path: Any) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    url = lab.notebook("grid.ipynb", [SETUP, BIG])
    open_and_run(page, url)
    grid = page.locator(".qw-grid").first
    grid.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-grid .qw-grid-row:not(.qw-grid-loading)').length > 5",
        timeout=30_000)

    # Markup in a cell is characters on screen, never an element.
    cell = grid.get_by_role("gridcell", name=XSS, exact=True)
    assert cell.count() == 1
    assert cell.text_content() == XSS
    assert grid.locator("img").count() == 0
    assert first_row(grid)["label"] == XSS

    # Pairs are highlighted, with the error column between them.
    headers = grid.locator(".qw-grid-hrow").first.get_by_role("columnheader")
    assert headers.all_text_contents()[1:] == ["label", "score", "y_pred", "y_actual", "y_error"]
    assert "qw-grid-pred" in (headers.nth(3).get_attribute("class") or "")
    assert "qw-grid-error" in (headers.nth(5).get_attribute("class") or "")

    # Header clicks sort in the kernel; the top row changes to the expected one.
    score = np.random.default_rng(1).permutation(ROWS).astype(float)
    header = grid.get_by_role("columnheader").filter(has_text="score")
    grid.get_by_role("button", name="Sort by score").click()
    page.wait_for_function(
        "() => document.querySelector('.qw-grid .qw-grid-row:not([hidden]) .qw-grid-cell:nth-child(3)')"
        "?.textContent === '0'", timeout=15_000)
    assert header.get_attribute("aria-sort") == "ascending"
    assert first_row(grid)["label"] == f"row {int(np.argmin(score))}"
    grid.get_by_role("button", name="Sort by score").click()
    page.wait_for_function(
        "() => document.querySelector('.qw-grid .qw-grid-row:not([hidden]) .qw-grid-cell:nth-child(3)')"
        "?.textContent === '4999'", timeout=15_000)
    assert header.get_attribute("aria-sort") == "descending"
    assert first_row(grid)["label"] == f"row {int(np.argmax(score))}"
    run_cell_text(page, "print('sorted by', grid.sort_by, 'descending' if grid.descending else 'ascending')",
                  "sorted by score descending")
    # The keyboard works the same button: a third press leaves the frame's order.
    grid.get_by_role("button", name="Sort by score").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.qw-grid [role=columnheader][aria-sort=descending]') === null"
        " && document.querySelector('.qw-grid .qw-grid-row:not([hidden]) .qw-grid-idx')?.textContent === '0'",
        timeout=15_000)
    assert header.get_attribute("aria-sort") == "none"

    # End shows the last row of the view at the bottom.
    scroller = grid.locator(".qw-grid-scroll")
    scroller.focus()
    page.keyboard.press("End")
    wait_for_index(page, 0, str(ROWS - 1))
    assert str(ROWS - 1) in visible_index_texts(grid)
    page.keyboard.press("Home")

    # A filter typed in the header row; the kernel agrees on what matches.
    grid.get_by_role("textbox", name="score: at least").fill("4990")
    grid.get_by_role("textbox", name="score: at least").press("Enter")
    page.wait_for_function(
        "() => /of 10 matching/.test(document.querySelector('.qw-grid .qw-grid-info')?.textContent)",
        timeout=15_000)
    run_cell_text(page, "print('matching rows:', grid.view_rows())", "matching rows: 10")

    # The CSV download holds the view, as the kernel writes it.
    with page.expect_download(timeout=30_000) as download:
        grid.get_by_role("button", name="Export the rows in view as CSV").click()
    saved = tmp_path / "view.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",label,score,y_pred,y_actual,y_error"
    assert len(lines) == 11
    assert sorted(float(line.split(",")[2]) for line in lines[1:]) == [float(v) for v in range(4990, 5000)]

    # 10,000,000 rows: the scroller is scaled under the browser's height cap; End reaches the last.
    big = page.locator(".qw-grid").nth(1)
    big.locator(".qw-grid-row:not(.qw-grid-loading)").first.wait_for(timeout=60_000)
    height = big.locator(".qw-grid-sizer").evaluate("(el) => el.getBoundingClientRect().height")
    assert 1_000_000 < height <= 10_000_000
    big.locator(".qw-grid-scroll").focus()
    page.keyboard.press("End")
    wait_for_index(page, 1, "9999999")
    assert "9999999" in visible_index_texts(big)
    page.keyboard.press("ArrowUp")
    wait_for_index(page, 1, "9999989")
    big.scroll_into_view_if_needed()
    screenshot(page, "grid_10m")

    # Without a kernel (an exported page): the saved rows sort in the browser.
    run_cell_text(page, OFFLINE, "of 100 saved rows (first 100 of 300; no kernel)")
    saved = page.locator(".qw-grid", has_text="saved rows")
    saved.get_by_role("button", name="Sort by score").click()
    page.wait_for_function(
        """(want) => [...document.querySelectorAll('.qw-grid')].some((g) =>
          /saved rows/.test(g.textContent) && g.querySelector('[aria-sort=ascending]')
          && g.querySelector('.qw-grid-row:not([hidden]) .qw-grid-cell:nth-child(3)')
            ?.textContent === want)""",
        arg=str(int(score[:100].min())), timeout=15_000)
    assert first_row(saved)["label"] == f"row {int(np.argmin(score[:100]))}"
    grid.scroll_into_view_if_needed()
    screenshot(page, "grid")
    assert not dialogs, dialogs
