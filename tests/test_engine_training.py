from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qwidgets.errors import TrainingCancelled
from qwidgets.sim.engine import TrainedModel, infer, train
from qwidgets.sim.engine.training import Progress

from .server_support import training_params


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return df.iloc[:300], df.iloc[300:]


def test_linear_relation_is_learned_and_forecast_on_held_out_rows(linear_frame) -> None:
    train_df, test_df = split(linear_frame)
    params = training_params(num_passes=30)
    params["model"].update(qbits=3, pauli_weight=3)
    model = train("pauli", params, train_df)
    forecast = infer(model, test_df[["x", "y"]])
    rmse = float(np.sqrt(np.mean((forecast["z"] - test_df["z"]) ** 2)))
    # Predicting the mean gives rmse = std; the trained model must do far better.
    assert rmse < 0.4 * test_df["z"].std()
    assert np.mean(model.loss[-1]) < 0.5 * np.mean(model.loss[0])


def test_xy_equals_z_toy_is_learned_by_the_ensemble() -> None:
    """z = x * y: no linear model predicts it (rmse ~ std); the Hilbert-space model does."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.uniform(-1, 1, (600, 2)), columns=["x", "y"])
    df["z"] = df.x * df.y
    train_df, test_df = df.iloc[:500], df.iloc[500:]
    params = training_params(num_passes=30)
    params["model"] = {"operators": ["x", "y", "z"], "dim": 16, "num_axes": 64}
    model = train("ensemble", params, train_df)
    forecast = infer(model, test_df[["x", "y"]])
    rmse = float(np.sqrt(np.mean((forecast["z"] - test_df["z"]) ** 2)))
    linear = np.linalg.lstsq(np.c_[train_df[["x", "y"]], np.ones(500)], train_df.z, rcond=None)[0]
    linear_forecast = np.c_[test_df[["x", "y"]], np.ones(100)] @ linear
    linear_rmse = float(np.sqrt(np.mean((linear_forecast - test_df.z) ** 2)))
    assert rmse < 0.45 * test_df["z"].std()
    assert rmse < 0.5 * linear_rmse


@pytest.mark.parametrize(
    "weights",
    [
        {"optimization_method": "ANALYTIC"},
        {"optimization_method": "GRAD", "iterations": 5, "learning_rate": 0.1},
        {"optimization_method": "ADAM", "iterations": 5, "step_size": 0.01, "epsilon": "1e-08"},
    ],
    ids=lambda w: w["optimization_method"],
)
@pytest.mark.parametrize(
    "state",
    [
        {"state_method": "NP_EIGH"},
        {"state_method": "EIGH"},
        {"state_method": "EIGS"},
        {"state_method": "LOBPCG_FAST", "iterations": 20, "tol": 1e-8},
        {"state_method": "LOBPCB", "iterations": 20, "tol": 1e-8},
        {"state_method": "POWER_ITER", "iterations": 400, "tol": 1e-8},
        {"state_method": "GRAD", "iterations": 400, "learning_rate": 0.4},
    ],
    ids=lambda s: s["state_method"],
)
def test_every_optimizer_and_solver_lowers_the_loss(linear_frame, weights, state) -> None:
    params = training_params(num_passes=4, weight_optimization_kwargs=weights, state_kwargs=state)
    model = train("pauli", params, linear_frame)
    loss = np.array(model.loss)
    assert loss.shape == (4, 4)
    assert np.isfinite(loss).all()
    assert loss[-1].mean() < loss[0].mean()


def test_iterative_solvers_reach_the_exact_solvers_loss(linear_frame) -> None:
    exact = train("pauli", training_params(num_passes=4), linear_frame)
    state = {"state_method": "LOBPCG_FAST", "iterations": 30, "tol": 1e-9}
    iterative = train("pauli", training_params(num_passes=4, state_kwargs=state), linear_frame)
    np.testing.assert_allclose(iterative.loss, exact.loss, rtol=1e-6)


def test_same_seed_same_result_other_seed_other_result(linear_frame) -> None:
    params = training_params(state_kwargs={"state_method": "LOBPCG_FAST", "iterations": 5})
    first = train("pauli", params, linear_frame)
    second = train("pauli", params, linear_frame)
    np.testing.assert_array_equal(first.model.weights, second.model.weights)
    assert first.loss == second.loss
    params["model"]["seed"] = 43
    other = train("pauli", params, linear_frame)
    assert not np.allclose(other.model.weights, first.model.weights)


def test_progress_reports_every_batch_with_integer_completion(linear_frame) -> None:
    seen: list[Progress] = []
    model = train("pauli", training_params(num_passes=2), linear_frame, progress=seen.append)
    assert [(p.pass_index, p.batch_index) for p in seen] == [(p, b) for p in range(2) for b in range(4)]
    completions = [p.training_completion for p in seen]
    assert completions == sorted(completions)
    assert completions[-1] == 100
    assert all(isinstance(c, int) for c in completions)
    assert [p.loss for p in seen] == [x for row in model.loss for x in row]


def test_cancel_stops_promptly(linear_frame) -> None:
    seen: list[Progress] = []
    with pytest.raises(TrainingCancelled):
        train("pauli", training_params(num_passes=50), linear_frame,
              progress=seen.append, should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3  # nothing runs after the request is seen


def test_save_load_round_trip(linear_frame) -> None:
    params = training_params()
    params["model"] = {"operators": ["x", "y", "z"], "dim": 6, "num_axes": 9,
                       "sigma_sq": {"z": 0.5}, "target_operators": ["z"]}
    model = train("ensemble", params, linear_frame)
    blob = model.to_bytes()
    assert b"pickle" not in blob
    again = TrainedModel.from_bytes(blob)
    assert again.params == model.params
    assert again.loss == model.loss
    np.testing.assert_array_equal(again.model.axes, model.model.axes)
    pd.testing.assert_frame_equal(infer(again, linear_frame[["x", "y"]]),
                                  infer(model, linear_frame[["x", "y"]]))


def test_resume_from_checkpoint_skips_done_passes(linear_frame) -> None:
    checkpoints: list[bytes] = []
    train("pauli", training_params(num_passes=2), linear_frame,
          on_checkpoint=lambda m: checkpoints.append(m.to_bytes()))
    assert len(checkpoints) == 2
    passes: list[int] = []
    resumed = train("pauli", training_params(num_passes=4), linear_frame,
                    resume=TrainedModel.from_bytes(checkpoints[-1]),
                    progress=lambda p: passes.append(p.pass_index))
    assert sorted(set(passes)) == [2, 3]
    assert len(resumed.loss) == 4


def test_garbage_bytes_do_not_load() -> None:
    with pytest.raises(ValueError, match="not a saved qwidgets model"):
        TrainedModel.from_bytes(b"not a model")


def test_inference_keeps_the_index_and_forecasts_missing_operators(linear_frame) -> None:
    model = train("pauli", training_params(), linear_frame)
    data = linear_frame[["x", "y"]].iloc[:5].set_axis(list("abcde"))
    forecast = infer(model, data)
    assert list(forecast.index) == list("abcde")
    assert list(forecast.columns) == ["z"]
    both = infer(model, linear_frame[["x"]].iloc[:5], {"operators_to_forecast": ["y", "z"]})
    assert list(both.columns) == ["y", "z"]


@pytest.mark.parametrize("state", [{"state_method": "LOBPCG_FAST", "iterations": 50, "tol": 1e-9},
                                   {"state_method": "EIGS"}], ids=["LOBPCG_FAST", "EIGS"])
def test_inference_solvers_agree(linear_frame, state) -> None:
    model = train("pauli", training_params(), linear_frame)
    data = linear_frame[["x", "y"]]
    exact = infer(model, data)
    other = infer(model, data, {"state_parameters": state})
    np.testing.assert_allclose(other.to_numpy(), exact.to_numpy(), atol=1e-6)


def test_divergence_names_the_step_size(linear_frame) -> None:
    weights = {"optimization_method": "GRAD", "iterations": 50, "learning_rate": 1e6}
    expected = r"weight_optimization_kwargs\.learning_rate.*non-finite"
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=expected) as info:
        train("pauli", training_params(weight_optimization_kwargs=weights), linear_frame)
    assert "lower learning_rate" in str(info.value)
