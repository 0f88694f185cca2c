"""``%load_ext qwidgets``: the magics and their plain-function twins, in a real IPython shell
driving the real simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import qwidgets
from qwidgets.client import AsyncQcogClient
from qwidgets.errors import QwidgetsError
from qwidgets.export import panel_module
from qwidgets.sim import start


@pytest.fixture
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "qwidgets")
    yield ip
    ip.run_line_magic("unload_ext", "qwidgets")


def test_magics_are_registered(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.magics["line"]
    for name in ("qw_dashboard", "qw_devices", "qw_jobs", "qw_grid"):
        assert name in magics


def test_dashboard_magic_takes_a_dataframe_by_name(shell: InteractiveShell) -> None:
    shell.user_ns["frame"] = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    dash = shell.run_line_magic("qw_dashboard", "frame")
    assert dash.form.columns == ["a", "b"]
    with pytest.raises(QwidgetsError, match="no variable named 'nothere'"):
        shell.run_line_magic("qw_dashboard", "nothere")
    dash.close()


def test_grid_magic_refuses_unknown_words(shell: InteractiveShell) -> None:
    with pytest.raises(QwidgetsError, match="'on' or 'off'"):
        shell.run_line_magic("qw_grid", "maybe")


async def test_watcher_and_grid_formatter_follow_a_real_training(tmp_path: Path,
                                                                shell: InteractiveShell) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.uniform(-1, 1, (120, 2)), columns=["x", "y"])
    df["z"] = df.x - df.y
    with start(data_dir=tmp_path) as server:
        client = await AsyncQcogClient.create(token=server.token, hostname="127.0.0.1",
                                              port=server.port)
        watcher = qwidgets.watch_jobs()
        assert watcher.views == []
        client.pauli(operators=["x", "y", "z"])
        await client.data(df)
        await client.train(batch_size=60, num_passes=2)
        assert len(watcher.views) == 1
        monitor = watcher.views[0]
        assert monitor.model_guid == client.model_guid
        assert await asyncio.wait_for(monitor.wait(), 60) == "completed"
        watcher.close()
        # A frame from inference is shown as a grid once %qw_grid is on; others are not.
        forecast = await client.inference(df[["x", "y"]], {"state_method": "NP_EIGH"})
        await client.close()
    formatter = shell.display_formatter.ipython_display_formatter
    shell.run_line_magic("qw_grid", "on")
    shown: list[object] = []
    import IPython.display

    original = IPython.display.display
    IPython.display.display = lambda obj, **kw: shown.append(obj)  # record, not render
    try:
        assert formatter(forecast) is True
        assert formatter(df) is None  # an ordinary frame keeps its normal table
    finally:
        IPython.display.display = original
    assert type(shown[0]).__name__ == "InferenceGrid"
    assert shown[0].df is forecast
    shell.run_line_magic("qw_grid", "off")
    assert formatter(forecast) is None


async def test_dashboard_joins_other_panels_and_exports_them(tmp_path: Path) -> None:
    from qwidgets.client import AsyncJobsClient
    from qwidgets.widgets import JobTimeline

    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with start(data_dir=tmp_path / "sim") as server:
        jobs = AsyncJobsClient(server.url, server.token)
        timeline = JobTimeline(client=jobs, autostart=False)
        dash = qwidgets.dashboard(df).add(timeline)
        assert dash.panels[-1] is timeline
        assert timeline in dash.children[-1].children
        page = dash.save_html(tmp_path / "d.html").read_text()
        name, _ = panel_module(timeline)
        assert f"data-qw-module='{name}'" in page
        assert page.count(f"id='qw-esm-{name}'") == 1  # each module inlined once
        with pytest.raises(TypeError, match="qwidgets widgets"):
            dash.add("not a widget")  # type: ignore[arg-type]
        dash.close()
        await jobs.close()
