"""A numpy state-vector simulator for the circuits of ``qwidgets.protocol.openqasm``, with
measurement counts sampled by a seeded generator. Qubit 0 is the leftmost character of a
bitstring, as in Braket.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.openqasm import FIXED_GATES, MAX_QUBITS, MAX_SHOTS, ROTATIONS, Program, parse


@dataclass(frozen=True)
class Counts:
    counts: dict[str, int]
    measured_qubits: tuple[int, ...]
    shots: int

    def probabilities(self) -> dict[str, float]:
        return {k: v / self.shots for k, v in self.counts.items()}


def final_state(program: Program) -> np.ndarray:
    """The state vector after every gate, as a tensor of shape (2,) * qubit_count."""
    n = program.qubit_count
    if n > MAX_QUBITS:
        raise ValueError(f"the circuit uses {n} qubits; the embedded simulator runs at most "
                         f"{MAX_QUBITS} (a state of 2^{n} amplitudes)")
    state = np.zeros((2,) * n, dtype=complex)
    state[(0,) * n] = 1.0
    for op in program.operations:
        matrix = FIXED_GATES[op.gate] if op.angle is None else ROTATIONS[op.gate](op.angle)
        k = len(op.qubits)
        gate = matrix.reshape((2,) * (2 * k))
        # contract the gate's input legs with the target axes, then put the outputs back
        state = np.tensordot(gate, state, axes=(list(range(k, 2 * k)), list(op.qubits)))
        state = np.moveaxis(state, list(range(k)), list(op.qubits))
    return state


def probabilities(program: Program) -> np.ndarray:
    """Probabilities of the measured qubits' outcomes, index = bitstring read as binary."""
    state = final_state(program)
    probs = np.abs(state) ** 2
    others = tuple(q for q in range(program.qubit_count) if q not in program.measured)
    marginal = probs.sum(axis=others) if others else probs
    # sum keeps the measured axes in ascending order; put them in bit order
    kept = sorted(program.measured)
    marginal = np.transpose(marginal, [kept.index(q) for q in program.measured])
    flat = marginal.reshape(-1)
    return flat / flat.sum()


def seed_for(key: str) -> int:
    """A stable seed per task, so a task's counts are the same however often it is read."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def sample(program: Program, shots: int, seed: int) -> Counts:
    if not 1 <= shots <= MAX_SHOTS:
        raise ValidationError("shots", shots, f"must be between 1 and {MAX_SHOTS}",
                              "this simulator samples measurements; ask for 1 or more shots")
    probs = probabilities(program)
    draws = np.random.default_rng(seed).multinomial(shots, probs)
    width = len(program.measured)
    counts = {format(int(i), f"0{width}b"): int(c) for i in np.flatnonzero(draws)
              for c in (draws[i],)}
    return Counts(dict(sorted(counts.items())), program.measured, shots)


def run(source: str, shots: int, seed: int) -> Counts:
    return sample(parse(source), shots, seed)

