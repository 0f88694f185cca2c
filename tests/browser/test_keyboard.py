"""The keyboard in JupyterLab: keys typed into a widget's controls act on the control and
never reach the notebook's command shortcuts ("d d" deletes a cell, "b" inserts one,
ArrowDown moves to the next cell); Train keeps focus after it is pressed; Tab goes through
the form in the order it is drawn."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import expect

from tests.browser.lab import (
    KERNEL_IDLE,
    Lab,
    console_errors,
    open_and_run,
    ours,
    running_lab,
    screenshot,
)

SETUP = """
import numpy as np, pandas as pd, qwidgets
from qwidgets.widgets import InferenceGrid
rng = np.random.default_rng(5)
df = pd.DataFrame(rng.uniform(-1, 1, (200, 2)), columns=["x", "y"])
df["z"] = 0.7 * df.x - 0.2 * df.y
dash = qwidgets.dashboard(df)
dash.form.value = {"model": {"model_name": "pauli", "operators": ["x", "y", "z"],
                             "target_operators": ["z"]}, "batch_size": 100, "num_passes": 2}
display(dash)
InferenceGrid(df)
"""

NOTEBOOK = """() => { const nb = window.jupyterapp.shell.currentWidget.content;
  return { cells: nb.widgets.length, active: nb.activeCellIndex,
           sources: nb.widgets.map((c) => c.model.sharedModel.getSource()).join('|') }; }"""


def _same_notebook(page: Any, before: dict[str, Any], what: str) -> None:
    page.wait_for_timeout(400)  # a shortcut would have run by now
    after = page.evaluate(NOTEBOOK)
    assert after == before, f"{what} reached the notebook: {before} -> {after}"


def test_keys_stay_with_the_controls(lab: Lab, page: Any) -> None:
    errors = console_errors(page)
    open_and_run(page, lab.notebook("keyboard.ipynb", [SETUP, "a = 1", "b = 2"]))
    form = page.locator(".qw-cf")
    form.wait_for(timeout=60_000)
    grid = page.locator(".qw-grid").last
    grid.locator(".qw-grid-row:not(.qw-grid-loading)").first.wait_for(timeout=60_000)

    # a button: "d d" deletes no cell
    train = form.get_by_role("button", name="Train a model with these parameters")
    train.focus()
    before = page.evaluate(NOTEBOOK)
    assert before["cells"] == 3
    page.keyboard.press("d")
    page.keyboard.press("d")
    _same_notebook(page, before, '"d d" on Train')
    expect(train).to_be_focused()

    # a checkbox: "b" inserts no cell, Space ticks the box
    box = form.locator('[data-key="model.target_operators:y"]')
    box.focus()
    before = page.evaluate(NOTEBOOK)
    page.keyboard.press("b")
    page.keyboard.press("a")
    _same_notebook(page, before, '"b"/"a" on a checkbox')
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    page.keyboard.press("Space")
    expect(box).not_to_be_checked()

    # a select: ArrowDown changes its value, not the active cell
    picker = form.locator("select").first
    picker.focus()
    value = picker.input_value()
    before = page.evaluate(NOTEBOOK)
    page.keyboard.press("ArrowDown")
    expect(picker).not_to_have_value(value)
    _same_notebook(page, before, "ArrowDown on a select")
    page.keyboard.press("ArrowUp")
    expect(form.locator("select").first).to_have_value(value)

    # the grid's rows: ArrowDown and End scroll the grid, not the notebook
    scroller = grid.locator(".qw-grid-scroll")
    scroller.focus()
    before = page.evaluate(NOTEBOOK)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("End")
    _same_notebook(page, before, "ArrowDown/End on the grid")
    page.wait_for_function("(el) => el.scrollTop > 0", arg=scroller.element_handle())

    # a text box: typing "dd" types
    seed = form.locator('[data-key="model.seed"]')
    seed.focus()
    before = page.evaluate(NOTEBOOK)
    page.keyboard.type("dd")
    _same_notebook(page, before, "typing in a text box")
    seed.fill("")
    seed.press("Tab")
    assert ours(errors) == []


def test_train_keeps_focus_and_tab_follows_the_layout(lab: Lab, page: Any) -> None:
    open_and_run(page, lab.notebook("focus.ipynb", [SETUP]))
    form = page.locator(".qw-cf")
    form.wait_for(timeout=60_000)

    # Tab from the first control: each stop is below the previous one, or on its line to the right.
    first = form.locator("select, input, button").first
    first.focus()
    stops: list[dict[str, Any]] = []
    for _ in range(60):
        stop = page.evaluate("""() => { const a = document.activeElement;
          const form = a.closest('.qw-cf'); if (!form) return null;
          const r = a.getBoundingClientRect(), f = form.getBoundingClientRect();
          return { key: a.dataset.key || a.textContent.trim().slice(0, 20) || a.tagName,
                   top: r.top - f.top, left: r.left - f.left, height: r.height }; }""")
        if stop is None:
            break
        stops.append(stop)
        page.keyboard.press("Tab")
    assert len(stops) > 8, stops
    for a, b in itertools.pairwise(stops):
        same_line = abs(b["top"] - a["top"]) < max(a["height"], b["height"]) / 2
        assert (same_line and b["left"] > a["left"]) or (not same_line and b["top"] > a["top"]), (
            f"Tab went from {a} back to {b}: the focus order differs from the layout")
    assert any(s["key"] == "Train" for s in stops)

    # Train pressed from the keyboard: focus is on Train again once the training is submitted.
    train = form.get_by_role("button", name="Train a model with these parameters")
    train.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".qw-monitor .qw-badge")).to_have_text("completed", timeout=90_000)
    expect(train).to_be_enabled()
    expect(train).to_be_focused()
    screenshot(page, "keyboard_train_focus")


FORM_ONLY = """
import pandas as pd
from qwidgets.widgets import ModelConfigForm
ModelConfigForm(data=pd.DataFrame({"x": [0.1, 0.2, 0.3], "z": [0.3, 0.1, 0.2]}))
"""


def test_notebook7_keeps_the_keys_with_the_controls(tmp_path: Path, browser: Any) -> None:
    # Notebook 7 runs the same Lumino command registry with its own shortcut settings. Its own
    # uncaught errors are not ours (see test_front_ends.py): a page that does not fail on them.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(FORM_ONLY), nbformat.v4.new_code_cell("a = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "keys7.ipynb"
    nbformat.write(nb, path)
    with running_lab(tmp_path / "nb7", app="notebook", notebooks=[path]) as nb7:
        page.goto(f"{nb7.url}/notebooks/{path.name}?token={nb7.token}")
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        form = page.locator(".qw-cf")
        form.wait_for(timeout=60_000)
        form.get_by_role("button", name="Train a model with these parameters").focus()
        before = page.evaluate(NOTEBOOK)
        page.keyboard.press("d")
        page.keyboard.press("d")
        _same_notebook(page, before, '"d d" on Train in Notebook 7')
        form.locator("select").first.focus()
        page.keyboard.press("b")
        _same_notebook(page, before, '"b" on a select in Notebook 7')
    context.close()
