"""The pipeline of actions (qwidgets.client.pipeline.runner) and the training workflow built on it,
against the real simulator server on loopback: states and statuses in order, the server's
failure reason, stop inside Train cancelling the server-side training, resume from a
checkpoint with a new client (also after the process running the pipeline was killed), and
handlers that hear only what they were added to."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from qwidgets.client import AsyncQcogClient, InferenceParameters, TrainingFailedError
from qwidgets.client.pipeline.runner import (
    Action,
    ActionState,
    Event,
    EventHandler,
    FunctionAction,
    Pipeline,
    PipelineStopped,
)
from qwidgets.client.pipeline.state import (
    CheckpointError,
    checkpoint_path,
    published_models,
    write_json,
)
from qwidgets.client.pipeline.training import TrainingPipeline
from qwidgets.errors import QwidgetsWarning, ValidationError
from qwidgets.sim import SimServer, start
from qwidgets.sim.server.store import DB_NAME
from tests.client_support import client_for, count_rows

ROOT = Path(__file__).resolve().parent.parent
QUICK = {"weight_optimization": {"optimization_method": "ANALYTIC"},
         "get_states_extra": {"state_method": "NP_EIGH"}}
GRAD = {"weight_optimization": {"optimization_method": "GRAD", "iterations": 2,
                                "learning_rate": 0.1},
        "get_states_extra": {"state_method": "NP_EIGH"}}


def frame(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df


def quick_pipeline(client: AsyncQcogClient, tmp: Path, name: str = "quick",
                   **overrides: object) -> TrainingPipeline:
    df = frame()
    options: dict = {"data": df, "model_parameters": {"operators": ["x", "y", "z"]},
                     "batch_size": 100, "num_passes": 3, "inference_data": df[["x", "y"]],
                     "name": name, "checkpoint": tmp / f"{name}.json", **QUICK}
    options.update(overrides)
    return TrainingPipeline(client, **options)


def slow_pipeline(client: AsyncQcogClient, tmp: Path, name: str = "slow", passes: int = 4,
                  **overrides: object) -> TrainingPipeline:
    """A training of seconds: a 32-dim Hilbert space, 2,000 rows in 8 batches per pass."""
    df = frame(2000)
    options: dict = {"data": df, "model_parameters": {"operators": ["x", "y", "z"], "qbits": 5},
                     "batch_size": 250, "num_passes": passes, "inference_data": df[["x", "y"]],
                     "name": name, "checkpoint": tmp / f"{name}.json", **GRAD}
    options.update(overrides)
    return TrainingPipeline(client, **options)


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[AsyncQcogClient]:
    async with await client_for(server.url, server.token) as running:
        yield running


@pytest.fixture
async def observer(server: SimServer) -> AsyncIterator[AsyncQcogClient]:
    """A second client that only looks at the server (not the pipeline's own)."""
    async with await client_for(server.url, server.token) as running:
        yield running


def model_updated(server: SimServer, guid: str) -> float:
    """When the server last changed the model row (its completion time once final)."""
    uri = f"file:{server.data_dir / DB_NAME}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return float(conn.execute("SELECT updated FROM models WHERE guid=?",
                                  (guid,)).fetchone()[0])


