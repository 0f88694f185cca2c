"""The error Hamiltonian H(x) = sum_k (A_k - x_k I)^2 / (2 sigma_k^2), built in the fast form

    H(x) = Q - sum_k (x_k / sigma_k^2) A_k + (sum_k x_k^2 / (2 sigma_k^2)) I,

with Q computed once per weight update and the x-dependent part one real matmul for the whole
batch (no Python loop over rows). The iterative solvers never build it: ``rows`` gives the same
H as products on the shared matrices (``rows.LinearRows``).
"""

from __future__ import annotations

import numpy as np

from qwidgets.sim.engine.rows import LinearRows, LinearStructure

CHUNK_BYTES = 64 * 2**20  # a chunk of H matrices stays this small, whatever the batch size


class Hamiltonian:
    """H(x) for rows x over the operators ``A`` (K, N, N) with variances ``sigma`` (K,)."""

    def __init__(self, A: np.ndarray, sigma: np.ndarray) -> None:
        count, n, _ = A.shape
        self.dim = n
        scaled = -(A / sigma[:, None, None]).reshape(count, n * n)
        # Complex (K, N*N) seen as real (K, 2*N*N): a real matmul with real rows is half the work.
        self._linear = np.ascontiguousarray(scaled).view(np.float64)
        # sum_k A_k A_k / (2 sigma_k) as one (N, K N) @ (K N, N) matmul (einsum's own loop was
        # 3x slower at dim 64)
        half = (A / (2.0 * sigma[:, None, None])).transpose(1, 0, 2).reshape(n, count * n)
        self._Q = half @ A.reshape(count * n, n)
        self._Q = 0.5 * (self._Q + self._Q.conj().T)
        self._half_inv_sigma = 0.5 / sigma
        self._diag = np.arange(n)
        self.structure = LinearStructure(np.concatenate([self._Q[None], scaled.reshape(count, n, n)]))

    def finite(self) -> bool:
        """False once the weights overflowed (a diverging training); costs O(N^2), not O(rows)."""
        return bool(np.isfinite(self._Q).all() and np.isfinite(self._linear).all())

    def chunk_rows(self) -> int:
        return chunk_rows(self.dim)

    def build(self, X: np.ndarray) -> np.ndarray:
        """(rows, N, N) complex for the rows of X (rows, K)."""
        rows, n = len(X), self.dim
        real = np.empty((rows, 2 * n * n))
        np.matmul(X, self._linear, out=real)
        H = real.view(np.complex128).reshape(rows, n, n)
        H += self._Q
        H[:, self._diag, self._diag] += (X * X @ self._half_inv_sigma)[:, None]
        return H


    def rows(self, X: np.ndarray) -> LinearRows:
        """H(x) for the rows of X as products: sum_j c_j M_j + d I, M = (Q, -A_k / sigma_k^2)."""
        coef = np.empty((len(X), X.shape[1] + 1))
        coef[:, 0] = 1.0
        coef[:, 1:] = X
        return LinearRows(self.structure, coef, X * X @ self._half_inv_sigma)


def chunk_rows(dim: int) -> int:
    """Rows per chunk so that a chunk of (dim, dim) complex matrices fits in CHUNK_BYTES."""
    return max(1, CHUNK_BYTES // (16 * dim * dim))


def density_sums(states: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R = sum_t |psi_t><psi_t| and Rk[k] = sum_t x_tk |psi_t><psi_t|."""
    rows, n = states.shape
    R = states.T @ states.conj()
    weighted = (X[:, :, None] * states[:, None, :]).reshape(rows, -1)
    Rk = (weighted.T @ states.conj()).reshape(X.shape[1], n, n)
    return R, Rk


def expectations(states: np.ndarray, A: np.ndarray) -> np.ndarray:
    """<psi_t|A_j|psi_t> for every row t and operator j: (rows, J)."""
    rows, n = states.shape
    rho = (states.conj()[:, :, None] * states[:, None, :]).reshape(rows, n * n)
    return np.real(rho @ A.reshape(len(A), n * n).T)
