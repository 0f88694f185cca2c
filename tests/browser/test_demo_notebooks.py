"""The demo notebooks as a newcomer runs them: open each in JupyterLab, Run All, and at the end
every widget output is still on screen (a widget closed by a cleanup cell leaves a blank output
and Lumino's removeChild error), with no uncaught error and no console.error."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import KERNEL_IDLE, Lab, screenshot

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

# Run All ended: every code cell ran (or one failed, which stops Run All).
FINISHED = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.widgets
    .filter((c) => c.model.type === 'code');
  for (const cell of cells) {
    const outputs = cell.model.outputs;
    for (let i = 0; i < outputs.length; i++) {
      const out = outputs.get(i).toJSON();
      if (out.output_type === 'error') return {error: `${out.ename}: ${out.evalue}`};
    }
  }
  const done = cells.every((c) => c.model.executionCount !== null
                                  && !c.promptNode.textContent.includes('*'));
  return done ? {error: null} : null;
}"""

# Each widget output of the notebook model and whether its view is on the page.
WIDGET_OUTPUTS = """() => {
  const shown = [];
  window.jupyterapp.shell.currentWidget.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = cell.model.outputs;
    for (let i = 0; i < outputs.length; i++) {
      if (!outputs.get(i).data['application/vnd.jupyter.widget-view+json']) continue;
      const area = cell.outputArea.widgets[i];
      const node = area && area.node.querySelector('.jp-OutputArea-output');
      const text = node ? node.textContent : '';
      shown.push({cell: index, displayed: !!node && node.childElementCount > 0
                  && node.offsetHeight > 0 && !text.includes('Error displaying widget')});
    }
  });
  return shown;
}"""

# What a notebook's panels must show at the end, beyond being there.
SHOWS = {
    # a validation score per aggregate: the chart's title carries the latest one
    "federated": ".qw-fed .qw-chart-title:has-text(':')",
}


@pytest.fixture(scope="module")
def demos(lab: Lab) -> Path:
    # A folder of their own: another module's notebook of the same name would share its
    # kernel session.
    folder = lab.root / "demos"
    folder.mkdir(exist_ok=True)
    for path in NOTEBOOKS:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_demo_ends_with_its_panels_on_screen(path: Path, lab: Lab, demos: Path,
                                             page: Any) -> None:
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text)
            if msg.type == "error" else None)
    page.goto(f"{lab.url}/lab/tree/{demos.name}/{path.name}?token={lab.token}&reset")
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    try:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        ended = page.wait_for_function(FINISHED, timeout=240_000, polling=250).json_value()
        assert ended["error"] is None, f"{path.name}: {ended['error']}"
        time.sleep(1.0)  # the last cell's messages land; a closed view would be gone by now
        widgets = page.evaluate(WIDGET_OUTPUTS)
        screenshot(page, f"demo_{path.stem}")
        blank = [w["cell"] for w in widgets if not w["displayed"]]
        assert not blank, f"{path.name}: the widget output of cell(s) {blank} is blank at the end"
        if path.stem in SHOWS:
            page.locator(SHOWS[path.stem]).first.wait_for(timeout=15_000)
        assert not console_errors, f"{path.name}: console errors: {console_errors}"
    finally:
        # two cores: a finished demo's kernel (and its simulator) must not slow the next one
        page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
