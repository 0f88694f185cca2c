"""The simulator fixtures every test module shares (registered by ``tests/conftest.py``).

- ``server``: one simulator per test module, in a data directory of its own. Starting one costs
  a store, a thread and an event loop, so the tests of a module share it.
- ``sim_options``: the keyword arguments of ``qwidgets.sim.start`` for that server; a module
  that needs others (a fixed token, fewer training workers) overrides this fixture.
- ``start_sim``: a factory for tests that need a server of their own (a fresh store, special
  options, several servers); what it starts is stopped when the test ends. A module whose every
  test needs a fresh server overrides ``server`` with a function-scoped one built on it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from qwidgets.sim import SimServer, start


class StartSim(Protocol):
    def __call__(self, **options: Any) -> SimServer: ...


@pytest.fixture(scope="module")
def sim_options() -> dict[str, Any]:
    """Options of the module's ``server``: keyword arguments of ``qwidgets.sim.start``."""
    return {}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           sim_options: dict[str, Any]) -> Iterator[SimServer]:
    """The module's simulator; its data directory is named after the module, which makes a
    leftover store easy to trace."""
    name = request.module.__name__.rpartition(".")[2]
    options = {"data_dir": tmp_path_factory.mktemp(name), **sim_options}
    with start(**options) as running:
        yield running


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[StartSim]:
    """``start_sim(**options)`` starts a simulator for this test alone, by default in a new
    directory under ``tmp_path`` (``data_dir=`` chooses another)."""
    numbers = itertools.count()
    with contextlib.ExitStack() as running:

        def start_one(**options: Any) -> SimServer:
            options.setdefault("data_dir", tmp_path / f"sim-{next(numbers)}")
            return running.enter_context(start(**options))

        yield start_one
