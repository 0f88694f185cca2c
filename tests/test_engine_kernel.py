"""LOBPCG_FAST compiled per row (``lobpcg_kernel``, when numba is installed) is the same method as
the numpy version: the same states, energies, steps, unconverged rows and search directions, at
every dim, cold, warm along a direction, and at an exhausted budget. The numpy version, which
runs where numba is missing, keeps reaching NP_EIGH's loss with the defaults."""

from __future__ import annotations

import numpy as np
import pytest

from qwidgets.sim.engine import lobpcg_kernel, train
from qwidgets.sim.engine.iterative import Solution
from qwidgets.sim.engine.lobpcg import lobpcg
from qwidgets.sim.engine.rows import LinearRows, normalize
from tests.test_engine_convergence import DEFAULT, frame, model_rows, params

needs_numba = pytest.mark.skipif(not lobpcg_kernel.AVAILABLE, reason="numba is not installed")


def both(monkeypatch: pytest.MonkeyPatch, rows: LinearRows, x0: np.ndarray, iterations: int,
         p0: np.ndarray | None) -> tuple[Solution, Solution]:
    compiled = lobpcg(rows, x0, iterations, 0.2, p0)
    monkeypatch.setattr(lobpcg_kernel, "AVAILABLE", False)
    plain = lobpcg(rows, x0, iterations, 0.2, p0)
    monkeypatch.undo()
    return compiled, plain


def assert_same(compiled: Solution, plain: Solution) -> None:
    scale = np.abs(plain.energies).max()
    np.testing.assert_allclose(compiled.energies, plain.energies, rtol=0, atol=1e-11 * scale)
    overlap = np.abs(np.einsum("bi,bi->b", compiled.states.conj(), plain.states))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-9)
    np.testing.assert_array_equal(compiled.unconverged, plain.unconverged)
    assert compiled.steps == plain.steps


@needs_numba
@pytest.mark.parametrize("dim", [16, 32, 64])
def test_the_compiled_solver_gives_the_numpy_solvers_answer(
        dim: int, monkeypatch: pytest.MonkeyPatch) -> None:
    ham, X = model_rows(dim, rows=120)
    rng = np.random.default_rng(5)
    cold = normalize(rng.normal(size=(120, dim)) + 1j * rng.normal(size=(120, dim)))
    compiled, plain = both(monkeypatch, ham.rows(X), cold, 80, None)
    assert_same(compiled, plain)
    assert not plain.unconverged.any()
    # warm: the states of slightly moved rows, with the move as the direction (zero for some
    # rows: those start without one)
    moved = ham.rows(X + 0.05 * rng.normal(size=X.shape))
    before = lobpcg(moved, cold, 80, 0.2).states
    direction = plain.states - before
    direction[::3] = 0
    compiled, plain = both(monkeypatch, ham.rows(X), before, 80, direction)
    assert_same(compiled, plain)


@needs_numba
def test_an_exhausted_budget_flags_the_same_rows_and_keeps_the_same_directions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ham, X = model_rows(32, rows=120)
    rng = np.random.default_rng(6)
    cold = normalize(rng.normal(size=(120, 32)) + 1j * rng.normal(size=(120, 32)))
    compiled, plain = both(monkeypatch, ham.rows(X), cold, 3, None)
    assert_same(compiled, plain)
    assert plain.unconverged.any()
    assert compiled.directions is not None
    assert plain.directions is not None
    stuck = plain.unconverged
    np.testing.assert_allclose(compiled.directions[stuck], plain.directions[stuck], atol=1e-9)


@pytest.mark.parametrize("dim", [16, 64])
def test_the_numpy_solver_alone_reaches_the_exact_solvers_loss(
        dim: int, monkeypatch: pytest.MonkeyPatch) -> None:
    df = frame(400)
    exact = train("pauli", params(dim, {"state_method": "NP_EIGH"}), df)
    monkeypatch.setattr(lobpcg_kernel, "AVAILABLE", False)
    iterative = train("pauli", params(dim, DEFAULT), df)
    final_exact, final_iterative = np.mean(exact.loss[-1]), np.mean(iterative.loss[-1])
    assert abs(final_iterative - final_exact) <= 0.01 * final_exact


@needs_numba
def test_a_training_solves_its_rows_with_the_compiled_solver(
        monkeypatch: pytest.MonkeyPatch) -> None:
    solved: list[int] = []
    compiled = lobpcg_kernel.solve_rows

    def counting(*args: object, **kwargs: object) -> Solution:
        found = compiled(*args, **kwargs)  # type: ignore[arg-type]
        solved.append(len(found.energies))
        return found

    monkeypatch.setattr(lobpcg_kernel, "solve_rows", counting)
    train("pauli", params(16, DEFAULT, passes=2), frame(400))
    assert sum(solved) == 2 * 400  # every row of every pass
