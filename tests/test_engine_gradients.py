"""Hellmann-Feynman gradients and the ANALYTIC optimum, checked against numerics."""

from __future__ import annotations

import numpy as np
import pytest

from qwidgets.sim.engine.hamiltonian import Hamiltonian, density_sums
from qwidgets.sim.engine.models import EnsembleModel, HilbertModel, PauliModel


def pauli_model(seed: int = 0) -> PauliModel:
    model = PauliModel(["a", "b", "c"], qbits=2, pauli_weight=2, sigma=np.array([1.0, 0.5, 2.0]))
    model.initialize(np.random.default_rng(seed).normal(size=(50, 3)), np.random.default_rng(seed))
    return model


def ensemble_model(seed: int = 0) -> EnsembleModel:
    model = EnsembleModel(["a", "b", "c"], dim=5, num_axes=7, sigma=np.array([1.0, 0.5, 2.0]))
    model.initialize(np.random.default_rng(seed).normal(size=(50, 3)), np.random.default_rng(seed))
    return model


def data_and_states(model: HilbertModel, rows: int = 20, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(model.operators)))
    psi = rng.normal(size=(rows, model.dim)) + 1j * rng.normal(size=(rows, model.dim))
    return X, psi / np.linalg.norm(psi, axis=1, keepdims=True)


def fixed_state_loss(model: HilbertModel, X: np.ndarray, psi: np.ndarray) -> float:
    H = Hamiltonian(model.operator_stack(), model.sigma).build(X)
    return float(np.real(np.einsum("bi,bij,bj->b", psi.conj(), H, psi)).mean())


def ground_loss(model: HilbertModel, X: np.ndarray) -> float:
    H = Hamiltonian(model.operator_stack(), model.sigma).build(X)
    return float(np.linalg.eigvalsh(H)[:, 0].mean())


def analytic_gradient(model: HilbertModel, X: np.ndarray, psi: np.ndarray) -> np.ndarray:
    R, Rk = density_sums(psi, X)
    return model.weight_gradient(model.energy_gradient(model.operator_stack(), R, Rk, len(X)))


def finite_difference(f, model: HilbertModel, attr: str, h: float = 1e-6) -> np.ndarray:
    base = getattr(model, attr).copy()
    grad = np.zeros(base.shape, dtype=base.dtype)
    parts = [1.0, 1j] if np.iscomplexobj(base) else [1.0]
    for idx in np.ndindex(base.shape):
        for unit in parts:
            step = base.copy()
            step[idx] += unit * h
            setattr(model, attr, step)
            up = f()
            step[idx] -= 2 * unit * h
            setattr(model, attr, step)
            down = f()
            grad[idx] += unit * (up - down) / (2 * h)
    setattr(model, attr, base)
    return grad


@pytest.mark.parametrize("make", [pauli_model, ensemble_model], ids=["pauli", "ensemble"])
def test_weight_gradient_with_fixed_states(make) -> None:
    model = make()
    X, psi = data_and_states(model)
    numeric = finite_difference(lambda: fixed_state_loss(model, X, psi), model, "weights")
    np.testing.assert_allclose(analytic_gradient(model, X, psi), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("make", [pauli_model, ensemble_model], ids=["pauli", "ensemble"])
def test_hellmann_feynman_gradient_of_the_ground_energy(make) -> None:
    model = make()
    X, _ = data_and_states(model)
    H = Hamiltonian(model.operator_stack(), model.sigma).build(X)
    psi = np.linalg.eigh(H)[1][:, :, 0]
    numeric = finite_difference(lambda: ground_loss(model, X), model, "weights")
    np.testing.assert_allclose(analytic_gradient(model, X, psi), numeric, rtol=1e-5, atol=1e-7)


def test_ensemble_axes_gradient() -> None:
    model = ensemble_model()
    X, psi = data_and_states(model)
    R, Rk = density_sums(psi, X)
    G = model.energy_gradient(model.operator_stack(), R, Rk, len(X))
    numeric = finite_difference(lambda: fixed_state_loss(model, X, psi), model, "axes")
    np.testing.assert_allclose(model.axes_gradient(G), numeric, rtol=1e-6, atol=1e-8)


def test_gradient_check_can_fail() -> None:
    """The finite-difference comparison notices a gradient that is off by a factor of two."""
    model = pauli_model()
    X, psi = data_and_states(model)
    numeric = finite_difference(lambda: fixed_state_loss(model, X, psi), model, "weights")
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(2 * analytic_gradient(model, X, psi), numeric, rtol=1e-6)


def basis_stack(model: HilbertModel) -> np.ndarray:
    if isinstance(model, PauliModel):
        return model.basis.dense()
    U = model.axes
    return np.einsum("ia,ja->aij", U, U.conj())


@pytest.mark.parametrize("make", [pauli_model, ensemble_model], ids=["pauli", "ensemble"])
def test_analytic_weights_are_the_least_squares_optimum(make) -> None:
    """With states fixed, sum_t ||(A_k - x_tk) psi_t||^2 is a linear least-squares problem in w_k."""
    model = make()
    X, psi = data_and_states(model, rows=40)
    R, Rk = density_sums(psi, X)
    weights = model.analytic_weights(R, Rk)
    B = basis_stack(model)
    columns = np.einsum("pij,tj->tip", B, psi).reshape(-1, len(B))  # (rows*N, P)
    design = np.vstack([columns.real, columns.imag])
    for k in range(len(model.operators)):
        target = (X[:, k, None] * psi).reshape(-1)
        w, *_ = np.linalg.lstsq(design, np.concatenate([target.real, target.imag]), rcond=None)
        np.testing.assert_allclose(weights[k], w, rtol=1e-6, atol=1e-8)
    # and it really is a minimum of the training loss for these states
    model.weights = weights
    best = fixed_state_loss(model, X, psi)
    for _ in range(5):
        model.weights = weights + 1e-3 * np.random.default_rng(_).normal(size=weights.shape)
        assert fixed_state_loss(model, X, psi) > best
