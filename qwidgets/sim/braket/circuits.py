"""Runs the circuits of ``qwidgets.protocol.openqasm`` on a device's terms: ``prepare`` parses
and checks a program against the device's features (everything a task is refused for, at
CreateQuantumTask), ``run`` simulates it (a state vector, or a density matrix when it has noise
channels) and computes its result types, with measurements sampled by a seeded generator.
Qubit 0 is the leftmost character of a bitstring, as in Braket.

Only the qubits a circuit uses are simulated (as Braket's simulators map a circuit onto
contiguous qubits), so ``h q[0]; h q[30];`` on SV1 is a two-qubit simulation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.openqasm import MAX_QUBITS, MAX_SHOTS, Program, parse
from qwidgets.protocol.qasm_gates import gate_matrix
from qwidgets.sim.braket import features as device_features
from qwidgets.sim.braket import result_types
from qwidgets.sim.braket.noise import kraus_operators
from qwidgets.sim.braket.states import DensityMatrix, State, StateVector

UNITARY_TOLERANCE = 1e-7


@dataclass(frozen=True)
class Counts:
    counts: dict[str, int]
    measured_qubits: tuple[int, ...]
    shots: int

    def probabilities(self) -> dict[str, float]:
        return {k: v / self.shots for k, v in self.counts.items()}


@dataclass(frozen=True)
class Outcome:
    """A finished run: counts over ``measured_qubits`` (empty for shots=0) and the result
    types as ``{"type": <the SDK's JAQCD result type>, "value": ...}``."""

    shots: int
    counts: dict[str, int]
    measured_qubits: tuple[int, ...]
    result_types: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"counts": self.counts, "measuredQubits": list(self.measured_qubits),
                               "shots": self.shots}
        if self.result_types:
            out["resultTypes"] = self.result_types
        return out


def prepare(source: str, shots: int, *, inputs: Mapping[str, float] | None = None,
            features: device_features.Features = device_features.SV1,
            device: str = "SV1") -> Program:
    """Parse ``source`` and refuse (``ValidationError``) whatever ``device`` would not run."""
    program = parse(source, inputs)
    device_features.check(program, features, shots, device)
    for op in program.operations:
        if op.kind == "noise":
            kraus_operators(op)
        elif op.kind == "unitary":
            _checked_unitary(op.matrices[0], len(op.qubits), op.line, op.text)
    result_types.check(program, shots)
    return program


def _checked_unitary(matrix: np.ndarray, qubits: int, line: int, text: str) -> np.ndarray:
    where = f"action.source line {line}"
    if matrix.shape != (2 ** qubits, 2 ** qubits):
        raise ValidationError(where, text, f"a {matrix.shape[0]}x{matrix.shape[0]} matrix "
                              f"does not act on {qubits} qubit(s)",
                              f"give a {2 ** qubits}x{2 ** qubits} matrix")
    if not np.allclose(matrix @ matrix.conj().T, np.eye(len(matrix)), atol=UNITARY_TOLERANCE):
        raise ValidationError(where, text, "the matrix is not unitary (U U^dagger != I)",
                              "give a unitary matrix")
    return matrix


def simulated_qubits(program: Program, shots: int) -> tuple[int, ...]:
    wanted = set(result_types.all_qubits(program))
    if shots > 0:
        wanted.update(result_types.measured_qubits(program))
    return tuple(sorted(wanted))


def final_state(program: Program, qubits: tuple[int, ...] | None = None) -> State:
    """The state after every instruction, over ``qubits`` (default: every declared one)."""
    qubits = tuple(range(program.qubit_count)) if qubits is None else qubits
    noisy = any(op.kind == "noise" for op in program.operations)
    n = len(qubits)
    if n > MAX_QUBITS:
        raise ValueError(f"the circuit uses {n} qubits; the embedded simulator runs at most "
                         f"{MAX_QUBITS} (a state of 2^{n} amplitudes)")
    state: State = DensityMatrix(n) if noisy else StateVector(n)
    position = {q: i for i, q in enumerate(qubits)}
    for op in program.operations:
        targets = [position[q] for q in op.qubits]
        if op.kind == "noise":
            state.apply_kraus(kraus_operators(op), targets)
        elif op.kind == "unitary":
            state.apply(op.matrices[0], targets)
        else:
            state.apply(gate_matrix(op.name, op.params, op.modifiers), targets)
    return state


def probabilities(program: Program) -> np.ndarray:
    """Probabilities of the measured qubits' outcomes, index = bitstring read as binary."""
    state = final_state(program)
    return state.probabilities(list(program.measured))


def seed_for(key: str) -> int:
    """A stable seed per task, so a task's counts are the same however often it is read."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _draw(probs: np.ndarray, shots: int, seed: int, width: int) -> dict[str, int]:
    draws = np.random.default_rng(seed).multinomial(shots, probs)
    return {format(int(i), f"0{width}b"): int(draws[i]) for i in np.flatnonzero(draws)}


def shot_order(counts: Mapping[str, int], seed: int) -> np.ndarray:
    """The shots behind ``counts`` in a seeded random order: one outcome (the bitstring read as
    binary) per shot, the same every time, so measurements and sample values agree."""
    outcomes = np.repeat(np.array([int(k, 2) for k in counts], dtype=np.int64),
                         np.array(list(counts.values()), dtype=np.int64))
    return np.random.default_rng([seed, 1]).permutation(outcomes)


def sample(program: Program, shots: int, seed: int) -> Counts:
    if not 1 <= shots <= MAX_SHOTS:
        raise ValidationError("shots", shots, f"must be between 1 and {MAX_SHOTS}",
                              "this simulator samples measurements; ask for 1 or more shots")
    probs = probabilities(program)
    counts = _draw(probs, shots, seed, len(program.measured))
    return Counts(dict(sorted(counts.items())), program.measured, shots)


def execute(program: Program, shots: int, seed: int) -> Outcome:
    """Simulate a prepared program: exact result types for shots=0, else measurements in the
    observables' basis and the result types computed from them."""
    qubits = simulated_qubits(program, shots)
    state = final_state(program, qubits)
    position = {q: i for i, q in enumerate(qubits)}
    every = result_types.all_qubits(program)
    if shots == 0:  # the simulated qubits are then exactly ``every``, in order
        values = [{"type": spec.to_jaqcd(),
                   "value": result_types.exact_value(spec, state, every, position)}
                  for spec in program.results]
        return Outcome(0, {}, (), values)
    measured = result_types.measured_qubits(program)
    for part in result_types.measurement_plan(program):
        assert part.rotation is not None
        state.apply(part.rotation, [position[q] for q in part.qubits])
    probs = state.probabilities([position[q] for q in measured])
    counts = dict(sorted(_draw(probs, shots, seed, len(measured)).items()))
    order = shot_order(counts, seed)
    values = [{"type": spec.to_jaqcd(),
               "value": result_types.sampled_value(spec, order, measured, every)}
              for spec in program.results]
    return Outcome(shots, counts, measured, values)


def run(source: str, shots: int, seed: int, *, inputs: Mapping[str, float] | None = None,
        features: device_features.Features = device_features.SV1,
        device: str = "SV1") -> Outcome:
    return execute(prepare(source, shots, inputs=inputs, features=features, device=device),
                   shots, seed)