async def until(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- a successful run


async def test_successful_run_states_in_order(server, client, observer, tmp_path):
    pipe = quick_pipeline(client, tmp_path)
    seen: list[Event] = []
    mismatches: list[str] = []

    def check(event: Event) -> None:
        seen.append(event)
        # The state is current when the event is handed out, for the action and the pipeline.
        if event.action is not None:
            action = pipe.action(event.action)
            if (action.state, action.status, pipe.status) != (event.state, event.status,
                                                              event.status):
                mismatches.append(f"{event} vs {action!r}")
        elif pipe.state is not event.state:
            mismatches.append(f"{event} vs pipeline {pipe.state}")

    pipe.add_handler(check)
    assert [a.name for a in pipe.actions] == ["LoadDataset", "Train", "Publish", "Serve"]
    assert pipe.state is None
    assert pipe.status == "NotStarted"
    forecast = await pipe.run()
    assert not mismatches

    assert pipe.state is ActionState.Done
    assert pipe.status == "Deployed"
    assert all(a.state is ActionState.Done for a in pipe.actions)
    by_action: dict[str | None, list[tuple[str, str]]] = {}
    for event in seen:
        by_action.setdefault(event.action, []).append((event.state.value, event.status))
    assert by_action[None] == [("Running", "Started"), ("Done", "Finished")]
    assert by_action["LoadDataset"] == [("Preceding", "DatasetPending"),
                                        ("Running", "DatasetUploading"),
                                        ("Done", "DatasetLoaded")]
    train = by_action["Train"]
    assert train[0] == ("Preceding", "TrainSubmitting")
    assert train[1] == ("Running", "TrainCreated")
    assert train[-1] == ("Done", "TrainFinished")
    assert {s for _, s in train[2:-1]} <= {"TrainCreated", "Training"}
    assert by_action["Publish"] == [("Preceding", "ModelPublishing"),
                                    ("Running", "ModelPublishing"), ("Done", "ModelPublished")]
    assert by_action["Serve"] == [("Preceding", "Created"), ("Running", "Deploying"),
                                  ("Done", "Deployed")]
    # Actions ran one after the other, in order.
    order = [e.action for e in seen if e.action and e.state is ActionState.Preceding]
    assert order == ["LoadDataset", "Train", "Publish", "Serve"]
    times = [e.timestamp for e in seen]
    assert times == sorted(times)

    # Each output fed the next: the forecast comes from the model Train trained.
    guid = pipe.model_guid
    assert guid
    assert pipe.action("Train").output["model_guid"] == guid
    assert pipe.action("Train").output["dataset_guid"] == pipe.dataset_guid
    assert await observer.preloaded_model(guid) is observer
    assert observer.last_status == "completed"
    expected = await observer.inference(frame()[["x", "y"]], InferenceParameters())
    pd.testing.assert_frame_equal(forecast, expected)
    assert pipe.forecast is forecast
    assert list(forecast.columns) == ["z"]
    done = next(e for e in seen if e.action == "Train" and e.state is ActionState.Done)
    assert done.data["guid"] == guid
    assert done.data["progress"] == 100

    # Published: the next version of its name, in the registry next to the checkpoint.
    assert pipe.published is not None
    assert (pipe.published["name"], pipe.published["version"]) == ("quick", 1)
    assert published_models("quick", tmp_path)[0]["model_guid"] == guid

    # The checkpoint holds guids and parameters, never the token.
    text = (tmp_path / "quick.json").read_text()
    assert server.token not in text
    assert "token" not in text.lower()
    body = json.loads(text)
    assert [a["state"] for a in body["actions"]] == ["Done"] * 4
    assert body["actions"][1]["progress"]["model_guid"] == guid
    assert oct((tmp_path / "quick.json").stat().st_mode & 0o777) == "0o600"


async def test_a_second_run_trains_again_and_publishes_the_next_version(client, tmp_path):
    pipe = quick_pipeline(client, tmp_path, name="again", inference_data=None)
    assert [a.name for a in pipe.actions] == ["LoadDataset", "Train", "Publish"]
    await pipe.run()
    first = pipe.model_guid
    await pipe.run()
    assert pipe.model_guid != first
    assert [m["version"] for m in published_models("again", tmp_path)] == [1, 2]
    # Resuming a finished pipeline does nothing and publishes nothing new.
    assert await pipe.resume() == pipe.action("Publish").output
    assert len(published_models("again", tmp_path)) == 2


# ---------------------------------------------------------------- failure


async def test_diverging_training_ends_in_error_with_the_servers_reason(client, observer,
                                                                        tmp_path):
    pipe = quick_pipeline(
        client, tmp_path, name="diverging",
        weight_optimization={"optimization_method": "GRAD", "iterations": 10,
                             "learning_rate": 1e300},
        get_states_extra={"state_method": "EIGH"})
    errors: list[Event] = []
    pipe.add_handler(lambda e: errors.append(e) if e.state is ActionState.Error else None)
    with pytest.raises(TrainingFailedError) as info:
        await pipe.run()
    train = pipe.action("Train")
    assert (train.state, train.status) == (ActionState.Error, "TrainFailed")
    assert (pipe.state, pipe.status) == (ActionState.Error, "TrainFailed")
    assert pipe.action("Publish").state is None
    assert pipe.action("Serve").state is None
    await observer.preloaded_model(pipe.model_guid)
    reason = (await observer.progress())["failure_reason"]
    assert "weight_optimization_kwargs.learning_rate" in reason
    assert [e.action for e in errors] == ["Train", None]
    assert errors[0].data["reason"] == reason == info.value.reason
    assert errors[0].data["guid"] == pipe.model_guid
    assert reason in errors[1].data["error"]
    assert pipe.error is info.value


# ---------------------------------------------------------------- status tracks the server


async def test_status_is_training_while_the_server_is_processing(server, client, observer,
                                                                 tmp_path):
    pipe = slow_pipeline(client, tmp_path, name="tracking", passes=6, inference_data=None)
    train = pipe.action("Train")
    task = pipe.start()
    await until(lambda: pipe.model_guid is not None)
    await observer.preloaded_model(pipe.model_guid)
    samples: list[tuple[str, str, str, str]] = []
    while not task.done():
        before = train.status
        server_status = await observer.status()
        samples.append((before, server_status, train.status, pipe.status))
        await asyncio.sleep(0.03)
    await task

    processing = [s for s in samples if s[1] == "processing"]
    assert len(processing) >= 10, samples
    agreeing = [s for s in processing if s[2] == "Training" and s[3] == "Training"]
    # A poll lags the server by at most its interval; nearly every sample agrees.
    assert len(agreeing) >= 0.8 * len(processing), processing
    for before, server_status, _after, _pipeline in samples:
        # Never ahead of the server: finished only after the server says completed.
        if before == "TrainFinished":
            assert server_status == "completed"
        assert before in ("TrainCreated", "Training", "TrainFinished")
    # Completion is noticed within the poll backoff's ceiling, not 10 s later.
    finished = [e for e in pipe.events if e.action == "Train" and e.state is ActionState.Done]
    lag = finished[0].timestamp - model_updated(server, pipe.model_guid)
    print(f"completion noticed {lag * 1000:.0f} ms after the server finished; "
          f"{train.polls} polls")
    assert lag < 5.0


# ---------------------------------------------------------------- stop


async def test_stop_during_train_cancels_the_server_side_training(client, observer, tmp_path):
    pipe = slow_pipeline(client, tmp_path, name="stopping", passes=400)
    training = asyncio.Event()
    pipe.action("Train").add_handler(
        lambda e: training.set() if e.status == "Training" else None)
    task = pipe.start()
    await asyncio.wait_for(training.wait(), 60)
    assert pipe.status == "Training"
    guid = pipe.model_guid
    await observer.preloaded_model(guid)
    assert await observer.status() == "processing"

    asked = time.monotonic()
    await asyncio.wait_for(pipe.stop(), 60)
    took = time.monotonic() - asked
    print(f"stop took {took * 1000:.0f} ms to cancel the server-side training")

    assert await observer.status() == "cancelled"
    assert (await observer.progress())["training_completion"] < 100
    train = pipe.action("Train")
    assert (train.state, train.status) == (ActionState.Stopped, "TrainStopped")
    assert train.data == {"guid": guid, "server_status": "cancelled"}
    assert pipe.state is ActionState.Stopped
    assert pipe.action("Publish").state is None
    with pytest.raises(PipelineStopped) as info:
        await task
    assert info.value.action == "Train"
    own = [(e.state.value, e.status) for e in pipe.events if e.action is None]
    assert own == [("Running", "Started"), ("Running", "StopRequested"), ("Stopped", "Stopped")]
    assert json.loads((tmp_path / "stopping.json").read_text())["state"] == "Stopped"


async def test_resume_after_stop_with_a_new_client_skips_done_actions(server, client, tmp_path):
    path = tmp_path / "resumable.json"
    pipe = slow_pipeline(client, tmp_path, name="resumable")
    training = asyncio.Event()
    pipe.action("Train").add_handler(lambda e: training.set() if e.status == "Training" else None)
    task = pipe.start()
    await asyncio.wait_for(training.wait(), 60)
    await pipe.stop()
    with pytest.raises(PipelineStopped):
        await task
    stopped_guid = pipe.model_guid
    datasets, models = count_rows(server, "datasets"), count_rows(server, "models")

    # "Restart": a new client and a new pipeline object, from the checkpoint alone.
    async with await client_for(server.url, server.token) as fresh:
        with pytest.raises(ValidationError) as info:
            TrainingPipeline.load(path, fresh)  # Serve has not run: its frame is needed
        assert info.value.field == "inference_data"
        again = TrainingPipeline.load(path, fresh, inference_data=frame(2000)[["x", "y"]])
        assert again.action("LoadDataset").state is ActionState.Done
        assert (again.action("Train").state, again.action("Train").status) == (
            ActionState.Stopped, "TrainStopped")
        assert again.state is ActionState.Stopped
        heard: list[Event] = []
        again.add_handler(heard.append)
        forecast = await again.resume()

    assert again.state is ActionState.Done
    assert all(a.state is ActionState.Done for a in again.actions)
    assert not [e for e in heard if e.action == "LoadDataset"]  # skipped
    assert heard[0].status == "Resumed"
    assert heard[0].data == {"from": "Train"}
    assert count_rows(server, "datasets") == datasets  # nothing uploaded again
    assert count_rows(server, "models") == models + 1  # the cancelled one trained anew
    assert again.model_guid != stopped_guid
    assert len(forecast) == 2000


async def test_load_needs_the_training_frame_if_the_dataset_was_not_loaded(client, tmp_path):
    pipe = quick_pipeline(client, tmp_path, name="early")
    pipe.save()  # a checkpoint written before anything ran
    with pytest.raises(ValidationError) as info:
        TrainingPipeline.load(tmp_path / "early.json", client,
                              inference_data=frame()[["x", "y"]])
    assert info.value.field == "data"
    assert "pass data=" in str(info.value)
    loaded = TrainingPipeline.load(tmp_path / "early.json", client, data=frame(),
                                   inference_data=frame()[["x", "y"]])
    assert (await loaded.resume()).shape == (400, 1)


async def test_a_finished_pipeline_loaded_again_does_no_work(server, client, tmp_path):
    pipe = quick_pipeline(client, tmp_path, name="finished")
    await pipe.run()
    models = count_rows(server, "models")
    async with await client_for(server.url, server.token) as fresh:
        loaded = TrainingPipeline.load(tmp_path / "finished.json", fresh)
        result = await loaded.resume()
        assert fresh.http_client.attempts == 0  # not one request
    assert result == {"model_guid": pipe.model_guid, "rows": 400, "columns": ["z"]}
    assert loaded.state is ActionState.Done
    assert loaded.published == pipe.published
    assert count_rows(server, "models") == models


RESTART_SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    from pathlib import Path
    sys.path.insert(0, os.environ["ROOT"])
    from qwidgets.sim import start
    from tests.client_support import client_for
    from tests.test_client_pipeline import slow_pipeline

    async def main():
        server = start(data_dir=os.environ["SIM_DIR"], token=os.environ["SIM_TOKEN"])
        client = await client_for(server.url, server.token)
        pipe = slow_pipeline(client, Path(os.environ["TMP"]), name="killed", passes=12)
        def tell(event):
            if event.status == "Training":
                print("TRAINING", event.data["guid"], flush=True)
        pipe.action("Train").add_handler(tell)
        await pipe.run()

    asyncio.run(main())
""")


async def test_resume_after_the_kernel_died_reattaches_to_the_running_training(tmp_path):
    """The process running the pipeline (and its embedded server) is killed mid-training; a
    new server on the same data directory and a pipeline loaded from the checkpoint pick the
    same training up: nothing is uploaded or trained twice."""
    sim_dir, token = tmp_path / "sim", "restart-token"
    env = {**os.environ, "ROOT": str(ROOT), "SIM_DIR": str(sim_dir), "SIM_TOKEN": token,
           "TMP": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", RESTART_SCRIPT], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)  # type: ignore[union-attr]
        assert line.startswith("TRAINING"), line + proc.stderr.read()  # type: ignore[union-attr]
        guid = line.split()[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    checkpoint = json.loads((tmp_path / "killed.json").read_text())
    assert checkpoint["state"] == "Running"
    assert checkpoint["actions"][1]["progress"] == {"model_guid": guid}
    with start(data_dir=sim_dir, token=token) as server:
        async with await client_for(server.url, token) as client:
            pipe = TrainingPipeline.load(tmp_path / "killed.json", client,
                                         inference_data=frame(2000)[["x", "y"]])
            assert pipe.state is ActionState.Stopped
            assert pipe.status == "Interrupted"
            assert pipe.action("Train").status == "Interrupted"
            heard: list[Event] = []
            pipe.action("Train").add_handler(heard.append)
            await pipe.resume()
        assert pipe.state is ActionState.Done
        assert pipe.model_guid == guid
        assert heard[1].data.get("reattached") is True
        assert heard[1].data["guid"] == guid
        assert count_rows(server, "datasets") == 1
        assert count_rows(server, "models") == 1


# ---------------------------------------------------------------- handlers


async def test_handlers_hear_only_what_they_were_added_to(client, tmp_path):
    first = quick_pipeline(client, tmp_path, name="first", inference_data=None)
    second_client = client  # the same server; separate pipelines
    second = quick_pipeline(second_client, tmp_path, name="second", inference_data=None)
    on_train: list[Event] = []
    on_first: list[Event] = []
    on_second: list[Event] = []

    class Recorder(EventHandler):
        def dispatch(self, event: Event) -> None:
            on_first.append(event)

    first.action("Train").add_handler(on_train.append)
    first.add_handler(Recorder())
    removed = second.add_handler(on_second.append)
    second.remove_handler(removed)
    await first.run()
    await second.run()

    assert on_train
    assert {e.action for e in on_train} == {"Train"}
    assert {e.action for e in on_first} == {None, "LoadDataset", "Train", "Publish"}
    assert {e.pipeline for e in on_first} == {"first"}
    assert on_second == []
    assert len(on_first) == len(list(first.events))


async def test_a_failing_handler_is_reported_and_does_not_stop_the_work(client, tmp_path):
    pipe = quick_pipeline(client, tmp_path, name="noisy", inference_data=None)

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    pipe.action("Publish").add_handler(broken)
    with pytest.warns(QwidgetsWarning, match="handler bug"):
        await pipe.run()
    assert pipe.state is ActionState.Done


# ---------------------------------------------------------------- the generic pipeline


class Sleeper(Action):
    """Sleeps, remembering how far it got; on_stop records that it was asked to undo."""

    statuses: ClassVar[dict[ActionState, str]] = {ActionState.Running: "Sleeping",
                                                  ActionState.Stopped: "Woken"}

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(name)
        self.seconds = seconds
        self.undone = False

    async def execute(self, input: object) -> object:
        self.remember(started=True)
        self.report(step=1)
        await asyncio.sleep(self.seconds)
        return [*(input or []), self.name]  # type: ignore[misc]

    async def on_stop(self) -> dict:
        self.undone = True
        return {"undone": True}


async def test_generic_stop_inside_an_action_then_restore_and_resume(tmp_path):
    path = tmp_path / "generic.json"
    pipe = Pipeline([Sleeper("a", 0), Sleeper("b", 30), Sleeper("c", 0)], name="generic",
                    checkpoint=path)
    task = pipe.start([])
    await until(lambda: pipe.status == "Sleeping" and pipe.current is pipe.action("b"))
    await pipe.stop()
    with pytest.raises(PipelineStopped):
        await task
    b = pipe.action("b")
    assert (b.state, b.status, b.data, b.undone) == (ActionState.Stopped, "Woken",
                                                      {"undone": True}, True)
    assert pipe.action("c").state is None

    again = Pipeline([Sleeper("a", 0), Sleeper("b", 0), Sleeper("c", 0)], name="generic",
                     checkpoint=path).restore()
    assert again.action("a").output == ["a"]
    assert again.action("b").progress == {"started": True}
    assert await again.resume() == ["a", "b", "c"]
    assert again.action("a").started is None  # not run again


async def test_cancelling_the_task_stops_the_action_too(tmp_path):
    sleeper = Sleeper("slow", 30)
    pipe = Pipeline([sleeper], name="cancelled")
    task = pipe.start()
    await until(lambda: sleeper.status == "Sleeping")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sleeper.undone
    assert sleeper.state is ActionState.Stopped
    assert pipe.state is ActionState.Stopped
    assert not pipe.running


async def test_function_actions_pass_outputs_along_and_run_cannot_overlap():
    gate = asyncio.Event()

    async def wait_then_double(x: int) -> int:
        await gate.wait()
        return 2 * x

    pipe = Pipeline([FunctionAction(lambda x: x + 1, name="inc"),
                     FunctionAction(wait_then_double)], name="math")
    task = pipe.start(3)
    await until(lambda: pipe.current is not None and pipe.current.name == "wait_then_double")
    with pytest.raises(Exception, match="already running"):
        await pipe.run(1)
    gate.set()
    assert await task == 8
    assert pipe.outputs == {"inc": 4, "wait_then_double": 8}
    assert all(isinstance(json.dumps(e.to_dict()), str) for e in pipe.events)


async def test_an_action_error_ends_the_pipeline_in_error():
    def boom(_: object) -> None:
        raise ValueError("bad input: x must be positive")

    pipe = Pipeline([FunctionAction(boom, name="check"), FunctionAction(str, name="never")],
                    name="errors")
    with pytest.raises(ValueError, match="positive"):
        await pipe.run()
    check = pipe.action("check")
    assert (check.state, check.status) == (ActionState.Error, "Error")
    assert check.data == {"error": "bad input: x must be positive", "type": "ValueError"}
    assert pipe.state is ActionState.Error
    assert pipe.action("never").state is None


def test_bad_construction_names_the_field(tmp_path):
    with pytest.raises(ValidationError) as info:
        Pipeline([FunctionAction(str, name="a")], name="../escape")
    assert info.value.field == "name"
    with pytest.raises(ValidationError) as info:
        Pipeline([FunctionAction(str, name="a"), FunctionAction(str, name="a")])
    assert info.value.field == "actions"
    one = FunctionAction(str, name="shared")
    Pipeline([one])
    with pytest.raises(ValidationError, match="already belongs"):
        Pipeline([one])


async def test_training_pipeline_validates_before_any_request(client, tmp_path):
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, model="tensor")
    assert info.value.field == "model"
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, batch_size=0)
    assert info.value.field == "batch_size"
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, weight_optimization={"optimization_method": "GRAD",
                                                              "learning_rate": -1})
    assert info.value.field.startswith("weight_optimization.")
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, inference_parameters={"operators_to_forecast": 3})
    assert info.value.field == "inference_parameters.operators_to_forecast"
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, model_parameters={"operators": ["x"], "qbitz": 2})
    assert info.value.field == "model_parameters"
    with pytest.raises(ValidationError) as info:
        quick_pipeline(client, tmp_path, data=None)
    assert info.value.field == "data"
    assert client.http_client.attempts == 0


def test_checkpoint_files_refuse_secrets_and_say_what_is_wrong(tmp_path):
    with pytest.raises(ValidationError) as info:
        write_json(tmp_path / "x.json", {"config": {"api_token": "s3cret"}})
    assert info.value.field == "checkpoint.config.api_token"
    assert "s3cret" not in str(info.value)
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(CheckpointError, match="no pipeline checkpoint"):
        Pipeline([FunctionAction(str, name="a")], name="nothing",
                 checkpoint=tmp_path / "none.json").restore()
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a qwidgets pipeline checkpoint"):
        Pipeline([FunctionAction(str, name="a")]).restore(tmp_path / "other.json")


def test_default_checkpoint_lives_next_to_the_simulators_data(monkeypatch, tmp_path):
    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(tmp_path / "sim"))
    assert checkpoint_path("demo") == tmp_path / "sim" / "pipelines" / "demo.json"
    monkeypatch.delenv("QWIDGETS_DATA_DIR")
    assert checkpoint_path("demo") == Path.home() / ".cache/qwidgets/pipelines/demo.json"
