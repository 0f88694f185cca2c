"""PipelineView over real pipelines (the training one against the simulator on loopback):
the synced state follows the run to its end, updates are throttled with the final state always
sent, Stop and Resume from the browser really stop and resume (the server-side training is
cancelled), the static form is escaped, and no secret reaches the frontend."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qwidgets.client import AsyncQcogClient
from qwidgets.client.pipeline.runner import Action, ActionState, FunctionAction, Pipeline
from qwidgets.client.pipeline.training import TrainingPipeline
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from qwidgets.widgets.base import bundle
from qwidgets.widgets.pipeline_view import SYNCED_EVENTS, PipelineView
from tests.client_support import client_for
from tests.widget_support import Wire, until

GRAD = {"weight_optimization": {"optimization_method": "GRAD", "iterations": 2,
                                "learning_rate": 0.1},
        "get_states_extra": {"state_method": "NP_EIGH"}}


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


def frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df


def training(client: AsyncQcogClient, tmp: Path, name: str, *, qbits: int = 2, rows: int = 400,
             batch: int = 100, passes: int = 3) -> TrainingPipeline:
    df = frame(rows)
    return TrainingPipeline(client, data=df, model_parameters={"operators": ["x", "y", "z"],
                                                               "qbits": qbits},
                            batch_size=batch, num_passes=passes, inference_data=df[["x", "y"]],
                            name=name, checkpoint=tmp / f"{name}.json", **GRAD)


async def test_view_follows_a_training_pipeline_to_done(server, client, tmp_path):
    pipe = training(client, tmp_path, "viewed")
    view = PipelineView(pipe)
    wire = Wire(view)
    assert view.state == ""
    assert [a["state"] for a in view.actions] == ["", "", "", ""]
    assert view.title == "viewed"
    await pipe.run()
    await until(lambda: view.state == "Done")  # the final state goes out at once
    assert [(a["name"], a["state"], a["status"]) for a in view.actions] == [
        ("LoadDataset", "Done", "DatasetLoaded"), ("Train", "Done", "TrainFinished"),
        ("Publish", "Done", "ModelPublished"), ("Serve", "Done", "Deployed")]
    assert all(a["progress"] == 100 for a in view.actions)
    assert view.actions[1]["guid"] == pipe.model_guid
    assert "viewed v1" in view.actions[2]["detail"]
    assert view.status == "Deployed"
    assert not view._running
    assert view.event_count == len(pipe.events)
    assert view.events[-1]["status"] == "Finished"
    assert view.events[0]["t"] == view._t0
    # What reached the browser: the last update carried the final state, and no token.
    assert wire.updates()
    assert wire.last()["state"] == "Done"
    sent = json.dumps([d for _, d, _ in wire.messages], default=str)
    assert server.token not in sent
    assert server.token not in json.dumps(view.get_state(), default=str)
    static = view.static_html()
    assert "Deployed" in static
    assert "TrainFinished" in static
    assert "Finished" in static


class Chatty(Action):
    """Reports progress far faster than anyone could read it."""

    def __init__(self, reports: int) -> None:
        super().__init__("chatty")
        self.reports = reports

    async def execute(self, input: Any) -> int:
        for i in range(self.reports):
            self.report(progress=100 * i / self.reports, step=i)
            await asyncio.sleep(0)
            if i % 50 == 0:
                await asyncio.sleep(0.005)
        return self.reports


async def test_updates_are_throttled_and_the_final_state_always_sent():
    pipe = Pipeline([Chatty(2000)], name="chatty")
    view = PipelineView(pipe)
    wire = Wire(view)
    started = time.monotonic()
    await pipe.run()
    elapsed = time.monotonic() - started
    updates = wire.updates()
    # <= 10 per second (one interval's worth of slack at each end), final state included
    assert len(updates) <= elapsed / 0.1 + 3, (len(updates), elapsed)
    assert len(pipe.events) > 2000
    assert updates[-1].get("state") == "Done" or view.state == "Done"
    assert view.state == "Done"
    assert len(view.events) == SYNCED_EVENTS
    assert view.event_count == len(pipe.events)
    assert view.events[-1]["status"] == "Finished"


async def test_stop_and_resume_from_the_browser(server, client, tmp_path):
    pipe = training(client, tmp_path, "buttons", qbits=5, rows=2000, batch=250, passes=4)
    view = PipelineView(pipe)
    wire = Wire(view)
    pipe.start()
    await until(lambda: pipe.status == "Training")
    await until(lambda: view._running and view.status == "Training")
    guid = pipe.model_guid
    # The message the Stop button sends, through the widget's own request routing.
    view._requests.receive({"id": "stop-1", "kind": "stop"}, [])
    await until(lambda: any(r["id"] == "stop-1" for r in wire.replies()))
    reply = next(r for r in wire.replies() if r["id"] == "stop-1")
    assert reply["ok"]
    assert reply["result"] == {"state": "Stopped"}
    assert view.state == "Stopped"
    assert view.actions[1]["state"] == "Stopped"
    assert view.actions[1]["status"] == "TrainStopped"
    assert "server: cancelled" in view.actions[1]["detail"]
    assert view.actions[1]["progress"] is not None  # how far it got stays shown
    async with await client_for(server.url, server.token) as other:
        await other.preloaded_model(guid)
        assert await other.status() == "cancelled"

    view._requests.receive({"id": "resume-1", "kind": "resume"}, [])
    await until(lambda: any(r["id"] == "resume-1" for r in wire.replies()))
    assert pipe.running or pipe.state is ActionState.Done
    await until(lambda: view.state == "Done", timeout=120)
    assert [a["state"] for a in view.actions] == ["Done"] * 4
    assert pipe.model_guid != guid
    statuses = [e["status"] for e in view.events if e["action"] == ""]
    assert statuses[-2:] == ["Resumed", "Finished"]


async def test_static_form_escapes_everything():
    def fail(_: Any) -> None:
        raise ValueError("<img src=x onerror=alert(1)>")

    pipe = Pipeline([FunctionAction(fail, name="hostile")], name="escape-me")
    view = PipelineView(pipe)
    with pytest.raises(ValueError, match="img"):
        await pipe.run()
    assert view.state == "Error"
    assert "<img" in view.error
    html = view.static_html()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "hostile" in view.static_text()


def test_bad_arguments_are_named():
    with pytest.raises(ValidationError) as info:
        PipelineView("not a pipeline")  # type: ignore[arg-type]
    assert info.value.field == "pipeline"
    with pytest.raises(TypeError, match="colour"):
        PipelineView(Pipeline([FunctionAction(str, name="a")]), colour="red")


async def test_closing_the_view_unsubscribes_it():
    pipe = Pipeline([FunctionAction(str, name="a")], name="closing")
    view = PipelineView(pipe)
    view.close()
    await pipe.run()
    assert view.state == ""
    assert pipe.state is ActionState.Done


def test_bundle_is_small():
    size = bundle("pipeline_view").stat().st_size
    assert 0 < size <= 150_000
