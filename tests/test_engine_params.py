"""The parameter sets: wire names and defaults, every bad-input case, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwidgets.errors import ValidationError
from qwidgets.protocol.params import (
    STATE,
    WEIGHT_OPTIMIZATION,
    describe_all,
    validate_inference,
    validate_model,
    validate_state,
    validate_training_parameters,
    validate_weight_optimization,
)


def payload(**model: object) -> dict:
    return {"model": {"operators": ["a", "b"], **model}, "batch_size": 8, "num_passes": 2}


def test_wire_defaults() -> None:
    out = validate_training_parameters("pauli", payload())
    assert out["model"] == {
        "operators": ["a", "b"], "qbits": 2, "pauli_weight": 2, "sigma_sq": {},
        "sigma_sq_optimization_kwargs": {}, "seed": 42, "target_operators": [],
        "model_name": "pauli",
    }
    adam = validate_weight_optimization({"optimization_method": "ADAM", "iterations": 3})
    assert adam == {"optimization_method": "ADAM", "iterations": 3, "step_size": 0.001,
                    "epsilon": "1e-08", "first_moment_decay": 0.9, "second_moment_decay": 0.999}
    power = validate_state({"state_method": "POWER_ITER", "iterations": 4})
    assert power == {"state_method": "POWER_ITER", "learning_rate_axes": 0.0,
                     "normalize_axes": True, "iterations": 4, "tol": 0.2, "max_eig_iter": 5}
    ensemble = validate_model("ensemble", {"operators": [1, "b"]})
    assert ensemble["dim"] == 16
    assert ensemble["num_axes"] == 4
    assert ensemble["operators"] == ["1", "b"]


def test_empty_kwargs_take_the_documented_defaults() -> None:
    out = validate_training_parameters("pauli", payload())
    assert out["weight_optimization_kwargs"] == {"optimization_method": "ANALYTIC"}
    assert out["state_kwargs"]["state_method"] == "NP_EIGH"


def test_epsilon_as_string_or_number() -> None:
    for eps in ("1e-08", 1e-8):
        out = validate_weight_optimization({"optimization_method": "ADAM", "iterations": 1, "epsilon": eps})
        assert float(out["epsilon"]) == 1e-8


def test_every_state_method_is_known() -> None:
    assert set(STATE.options) == {"LOBPCG_FAST", "LOBPCB", "POWER_ITER", "EIGH", "NP_EIGH", "EIGS", "GRAD"}
    assert set(WEIGHT_OPTIMIZATION.options) == {"GRAD", "ADAM", "ANALYTIC"}


BAD = [
    ("pauli", payload(qbits=2, pauli_weight=3), "model.pauli_weight", "<= qbits"),
    ("pauli", payload(qbits=0), "model.qbits", ">= 1"),
    ("pauli", payload(qbits=2.5), "model.qbits", "integer"),
    ("pauli", payload(qbits=True), "model.qbits", "integer"),
    ("pauli", payload(target_operators=["c"]), "model.target_operators", "one of operators"),
    ("pauli", payload(target_operators=["a", "b"]), "model.target_operators", "input"),
    ("pauli", payload(sigma_sq=-1.0), "model.sigma_sq", "positive"),
    ("pauli", payload(sigma_sq={"a": 0}), "model.sigma_sq.a", "positive"),
    ("pauli", payload(sigma_sq={"c": 1.0}), "model.sigma_sq", "among operators"),
    ("pauli", payload(operators=[]), "model.operators", "at least one"),
    ("pauli", payload(operators=["a", "a"]), "model.operators", "unique"),
    ("pauli", payload(operators="ab"), "model.operators", "list"),
    ("pauli", payload(operators=[1.5]), "model.operators", "column names"),
    ("pauli", payload(seed=-1), "model.seed", ">= 0"),
    ("pauli", payload(dim=4), "model.dim", "not a field of pauli"),
    ("ensemble", payload(num_axes=0), "model.num_axes", ">= 1"),
    ("ensemble", payload(model_name="pauli"), "model.model_name", "'ensemble'"),
    ("gaussian", payload(), "model", "one of"),
]


@pytest.mark.parametrize(("model", "body", "field", "words"), BAD, ids=[b[2] + ":" + b[3] for b in BAD])
def test_bad_model_values_name_the_field(model: str, body: dict, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_training_parameters(model, body)
    assert info.value.field == field
    assert words in str(info.value)
    assert field in str(info.value)


BAD_TRAINING = [
    ({"batch_size": 0}, "parameters.batch_size"),
    ({"num_passes": -2}, "parameters.num_passes"),
    ({"batch_size": "8"}, "parameters.batch_size"),
    ({"epochs": 3}, "parameters.epochs"),
    ({"weight_optimization_kwargs": {"optimization_method": "SGD"}},
     "weight_optimization_kwargs.optimization_method"),
    ({"weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 2}},
     "weight_optimization_kwargs.learning_rate"),
    ({"weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 2, "learning_rate": 0}},
     "weight_optimization_kwargs.learning_rate"),
    ({"weight_optimization_kwargs": {"optimization_method": "ADAM", "iterations": 2, "epsilon": "tiny"}},
     "weight_optimization_kwargs.epsilon"),
    ({"weight_optimization_kwargs": {"optimization_method": "ADAM", "iterations": 2,
                                     "first_moment_decay": 1.0}},
     "weight_optimization_kwargs.first_moment_decay"),
    ({"weight_optimization_kwargs": {"optimization_method": "ANALYTIC", "iterations": 2}},
     "weight_optimization_kwargs.iterations"),
    ({"weight_optimization_kwargs": "GRAD"}, "weight_optimization_kwargs"),
    ({"state_kwargs": {"state_method": "LOBPCG"}}, "state_kwargs.state_method"),
    ({"state_kwargs": {"state_method": "LOBPCG_FAST"}}, "state_kwargs.iterations"),
    ({"state_kwargs": {"state_method": "LOBPCG_FAST", "iterations": 3, "tol": 0}}, "state_kwargs.tol"),
    ({"state_kwargs": {"state_method": "POWER_ITER", "iterations": 3, "max_eig_iter": 0}},
     "state_kwargs.max_eig_iter"),
    ({"state_kwargs": {"state_method": "GRAD", "iterations": 3, "learning_rate": -0.1}},
     "state_kwargs.learning_rate"),
    ({"state_kwargs": {"state_method": "EIGH", "learning_rate_axes": -1}}, "state_kwargs.learning_rate_axes"),
    ({"state_kwargs": {"state_method": "EIGH", "normalize_axes": "yes"}}, "state_kwargs.normalize_axes"),
    ({"state_kwargs": {"state_method": "EIGH", "tol": 0.1}}, "state_kwargs.tol"),
]


@pytest.mark.parametrize(("extra", "field"), BAD_TRAINING, ids=[b[1] for b in BAD_TRAINING])
def test_bad_training_values_name_the_field(extra: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_training_parameters("pauli", payload() | extra)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_missing_model_says_what_to_call() -> None:
    with pytest.raises(ValidationError, match="pauli"):
        validate_training_parameters("pauli", {"batch_size": 1, "num_passes": 1})


def test_inference_parameters() -> None:
    out = validate_inference({"state_method": "LOBPCG_FAST", "iterations": 4})
    assert out["operators_to_forecast"] is None
    assert out["state_parameters"]["tol"] == 0.2
    full = validate_inference({"operators_to_forecast": ["b"], "state_parameters": {"state_method": "EIGS"}})
    assert full["operators_to_forecast"] == ["b"]
    with pytest.raises(ValidationError, match=r"parameters\.state_parameters\.state_method"):
        validate_inference({"state_parameters": {"state_method": "nope"}})


def test_describe_all_is_json_and_covers_every_set() -> None:
    import json

    described = json.loads(json.dumps(describe_all()))
    assert set(described["models"]) == {"pauli", "ensemble"}
    assert set(described["state"]["options"]) == set(STATE.options)
    lob = {f["name"]: f for f in described["state"]["options"]["LOBPCG_FAST"]["fields"]}
    assert lob["iterations"]["required"]
    assert lob["tol"]["default"] == 0.2


def test_error_dict_for_servers() -> None:
    with pytest.raises(ValidationError) as info:
        validate_state({"state_method": "GRAD", "iterations": 1, "learning_rate": -1})
    body = info.value.to_dict()
    assert body["field"] == "state_kwargs.learning_rate"
    assert body["value"] == "-1"
    assert "> 0" in body["allowed"]


# ------------------------------------------------------------------ properties

positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False)
not_positive = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(-math.inf))


@given(qbits=st.integers(1, 8), weight=st.integers(1, 8))
def test_pauli_weight_accepted_iff_not_above_qbits(qbits: int, weight: int) -> None:
    body = payload(qbits=qbits, pauli_weight=weight)
    if weight <= qbits:
        assert validate_training_parameters("pauli", body)["model"]["pauli_weight"] == weight
    else:
        with pytest.raises(ValidationError, match="pauli_weight"):
            validate_training_parameters("pauli", body)


@given(rate=st.one_of(positive, not_positive, st.text(max_size=5), st.booleans(), st.none()))
def test_learning_rate_accepted_iff_positive_number(rate: object) -> None:
    body = {"optimization_method": "GRAD", "iterations": 1, "learning_rate": rate}
    ok = isinstance(rate, float) and rate > 0 and math.isfinite(rate)
    if ok:
        assert validate_weight_optimization(body)["learning_rate"] == rate
    else:
        with pytest.raises(ValidationError) as info:
            validate_weight_optimization(body)
        assert info.value.field == "weight_optimization_kwargs.learning_rate"


@given(eps=st.floats(min_value=1e-300, max_value=1.0))
def test_epsilon_string_round_trip(eps: float) -> None:
    out = validate_weight_optimization({"optimization_method": "ADAM", "iterations": 1, "epsilon": repr(eps)})
    assert float(out["epsilon"]) == eps


@given(method=st.text(min_size=1, max_size=12))
def test_unknown_state_methods_are_refused(method: str) -> None:
    if method in STATE.options:
        return
    with pytest.raises(ValidationError, match="must be one of"):
        validate_state({"state_method": method, "iterations": 1})


@given(ops=st.lists(st.one_of(st.text(min_size=1, max_size=4), st.integers(0, 99)),
                    min_size=1, max_size=6, unique_by=str),
       data=st.data())
@settings(max_examples=60)
def test_targets_must_be_a_strict_subset_of_operators(ops: list, data: st.DataObject) -> None:
    names = [str(o) for o in ops]
    targets = data.draw(st.lists(st.sampled_from([*names, "zz-not-an-op"]), unique=True, max_size=3))
    body = {"operators": ops, "target_operators": targets}
    valid = all(t in names for t in targets) and set(targets) != set(names)
    if valid:
        assert validate_model("pauli", body)["target_operators"] == [str(t) for t in targets]
    else:
        with pytest.raises(ValidationError, match="target_operators"):
            validate_model("pauli", body)


VALUES = st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.none(), st.booleans())


@given(payload_=st.dictionaries(st.text(max_size=8), VALUES, max_size=5))
def test_arbitrary_state_payloads_validate_or_raise_validation_errors(payload_: dict) -> None:
    error: ValidationError | None = None
    try:
        out = validate_state(payload_)
    except ValidationError as exc:
        error = exc
    if error is None:
        assert out["state_method"] in STATE.options
    else:
        assert error.field.startswith("state_kwargs")
