"""Result types (``#pragma braket result ...``) on a simulated state: exact values for shots=0,
and for shots > 0 the measurement basis (each observable's basis rotation, as Braket applies it)
and the values computed from the sampled measurements, as amazon-braket-sdk would compute them.

Values travel as braket-schemas' ``ResultTypeValue``: floats, lists, complex numbers as
``[re, im]`` pairs, amplitudes as ``{bitstring: [re, im]}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.qasm_program import OBSERVABLE_KINDS, Factor, Program, ResultSpec
from qwidgets.sim.braket.states import MAX_DENSITY_QUBITS, State

_S2 = 1 / math.sqrt(2)
_H = np.array([[_S2, _S2], [_S2, -_S2]], dtype=complex)
_SDG = np.diag([1, -1j]).astype(complex)
_C, _S = math.cos(-math.pi / 8), math.sin(-math.pi / 8)
# the rotation that takes each observable's +1 eigenvector to |0> (Braket's basis_rotation_gates)
_ROTATIONS: dict[str, np.ndarray | None] = {
    "x": _H, "y": _H @ _SDG, "z": None, "i": None,
    "h": np.array([[_C, -_S], [_S, _C]], dtype=complex)}


@dataclass(frozen=True, eq=False)
class Basis:
    """How one observable factor is measured: rotate ``qubits`` by ``rotation`` (None: as they
    are), then outcome k (big-endian over ``qubits``) has eigenvalue ``eigenvalues[k]``."""

    key: tuple[Any, ...]
    qubits: tuple[int, ...]
    rotation: np.ndarray | None
    eigenvalues: np.ndarray


def basis(factor: Factor, qubits: tuple[int, ...]) -> Basis:
    if factor.matrix is None:
        values = np.array([1.0, 1.0] if factor.name == "i" else [1.0, -1.0])
        return Basis((factor.name,), qubits, _ROTATIONS[factor.name], values)
    eigenvalues, vectors = np.linalg.eigh(factor.matrix)
    key = ("hermitian", np.round(factor.matrix, 12).tobytes())
    return Basis(key, qubits, vectors.conj().T, eigenvalues)


def all_qubits(program: Program) -> tuple[int, ...]:
    """What ``all`` means: the qubits the circuit uses (every declared one if it uses none)."""
    return program.used_qubits or tuple(range(program.qubit_count))


def terms(spec: ResultSpec, every: Sequence[int]) -> list[list[Basis]]:
    """The observable of ``spec`` as tensor products; one single-qubit term per qubit when it
    names ``all`` qubits (its value is then a list)."""
    if spec.targets is None:
        return [[basis(spec.factors[0], (q,))] for q in every]
    return [[basis(f, f.qubits) for f in spec.factors]]


def check(program: Program, shots: int) -> None:
    """What no device runs whatever its capabilities: results that contradict the shots or
    each other."""
    every = all_qubits(program)
    for spec in program.results:
        where = f"action.source line {spec.line}"
        if spec.kind == "amplitude":
            bad = [s for s in spec.states if len(s) != len(every)]
            if bad:
                raise ValidationError(where, spec.text, f"amplitude states must have one bit per "
                                      f"qubit the circuit uses ({len(every)}), got {bad}",
                                      f"give {len(every)}-bit strings")
        if spec.kind == "density_matrix" and len(spec.targets or every) > MAX_DENSITY_QUBITS:
            raise ValidationError(where, spec.text, f"a density matrix of more than "
                                  f"{MAX_DENSITY_QUBITS} qubits is too large for this server",
                                  "name fewer target qubits")
        if spec.kind in OBSERVABLE_KINDS and spec.targets is None and spec.factors[0].name \
                == "hermitian" and spec.factors[0].matrix is not None \
                and spec.factors[0].matrix.shape != (2, 2):
            raise ValidationError(where, spec.text, "an observable on all qubits must be a "
                                  "one-qubit observable", "name its target qubits")
    if shots > 0:
        measurement_plan(program)


def measured_qubits(program: Program) -> tuple[int, ...]:
    """The qubits a sampled run measures: the program's measurements, else the qubits its
    result types cover, else every declared qubit."""
    if program.explicit_measure or not program.results:
        return program.measured
    return all_qubits(program)


def measurement_plan(program: Program) -> list[Basis]:
    """The rotations a sampled run applies before measuring, refusing result types that need
    two different bases on one qubit (as the SDK's ``observables_simultaneously_measurable``)."""
    measured = set(measured_qubits(program))
    every = all_qubits(program)
    chosen: dict[int, Basis] = {}
    for spec in program.results:
        where = f"action.source line {spec.line}"
        covered = spec.targets if spec.targets is not None else every
        missing = sorted(set(covered) - measured)
        if missing:
            raise ValidationError(where, spec.text, f"qubits {missing} are not measured",
                                  "measure them too, or drop the measure statements")
        if spec.kind not in OBSERVABLE_KINDS:
            continue
        for term in terms(spec, every):
            for part in term:
                if part.key == ("i",):
                    continue
                for q in part.qubits:
                    held = chosen.get(q)
                    if held is not None and (held.key != part.key or held.qubits != part.qubits):
                        raise ValidationError(where, spec.text, f"qubit {q} is measured in two "
                                              "bases (observables that cannot be measured "
                                              "simultaneously)", "run them as separate tasks, "
                                              "or with shots=0")
                    chosen[q] = part
    for spec in program.results:
        if spec.kind == "probability":
            rotated = sorted(q for q in (spec.targets or every)
                             if q in chosen and chosen[q].rotation is not None)
            if rotated:
                raise ValidationError(f"action.source line {spec.line}", spec.text,
                                      f"qubits {rotated} are measured in an observable's "
                                      "basis, so their probabilities would not be the "
                                      "computational-basis ones", "run it as a separate task")
    unique = {id(b): b for b in chosen.values()}
    return [b for b in unique.values() if b.rotation is not None]


# ---------------------------------------------------------------- exact values (shots=0)


def _complex(value: complex) -> list[float]:
    return [float(np.real(value)), float(np.imag(value))]


def exact_value(spec: ResultSpec, state: State, every: Sequence[int],
                position: dict[int, int]) -> Any:
    def at(qubits: Sequence[int]) -> list[int]:
        return [position[q] for q in qubits]

    if spec.kind in ("expectation", "variance"):
        values = []
        for term in terms(spec, every):
            rotations = [part for part in term if part.rotation is not None]
            rotated = state.copy() if rotations else state
            for part in rotations:
                assert part.rotation is not None
                rotated.apply(part.rotation, at(part.qubits))
            probs = rotated.probabilities(at([q for part in term for q in part.qubits]))
            eigen = reduce(np.kron, [part.eigenvalues for part in term])
            mean = float(probs @ eigen)
            values.append(mean if spec.kind == "expectation"
                          else max(0.0, float(probs @ eigen ** 2) - mean ** 2))
        return values if spec.targets is None else values[0]
    if spec.kind == "probability":
        return state.probabilities(at(spec.targets or every)).tolist()
    if spec.kind == "density_matrix":
        matrix = state.reduced_density_matrix(at(spec.targets or every))
        return [[_complex(v) for v in row] for row in matrix]
    vector = state.vector()  # amplitude, state_vector: over the used qubits, in order
    if spec.kind == "amplitude":
        return {s: _complex(vector[int(s, 2)]) for s in spec.states}
    if spec.kind == "state_vector":
        return [_complex(v) for v in vector]
    raise ValueError(f"result type {spec.kind} is not computed by this simulator")


# ---------------------------------------------------------------- from measurements (shots > 0)


def sampled_value(spec: ResultSpec, outcomes: np.ndarray, measured: Sequence[int],
                  every: Sequence[int]) -> Any:
    """``outcomes``: one integer per shot, big-endian over ``measured``."""
    width = len(measured)
    column = {q: i for i, q in enumerate(measured)}

    def index(qubits: Sequence[int]) -> np.ndarray:
        out = np.zeros(len(outcomes), dtype=np.int64)
        for q in qubits:
            out = (out << 1) | ((outcomes >> (width - 1 - column[q])) & 1)
        return out

    if spec.kind == "probability":
        targets = spec.targets or tuple(every)
        counts = np.bincount(index(targets), minlength=2 ** len(targets))
        return (counts / len(outcomes)).tolist()
    values: list[Any] = []
    for term in terms(spec, every):
        samples = np.ones(len(outcomes))
        for part in term:
            samples = samples * part.eigenvalues[index(part.qubits)]
        if spec.kind == "sample":
            values.append([float(v) for v in samples])
        elif spec.kind == "expectation":
            values.append(float(np.mean(samples)))
        else:
            values.append(float(np.var(samples)))
    return values if spec.targets is None else values[0]
