"""ModelConfigForm: traits generated from the one schema, validation by the engine's own
validators with errors by field, value round trip, Train and its generated code run against
the real simulator on loopback."""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qwidgets.client import AsyncQcogClient, AuthenticationError
from qwidgets.client.http import HttpClient
from qwidgets.errors import ValidationError
from qwidgets.protocol.params import describe_all, validate_training_parameters
from qwidgets.sim import SimServer
from qwidgets.widgets import ModelConfigForm
from qwidgets.widgets.config_form import check_value, error_key
from tests.client_support import client_for, count_rows
from tests.fixtures import StartSim


@pytest.fixture
def frame() -> pd.DataFrame:
    """z = 0.5 x - 0.3 y, plus a column that is not an operator and a text column."""
    rng = np.random.default_rng(11)
    df = pd.DataFrame(rng.uniform(-1, 1, (240, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    df["row_id"] = np.arange(len(df))
    df["city"] = "Lyon"
    return df


def pick(form: ModelConfigForm, **model: Any) -> dict[str, Any]:
    """The form's value with model fields replaced, as the browser sends it."""
    value = json.loads(json.dumps(form.value))
    value["model"].update(model)
    return value


def normalize(family: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The engine's normalisation, to its fixed point (a string-number default such as
    epsilon "1e-08" becomes a float on the second pass)."""
    return validate_training_parameters(family, validate_training_parameters(family, parameters))


@pytest.fixture
def server(start_sim: StartSim) -> SimServer:
    # One server per test, so that the store's row counts belong to that test alone.
    return start_sim()


# ---------------------------------------------------------------- traits


def test_traits_come_from_the_schema_and_carry_names_not_data(frame):
    form = ModelConfigForm(data=frame)
    assert form.schema == describe_all()
    assert form.columns == ["x", "y", "z", "row_id", "city"]
    # numeric columns are the starting operators; the text column is left out
    assert form.value["model"]["operators"] == ["x", "y", "z", "row_id"]
    assert form.errors == {}
    assert form.status == "ready"
    synced = json.dumps(form.get_state())
    assert f"{frame.x.iloc[0]!r}" not in synced
    assert "Lyon" not in synced
    assert "_code" in form.get_state()
    assert "client.pauli(" in form.get_state()["_code"]


def test_unknown_and_computed_keyword_arguments_are_refused(frame):
    with pytest.raises(TypeError, match="colums"):
        ModelConfigForm(data=frame, colums=["x"])
    with pytest.raises(TypeError, match="errors"):
        ModelConfigForm(data=frame, errors={})
    with pytest.raises(TypeError, match="AsyncQcogClient"):
        ModelConfigForm(data=frame, client="http://127.0.0.1:1")
    with pytest.raises(ValidationError, match="DataFrame"):
        ModelConfigForm(data=[[1, 2]])


# ---------------------------------------------------------------- value round trip


def test_a_normalised_value_round_trips_exactly(frame):
    form = ModelConfigForm(data=frame)
    value = normalize("ensemble", {
        "model": {"operators": ["x", "y", "z"], "dim": 8, "num_axes": 3, "sigma_sq": {"z": 0.5},
                  "target_operators": ["z"]},
        "batch_size": 60, "num_passes": 2,
        "weight_optimization_kwargs": {"optimization_method": "ADAM", "iterations": 4,
                                       "step_size": 0.01},
        "state_kwargs": {"state_method": "POWER_ITER", "iterations": 30, "tol": 0.1},
    })
    form.value = value
    assert form.value == value
    assert form.errors == {}


def test_a_partial_value_is_normalised_with_the_schema_defaults(frame):
    form = ModelConfigForm(data=frame)
    partial = {"model": {"model_name": "pauli", "operators": ["x", "y", "z"], "qbits": 3},
               "batch_size": 40, "num_passes": 1,
               "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 2,
                                              "learning_rate": 0.1}}
    form.value = partial
    expected = normalize("pauli", partial)
    assert form.value == expected
    assert form.value["state_kwargs"] == {"state_method": "NP_EIGH", "learning_rate_axes": 0.0,
                                          "normalize_axes": True}
    assert form.value["model"]["pauli_weight"] == 2
    # given the normalised value back, nothing changes
    form.value = json.loads(json.dumps(form.value))
    assert form.value == expected


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"model": {"pauli_weight": 5}}, "model.pauli_weight", ["pauli_weight", "qbits (2)", "Fix"]),
    ({"model": {"qbits": 9}}, "model.qbits", ["model.qbits", "got 9", "<= 8"]),
    ({"model": {"target_operators": ["x", "y", "z", "row_id"]}}, "model.target_operators",
     ["target_operators", "input"]),
    ({"model": {"target_operators": ["w"]}}, "model.target_operators", ["'w'", "operators"]),
    ({"model": {"sigma_sq": {"q": 1.0}}}, "model.sigma_sq", ["sigma_sq", "'q'"]),
    ({"model": {"sigma_sq": {"x": -1}}}, "model.sigma_sq", ["model.sigma_sq.x", "positive"]),
    ({"model": {"operators": ["x", "nope"]}}, "model.operators", ["nope", "operators"]),
    ({"model": {"operators": ["x", "city"]}}, "model.operators", ["city", "non-numeric"]),
    ({"model": {"model_name": "tensor"}}, "model.model_name", ["tensor", "ensemble"]),
    ({"batch_size": 0}, "batch_size", ["batch_size", "got 0", ">= 1"]),
    ({"num_passes": "many"}, "num_passes", ["num_passes", "'many'", "integer"]),
    ({"weight_optimization_kwargs": {"optimization_method": "ADAM"}},
     "weight_optimization_kwargs.iterations", ["iterations", "is required"]),
    ({"state_kwargs": {"state_method": "LOBPCG"}}, "state_kwargs.state_method",
     ["state_method", "LOBPCB"]),
    ({"state_kwargs": {"state_method": "LOBPCG_FAST", "iterations": 5, "tol": -1}},
     "state_kwargs.tol", ["state_kwargs.tol", "got -1", "> 0"]),
    ({"epochs": 3}, "epochs", ["epochs", "not a training parameter"]),
])
def test_a_bad_value_gives_an_error_next_to_its_field(frame, change, key, words):
    form = ModelConfigForm(data=frame)
    value = json.loads(json.dumps(form.value))
    for name, item in change.items():
        if isinstance(item, dict) and isinstance(value.get(name), dict) and name == "model":
            value[name].update(item)
        else:
            value[name] = item
    form.value = value
    assert form.value == value  # kept as given, for the person to fix
    assert set(form.errors) == {key}, form.errors
    for word in words:
        assert word in form.errors[key]
    assert form.status == "invalid"
    assert "# Fix the form first" in form.get_state()["_code"]
    with pytest.raises(ValidationError):
        form.code()


def test_every_section_reports_at_once_and_fixing_clears(frame):
    form = ModelConfigForm(data=frame)
    bad = pick(form, qbits=0, seed=-1)
    bad["num_passes"] = 0
    bad["state_kwargs"] = {"state_method": "GRAD", "iterations": 0, "learning_rate": 0}
    form.value = bad
    assert set(form.errors) == {"model.qbits", "model.seed", "num_passes",
                                "state_kwargs.iterations", "state_kwargs.learning_rate"}
    good = pick(form, qbits=2, seed=1)
    good["num_passes"] = 2
    good["state_kwargs"] = {"state_method": "GRAD", "iterations": 3, "learning_rate": 0.5}
    form.value = good
    assert form.errors == {}
    assert form.status == "ready"


def test_the_messages_are_the_clients_own(frame):
    """The same validators: the client raises, for the same input, the message the form shows."""
    form = ModelConfigForm(data=frame)
    form.value = pick(form, operators=["x", "y", "z"], qbits=3, pauli_weight=4)
    client = AsyncQcogClient(HttpClient("http://127.0.0.1:9/api/v1", "unused"))
    with pytest.raises(ValidationError) as raised:
        client.pauli(["x", "y", "z"], qbits=3, pauli_weight=4)
    assert form.errors == {error_key(raised.value.field): str(raised.value)}


def test_an_edit_from_the_browser_is_validated_and_answered(frame):
    form = ModelConfigForm(data=frame)
    form.set_state({"value": pick(form, pauli_weight=3)})  # what the frontend sends
    assert "model.pauli_weight" in form.errors
    sent = pick(form, pauli_weight=1)
    del sent["state_kwargs"]  # the browser drops a section: the kernel fills it back
    form.set_state({"value": sent})
    assert form.errors == {}
    assert form.value["state_kwargs"]["state_method"] == "NP_EIGH"


def test_a_browser_edit_is_answered_in_one_update(frame):
    form = ModelConfigForm(data=frame)
    sent: list[dict[str, Any]] = []
    send = form._send
    form._send = lambda msg, buffers=None: (sent.append(msg), send(msg, buffers))
    bad = pick(form, pauli_weight=5)
    form.set_state({"value": bad})
    updates = [m for m in sent if m["method"] == "update"]
    assert len(updates) == 1
    assert {"errors", "status", "_code"} <= set(updates[0]["state"])
    bad["model"]["pauli_weight"] = 1  # the dict sent earlier is not the form's own
    assert form.value["model"]["pauli_weight"] == 5


def test_new_data_revalidates_and_offers_its_columns(frame):
    form = ModelConfigForm()
    assert form.columns == []
    assert "model.operators" in form.errors  # no operators without data
    form.data = frame[["x", "y", "z"]]
    assert form.columns == ["x", "y", "z"]
    assert form.value["model"]["operators"] == ["x", "y", "z"]
    assert form.errors == {}
    form.data = frame[["x", "y"]]
    assert "'z'" in form.errors["model.operators"]


def test_error_keys_point_at_controls():
    assert error_key("parameters.batch_size") == "batch_size"
    assert error_key("model.sigma_sq.x") == "model.sigma_sq"
    assert error_key("data") == "model.operators"
    assert error_key("state_kwargs") == "state_kwargs.state_method"
    assert error_key("weight_optimization_kwargs.epsilon") == "weight_optimization_kwargs.epsilon"
    normalized, problems = check_value({})
    assert normalized is None
    assert {"model.operators", "batch_size"} <= set(problems)


def test_code_names_the_service_and_the_frames_own_labels(frame):
    from qwidgets.widgets.codegen import connect_line

    assert connect_line(None) == "client = await AsyncQcogClient.create()"
    remote = connect_line("https://dev.qognitive.io:443/api/v2")
    assert remote.endswith("client = await AsyncQcogClient.create(hostname='dev.qognitive.io', "
                           "api_version='v2')")
    assert "QCOG_API_TOKEN" in remote
    numbered = frame[["x", "y", "z", "row_id"]].set_axis([0, 1, 2, "row_id"], axis=1)
    form = ModelConfigForm(data=numbered)
    form.value = pick(form, operators=["0", "1", "2"], target_operators=["2"])
    code = form.code(frame_name="table")
    assert "await client.data(table[[0, 1, 2]])" in code
    assert "operators=['0', '1', '2']" in code
    assert "target_operator=['2']" in code
    ast.parse(code.replace("await ", ""))


# ---------------------------------------------------------------- static form


def test_static_form_is_an_escaped_table_of_the_parameters(frame):
    frame = frame.rename(columns={"z": "<b>z</b>"})
    form = ModelConfigForm(data=frame)
    form.value = pick(form, operators=["x", "y", "<b>z</b>"], target_operators=["<b>z</b>"])
    page = form.static_html()
    assert "<table>" in page
    assert "model.pauli_weight" in page
    assert "&lt;b&gt;z&lt;/b&gt;" in page
    assert "<b>z</b>" not in page
    assert "model.target_operators: <b>z</b>" in form.static_text()


# ---------------------------------------------------------------- training


async def test_train_starts_a_real_training_and_hands_over_the_client(server, frame):
    client = await client_for(server.url, server.token)
    form = ModelConfigForm(data=frame, client=client)
    form.value = pick(form, operators=["x", "y", "z"], target_operators=["z"])
    form.value = {**form.value, "batch_size": 80, "num_passes": 2}
    started: list[AsyncQcogClient] = []

    async def watch(trained: AsyncQcogClient) -> None:
        started.append(trained)

    form.on_train(watch)
    try:
        trained = await form.train()
        assert started == [trained]
        assert form.model_guid == trained.model_guid is not None
        assert (form.status, form.error, form.busy) == ("started", "", False)
        await trained.wait_for_training(poll_time=0.05)
        # seen from another connection: the server holds the model, completed, with the form's
        # parameters, trained on the three chosen columns only
        other = await client_for(server.url, server.token)
        try:
            await other.preloaded_model(form.model_guid)
            assert await other.status() == "completed"
            assert other.training_parameters["parameters"] == form.value
            assert len(await other.loss()) == 2
        finally:
            await other.close()
        assert count_rows(server, "models") == 1
        # a second Train is a second model, with its own client
        second = await form.train()
        assert second is not trained
        assert second.model_guid != trained.model_guid
        assert form.model_guid == second.model_guid
        assert len(started) == 2
    finally:
        await client.close()


async def test_the_train_button_runs_as_a_task_and_refuses_a_second_click(server, frame):
    client = await client_for(server.url, server.token)
    form = ModelConfigForm(data=frame[["x", "y", "z"]], client=client)
    replies: list[dict[str, Any]] = []
    form._requests._send = lambda message, buffers: replies.append(message)
    try:
        form._handle_custom_msg({"id": "r1", "kind": "train"}, [])
        form._handle_custom_msg({"id": "r2", "kind": "train"}, [])  # a double click
        for _ in range(100):
            if len(replies) == 2:
                break
            await asyncio.sleep(0.01)
        by_id = {r["id"]: r for r in replies}
        assert by_id["r1"]["ok"]
        assert by_id["r1"]["result"] == {"started": True}
        assert not by_id["r2"]["ok"]
        assert "already" in by_id["r2"]["error"]
        assert form._task is not None
        await form._task
        assert form.status == "started"
        assert not form.busy
        assert count_rows(server, "models") == 1
    finally:
        await client.close()


async def test_a_click_delivered_on_another_thread_trains_on_the_loop_of_the_cells(server, frame):
    """JupyterLab 4.6 + ipykernel 7 deliver widget messages over a kernel subshell: another
    thread with its own loop. The training must still run on the loop the form was made on,
    so that the client it hands over can be awaited in a cell."""
    client = await client_for(server.url, server.token)
    form = ModelConfigForm(data=frame[["x", "y", "z"]], client=client)
    replies: list[dict[str, Any]] = []
    form._requests._send = lambda message, buffers: replies.append(message)
    handed: list[AsyncQcogClient] = []
    form.on_train(handed.append)
    subshell = asyncio.new_event_loop()
    thread = threading.Thread(target=subshell.run_forever, daemon=True)
    thread.start()
    try:
        subshell.call_soon_threadsafe(form._handle_custom_msg, {"id": "s1", "kind": "train"}, [])
        for _ in range(1000):
            if form.model_guid or form.status == "failed":
                break
            await asyncio.sleep(0.01)
        assert replies == [{"id": "s1", "kind": "reply", "ok": True, "result": {"started": True}}]
        assert form.status == "started", form.error
        assert handed == [form.last_client]
        await handed[0].wait_for_training(poll_time=0.05)  # on this loop: no "another loop"
        assert await handed[0].status() == "completed"
    finally:
        subshell.call_soon_threadsafe(subshell.stop)
        thread.join(5)
        subshell.close()
        await client.close()


async def test_an_invalid_form_sends_nothing(server, frame):
    client = await client_for(server.url, server.token)
    form = ModelConfigForm(data=frame, client=client)
    form.value = pick(form, pauli_weight=7, qbits=3)
    try:
        with pytest.raises(ValidationError, match="pauli_weight"):
            await form.train()
        assert form.status == "failed"
        assert "pauli_weight" in form.error
        assert "model.pauli_weight" in form.errors
        assert count_rows(server, "datasets") == count_rows(server, "training_parameters") == 0
        assert form.model_guid is None
    finally:
        await client.close()


async def test_a_service_error_shows_in_the_form(server, frame):
    stranger = await client_for(server.url, "not-the-token")
    form = ModelConfigForm(data=frame[["x", "y", "z"]], client=stranger)
    try:
        with pytest.raises(AuthenticationError):
            await form.train()
        assert form.status == "failed"
        assert "401" in form.error or "403" in form.error
        assert not form.busy
        assert form.model_guid is None
        assert "not-the-token" not in json.dumps(form.get_state())
    finally:
        await stranger.close()


# ---------------------------------------------------------------- generated code


async def run_code(code: str, namespace: dict[str, Any]) -> None:
    compiled = compile(code, "<ModelConfigForm.code>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)
    if asyncio.iscoroutine(result):
        await result


async def test_the_generated_code_trains_the_same_model(server, frame, monkeypatch):
    monkeypatch.setenv("QCOG_API_TOKEN", server.token)
    client = await client_for(server.url, server.token)
    form = ModelConfigForm(data=frame, client=client)
    value = pick(form, model_name="ensemble", operators=["x", "y", "z"], target_operators=["z"],
                 sigma_sq={"z": 0.5})
    for key in ("qbits", "pauli_weight"):
        del value["model"][key]
    value["weight_optimization_kwargs"] = {"optimization_method": "ADAM", "iterations": 3,
                                           "step_size": 0.01}
    value["state_kwargs"] = {"state_method": "LOBPCG_FAST", "iterations": 20}
    value["batch_size"], value["num_passes"] = 60, 2
    form.value = value
    assert form.errors == {}
    code = form.code()
    assert "client.ensemble(" in code
    assert "AdamOptimizationParameters(iterations=3" in code
    assert "df[['x', 'y', 'z']]" in code
    assert server.token not in code
    assert code == form.get_state()["_code"]
    namespace: dict[str, Any] = {"df": frame}
    try:
        await run_code(code, namespace)
        made: AsyncQcogClient = namespace["client"]
        try:
            await made.wait_for_training(poll_time=0.05)
            assert made.training_parameters["parameters"] == form.value
        finally:
            await made.close()
    finally:
        await client.close()


async def test_without_a_client_the_embedded_simulator_trains(tmp_path, monkeypatch, frame):
    """No client given: Train and the generated code both use AsyncQcogClient.create()."""
    from qwidgets.sim.server import embedded

    monkeypatch.setenv("QWIDGETS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(embedded, "_default", None)
    form = ModelConfigForm(data=frame[["x", "y", "z"]])
    code = form.code()
    assert "AsyncQcogClient.create()" in code
    assert "await client.data(df)" in code
    namespace: dict[str, Any] = {"df": frame[["x", "y", "z"]]}
    try:
        trained = await form.train()
        await trained.wait_for_training(poll_time=0.05)
        await run_code(code, namespace)
        await namespace["client"].wait_for_training(poll_time=0.05)
        assert namespace["client"].model_guid != form.model_guid
        assert form.client is not None
        assert embedded._default is not None
        assert count_rows(embedded._default, "models") == 2
    finally:
        if "client" in namespace:
            await namespace["client"].close()
        await form.aclose()
        if embedded._default is not None:
            embedded._default.stop()
