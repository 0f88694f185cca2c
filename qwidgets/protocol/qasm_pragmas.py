"""The ``#pragma braket ...`` lines of Braket's OpenQASM programs: ``unitary(<matrix>)``,
``noise <channel>(<args>)``, ``result <type> ...`` and ``verbatim``, as amazon-braket-sdk writes
them (``Circuit.to_ir(IRType.OPENQASM)``). Anything else is refused, never skipped."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qwidgets.protocol.qasm_program import (
    OBSERVABLE_KINDS,
    RESULT_KINDS,
    STANDARD_OBSERVABLES,
    Factor,
    Operation,
    ResultSpec,
)

QubitsOf = Callable[[str], list[int]]


class PragmaError(ValueError):
    """A pragma this parser cannot read: ``problem`` and ``fix`` for the caller's message."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Verbatim:
    """``#pragma braket verbatim``: the next ``box`` runs as written."""


Pragma = Operation | ResultSpec | Verbatim

_CALL = re.compile(r"^([A-Za-z_]\w*)\s*\((.*)\)\s*(.*)$", re.S)
_IMAGINARY = re.compile(r"(?<=[0-9.])im\b")


def parse_pragma(text: str, line: int, qubits_of: QubitsOf,
                 number: Callable[[str], float]) -> Pragma:
    """``text`` is the statement after ``#pragma``; ``qubits_of`` reads one qubit reference
    and ``number`` one parameter expression."""
    full = f"#pragma {text}"
    words = text.split(None, 2)
    if len(words) < 2 or words[0] != "braket":
        raise PragmaError(f"pragma {text!r} is not one this simulator knows",
                          "use Braket's pragmas: '#pragma braket unitary(...)', "
                          "'#pragma braket noise ...', '#pragma braket result ...'")
    rest = words[2] if len(words) > 2 else ""
    kind = words[1]
    if kind == "verbatim" and not rest:
        return Verbatim()
    if re.match(r"^unitary\s*\(", text.split(None, 1)[1]):
        _name, args, targets = _call(text.split(None, 1)[1])
        matrix = parse_matrix(args)
        qubits = _targets(targets, qubits_of)
        return Operation("unitary", "unitary", tuple(qubits), matrices=(matrix,), line=line,
                         text=full)
    if kind == "noise":
        return _noise(rest, line, full, qubits_of, number)
    if kind == "result":
        return _result(rest, line, full, qubits_of)
    raise PragmaError(f"'#pragma braket {kind}' is not a Braket pragma this simulator knows",
                      "use unitary, noise, result or verbatim")


def _call(text: str) -> tuple[str, str, str]:
    match = _CALL.match(text.strip())
    if match is None:
        raise PragmaError(f"{text.strip()!r} is not 'name(arguments) targets'",
                          "write e.g. 'unitary([[0, 1], [1, 0]]) q[0]'")
    return match.group(1), match.group(2), match.group(3)


def _targets(text: str, qubits_of: QubitsOf) -> list[int]:
    refs = [r for r in text.split(",") if r.strip()]
    if not refs:
        raise PragmaError("names no target qubits", "add them after the arguments, e.g. q[0]")
    qubits = [q for ref in refs for q in qubits_of(ref)]
    if len(set(qubits)) != len(qubits):
        raise PragmaError("uses the same qubit twice", "give distinct qubits")
    return qubits


def _noise(text: str, line: int, full: str, qubits_of: QubitsOf,
           number: Callable[[str], float]) -> Operation:
    name, args, targets = _call(text)
    qubits = tuple(_targets(targets, qubits_of))
    if name == "kraus":
        matrices = tuple(parse_matrix(m) for m in _top_level_split(args))
        return Operation("noise", name, qubits, matrices=matrices, line=line, text=full)
    params = tuple(number(a) for a in _top_level_split(args)) if args.strip() else ()
    return Operation("noise", name, qubits, params=params, line=line, text=full)


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets and parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _result(text: str, line: int, full: str, qubits_of: QubitsOf) -> ResultSpec:
    words = text.split(None, 1)
    kind = words[0] if words else ""
    rest = words[1].strip() if len(words) > 1 else ""
    if kind not in RESULT_KINDS:
        raise PragmaError(f"result type {kind!r} is not one of Braket's",
                          f"use one of {', '.join(RESULT_KINDS)}")
    if kind == "state_vector":
        if rest:
            raise PragmaError("state_vector takes no targets", "write 'result state_vector'")
        return ResultSpec(kind, line, full)
    if kind == "amplitude":
        states = tuple(s.strip() for s in rest.split(","))
        if not states or not all(re.fullmatch(r'"[01]+"', s) for s in states):
            raise PragmaError("amplitude takes quoted bitstrings", 'write amplitude "00", "11"')
        return ResultSpec(kind, line, full, states=tuple(s.strip('"') for s in states))
    if kind in OBSERVABLE_KINDS:
        factors, targets = _observable(rest, qubits_of)
        return ResultSpec(kind, line, full, factors=factors, targets=targets)
    if kind == "adjoint_gradient":
        return ResultSpec(kind, line, full)  # refused by every device's capabilities
    if rest in ("", "all"):
        return ResultSpec(kind, line, full)
    return ResultSpec(kind, line, full, targets=tuple(_targets(rest, qubits_of)))


