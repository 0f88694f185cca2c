"""The iterative state solvers at the Hilbert dimensions users sweep (16, 32, 64): they converge
to NP_EIGH's answer at their default tolerance, say so when their iteration budget runs out, and
give the same answer on any number of cores."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import qwidgets.sim.engine.parts as parts_module
from qwidgets.protocol.params import validate_state, validate_training_parameters
from qwidgets.sim.engine import train
from qwidgets.sim.engine.hamiltonian import Hamiltonian
from qwidgets.sim.engine.iterative import limits
from qwidgets.sim.engine.rows import DenseRows
from qwidgets.sim.engine.solvers import solve
from qwidgets.sim.engine.training import Progress, Trainer

QBITS = {16: 4, 32: 5, 64: 6}
DEFAULT = {"state_method": "LOBPCG_FAST", "iterations": 10}  # tol: the wire's default


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Six operators, one linear in two others and one their product (the bench's shape)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    X[:, 4] = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.1 * rng.normal(size=rows)
    X[:, 5] = X[:, 2] * X[:, 3]
    return pd.DataFrame(X, columns=[f"o{k}" for k in range(6)])


def params(dim: int, state: dict[str, Any], passes: int = 6) -> dict[str, Any]:
    return {
        "model": {"operators": [f"o{k}" for k in range(6)], "qbits": QBITS[dim],
                  "pauli_weight": 2, "seed": 3},
        "batch_size": 200, "num_passes": passes,
        "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 1,
                                       "learning_rate": 0.05},
        "state_kwargs": state,
    }


def model_rows(dim: int, rows: int = 300) -> tuple[Hamiltonian, np.ndarray]:
    """The Hamiltonians of a freshly initialised model on the data's rows."""
    X = frame(rows).to_numpy()
    trainer = Trainer("pauli", validate_training_parameters("pauli", params(dim, DEFAULT)), X)
    model = trainer.model
    return Hamiltonian(model.operator_stack(), model.sigma), X


@pytest.mark.parametrize("dim", [16, 32, 64])
def test_a_solve_at_the_default_tolerance_matches_the_exact_ground_energy(dim: int) -> None:
    ham, X = model_rows(dim)
    rows = ham.rows(X)
    exact = np.linalg.eigvalsh(rows.dense())
    state = validate_state({**DEFAULT, "iterations": 200})
    found = solve(rows, state, None, np.random.default_rng(0))
    assert not found.unconverged.any()
    # the Rayleigh quotient lies above the ground energy, by far less than the loss goal (1%)
    error = found.energies - exact[:, 0]
    assert error.min() > -1e-10
    assert error.mean() < 1e-3 * exact[:, 0].mean()
    # each row's residual is within its limit: tol times the eigenvalues' spread over
    # 4 sqrt(N) (N itself at dim 16)
    residual = np.linalg.norm(rows.matvec(found.states) - found.energies[:, None]
                              * found.states, axis=1)
    assert (residual <= limits(rows, state["tol"]) * (1 + 1e-9)).all()
    spread = exact.std(axis=1)
    np.testing.assert_allclose(limits(rows, 1.0), spread / (4 * np.sqrt(dim)), rtol=1e-9)


@pytest.mark.parametrize("dim", [16, 32, 64])
def test_training_with_the_defaults_reaches_the_exact_solvers_loss(dim: int) -> None:
    df = frame(400)
    exact = train("pauli", params(dim, {"state_method": "NP_EIGH"}), df)
    events: list[Progress] = []
    iterative = train("pauli", params(dim, DEFAULT), df, progress=events.append)
    final_exact, final_iterative = np.mean(exact.loss[-1]), np.mean(iterative.loss[-1])
    assert abs(final_iterative - final_exact) <= 0.01 * final_exact
    # every pass's loss follows the exact one (not only the last), pass 0 included
    np.testing.assert_allclose(np.mean(iterative.loss, axis=1), np.mean(exact.loss, axis=1),
                               rtol=0.05)
    # What the budget left unconverged is said in the events, batch by batch, and shrinks as
    # the warm starts take over: the last pass has few such rows.
    done = [e for e in events if e.current_batch_completion >= 100]
    last = [e for e in done if e.pass_index == 5]
    assert sum(e.unconverged_rows for e in last) <= 0.1 * 400
    for e in done:
        assert bool(e.state_warning) == (e.unconverged_rows > 0)


def test_the_exhausted_budget_is_reported_with_the_share_and_the_fix() -> None:
    events: list[Progress] = []
    state = {"state_method": "LOBPCG_FAST", "iterations": 2}
    train("pauli", params(32, state, passes=2), frame(400), progress=events.append)
    done = [e for e in events if e.current_batch_completion >= 100]
    assert done
    assert all(e.unconverged_rows > 0 for e in done)
    first = done[0]
    assert first.solved_rows == 200
    share = f"{100 * first.unconverged_rows / 200:.3g}% of this batch's rows"
    assert share in first.state_warning
    assert "iterations=2" in first.state_warning
    assert "tol=0.2" in first.state_warning
    assert "raise iterations" in first.state_warning
    assert "NP_EIGH" in first.state_warning


@pytest.mark.parametrize("method", ["LOBPCG_FAST", "LOBPCB", "POWER_ITER"])
def test_unconverged_rows_are_exactly_those_above_their_limit(method: str) -> None:
    ham, X = model_rows(32, rows=200)
    rows = ham.rows(X)
    state = validate_state({"state_method": method, "iterations": 3, "tol": 0.2})
    found = solve(rows, state, None, np.random.default_rng(1))
    residual = np.linalg.norm(rows.matvec(found.states) - found.energies[:, None]
                              * found.states, axis=1)
    above = residual > limits(rows, 0.2)
    assert found.unconverged.any()
    np.testing.assert_array_equal(found.unconverged, above)


def test_exact_methods_never_report_unconverged_rows() -> None:
    ham, X = model_rows(16, rows=50)
    for method in ("NP_EIGH", "EIGH"):
        found = solve(ham.rows(X), validate_state({"state_method": method}), None,
                      np.random.default_rng(0))
        assert not found.unconverged.any()


def test_products_on_the_shared_matrices_equal_the_dense_hamiltonians() -> None:
    ham, X = model_rows(32, rows=40)
    rows, dense = ham.rows(X), DenseRows(ham.build(X))
    psi = np.random.default_rng(2).normal(size=(40, 2, 32)) + 0j
    np.testing.assert_allclose(rows.matvec(psi), dense.matvec(psi), atol=1e-11)
    np.testing.assert_allclose(rows.matvec(psi[:, 0]), dense.matvec(psi[:, 0]), atol=1e-11)
    np.testing.assert_allclose(rows.scales(), dense.scales(), rtol=1e-10)
    np.testing.assert_allclose(rows.take(np.arange(5, 9)).dense(), ham.build(X[5:9]),
                               atol=1e-12)


def test_iterative_training_is_the_same_on_one_core_and_on_several(monkeypatch) -> None:
    df = frame(1500)
    p = params(32, DEFAULT, passes=3)
    p["batch_size"] = 1500  # three parts per batch
    results = []
    for cores in (1, 3):
        monkeypatch.setattr(parts_module, "cores", lambda cores=cores: cores)
        events: list[Progress] = []
        model = train("pauli", p, df, progress=events.append)
        results.append((model.loss, [e.unconverged_rows for e in events]))
    (loss_1, unconverged_1), (loss_3, unconverged_3) = results
    assert loss_1 == loss_3
    assert unconverged_1 == unconverged_3
