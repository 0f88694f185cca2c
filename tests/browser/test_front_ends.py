"""The quickstart as a user opens it outside JupyterLab: in Notebook 7 (run all) and in Voila
(the notebook served as an app, as a teacher shows a panel). Each renders the dashboard,
trains, and shows the forecast, with no error from our bundles in the console.
JupyterLab's run of the quickstart is in test_reopen_saved.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.lab import (
    KERNEL_IDLE,
    console_errors,
    ours,
    quickstart_shows_its_forecast,
    running_lab,
    screenshot,
)

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.fixture
def app_page(browser: Any) -> Iterator[Any]:
    """A fresh page that, unlike ``page``, leaves the front ends' own uncaught errors to the
    test: it fails on ours only (lab.ours)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_notebook7_runs_the_quickstart(tmp_path: Path, app_page: Any) -> None:
    errors = console_errors(app_page)
    with running_lab(tmp_path, app="notebook", notebooks=[QUICKSTART]) as nb7:
        app_page.goto(f"{nb7.url}/notebooks/{QUICKSTART.name}?token={nb7.token}")
        app_page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        app_page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        quickstart_shows_its_forecast(app_page)
        screenshot(app_page, "notebook7_quickstart")
    assert ours(errors) == []


def test_voila_serves_the_quickstart_as_an_app(tmp_path: Path, app_page: Any) -> None:
    errors = console_errors(app_page)
    with running_lab(tmp_path, app="voila", notebooks=[QUICKSTART], serve=QUICKSTART.name) as voila:
        # Voila runs the whole notebook, training included, before it shows the page.
        app_page.goto(f"{voila.url}/?token={voila.token}", timeout=180_000)
        quickstart_shows_its_forecast(app_page)
        # an app: the outputs without the code
        expect(app_page.get_by_text("dash = qwidgets.dashboard(df)")).to_have_count(0)
        screenshot(app_page, "voila_quickstart")
    assert ours(errors) == []
