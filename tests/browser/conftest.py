from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import CHROMIUM, CHROMIUM_ARGS, Lab, chromium_missing, running_lab


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    missing = chromium_missing()
    if missing:
        # CI installs Chromium and sets QWIDGETS_REQUIRE_BROWSER=1: there a missing browser
        # is a broken setup and fails; on a developer's machine it is a loud skip.
        if os.environ.get("QWIDGETS_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _require_chromium()
    with running_lab(Path(tmp_path_factory.mktemp("lab"))) as the_lab:
        yield the_lab


# Module scope, not session: Playwright's sync API keeps an event loop running on this thread
# while it is open, and the asyncio tests that run after the browser modules need it gone.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page; any uncaught page error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert not errors, f"page errors: {errors}"
