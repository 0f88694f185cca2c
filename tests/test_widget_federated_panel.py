"""FederatedPanel against the real simulator on loopback: state from the service, windows of a
long history, live polling as one task with throttled messages and the final state sent,
browser requests, errors, the static form, the plotly figure, and no secret in the state."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qwidgets.client import AsyncFederatedClient
from qwidgets.client.federated.client import simulate_clients
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from qwidgets.widgets.base import bundle
from qwidgets.widgets.federated_panel import MAX_POINTS, TABLE_ROWS, FederatedPanel, _decimate
from tests.client_support import FAST_RETRY
from tests.widget_support import Wire, until


@pytest.fixture
async def fed(server: SimServer) -> AsyncIterator[AsyncFederatedClient]:
    client = await AsyncFederatedClient.create(token=server.token, hostname="127.0.0.1",
                                               port=server.port, retry=FAST_RETRY)
    async with client:
        yield client


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="colour"):
        FederatedPanel(1, colour="red")
    with pytest.raises(ValidationError) as info:
        FederatedPanel(0)
    assert info.value.field == "federated_model_id"
    with pytest.raises(ValidationError) as info:
        FederatedPanel(1, interval=0)
    assert info.value.field == "interval"
    with pytest.raises(ValidationError) as info:
        FederatedPanel(1, client="http://127.0.0.1:8000")  # type: ignore[arg-type]
    assert info.value.field == "client"


def test_the_bundle_is_small() -> None:
    path = bundle("federated_panel")
    assert path.exists(), "build the JS: npm --prefix js run build"
    assert path.stat().st_size <= 150 * 1024


async def test_refresh_shows_the_service_state(server: SimServer,
                                               fed: AsyncFederatedClient) -> None:
    report = await simulate_clients(fed, clients=3, rounds=4, delay=0.0)
    panel = FederatedPanel(report.federated_model_id, client=fed)
    assert await panel.refresh() is True
    assert panel.info["name"] == "linear-regression-demo"
    assert (panel.info["rule"], panel.info["aggregation"]) == ("all_clients", "fedavg")
    assert [c["id"] for c in panel.clients] == [u[:8] for u in report.clients]
    assert all(c["updates"] == 4 and c["scores"] == 4 for c in panel.clients)
    assert [a["version"] for a in panel.aggregates] == [1, 2, 3, 4]
    assert [s[1] for s in panel.scores] == pytest.approx(report.r2)
    assert panel.current_round["version"] == 5
    assert panel.current_round["waiting_for"] == [u[:8] for u in report.clients]
    assert panel.updated_on  # the service's time of the state shown
    state = json.dumps(panel.get_state(), default=str)
    assert server.token not in state
    assert not any(u in state for u in report.clients)  # only shortened client ids
    text = panel.static_text()
    assert "4 aggregate(s)" in text
    assert f"{report.r2[-1]:.4g}" in text


async def test_a_long_history_is_windowed(fed: AsyncFederatedClient) -> None:
    model = await fed.create_model("long", rule="x_updates", x_updates=1,
                                   initial_artifact=[0.0], score_key="acc")
    client = fed.web_client(model["id"])
    await client.register()
    for i in range(TABLE_ROWS + 15):
        sent = await client.send_update([float(i)])
        await client.send_val_results(i / 100, sent["aggregate"])
    panel = FederatedPanel(model["id"], client=fed)
    await panel.refresh()
    assert len(panel.aggregates_all) == TABLE_ROWS + 15
    assert len(panel.aggregates) == TABLE_ROWS
    assert panel.aggregates[-1]["version"] == TABLE_ROWS + 15
    assert "results" not in panel.aggregates[-1]
    assert len(panel.scores) == TABLE_ROWS + 15
    # a late score for a recent aggregate is picked up by the next poll
    last = panel.aggregates_all[-1]["id"]
    await client.send_val_results(0.99, last)
    polls = panel.polls
    await panel.refresh()
    assert panel.polls == polls + 1
    assert panel.aggregates_all[-1]["validation_score"] == pytest.approx(0.99)
    assert len(panel.aggregates_all) == TABLE_ROWS + 15
    fig = panel.figure()
    assert list(fig.data[0].y)[-1] == pytest.approx(0.99)
    assert list(fig.data[0].x) == list(range(1, TABLE_ROWS + 16))
    assert fig.layout.yaxis.title.text == "validation acc (mean over clients)"


def test_decimation_keeps_the_ends() -> None:
    points = [[i, i / 10] for i in range(1, 1001)]
    out = _decimate(points, MAX_POINTS)
    assert len(out) == MAX_POINTS
    assert out[0] == [1, 0.1]
    assert out[-1] == [1000, 100.0]
    assert [p[0] for p in out] == sorted({p[0] for p in out})
    assert _decimate(points[:5], MAX_POINTS) == points[:5]


async def test_live_polling_follows_a_federation(fed: AsyncFederatedClient) -> None:
    model = await fed.create_model("live", aggregation="fedavg", score_key="r2",
                                   initial_artifact={"w": [0.0, 0.0, 0.0], "b": 0.0})
    panel = FederatedPanel(model["id"], client=fed, interval=0.05)
    wire = Wire(panel)
    started = time.monotonic()
    panel.start()
    task = panel.task
    assert task is not None
    panel.start()
    assert panel.task is task  # one polling task, however often start() is called
    report = await simulate_clients(fed, model["id"], clients=3, rounds=6, delay=0.1)
    await until(lambda: len(panel.aggregates_all) == 6
                and panel.aggregates_all[-1]["n_scores"] == 3, what="the sixth round")
    await asyncio.sleep(0.3)  # a few more polls: nothing changes, the loop backs off
    panel.stop()
    elapsed = time.monotonic() - started
    assert panel.polls >= 6
    updates = wire.updates()
    assert len(updates) <= 10 * elapsed + 3  # throttled to ten a second
    final: dict[str, Any] = {}
    for update in updates:
        final.update(update)
    assert final["live"] is False
    assert final["status"] == "stopped"
    assert [s[1] for s in final["scores"]] == pytest.approx(report.r2)
    assert final["aggregates"][-1]["version"] == 6
    polls = panel.polls
    await asyncio.sleep(0.3)
    assert task.done()
    assert panel.polls == polls  # stopped: no task left behind
    assert panel.task is None


async def test_browser_requests(fed: AsyncFederatedClient) -> None:
    model = await fed.create_model("requests", initial_artifact=[0.0])
    web, silent = fed.web_client(model["id"]), fed.web_client(model["id"])
    await web.register()
    await silent.register()
    await web.send_update([2.0])
    panel = FederatedPanel(model["id"], client=fed)
    wire = Wire(panel)
    panel._requests.receive({"id": "r1", "kind": "refresh"})
    await until(lambda: any(r["id"] == "r1" for r in wire.replies()), what="refresh reply")
    assert panel.current_round["pending_updates"] == 1
    panel._requests.receive({"id": "r2", "kind": "aggregate_now"})
    await until(lambda: any(r["id"] == "r2" for r in wire.replies()), what="aggregate reply")
    reply = next(r for r in wire.replies() if r["id"] == "r2")
    assert reply["ok"], reply
    assert reply["result"]["aggregate"] is not None
    assert [a["trigger"] for a in panel.aggregates] == ["manual"]
    panel._requests.receive({"id": "r3", "kind": "live", "on": True})
    await until(lambda: any(r["id"] == "r3" for r in wire.replies()), what="live reply")
    assert panel.task is not None
    assert panel.live
    panel._requests.receive({"id": "r4", "kind": "live", "on": False})
    await until(lambda: any(r["id"] == "r4" for r in wire.replies()), what="stop reply")
    assert panel.task is None
    assert not panel.live
    panel.close()


async def test_an_unknown_model_stops_with_a_reason(fed: AsyncFederatedClient) -> None:
    panel = FederatedPanel(424242, client=fed, interval=0.05)
    panel.start()
    await until(lambda: panel.task is None, what="the poller to give up")
    panel._throttle.finish()
    assert panel.status == "error"
    assert "424242" in panel.error
    assert not panel.live


def test_start_needs_a_running_loop() -> None:
    from qwidgets.client.errors import UsageError

    with pytest.raises(UsageError, match="refresh"):
        FederatedPanel(1).start()


async def test_static_form_escapes_everything(fed: AsyncFederatedClient, tmp_path: Path) -> None:
    model = await fed.create_model("<script>alert(1)</script>", rule="x_updates", x_updates=1,
                                   initial_artifact=[0.0], score_key="<b>acc</b>")
    client = fed.web_client(model["id"])
    await client.register()
    for value in (0.5, 0.7):
        sent = await client.send_update([value])
        await client.send_val_results(value, sent["aggregate"])
    panel = FederatedPanel(model["id"], client=fed)
    await panel.refresh()
    page = panel.static_html()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>acc</b>" not in page
    assert "<polyline" in page
    assert page.count("<tr>") == 2 + 1 + 2  # two header rows, one client, two aggregates
    assert "0.7" in page
    bundle_, _ = panel._repr_mimebundle_()
    assert bundle_["text/html"] == page


async def test_requests_from_another_loop_run_on_the_cells_loop(
        fed: AsyncFederatedClient) -> None:
    """JupyterLab 4.6 with ipykernel 7 delivers widget messages on a subshell thread with its
    own loop: the panel's work must still run where its client's connections live."""
    model = await fed.create_model("subshell", initial_artifact=[0.0])
    first, second = fed.web_client(model["id"]), fed.web_client(model["id"])
    await first.register()
    await second.register()
    panel = FederatedPanel(model["id"], client=fed, interval=0.05)
    wire = Wire(panel)
    panel.start()
    panel.stop()  # a stopped panel: Aggregate now must refresh by itself
    await first.send_update([4.0])

    async def from_subshell(message: dict[str, Any]) -> dict[str, Any]:
        # a thread with its own loop, as a kernel subshell
        def answered() -> bool:
            return any(r["id"] == message["id"] for r in wire.replies())

        await asyncio.to_thread(lambda: asyncio.run(_receive(panel, message, answered)))
        assert answered(), f"no reply to {message['kind']}"
        return next(r for r in wire.replies() if r["id"] == message["id"])

    reply = await from_subshell({"id": "s1", "kind": "aggregate_now"})
    assert reply["ok"], reply
    assert [a["trigger"] for a in panel.aggregates] == ["manual"]
    reply = await from_subshell({"id": "s2", "kind": "live", "on": True})
    assert reply["result"] == {"live": True}
    task = panel.task
    assert task is not None
    assert task.get_loop() is asyncio.get_running_loop()
    assert (await from_subshell({"id": "s3", "kind": "refresh"}))["ok"]
    await from_subshell({"id": "s4", "kind": "live", "on": False})
    assert panel.task is None
    assert not panel.live


async def _receive(panel: FederatedPanel, message: dict[str, Any], answered: Any) -> None:
    """The subshell's side: its loop keeps running (as a subshell's does) until the reply."""
    panel._requests.receive(message)
    deadline = time.monotonic() + 30
    while not answered() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
