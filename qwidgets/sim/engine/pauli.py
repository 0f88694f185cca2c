"""Pauli strings as signed permutations: P|j> = phase(j) |j XOR x>.

Kept sparse (one x mask and N phases per string), so a basis of hundreds of strings on 8 qubits
costs kilobytes, and every product with a dense matrix is a gather instead of a matmul.
Qubit 0 is the most significant bit (the left factor of the Kronecker product).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, product
from math import comb

import numpy as np
import scipy.sparse as sp

_LETTERS = "IXYZ"


def basis_size(qbits: int, weight: int) -> int:
    """Number of Pauli strings on ``qbits`` qubits with at most ``weight`` non-identity factors."""
    return sum(comb(qbits, j) * 3**j for j in range(min(weight, qbits) + 1))


@dataclass(frozen=True)
class PauliBasis:
    """Every Pauli string up to a weight, ordered by weight, then by position and letter."""

    qbits: int
    weight: int
    labels: tuple[str, ...]
    xmask: np.ndarray  # (P,) int: bits flipped by the string
    phase: np.ndarray  # (P, N) complex: P[j ^ x, j]
    flat: sp.csr_matrix  # (P, N*N): row p is P_p flattened row-major

    @property
    def dim(self) -> int:
        return 2**self.qbits

    def __len__(self) -> int:
        return len(self.labels)

    def dense(self) -> np.ndarray:
        """The (P, N, N) stack of matrices (for tests and small sizes)."""
        return self.flat.toarray().reshape(len(self), self.dim, self.dim)

    def left_multiply(self, R: np.ndarray) -> np.ndarray:
        """(P, N, N): P_p @ R for every string p, by row gathers."""
        n = self.dim
        cols = np.arange(n)
        out = np.empty((len(self), n, n), dtype=np.complex128)
        rows = cols[None, :] ^ self.xmask[:, None]  # (P, N): row j^x receives phase(j) R[j]
        out[np.arange(len(self))[:, None], rows, :] = self.phase[:, :, None] * R[None, :, :]
        return out


@lru_cache(maxsize=32)
def pauli_basis(qbits: int, weight: int) -> PauliBasis:
    n = 2**qbits
    labels: list[str] = []
    xs: list[int] = []
    phases: list[np.ndarray] = []
    j = np.arange(n)
    for w in range(min(weight, qbits) + 1):
        for sites in combinations(range(qbits), w):
            for letters in product((1, 2, 3), repeat=w):
                chars = ["I"] * qbits
                x = z = n_y = 0
                for site, letter in zip(sites, letters, strict=False):
                    chars[site] = _LETTERS[letter]
                    bit = 1 << (qbits - 1 - site)
                    if letter in (1, 2):
                        x |= bit
                    if letter in (2, 3):
                        z |= bit
                    n_y += letter == 2
                parity = np.bitwise_count(j & z) if hasattr(np, "bitwise_count") else _popcount(j & z)
                phases.append((1j**n_y) * (1.0 - 2.0 * (parity & 1)))
                labels.append("".join(chars))
                xs.append(x)
    xmask = np.array(xs, dtype=np.int64)
    phase = np.array(phases, dtype=np.complex128)
    count = len(labels)
    rows = np.repeat(np.arange(count), n)
    cols = ((j[None, :] ^ xmask[:, None]) * n + j[None, :]).ravel()
    flat = sp.csr_matrix((phase.ravel(), (rows, cols)), shape=(count, n * n))
    flat.sort_indices()
    return PauliBasis(qbits, weight, tuple(labels), xmask, phase, flat)


def _popcount(values: np.ndarray) -> np.ndarray:
    count = np.zeros_like(values)
    v = values.copy()
    while v.any():
        count += v & 1
        v >>= 1
    return count