_TERM = re.compile(r"^([A-Za-z_]\w*)\s*\((.*)\)\s*(.*)$", re.S)


def _observable(text: str, qubits_of: QubitsOf) -> tuple[tuple[Factor, ...], tuple[int, ...] | None]:
    """``z(q[0]) @ hermitian([[...]]) q[1], q[2]``, or one factor on ``all``."""
    if re.match(r"^[\d.\s]+\*", text):
        raise PragmaError("observables with a coefficient are not supported",
                          "drop the coefficient and scale the value yourself")
    if len(_top_level_split(text, "+")) > 1:
        raise PragmaError("sums of observables are not supported",
                          "ask for one result type per term and add the values")
    terms = _top_level_split(text, "@")
    if not terms:
        raise PragmaError("names no observable", "write e.g. 'expectation z(q[0])'")
    factors: list[Factor] = []
    for term in terms:
        all_match = re.fullmatch(r"([A-Za-z_]\w*)(\s*\(.*\))?\s+all", term, re.S)
        if all_match and len(terms) == 1:
            name, args = all_match.group(1), (all_match.group(2) or "").strip()
            if name == "hermitian":
                matrix = parse_matrix(args[1:-1])
                if matrix.shape != (2, 2):
                    raise PragmaError("a hermitian observable on all qubits must be 2x2",
                                      "give the qubits a larger matrix acts on")
                return (Factor(name, (), _hermitian(matrix)),), None
            _standard(name)
            return (Factor(name, ()),), None
        match = _TERM.match(term)
        if match is None:
            raise PragmaError(f"{term!r} is not an observable",
                              "write x(q[0]), y, z, h, i, or hermitian([[...]]) q[0]")
        name, args, after = match.groups()
        if name == "hermitian":
            matrix = _hermitian(parse_matrix(args))
            qubits = tuple(_targets(after, qubits_of))
            if matrix.shape[0] != 2 ** len(qubits):
                raise PragmaError(f"a {matrix.shape[0]}x{matrix.shape[0]} hermitian acts on "
                                  f"{int(np.log2(matrix.shape[0]))} qubit(s), got "
                                  f"{len(qubits)}", "give as many qubits as the matrix spans")
            factors.append(Factor(name, qubits, matrix))
        else:
            _standard(name)
            if after.strip():
                raise PragmaError(f"unexpected {after.strip()!r} after {name}(...)",
                                  "join the factors of a tensor product with @")
            qubits = tuple(_targets(args, qubits_of))
            if len(qubits) != 1:
                raise PragmaError(f"{name} acts on one qubit, got {len(qubits)}",
                                  f"write {name}(q[0])")
            factors.append(Factor(name, qubits))
    targets = tuple(q for f in factors for q in f.qubits)
    if len(set(targets)) != len(targets):
        raise PragmaError("the observable's factors share a qubit",
                          "give each factor its own qubits")
    return tuple(factors), targets


def _standard(name: str) -> None:
    if name not in STANDARD_OBSERVABLES:
        raise PragmaError(f"observable {name!r} is not one of Braket's",
                          f"use {', '.join(STANDARD_OBSERVABLES)} or hermitian([[...]])")


def _hermitian(matrix: np.ndarray) -> np.ndarray:
    size = matrix.shape[0]
    if size < 2 or size & (size - 1):
        raise PragmaError(f"a hermitian observable must be 2^n x 2^n, got {size}x{size}",
                          "give a 2x2 matrix per qubit it acts on")
    if not np.allclose(matrix, matrix.conj().T, atol=1e-8):
        raise PragmaError("the observable's matrix is not Hermitian",
                          "give a matrix equal to its conjugate transpose")
    return matrix


def parse_matrix(text: str) -> np.ndarray:
    """A square complex matrix written as Braket does: ``[[0, -1.0im], [1.0im, 0]]``."""
    source = _IMAGINARY.sub("j", text.strip())
    try:
        rows = _literal(ast.parse(source, mode="eval").body)
    except (SyntaxError, ValueError, TypeError, RecursionError) as exc:
        raise PragmaError(f"{text.strip()[:60]!r} is not a matrix of numbers ({exc})",
                          "write rows of numbers, e.g. [[0, 1.0im], [-1.0im, 0]]") from None
    if not (isinstance(rows, list) and rows
            and all(isinstance(r, list) and len(r) == len(rows)
                    and all(isinstance(v, complex) for v in r) for r in rows)):
        raise PragmaError(f"{text.strip()[:60]!r} is not a square matrix of numbers",
                          "write n rows of n numbers each")
    matrix = np.array(rows, dtype=complex)
    if not np.all(np.isfinite(matrix)):
        raise PragmaError("the matrix has entries that are not finite", "use finite numbers")
    return matrix


def _literal(node: ast.AST) -> list[object] | complex:
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, complex)) \
            and not isinstance(node.value, bool):
        return complex(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, complex):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(left, complex) and isinstance(right, complex):
            return left + right if isinstance(node.op, ast.Add) else left - right
    raise ValueError(f"{ast.dump(node)[:40]} is not a number")
