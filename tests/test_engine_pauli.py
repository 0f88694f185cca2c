from __future__ import annotations

from functools import reduce
from math import comb

import numpy as np
import pytest

from qwidgets.sim.engine.pauli import basis_size, pauli_basis

SINGLE = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


@pytest.mark.parametrize(
    ("qbits", "weight", "count"),
    [(1, 1, 4), (2, 2, 16), (3, 1, 10), (4, 2, 67), (5, 2, 106), (6, 2, 154), (6, 3, 694)],
)
def test_count_matches_formula(qbits: int, weight: int, count: int) -> None:
    basis = pauli_basis(qbits, weight)
    assert len(basis) == count == basis_size(qbits, weight)
    assert count == sum(comb(qbits, j) * 3**j for j in range(weight + 1))
    assert len(set(basis.labels)) == count
    assert all(sum(c != "I" for c in label) <= weight for label in basis.labels)


@pytest.mark.parametrize(("qbits", "weight"), [(1, 1), (2, 2), (3, 2), (3, 3)])
def test_matrices_are_kronecker_products(qbits: int, weight: int) -> None:
    basis = pauli_basis(qbits, weight)
    dense = basis.dense()
    for p, label in enumerate(basis.labels):
        expected = reduce(np.kron, [SINGLE[c] for c in label])
        np.testing.assert_allclose(dense[p], expected, atol=1e-15)


@pytest.mark.parametrize(("qbits", "weight"), [(2, 2), (3, 2), (4, 2)])
def test_orthogonal_under_trace(qbits: int, weight: int) -> None:
    basis = pauli_basis(qbits, weight)
    dense = basis.dense()
    gram = np.einsum("pij,qji->pq", dense, dense)
    np.testing.assert_allclose(gram, basis.dim * np.eye(len(basis)), atol=1e-12)


def test_all_hermitian_matrices_spanned_for_full_weight() -> None:
    basis = pauli_basis(2, 2)
    rng = np.random.default_rng(0)
    M = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    M = M + M.conj().T
    coeffs = np.real(np.einsum("pij,ji->p", basis.dense(), M)) / 4
    np.testing.assert_allclose(np.einsum("p,pij->ij", coeffs, basis.dense()), M, atol=1e-12)


def test_left_multiply_matches_dense_product() -> None:
    basis = pauli_basis(3, 2)
    rng = np.random.default_rng(1)
    R = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    np.testing.assert_allclose(basis.left_multiply(R), basis.dense() @ R, atol=1e-12)
