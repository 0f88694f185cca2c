"""The Hamiltonians of a batch of rows as operators: products H(x_t) psi_t without building H.

The iterative solvers only ever need H(x_t) psi_t, so they take a ``Rows``:

- ``LinearRows`` keeps the shared structure H(x) = sum_j c_j(x) M_j + d(x) I, with M_0 = Q and
  M_k = -A_k / sigma_k^2, c = (1, x). A product for b rows is one (b, N) @ (N, J N) matmul on
  the J = K + 1 shared matrices (BLAS-3 work, O(J N^2) per row) and a contraction with the
  rows' coefficients. Nothing of size N^2 exists per row, so dropping the rows that converged
  costs O(N) per row.
- ``DenseRows`` wraps a stack H (B, N, N) (the exact solvers' input, and tests).

Both give the two scales the stopping rule needs per row: the rms eigenvalue sqrt(tr H^2 / N)
(the unit of rounding) and the eigenvalues' standard deviation (the unit of the tolerance).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


class Rows:
    """H(x_t) for a batch of rows, as far as the solvers need it."""

    dim: int

    def __len__(self) -> int:
        raise NotImplementedError

    def matvec(self, psi: np.ndarray) -> np.ndarray:
        """H_t psi_t for psi (b, N), or H_t psi_tm for a block (b, m, N)."""
        raise NotImplementedError

    def take(self, index: np.ndarray) -> Rows:
        """The rows at ``index`` (positions in this batch)."""
        raise NotImplementedError

    def dense(self) -> np.ndarray:
        """The (b, N, N) stack, for the methods that factorise H."""
        raise NotImplementedError

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """(rms eigenvalue, standard deviation of the eigenvalues) per row."""
        raise NotImplementedError


class DenseRows(Rows):
    def __init__(self, H: np.ndarray) -> None:
        self.H = H
        self.dim = H.shape[-1]

    def __len__(self) -> int:
        return len(self.H)

    def matvec(self, psi: np.ndarray) -> np.ndarray:
        if psi.ndim == 2:
            return np.matmul(self.H, psi[:, :, None])[:, :, 0]
        # (b, m, N): rows of (H v)^T = v^T H^T, with H^T made contiguous so that matmul uses BLAS
        return psi @ np.ascontiguousarray(self.H.transpose(0, 2, 1))

    def take(self, index: np.ndarray) -> DenseRows:
        return DenseRows(self.H[index])

    def dense(self) -> np.ndarray:
        return self.H

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.dim
        flat = self.H.reshape(len(self.H), -1).view(np.float64)
        mean_square = np.einsum("bi,bi->b", flat, flat) / n
        diag = np.real(np.einsum("bii->b", self.H)) / n
        # the spread again from the traceless part, so that a large mean does not cancel it away
        traceless = self.H.copy()
        idx = np.arange(n)
        traceless[:, idx, idx] -= diag[:, None]
        tflat = traceless.reshape(len(self.H), -1).view(np.float64)
        spread = np.sqrt(np.einsum("bi,bi->b", tflat, tflat) / n)
        return np.sqrt(mean_square), spread


class LinearRows(Rows):
    """H_t = sum_j coef[t, j] M_j + shift[t] I over shared Hermitian matrices M (J, N, N)."""

    def __init__(self, structure: LinearStructure, coef: np.ndarray, shift: np.ndarray) -> None:
        self.structure = structure
        self.coef = coef
        self.shift = shift
        self.dim = structure.dim

    def __len__(self) -> int:
        return len(self.coef)

    def matvec(self, psi: np.ndarray) -> np.ndarray:
        s = self.structure
        lead = psi.shape[:-1]
        flat = psi.reshape(-1, s.dim)
        # (rows, N) @ (N, J N): M_j psi for every j at once; then the rows' own combination,
        # on the real view (coefficients are real) so that it is one real contraction.
        Y = (flat @ s.stacked).view(np.float64).reshape(*lead, s.count, 2 * s.dim)
        if psi.ndim == 2:
            out = np.einsum("bj,bjn->bn", self.coef, Y)
        else:
            out = np.einsum("bj,bmjn->bmn", self.coef, Y)
        out = np.ascontiguousarray(out).view(np.complex128)
        shift = self.shift[:, None] if psi.ndim == 2 else self.shift[:, None, None]
        return out + shift * psi

    def take(self, index: np.ndarray) -> LinearRows:
        return LinearRows(self.structure, self.coef[index], self.shift[index])

    def dense(self) -> np.ndarray:
        s = self.structure
        flat = self.coef @ s.matrices.reshape(s.count, -1).view(np.float64)
        H = np.ascontiguousarray(flat).view(np.complex128).reshape(len(self), s.dim, s.dim)
        idx = np.arange(s.dim)
        H[:, idx, idx] += self.shift[:, None]
        return H

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.structure
        c, d = self.coef, self.shift
        # tr H^2 / N and the traceless part's, both quadratic in (c, d): O(J^2) per row
        mean = c @ s.traces / s.dim + d
        # c G c per row as a matmul and a row-wise dot: einsum's three-operand loop took 4x longer
        spread_sq = np.einsum("bi,bi->b", c @ s.traceless_gram, c)
        return np.sqrt(np.maximum(spread_sq, 0.0) + mean * mean), np.sqrt(np.maximum(spread_sq, 0.0))


class LinearStructure:
    """The shared matrices M (J, N, N) of ``LinearRows``, laid out for the batched product."""

    def __init__(self, matrices: np.ndarray) -> None:
        self.matrices = np.ascontiguousarray(matrices, dtype=np.complex128)
        self.count, self.dim, _ = matrices.shape
        n = self.dim
        # stacked[:, j N + i] = M_j[i, :]: psi @ stacked gives (M_j psi)[i] in column j N + i
        self.stacked = np.ascontiguousarray(self.matrices.transpose(2, 0, 1).reshape(n, -1))
        self.traces = np.real(np.einsum("jii->j", self.matrices))
        traceless = self.matrices.copy()
        idx = np.arange(n)
        traceless[:, idx, idx] -= (self.traces / n)[:, None]
        flat = traceless.reshape(self.count, -1)
        # Re tr(M'_i M'_j) / N with M' traceless and Hermitian: tr(M'_i M'_j) = <M'_i, M'_j>_F.
        # einsum's own loop, not BLAS: the same rounding on any number of threads, so the
        # stopping limits do not depend on where this runs.
        self.traceless_gram = np.real(np.einsum("in,jn->ij", flat.conj(), flat)) / n

    @cached_property
    def planes(self) -> tuple[np.ndarray, np.ndarray]:
        """The compiled LOBPCG's layout (``lobpcg_kernel``): real and imaginary parts of each
        M_j^T, whose rows are M_j's columns, so that a product is a sum of contiguous rows.
        Made on first use: without numba nothing reads it."""
        transposed = self.matrices.transpose(0, 2, 1)
        return np.ascontiguousarray(transposed.real), np.ascontiguousarray(transposed.imag)


# ---------------------------------------------------------------- row-wise vector helpers


def dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise <a|b> along the last axis."""
    return np.einsum("...i,...i->...", a.conj(), b)


def norms(x: np.ndarray) -> np.ndarray:
    """Norms along the last axis, for vectors (b, N) or stacks of them (b, k, N)."""
    if x.strides[-1] != x.itemsize:  # viewed as reals, the last axis must be contiguous
        x = np.ascontiguousarray(x)
    flat = x.view(np.float64)  # one real pass instead of two
    return np.sqrt(np.einsum("...i,...i->...", flat, flat))


def normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(norms(x), 1e-300)[..., None]
