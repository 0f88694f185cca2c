"""The OpenQASM 3 subset that amazon-braket-sdk (and our client) send for small gate circuits,
parsed strictly: anything outside it is refused with a ``ValidationError`` naming the line,
so a task is never accepted that the simulator cannot run.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qwidgets.errors import ValidationError

MAX_QUBITS = 22  # 4 Mi amplitudes, 64 MiB: the largest state this server simulates


MAX_SHOTS = 100_000


_S2 = 1 / math.sqrt(2)


FIXED_GATES: dict[str, np.ndarray] = {
    "h": np.array([[_S2, _S2], [_S2, -_S2]], dtype=complex),
    "x": np.array([[0, 1], [1, 0]], dtype=complex),
    "y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "z": np.array([[1, 0], [0, -1]], dtype=complex),
    "s": np.diag([1, 1j]).astype(complex),
    "si": np.diag([1, -1j]).astype(complex),
    "t": np.diag([1, np.exp(1j * math.pi / 4)]).astype(complex),
    "ti": np.diag([1, np.exp(-1j * math.pi / 4)]).astype(complex),
    "i": np.eye(2, dtype=complex),
    "cnot": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex),
    "cz": np.diag([1, 1, 1, -1]).astype(complex),
    "swap": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex),
}


ALIASES = {"cx": "cnot", "sdg": "si", "tdg": "ti", "id": "i"}


def _rx(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * s], [-1j * s, c]], dtype=complex)


def _ry(theta: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def _rz(theta: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)]).astype(complex)


ROTATIONS: dict[str, Callable[[float], np.ndarray]] = {"rx": _rx, "ry": _ry, "rz": _rz}


GATES = tuple(sorted({*FIXED_GATES, *ROTATIONS, *ALIASES}))


@dataclass(frozen=True)
class Operation:
    gate: str  # canonical name (aliases resolved)
    qubits: tuple[int, ...]
    angle: float | None = None


@dataclass(frozen=True)
class Program:
    qubit_count: int
    operations: tuple[Operation, ...]
    measured: tuple[int, ...]  # qubit of classical bit 0, 1, ... (bitstring order)


_REGISTER = re.compile(r"^(qubit|bit)(?:\s*\[\s*(\d+)\s*\])?\s+([A-Za-z_]\w*)$")


_OLD_REGISTER = re.compile(r"^(qreg|creg)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]$")


_GATE = re.compile(r"^([A-Za-z_]\w*)\s*(?:\(([^()]*(?:\([^()]*\)[^()]*)*)\))?\s+(.+)$")


_MEASURE = re.compile(r"^(?:(.+?)\s*=\s*)?measure\s+(.+)$")


_REF = re.compile(r"^(?:\$(\d+)|([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?)$")


_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow}


def _fail(line_no: int, text: str, problem: str, fix: str) -> ValidationError:
    return ValidationError(f"action.source line {line_no}", text, problem, fix)


def parse(source: str) -> Program:
    """Parse an OpenQASM 3 program into gates on qubit indices and the measured qubits."""
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("action.source", source, "must be a non-empty OpenQASM 3 program",
                              "send e.g. 'OPENQASM 3.0; qubit[1] q; h q[0];'")
    qregs: dict[str, tuple[int, int]] = {}  # name -> (offset, size)
    cregs: dict[str, tuple[int, int]] = {}
    n_qubits = 0
    n_bits = 0
    physical: set[int] = set()
    operations: list[Operation] = []
    measured: dict[int, int] = {}  # classical bit -> qubit
    measured_any = False
    text = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    statements: list[tuple[int, str]] = []
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("//", 1)[0]
        for stmt in line.split(";"):
            if stmt.strip():
                statements.append((line_no, " ".join(stmt.split())))

    def qubits_of(ref: str, line_no: int, stmt: str) -> list[int]:
        match = _REF.match(ref.strip())
        if match is None:
            raise _fail(line_no, stmt, f"{ref.strip()!r} is not a qubit reference",
                        "use q[0], a register name, or a physical qubit $0")
        if match.group(1) is not None:
            if qregs:
                raise _fail(line_no, stmt, "mixes physical qubits with declared registers",
                            "use either $n or a qubit register throughout")
            index = int(match.group(1))
            physical.add(index)
            return [index]
        name, index_text = match.group(2), match.group(3)
        if name not in qregs:
            raise _fail(line_no, stmt, f"qubit {name!r} is not declared",
                        f"declare it first: qubit[{(int(index_text) + 1) if index_text else 1}] "
                        f"{name};")
        offset, size = qregs[name]
        if index_text is None:
            return list(range(offset, offset + size))
        index = int(index_text)
        if index >= size:
            raise _fail(line_no, stmt, f"index {index} is outside {name}[{size}]",
                        f"use an index from 0 to {size - 1}")
        return [offset + index]

    def bits_of(ref: str, line_no: int, stmt: str) -> list[int]:
        match = _REF.match(ref.strip())
        if match is None or match.group(2) not in cregs:
            raise _fail(line_no, stmt, f"{ref.strip()!r} is not a declared bit",
                        "declare bits first: bit[n] b;")
        offset, size = cregs[match.group(2)]
        if match.group(3) is None:
            return list(range(offset, offset + size))
        index = int(match.group(3))
        if index >= size:
            raise _fail(line_no, stmt, f"index {index} is outside {match.group(2)}[{size}]",
                        f"use an index from 0 to {size - 1}")
        return [offset + index]

    for line_no, stmt in statements:
        head = stmt.split(" ", 1)[0]
        if head == "OPENQASM":
            if not stmt.split(" ", 1)[-1].startswith("3"):
                raise _fail(line_no, stmt, "only OpenQASM 3 is supported",
                            "start the program with 'OPENQASM 3.0;'")
            continue
        if head == "include" or head == "#pragma" or stmt.startswith("#pragma"):
            continue
        reg = _REGISTER.match(stmt)
        old = _OLD_REGISTER.match(stmt)
        if reg or old:
            if reg:
                kind, size_text, name = reg.group(1), reg.group(2), reg.group(3)
                size = int(size_text) if size_text is not None else 1
                quantum = kind == "qubit"
            else:
                assert old is not None
                quantum, name, size = old.group(1) == "qreg", old.group(2), int(old.group(3))
            if size < 1:
                raise _fail(line_no, stmt, "a register needs at least one element",
                            "declare a size of 1 or more")
            if name in qregs or name in cregs:
                raise _fail(line_no, stmt, f"{name!r} is declared twice", "rename one of them")
            if quantum:
                if physical:
                    raise _fail(line_no, stmt, "mixes physical qubits with declared registers",
                                "use either $n or a qubit register throughout")
                qregs[name] = (n_qubits, size)
                n_qubits += size
            else:
                cregs[name] = (n_bits, size)
                n_bits += size
            continue
        meas = _MEASURE.match(stmt)
        if meas:
            targets = qubits_of(meas.group(2), line_no, stmt)
            if meas.group(1) is not None:
                bits = bits_of(meas.group(1), line_no, stmt)
                if len(bits) != len(targets):
                    raise _fail(line_no, stmt, f"assigns {len(targets)} measurement(s) to "
                                f"{len(bits)} bit(s)", "measure as many qubits as bits")
            else:
                bits = [n_bits + len(measured) + i for i in range(len(targets))]
            for bit, qubit in zip(bits, targets, strict=True):
                measured[bit] = qubit
            measured_any = True
            continue
        gate = _GATE.match(stmt)
        if gate is None:
            raise _fail(line_no, stmt, "is not a statement this simulator runs",
                        f"use only declarations, the gates {', '.join(GATES)} and measure")
        name = ALIASES.get(gate.group(1), gate.group(1))
        if name not in FIXED_GATES and name not in ROTATIONS:
            raise _fail(line_no, stmt, f"gate {gate.group(1)!r} is not supported",
                        f"use one of {', '.join(GATES)}")
        if measured_any:
            raise _fail(line_no, stmt, "a gate after a measurement is not supported",
                        "measure at the end of the circuit")
        angle: float | None = None
        if name in ROTATIONS:
            if gate.group(2) is None:
                raise _fail(line_no, stmt, f"{name} needs an angle", f"write {name}(0.5) q[0];")
            angle = _angle(gate.group(2), line_no, stmt)
        elif gate.group(2) is not None:
            raise _fail(line_no, stmt, f"{name} takes no angle", f"write {name} q[0];")
        targets = [q for ref in gate.group(3).split(",") for q in qubits_of(ref, line_no, stmt)]
        arity = 2 if FIXED_GATES.get(name, np.eye(2)).shape[0] == 4 else 1
        if len(targets) != arity:
            raise _fail(line_no, stmt, f"{name} acts on {arity} qubit(s), got {len(targets)}",
                        f"give {arity} qubit reference(s)")
        if len(set(targets)) != len(targets):
            raise _fail(line_no, stmt, "uses the same qubit twice", "give distinct qubits")
        operations.append(Operation(name, tuple(targets), angle))

    count = n_qubits if qregs else (max(physical) + 1 if physical else 0)
    if count == 0:
        raise ValidationError("action.source", source[:80], "declares no qubits",
                              "declare them (qubit[2] q;) or use physical qubits ($0)")
    order = tuple(measured[b] for b in sorted(measured)) if measured else tuple(range(count))
    if len(set(order)) != len(order):
        raise ValidationError("action.source", source[:80], "measures a qubit twice",
                              "measure each qubit once, at the end")
    return Program(count, tuple(operations), order)


def _angle(text: str, line_no: int, stmt: str) -> float:
    """A numeric expression: numbers, pi (π, tau), + - * / ** and parentheses only."""
    cleaned = text.replace("π", "pi").replace("τ", "tau")
    try:
        tree = ast.parse(cleaned.strip(), mode="eval")
        value = _evaluate(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _fail(line_no, stmt, f"angle {text!r} is not a number expression ({exc})",
                    "use numbers, pi, + - * / and parentheses") from None
    if not math.isfinite(value):
        raise _fail(line_no, stmt, f"angle {text!r} is not finite", "use a finite angle")
    return value


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in ("pi", "tau"):
        return math.pi if node.id == "pi" else math.tau
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return float(_BINOPS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    raise ValueError(f"{ast.dump(node)[:40]} is not allowed")

