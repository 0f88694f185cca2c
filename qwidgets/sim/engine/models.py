"""The two model families: operators A_k that are linear in real weights over Hermitian "basis"
matrices (Pauli strings, or the ensemble's rank-one projectors |u_a><u_a|).

Both expose the few quantities the training needs, all summed over rows first, so that a weight
step costs nothing per row (``docs/qcml-math.md``):

- ``operator_stack()``: A (K, N, N)
- ``weight_gradient(G)``: dL/dw from G_k = dL/dA_k (K, N, N), i.e. tr(B_p G_k)
- ``analytic_weights(R, Rk)``: the closed-form minimiser for fixed states, where
  R = sum_t rho_t and Rk[k] = sum_t x_tk rho_t.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from qwidgets.sim.engine.pauli import PauliBasis, pauli_basis


def sigma_vector(sigma_sq: float | Mapping[str, float], operators: Sequence[str]) -> np.ndarray:
    """Per-operator sigma^2 (missing operators default to 1)."""
    if isinstance(sigma_sq, Mapping):
        return np.array([float(sigma_sq.get(op, 1.0)) for op in operators])
    return np.full(len(operators), float(sigma_sq))


class HilbertModel:
    """Common part: operators, sigma, and the Hamiltonian pieces derived from the weights."""

    family: ClassVar[str]

    def __init__(self, operators: Sequence[str], dim: int, sigma: np.ndarray) -> None:
        self.operators = list(operators)
        self.dim = dim
        self.sigma = np.asarray(sigma, dtype=np.float64)

    # -- to be provided by each family
    weights: np.ndarray

    def operator_stack(self) -> np.ndarray:
        raise NotImplementedError

    def weight_gradient(self, G: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def analytic_weights(self, R: np.ndarray, Rk: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def initialize(self, X: np.ndarray, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        raise NotImplementedError

    def axes_step(self, G: np.ndarray, rate: float, normalize: bool) -> None:
        """Move the shared axes (ensemble only); Pauli strings are fixed."""

    # -- shared
    def energy_gradient(self, A: np.ndarray, R: np.ndarray, Rk: np.ndarray, rows: int) -> np.ndarray:
        """G_k = dL/dA_k of L = mean_t <psi_t|H_t|psi_t>, states fixed (Hellmann-Feynman)."""
        AR = A @ R
        G = AR + AR.conj().transpose(0, 2, 1) - 2.0 * Rk
        return G / (2.0 * self.sigma[:, None, None] * rows)


class PauliModel(HilbertModel):
    """A_k = sum_p W[k, p] P_p over every Pauli string up to ``pauli_weight``."""

    family = "pauli"

    def __init__(self, operators: Sequence[str], qbits: int, pauli_weight: int,
                 sigma: np.ndarray) -> None:
        super().__init__(operators, 2**qbits, sigma)
        self.basis: PauliBasis = pauli_basis(qbits, pauli_weight)
        self.weights = np.zeros((len(self.operators), len(self.basis)))

    @classmethod
    def from_params(cls, model: Mapping[str, Any]) -> PauliModel:
        ops = model["operators"]
        return cls(ops, model["qbits"], model["pauli_weight"], sigma_vector(model["sigma_sq"], ops))

    def initialize(self, X: np.ndarray, rng: np.random.Generator) -> None:
        # Identity coefficient at the column mean, the rest spread like the data, so the first
        # ground states already see each operator's scale.
        mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
        count = len(self.basis)
        W = rng.standard_normal((len(self.operators), count))
        W *= (std / np.sqrt(max(count - 1, 1)))[:, None]
        W[:, 0] = mean
        self.weights = W

    def operator_stack(self) -> np.ndarray:
        flat = (self.basis.flat.T @ self.weights.T).T  # (K, N*N)
        return np.ascontiguousarray(flat).reshape(-1, self.dim, self.dim)

    def weight_gradient(self, G: np.ndarray) -> np.ndarray:
        # tr(P_p G_k) = sum_ij P_p[i, j] G_k[j, i] = flat_p . vec(G_k^T)
        GT = G.transpose(0, 2, 1).reshape(len(G), -1)
        return np.real(self.basis.flat @ GT.T).T

    def analytic_weights(self, R: np.ndarray, Rk: np.ndarray) -> np.ndarray:
        M = self.basis.left_multiply(R)  # P_q R
        MT = M.transpose(0, 2, 1).reshape(len(M), -1)
        gram = np.real(self.basis.flat @ MT.T)  # Re tr(P_p P_q R)
        gram = 0.5 * (gram + gram.T)
        rhs = self.weight_gradient(Rk)  # tr(P_p R_k)
        return _least_squares(gram, rhs)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.weights = np.array(arrays["weights"], dtype=np.float64)


class EnsembleModel(HilbertModel):
    """A_k = sum_a C[k, a] |u_a><u_a| with ``num_axes`` shared unit vectors u_a in C^dim."""

    family = "ensemble"

    def __init__(self, operators: Sequence[str], dim: int, num_axes: int,
                 sigma: np.ndarray) -> None:
        super().__init__(operators, dim, sigma)
        self.num_axes = num_axes
        self.weights = np.zeros((len(self.operators), num_axes))
        self.axes = np.zeros((dim, num_axes), dtype=np.complex128)

    @classmethod
    def from_params(cls, model: Mapping[str, Any]) -> EnsembleModel:
        ops = model["operators"]
        return cls(ops, model["dim"], model["num_axes"], sigma_vector(model["sigma_sq"], ops))

    def initialize(self, X: np.ndarray, rng: np.random.Generator) -> None:
        U = rng.standard_normal((self.dim, self.num_axes)) \
            + 1j * rng.standard_normal((self.dim, self.num_axes))
        self.axes = U / np.linalg.norm(U, axis=0)
        mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
        # Each axis carries a value per operator around the data's mean, so an axis is a
        # prototype of a data point and a state that leans on it predicts that point.
        noise = rng.standard_normal((len(self.operators), self.num_axes))
        self.weights = mean[:, None] + std[:, None] * noise

    def operator_stack(self) -> np.ndarray:
        U = self.axes
        return (U[None, :, :] * self.weights[:, None, :]) @ U.conj().T

    def weight_gradient(self, G: np.ndarray) -> np.ndarray:
        # <u_a|G_k|u_a> for every k and a
        return np.real(np.einsum("ia,kia->ka", self.axes.conj(), G @ self.axes))

    def analytic_weights(self, R: np.ndarray, Rk: np.ndarray) -> np.ndarray:
        U = self.axes
        S = U.conj().T @ U  # <u_a|u_b>
        T = U.conj().T @ R @ U  # <u_a|R|u_b>
        gram = np.real(S * T.T)  # Re tr(P_a P_b R) = Re <u_a|u_b><u_b|R|u_a>
        gram = 0.5 * (gram + gram.T)
        return _least_squares(gram, self.weight_gradient(Rk))

    def axes_gradient(self, G: np.ndarray) -> np.ndarray:
        """dL/dU as a complex array: dL = Re sum conj(grad) * dU (Wirtinger convention)."""
        return 2.0 * np.einsum("kia,ka->ia", G @ self.axes, self.weights)

    def axes_step(self, G: np.ndarray, rate: float, normalize: bool) -> None:
        if rate <= 0:
            return
        U = self.axes - rate * self.axes_gradient(G)
        if normalize:
            U = U / np.maximum(np.linalg.norm(U, axis=0), 1e-300)
        self.axes = U

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "axes": self.axes}

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.weights = np.array(arrays["weights"], dtype=np.float64)
        self.axes = np.array(arrays["axes"], dtype=np.complex128)


def build_model(name: str, model: Mapping[str, Any]) -> HilbertModel:
    """A model from its validated payload (``params.validate_model``)."""
    builders: dict[str, Callable[[Mapping[str, Any]], HilbertModel]] = {
        "pauli": PauliModel.from_params, "ensemble": EnsembleModel.from_params}
    return builders[name](model)


def _least_squares(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimum-norm solution of gram @ w_k = rhs_k for every operator k (rows of rhs)."""
    # eigh-based pseudo-inverse: gram is symmetric positive semi-definite.
    vals, vecs = np.linalg.eigh(gram)
    cutoff = max(vals.max(initial=0.0), 0.0) * len(vals) * np.finfo(float).eps * 10
    inv = np.where(vals > cutoff, 1.0 / np.where(vals > cutoff, vals, 1.0), 0.0)
    return ((rhs @ vecs) * inv) @ vecs.T
