"""The two numpy simulations behind the devices: a state vector (SV1, TN1, the QPUs, and DM1
circuits without noise) and a density matrix (DM1 circuits with noise channels). Both keep one
tensor axis per simulated qubit (two for the density matrix: rows, then columns), position 0
the most significant bit, as in Braket."""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

MAX_DENSITY_QUBITS = 11  # 4^11 entries, 64 MiB: the largest density matrix this server evolves


def _apply(tensor: np.ndarray, matrix: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    k = len(axes)
    gate = matrix.reshape((2,) * (2 * k))
    # contract the gate's input legs with the target axes, then put its outputs back in place
    out = np.tensordot(gate, tensor, axes=(list(range(k, 2 * k)), list(axes)))
    return np.moveaxis(out, list(range(k)), list(axes))


def _marginal(probs: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """Probabilities of ``positions``' outcomes (in that order), flat and big-endian."""
    others = tuple(i for i in range(probs.ndim) if i not in positions)
    kept = probs.sum(axis=others) if others else probs
    ascending = sorted(positions)
    kept = np.transpose(kept, [ascending.index(p) for p in positions])
    flat = np.clip(kept.reshape(-1), 0.0, None)
    total = flat.sum()
    return flat / total if total > 0 else flat


class StateVector:
    """A pure state of ``n`` qubits."""

    def __init__(self, n: int, tensor: np.ndarray | None = None) -> None:
        self.n = n
        if tensor is None:
            tensor = np.zeros((2,) * n, dtype=complex)
            tensor[(0,) * n] = 1.0
        self.tensor = tensor

    def copy(self) -> StateVector:
        return StateVector(self.n, self.tensor.copy())

    def apply(self, matrix: np.ndarray, positions: Sequence[int]) -> None:
        if not positions:  # a global phase (gphase): it shows in amplitudes
            self.tensor = self.tensor * complex(matrix[0, 0])
            return
        self.tensor = _apply(self.tensor, matrix, positions)

    def apply_kraus(self, operators: Sequence[np.ndarray], positions: Sequence[int]) -> None:
        raise TypeError("a state vector cannot take a noise channel")  # callers pick DensityMatrix

    def probabilities(self, positions: Sequence[int]) -> np.ndarray:
        return _marginal(np.abs(self.tensor) ** 2, positions)

    def reduced_density_matrix(self, positions: Sequence[int]) -> np.ndarray:
        moved = np.moveaxis(self.tensor, list(positions), list(range(len(positions))))
        rows = moved.reshape(2 ** len(positions), -1)
        return rows @ rows.conj().T

    def vector(self) -> np.ndarray:
        return self.tensor.reshape(-1)


class DensityMatrix:
    """A mixed state of ``n`` qubits: axes 0..n-1 index rows, n..2n-1 columns."""

    def __init__(self, n: int, tensor: np.ndarray | None = None) -> None:
        if n > MAX_DENSITY_QUBITS:
            raise ValueError(f"the noisy circuit uses {n} qubits; the embedded density-matrix "
                             f"simulator runs at most {MAX_DENSITY_QUBITS} (4^{n} entries)")
        self.n = n
        if tensor is None:
            tensor = np.zeros((2,) * (2 * n), dtype=complex)
            tensor[(0,) * (2 * n)] = 1.0
        self.tensor = tensor

    def copy(self) -> DensityMatrix:
        return DensityMatrix(self.n, self.tensor.copy())

    def _superoperator(self, superop: np.ndarray, positions: Sequence[int]) -> None:
        # rho -> sum K rho K^dagger is one 4^k x 4^k matrix, sum K (x) conj(K), on the k row
        # axes and the k column axes together: one contraction instead of two per operator
        self.tensor = _apply(self.tensor, superop, [*positions, *(self.n + p for p in positions)])

    def apply(self, matrix: np.ndarray, positions: Sequence[int]) -> None:
        if not positions:
            return  # a global phase cancels in rho
        self._superoperator(np.kron(matrix, matrix.conj()), positions)

    def apply_kraus(self, operators: Sequence[np.ndarray], positions: Sequence[int]) -> None:
        self._superoperator(np.sum([np.kron(k, k.conj()) for k in operators], axis=0), positions)

    def probabilities(self, positions: Sequence[int]) -> np.ndarray:
        size = 2 ** self.n
        diagonal = np.real(self.tensor.reshape(size, size).diagonal())
        return _marginal(diagonal.reshape((2,) * self.n), positions)

    def reduced_density_matrix(self, positions: Sequence[int]) -> np.ndarray:
        letters = string.ascii_letters
        rows = [letters[i] for i in range(self.n)]
        cols = [letters[self.n + i] if i in positions else letters[i] for i in range(self.n)]
        out = "".join(rows[p] for p in positions) + "".join(cols[p] for p in positions)
        reduced = np.einsum(f"{''.join(rows)}{''.join(cols)}->{out}", self.tensor)
        size = 2 ** len(positions)
        return reduced.reshape(size, size)

    def vector(self) -> np.ndarray:
        raise TypeError("a mixed state has no state vector")


State = StateVector | DensityMatrix
