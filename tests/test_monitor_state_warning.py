"""An iterative state solver that stops at its budget: the warning the simulator stores with the
training's progress reaches ``client.progress()``, the TrainingMonitor's trait, its event log
(once) and its static form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qwidgets.client import AsyncQcogClient
from qwidgets.client.qcog.status import describe_progress, progress_view
from qwidgets.widgets.monitor import TrainingMonitor
from tests.client_support import client_for
from tests.test_widget_monitor import EIGH, GRAD, frame
from tests.widget_support import Wire

# One LOBPCG iteration from a random start cannot reach tol at dim 16 (4 qubits).
STARVED = {"state_method": "LOBPCG_FAST", "iterations": 1, "tol": 1e-6}


@pytest.fixture
async def client(server) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


async def train(client: AsyncQcogClient, state: dict[str, Any], passes: int = 2) -> None:
    client.pauli(["x", "y", "z"], qbits=4, pauli_weight=2)
    await client.data(frame(200))
    await client.train(100, passes, GRAD, state)


def warned(monitor: TrainingMonitor) -> list[str]:
    return [e["text"] for e in monitor.all_events if e["level"] == "warning"]


async def test_progress_view_carries_the_servers_state_fields_only_when_present(client):
    await train(client, EIGH, passes=1)
    await client.wait_for_training(poll_time=0.2, timeout=120)
    model = client.trained_model
    plain = progress_view(model)
    exact = model.get("progress") or {}
    for key in ("state_warning", "solved_rows", "unconverged_rows"):
        assert (key in plain) == (key in exact)
    assert not plain.get("state_warning")  # NP_EIGH is exact
    text = "LOBPCG_FAST stopped at its iteration budget (iterations=1) for 40% of rows"
    suspect = {**model, "progress": {**exact, "state_warning": text, "solved_rows": 100,
                                     "unconverged_rows": 40}}
    view = progress_view(suspect)
    assert (view["state_warning"], view["solved_rows"], view["unconverged_rows"]) == (text, 100, 40)
    assert f"warning: {text}" in describe_progress(view)


async def test_an_unconverged_training_warns_in_the_monitor_and_its_static_form(client):
    await train(client, STARVED)
    monitor = TrainingMonitor(client)
    wire = Wire(monitor)
    assert await asyncio.wait_for(monitor.wait(), 120) == "completed"
    progress = await client.progress()
    assert progress["unconverged_rows"] > 0
    assert "NP_EIGH" in progress["state_warning"]
    assert monitor.state_warning == progress["state_warning"]
    assert wire.last()["state_warning"] == monitor.state_warning
    assert len(warned(monitor)) == 1
    assert "iterations=1" in warned(monitor)[0]
    html = monitor.static_html()
    assert "qw-warning" in html
    assert "NP_EIGH" in html
    assert "warning:" in monitor.static_text()


def test_a_warning_is_logged_once_and_cleared_by_the_server():
    monitor = TrainingMonitor()
    monitor.update(state_warning="LOBPCG_FAST stopped <for> 3% of rows: use NP_EIGH")
    monitor.update(state_warning="LOBPCG_FAST stopped <for> 5% of rows: use NP_EIGH")
    monitor.finish()
    assert len(warned(monitor)) == 1
    html = monitor.static_html()
    assert "&lt;for&gt; 5%" in html
    assert "<for>" not in html
    monitor.update(state_warning="")
    monitor.finish()
    assert monitor.state_warning == ""
    assert "qw-warning" not in monitor.static_html()
