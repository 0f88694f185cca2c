"""The quickstart run in JupyterLab, saved, its kernel shut down, the page reloaded: the
panels come back as they were (the widgets rebuilt from the state saved in the notebook,
which qwidgets' JupyterLab settings default turns on; the grid with the rows saved with it),
never "Error displaying widget: model not found"."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.lab import (
    KERNEL_IDLE,
    Lab,
    console_errors,
    open_and_run,
    ours,
    quickstart_shows_its_forecast,
    screenshot,
)

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
STATE = "application/vnd.jupyter.widget-state+json"
NAME = "reopened_quickstart.ipynb"


def _api(lab: Lab, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(f"{lab.url}{path}", method=method,
                                     headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def _saved_models(path: Path) -> list[str]:
    state = json.loads(path.read_text()).get("metadata", {}).get("widgets", {}).get(STATE, {})
    return [m["state"].get("_anywidget_id", "") for m in state.get("state", {}).values()]


def test_a_saved_notebook_reopens_with_its_panels(lab: Lab, page: Any) -> None:
    shutil.copy2(QUICKSTART, lab.root / NAME)
    url = f"{lab.url}/lab/tree/{NAME}?token={lab.token}&reset"
    errors = console_errors(page)
    open_and_run(page, url)
    quickstart_shows_its_forecast(page)
    page.get_by_text("quickstart-dashboard.html").first.wait_for(timeout=60_000)  # the last cell
    assert ours(errors) == []

    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
    saved = _saved_models(lab.root / NAME)
    assert any(m.endswith("TrainingMonitor") for m in saved), (
        "JupyterLab saved no widget state: is qwidgets' settings default installed "
        f"(share/jupyter/lab/settings/overrides.d/qwidgets.json; pip install -e .)? {saved}")

    for session in _api(lab, "/api/sessions"):
        _api(lab, f"/api/sessions/{session['id']}", method="DELETE")
    page.reload()
    # The reopened notebook gets a new kernel, which has never heard of the saved models.
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    notebook = page.locator(".jp-Notebook")
    expect(notebook.get_by_text("Loading widget...")).to_have_count(0, timeout=30_000)
    # The saved widgets are rebuilt one output at a time: on a loaded machine, seconds.
    expect(page.locator(".qw-monitor .qw-badge").first).to_have_text("completed", timeout=30_000)
    expect(page.locator(".qw-monitor").first).to_contain_text("pass 10 of 10")
    expect(page.get_by_role("button", name="Train a model with these parameters")).to_be_visible()
    grid = page.locator(".qw-grid").first
    expect(grid).to_contain_text("z_actual")
    # The rows came from the old kernel; the saved ones stand in, with numbers, not "…".
    row = grid.locator(".qw-grid-row:not(.qw-grid-loading)").first
    expect(row).to_contain_text(re.compile(r"-?\d+\.\d+"), timeout=30_000)
    expect(grid.locator(".qw-grid-info")).to_contain_text("saved with the notebook")
    expect(notebook).not_to_contain_text("Error displaying widget")
    expect(notebook).not_to_contain_text("model not found")
    page.locator(".qw-monitor").first.scroll_into_view_if_needed()
    screenshot(page, "reopened_quickstart")
    assert ours(errors) == []
