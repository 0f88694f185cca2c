from __future__ import annotations

import numpy as np
import pytest

from qwidgets.protocol.params import validate_state
from qwidgets.sim.engine.solvers import ground_states

EXACT = [{"state_method": "NP_EIGH"}, {"state_method": "EIGH"}, {"state_method": "EIGS"}]
ITERATIVE = [
    {"state_method": "LOBPCG_FAST", "iterations": 300, "tol": 1e-9},
    {"state_method": "LOBPCB", "iterations": 300, "tol": 1e-9},
    {"state_method": "POWER_ITER", "iterations": 20000, "tol": 1e-9, "max_eig_iter": 10},
    {"state_method": "GRAD", "iterations": 20000, "learning_rate": 0.4},
]


def psd_batch(rows: int, n: int, seed: int = 0) -> np.ndarray:
    """Positive semi-definite like the error Hamiltonians, with a clear spectral gap."""
    rng = np.random.default_rng(seed)
    vecs = np.linalg.qr(rng.normal(size=(rows, n, n)) + 1j * rng.normal(size=(rows, n, n)))[0]
    vals = np.sort(rng.uniform(0, 1, (rows, n)), axis=1)
    vals[:, 1:] += 0.3  # gap between the ground state and the rest
    return (vecs * vals[:, None, :]) @ vecs.conj().transpose(0, 2, 1)


@pytest.mark.parametrize("state", EXACT + ITERATIVE, ids=lambda s: s["state_method"])
@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_ground_state_matches_eigh(state: dict, n: int) -> None:
    H = psd_batch(64, n)
    vals, vecs = np.linalg.eigh(H)
    energy, psi = ground_states(H, validate_state(state), None, np.random.default_rng(3))
    np.testing.assert_allclose(energy, vals[:, 0], atol=1e-7)
    overlap = np.abs(np.einsum("bi,bi->b", psi.conj(), vecs[:, :, 0]))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(psi, axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("state", EXACT + ITERATIVE[:2], ids=lambda s: s["state_method"])
def test_degenerate_ground_space_gives_the_ground_energy(state: dict) -> None:
    rng = np.random.default_rng(5)
    vecs = np.linalg.qr(rng.normal(size=(32, 6, 6)) + 1j * rng.normal(size=(32, 6, 6)))[0]
    vals = np.array([0.1, 0.1, 0.5, 0.7, 0.9, 1.2])
    H = (vecs * vals) @ vecs.conj().transpose(0, 2, 1)
    energy, psi = ground_states(H, validate_state(state), None, rng)
    np.testing.assert_allclose(energy, 0.1, atol=1e-7)
    residual = np.matmul(H, psi[..., None])[..., 0] - 0.1 * psi
    assert np.abs(residual).max() < 1e-4


@pytest.mark.parametrize("method", ["LOBPCG_FAST", "LOBPCB", "POWER_ITER"])
def test_iterations_bound_the_work(method: str) -> None:
    H = psd_batch(32, 16, seed=2)
    exact = np.linalg.eigvalsh(H)[:, 0]
    state = {"state_method": method, "iterations": 1, "tol": 1e-12}
    one, _ = ground_states(H, validate_state(state), None, np.random.default_rng(0))
    state["iterations"] = 200
    many, _ = ground_states(H, validate_state(state), None, np.random.default_rng(0))
    assert np.mean(one - exact) > 10 * max(np.mean(many - exact), 1e-15)
    assert np.min(many - exact) > -1e-12  # a Rayleigh quotient never goes below the minimum


@pytest.mark.parametrize("method", ["LOBPCG_FAST", "LOBPCB", "POWER_ITER"])
def test_warm_start_from_the_answer_returns_it_at_once(method: str) -> None:
    H = psd_batch(32, 16, seed=4)
    vals, vecs = np.linalg.eigh(H)
    state = validate_state({"state_method": method, "iterations": 1, "tol": 1e-6})
    energy, _psi = ground_states(H, state, vecs[:, :, 0], np.random.default_rng(0))
    np.testing.assert_allclose(energy, vals[:, 0], atol=1e-10)


def test_loose_tol_stops_early_and_tight_tol_does_not() -> None:
    H = psd_batch(64, 16, seed=6)
    exact = np.linalg.eigvalsh(H)[:, 0]
    loose = validate_state({"state_method": "LOBPCG_FAST", "iterations": 50, "tol": 0.5})
    tight = validate_state({"state_method": "LOBPCG_FAST", "iterations": 50, "tol": 1e-10})
    e_loose, _ = ground_states(H, loose, None, np.random.default_rng(0))
    e_tight, _ = ground_states(H, tight, None, np.random.default_rng(0))
    assert np.abs(e_tight - exact).max() < 1e-9
    assert np.abs(e_loose - exact).max() > 1e-6


def np_eigh_state() -> dict:
    return validate_state({"state_method": "NP_EIGH"})


def test_np_eigh_is_exact_to_rounding_without_calling_eigh(monkeypatch: pytest.MonkeyPatch) -> None:
    H = psd_batch(500, 16, seed=7)
    vals, vecs = np.linalg.eigh(H)
    monkeypatch.setattr(np.linalg, "eigh", lambda *_: pytest.fail("eigh fallback on a plain batch"))
    energy, psi = ground_states(H, np_eigh_state(), None, np.random.default_rng(0))
    np.testing.assert_allclose(energy, vals[:, 0], atol=1e-13)
    overlap = np.abs(np.einsum("bi,bi->b", psi.conj(), vecs[:, :, 0]))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-13)
    residual = np.matmul(H, psi[..., None])[..., 0] - energy[:, None] * psi
    assert np.abs(residual).max() < 1e-12


def test_np_eigh_warm_start_orthogonal_to_the_ground_state_still_finds_it() -> None:
    H = psd_batch(40, 8, seed=8)
    vals, vecs = np.linalg.eigh(H)
    wrong = vecs[:, :, 3]  # an excited state: inverse iteration alone cannot leave it
    energy, psi = ground_states(H, np_eigh_state(), wrong, np.random.default_rng(0))
    np.testing.assert_allclose(energy, vals[:, 0], atol=1e-12)
    overlap = np.abs(np.einsum("bi,bi->b", psi.conj(), vecs[:, :, 0]))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-10)


@pytest.mark.parametrize("gap", [1e-3, 1e-9, 1e-14, 0.0])
def test_np_eigh_tiny_gaps_give_a_state_of_the_lowest_energy(gap: float) -> None:
    rng = np.random.default_rng(9)
    vecs = np.linalg.qr(rng.normal(size=(50, 6, 6)) + 1j * rng.normal(size=(50, 6, 6)))[0]
    vals = np.array([0.2, 0.2 + gap, 0.5, 0.7, 0.9, 1.2])
    H = (vecs * vals) @ vecs.conj().transpose(0, 2, 1)
    energy, psi = ground_states(H, np_eigh_state(), None, rng)
    np.testing.assert_allclose(energy, 0.2, atol=1e-12)
    rayleigh = np.real(np.einsum("bi,bij,bj->b", psi.conj(), H, psi))
    assert np.abs(rayleigh - 0.2).max() <= gap + 1e-12


def test_np_eigh_of_zero_and_identity_matrices() -> None:
    H = np.zeros((4, 4, 4), complex)
    H[2:] = np.eye(4)
    energy, psi = ground_states(H, np_eigh_state(), None, np.random.default_rng(0))
    np.testing.assert_allclose(energy, [0, 0, 1, 1], atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(psi, axis=1), 1.0)
