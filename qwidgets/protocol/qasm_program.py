"""What ``openqasm.parse`` returns: the program's instructions on qubit indices (gates, unitary
and noise pragmas), its result types and its measurements, each instruction with the line it
came from so a device can refuse it by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qwidgets.protocol.qasm_gates import Modifier

OpKind = Literal["gate", "unitary", "noise"]

# "#pragma braket result <kind>": the result types of Braket's OpenQASM programs
RESULT_KINDS = ("expectation", "variance", "sample", "probability", "amplitude", "state_vector",
                "density_matrix", "adjoint_gradient")
OBSERVABLE_KINDS = ("expectation", "variance", "sample")
# JAQCD's spelling of each kind: the "type" the SDK matches result values by
JAQCD_TYPES = {"state_vector": "statevector", "density_matrix": "densitymatrix",
               "adjoint_gradient": "adjoint_gradient"}
STANDARD_OBSERVABLES = ("x", "y", "z", "h", "i")


@dataclass(frozen=True, eq=False)
class Operation:
    kind: OpKind
    name: str  # a gate of qasm_gates.GATES, "unitary", or a noise channel's name
    qubits: tuple[int, ...]
    params: tuple[float, ...] = ()
    modifiers: tuple[Modifier, ...] = ()
    matrices: tuple[np.ndarray, ...] = ()  # the unitary's matrix, or the Kraus operators
    line: int = 0
    text: str = ""


@dataclass(frozen=True, eq=False)
class Factor:
    """One factor of a tensor-product observable: a standard one on a qubit, or a Hermitian
    matrix on its qubits (``qubits`` is empty for an observable on ``all`` qubits)."""

    name: str  # x y z h i hermitian
    qubits: tuple[int, ...]
    matrix: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class ResultSpec:
    kind: str  # one of RESULT_KINDS
    line: int
    text: str
    factors: tuple[Factor, ...] = ()
    targets: tuple[int, ...] | None = None  # None: every qubit the circuit uses
    states: tuple[str, ...] = ()  # amplitude's bitstrings

    def to_jaqcd(self) -> dict[str, object]:
        """The result type as the SDK's ``ResultType.to_ir()`` writes it, the key by which
        ``GateModelQuantumTaskResult.get_value_by_result_type`` finds the value."""
        out: dict[str, object] = {"type": JAQCD_TYPES.get(self.kind, self.kind)}
        if self.kind in OBSERVABLE_KINDS:
            out["observable"] = [f.name if f.matrix is None else _jaqcd_matrix(f.matrix)
                                 for f in self.factors]
        if self.kind == "amplitude":
            out["states"] = list(self.states)
        elif self.kind != "state_vector":
            out["targets"] = None if self.targets is None else list(self.targets)
        return out


def _jaqcd_matrix(matrix: np.ndarray) -> list[list[list[float]]]:
    return [[[float(v.real), float(v.imag)] for v in row] for row in matrix]


@dataclass(frozen=True, eq=False)
class Program:
    qubit_count: int
    operations: tuple[Operation, ...]
    measured: tuple[int, ...]  # qubit of classical bit 0, 1, ... (bitstring order)
    results: tuple[ResultSpec, ...] = ()
    explicit_measure: bool = False  # False: ``measured`` is every declared qubit
    verbatim_lines: tuple[int, ...] = ()  # lines of "#pragma braket verbatim"
    inputs: tuple[str, ...] = field(default=())  # names of the ``input`` declarations

    @property
    def used_qubits(self) -> tuple[int, ...]:
        """The qubits an instruction, result type or measurement names, ascending: what a
        result type on ``all`` qubits covers (as Braket's simulators map the circuit onto
        contiguous qubits)."""
        used: set[int] = set()
        for op in self.operations:
            used.update(op.qubits)
        for spec in self.results:
            used.update(spec.targets or ())
            for factor in spec.factors:
                used.update(factor.qubits)
        if self.explicit_measure:
            used.update(self.measured)
        return tuple(sorted(used))
