"""The OpenQASM 3 subset that amazon-braket-sdk (and our client) send for gate circuits, parsed
strictly: declarations (``qubit``, ``bit``, ``input``), Braket's gates with the ``ctrl``,
``negctrl``, ``inv`` and ``pow`` modifiers, measurements, and Braket's pragmas (unitary matrices,
noise channels, result types, verbatim boxes; ``qasm_pragmas``). Anything outside it is refused
with a ``ValidationError`` naming the line, never skipped, so a task is never accepted that the
simulator would run with an instruction missing. Which of these a *device* accepts is the
simulator's business (its capabilities); this module only reads the program.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping

from qwidgets.errors import ValidationError
from qwidgets.protocol.qasm_gates import ALIASES, GATES, MODIFIERS, Modifier, modified_qubits
from qwidgets.protocol.qasm_pragmas import PragmaError, Verbatim, parse_pragma
from qwidgets.protocol.qasm_program import Operation, Program, ResultSpec

__all__ = ["GATES", "MAX_QUBITS", "MAX_SHOTS", "Operation", "Program", "ResultSpec", "parse"]

MAX_QUBITS = 22  # 4 Mi amplitudes, 64 MiB: the largest state this server simulates


MAX_SHOTS = 100_000

MAX_DECLARED = 10_000  # qubits or bits a program may declare: more than any device has
MAX_EXPRESSION = 2_000  # characters of one parameter expression

GATE_NAMES = tuple(sorted({*GATES, *ALIASES}))

_REGISTER = re.compile(r"^(qubit|bit)(?:\s*\[\s*(\d+)\s*\])?\s+([A-Za-z_]\w*)$")
_OLD_REGISTER = re.compile(r"^(qreg|creg)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]$")
_INPUT = re.compile(r"^input\s+(?:float|angle)(?:\s*\[\s*\d+\s*\])?\s+([A-Za-z_]\w*)$")
_GATE = re.compile(r"^([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*(.*)$", re.S)
_MEASURE = re.compile(r"^(?:(.+?)\s*=\s*)?measure\s+(.+)$")
_REF = re.compile(r"^(?:\$(\d+)|([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?)$")
_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow}
_CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e,
              "ℇ": math.e}


def _fail(line_no: int, text: str, problem: str, fix: str) -> ValidationError:
    return ValidationError(f"action.source line {line_no}", text, problem, fix)


def _count(text: str, line_no: int, stmt: str) -> int:
    """A register size or an index, refused before Python converts a 5000-digit number."""
    if len(text) > len(str(MAX_DECLARED)):
        raise _fail(line_no, stmt, f"{text[:12]}... is larger than any device",
                    f"use at most {MAX_DECLARED} qubits or bits")
    return int(text)


def _statements(source: str) -> list[tuple[int, str]]:
    """(line, statement) pairs; a pragma is its whole line, other statements end at ';'."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.S)
    out: list[tuple[int, str]] = []
    for line_no, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if line.startswith("#pragma"):
            out.append((line_no, " ".join(line.rstrip(";").split())))
            continue
        for stmt in line.split("//", 1)[0].split(";"):
            stmt = " ".join(stmt.split())
            # a verbatim box's braces may share a line with its statements
            while stmt.startswith("}"):
                out.append((line_no, "}"))
                stmt = stmt[1:].strip()
            opener = re.match(r"^box\s*\{\s*", stmt)
            if opener:
                out.append((line_no, "box{"))
                stmt = stmt[opener.end():]
            if stmt.endswith("}") and stmt != "}":
                out += [(line_no, stmt[:-1].strip()), (line_no, "}")]
            elif stmt:
                out.append((line_no, stmt))
    return [(n, s) for n, s in out if s]


class _Parser:
    def __init__(self, source: str, inputs: Mapping[str, float]) -> None:
        self.source = source
        self.inputs = dict(inputs)
        self.qregs: dict[str, tuple[int, int]] = {}  # name -> (offset, size)
        self.cregs: dict[str, tuple[int, int]] = {}
        self.n_qubits = 0
        self.n_bits = 0
        self.physical: set[int] = set()
        self.declared_inputs: list[str] = []
        self.operations: list[Operation] = []
        self.results: list[ResultSpec] = []
        self.measured: dict[int, int] = {}  # classical bit -> qubit
        self.measured_any = False
        self.verbatim: list[int] = []
        self.box_open: int | None = None
        self.verbatim_pending: int | None = None

    # ------------------------------------------------------------ references

    def qubits_of(self, ref: str, line_no: int, stmt: str) -> list[int]:
        match = _REF.match(ref.strip())
        if match is None:
            raise _fail(line_no, stmt, f"{ref.strip()!r} is not a qubit reference",
                        "use q[0], a register name, or a physical qubit $0")
        if match.group(1) is not None:
            if self.qregs:
                raise _fail(line_no, stmt, "mixes physical qubits with declared registers",
                            "use either $n or a qubit register throughout")
            index = _count(match.group(1), line_no, stmt)
            if index >= MAX_DECLARED:
                raise _fail(line_no, stmt, f"physical qubit ${index} is beyond any device",
                            f"use qubits below ${MAX_DECLARED}")
            self.physical.add(index)
            return [index]
        name, index_text = match.group(2), match.group(3)
        if name not in self.qregs:
            raise _fail(line_no, stmt, f"qubit {name!r} is not declared",
                        f"declare it first: qubit[n] {name};")
        offset, size = self.qregs[name]
        if index_text is None:
            return list(range(offset, offset + size))
        index = _count(index_text, line_no, stmt)
        if index >= size:
            raise _fail(line_no, stmt, f"index {index} is outside {name}[{size}]",
                        f"use an index from 0 to {size - 1}")
        return [offset + index]

    def bits_of(self, ref: str, line_no: int, stmt: str) -> list[int]:
        match = _REF.match(ref.strip())
        if match is None or match.group(2) not in self.cregs:
            raise _fail(line_no, stmt, f"{ref.strip()!r} is not a declared bit",
                        "declare bits first: bit[n] b;")
        offset, size = self.cregs[match.group(2)]
        if match.group(3) is None:
            return list(range(offset, offset + size))
        index = _count(match.group(3), line_no, stmt)
        if index >= size:
            raise _fail(line_no, stmt, f"index {index} is outside {match.group(2)}[{size}]",
                        f"use an index from 0 to {size - 1}")
        return [offset + index]

    def number(self, text: str, line_no: int, stmt: str) -> float:
        return _angle(text, line_no, stmt, {n: self.inputs[n] for n in self.declared_inputs
                                            if n in self.inputs})

    # ------------------------------------------------------------ statements

    def run(self) -> Program:
        for line_no, stmt in _statements(self.source):
            self.statement(line_no, stmt)
        if self.box_open is not None:
            raise _fail(self.box_open, "box{", "the box is never closed", "end it with }")
        if self.verbatim_pending is not None:
            raise _fail(self.verbatim_pending, "#pragma braket verbatim",
                        "is not followed by a box", "follow it with box{ ... }")
        count = self.n_qubits if self.qregs else (max(self.physical) + 1 if self.physical else 0)
        if count == 0:
            raise ValidationError("action.source", self.source[:80], "declares no qubits",
                                  "declare them (qubit[2] q;) or use physical qubits ($0)")
        measured = self.measured
        order = tuple(measured[b] for b in sorted(measured)) if measured else tuple(range(count))
        if len(set(order)) != len(order):
            raise ValidationError("action.source", self.source[:80], "measures a qubit twice",
                                  "measure each qubit once, at the end")
        return Program(count, tuple(self.operations), order, tuple(self.results),
                       explicit_measure=bool(measured), verbatim_lines=tuple(self.verbatim),
                       inputs=tuple(self.declared_inputs))

    def statement(self, line_no: int, stmt: str) -> None:
        head = stmt.split(" ", 1)[0]
        if head == "OPENQASM":
            if not stmt.split(" ", 1)[-1].startswith("3"):
                raise _fail(line_no, stmt, "only OpenQASM 3 is supported",
                            "start the program with 'OPENQASM 3.0;'")
            return
        if head == "include":
            if stmt.split(" ", 1)[-1].strip("'\" ") not in ("stdgates.inc",):
                raise _fail(line_no, stmt, "only stdgates.inc can be included",
                            "define nothing else; Braket's gates are built in")
            return
        if stmt.startswith("#pragma"):
            self.pragma(line_no, stmt)
            return
        if stmt in ("box{", "}"):
            self.box(line_no, stmt)
            return
        if self.verbatim_pending is not None:
            raise _fail(line_no, stmt, "follows '#pragma braket verbatim' but is not a box",
                        "put the verbatim gates in box{ ... }")
        if self.declaration(line_no, stmt):
            return
        meas = _MEASURE.match(stmt)
        if meas:
            self.measure(line_no, stmt, meas)
            return
        self.gate(line_no, stmt)

    def box(self, line_no: int, stmt: str) -> None:
        if stmt == "box{":
            if self.box_open is not None:
                raise _fail(line_no, stmt, "boxes cannot be nested", "close the first box")
            self.box_open, self.verbatim_pending = line_no, None
        elif self.box_open is None:
            raise _fail(line_no, stmt, "closes no box", "remove the '}'")
        else:
            self.box_open = None

    def pragma(self, line_no: int, stmt: str) -> None:
        text = stmt[len("#pragma"):].strip()
        try:
            pragma = parse_pragma(text, line_no, lambda ref: self.qubits_of(ref, line_no, stmt),
                                  lambda expr: self.number(expr, line_no, stmt))
        except PragmaError as exc:
            raise _fail(line_no, stmt, exc.problem, exc.fix) from None
        if isinstance(pragma, Verbatim):
            self.verbatim.append(line_no)
            self.verbatim_pending = line_no
        elif isinstance(pragma, ResultSpec):
            self.results.append(pragma)
        else:
            self.add_operation(pragma)

    def declaration(self, line_no: int, stmt: str) -> bool:
        found = _INPUT.match(stmt)
        if found:
            name = found.group(1)
            if name in self.declared_inputs or name in _CONSTANTS:
                raise _fail(line_no, stmt, f"input {name!r} is declared twice or shadows a "
                            "constant", "rename it")
            if name not in self.inputs:
                raise _fail(line_no, stmt, f"input {name!r} has no value",
                            f"send it in action.inputs, e.g. {{\"{name}\": 0.5}}")
            self.declared_inputs.append(name)
            return True
        reg = _REGISTER.match(stmt)
        old = _OLD_REGISTER.match(stmt)
        if not (reg or old):
            return False
        if reg:
            kind, size_text, name = reg.group(1), reg.group(2), reg.group(3)
            size = _count(size_text, line_no, stmt) if size_text is not None else 1
            quantum = kind == "qubit"
        else:
            assert old is not None
            quantum, name = old.group(1) == "qreg", old.group(2)
            size = _count(old.group(3), line_no, stmt)
        if size < 1:
            raise _fail(line_no, stmt, "a register needs at least one element",
                        "declare a size of 1 or more")
        if size + (self.n_qubits if quantum else self.n_bits) > MAX_DECLARED:
            raise _fail(line_no, stmt, f"declares more than {MAX_DECLARED} "
                        f"{'qubits' if quantum else 'bits'} in all", "declare fewer")
        if name in self.qregs or name in self.cregs:
            raise _fail(line_no, stmt, f"{name!r} is declared twice", "rename one of them")
        if quantum:
            if self.physical:
                raise _fail(line_no, stmt, "mixes physical qubits with declared registers",
                            "use either $n or a qubit register throughout")
            self.qregs[name] = (self.n_qubits, size)
            self.n_qubits += size
        else:
            self.cregs[name] = (self.n_bits, size)
            self.n_bits += size
        return True

    def measure(self, line_no: int, stmt: str, meas: re.Match[str]) -> None:
        targets = self.qubits_of(meas.group(2), line_no, stmt)
        if meas.group(1) is not None:
            bits = self.bits_of(meas.group(1), line_no, stmt)
            if len(bits) != len(targets):
                raise _fail(line_no, stmt, f"assigns {len(targets)} measurement(s) to "
                            f"{len(bits)} bit(s)", "measure as many qubits as bits")
        else:
            bits = [self.n_bits + len(self.measured) + i for i in range(len(targets))]
        for bit, qubit in zip(bits, targets, strict=True):
            self.measured[bit] = qubit
        self.measured_any = True

    def gate(self, line_no: int, stmt: str) -> None:
        modifiers, rest = self.modifiers(line_no, stmt)
        gate = _GATE.match(rest)
        if gate is None or (gate.group(2) is None and "(" in rest):
            raise _fail(line_no, stmt, "is not a statement this simulator runs",
                        "use declarations, Braket's gates, measure and #pragma braket lines")
        raw, args, refs = gate.group(1), gate.group(2), gate.group(3)
        name = ALIASES.get(raw, raw)
        if name not in GATES:
            raise _fail(line_no, stmt, f"gate {raw!r} is not supported",
                        f"use one of {', '.join(GATE_NAMES)}")
        definition = GATES[name]
        params = tuple(self.number(a, line_no, stmt) for a in _split_args(args or ""))
        if len(params) != definition.params:
            raise _fail(line_no, stmt, f"{name} takes {definition.params} parameter(s), got "
                        f"{len(params)}", f"write {_example(name)}")
        groups = [self.qubits_of(ref, line_no, stmt) for ref in refs.split(",") if ref.strip()]
        arity = modified_qubits(name, modifiers)
        if len(groups) != arity:
            raise _fail(line_no, stmt, f"{name} with these modifiers acts on {arity} qubit(s), "
                        f"got {len(groups)}", f"give {arity} qubit reference(s)")
        # a whole register broadcasts the gate over its qubits (OpenQASM 3: h q; cnot a, b;)
        sizes = {len(g) for g in groups if len(g) > 1}
        if len(sizes) > 1:
            raise _fail(line_no, stmt, "broadcasts over registers of different sizes",
                        "use registers of one size, or index the qubits")
        for i in range(sizes.pop() if sizes else 1):
            targets = [g[i] if len(g) > 1 else g[0] for g in groups]
            if len(set(targets)) != len(targets):
                raise _fail(line_no, stmt, "uses the same qubit twice", "give distinct qubits")
            self.add_operation(Operation("gate", name, tuple(targets), params, modifiers,
                                         line=line_no, text=stmt))

    def modifiers(self, line_no: int, stmt: str) -> tuple[tuple[Modifier, ...], str]:
        found: list[Modifier] = []
        rest = stmt
        while True:
            match = re.match(r"^([a-z]+)\s*(\((.*?)\))?\s*@\s*", rest)
            if match is None or match.group(1) not in MODIFIERS:
                if match is not None:
                    raise _fail(line_no, stmt, f"modifier {match.group(1)!r} is not OpenQASM's",
                                "use ctrl, negctrl, inv or pow(k)")
                return tuple(found), rest
            name, arg = match.group(1), match.group(3)
            if name == "inv":
                if arg is not None:
                    raise _fail(line_no, stmt, "inv takes no argument", "write inv @ gate")
                found.append(Modifier("inv"))
            elif name == "pow":
                if arg is None:
                    raise _fail(line_no, stmt, "pow needs an exponent", "write pow(2) @ gate")
                found.append(Modifier("pow", exponent=self.number(arg, line_no, stmt)))
            else:
                count = 1 if arg is None else self.number(arg, line_no, stmt)
                if not float(count).is_integer() or count < 1:
                    raise _fail(line_no, stmt, f"{name}({arg}) needs a whole number >= 1",
                                f"write {name}(2) @ gate")
                found.append(Modifier(name, count=int(count)))
            rest = rest[match.end():]

    def add_operation(self, op: Operation) -> None:
        if self.measured_any:
            raise _fail(op.line, op.text, "an instruction after a measurement is not supported",
                        "measure at the end of the circuit")
        self.operations.append(op)


def _split_args(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()] if text.strip() else []


def _example(name: str) -> str:
    definition = GATES[name]
    args = f"({', '.join(['0.5'] * definition.params)})" if definition.params else ""
    qubits = ", ".join(f"q[{i}]" for i in range(definition.qubits))
    return f"{name}{args} {qubits}".strip() + ";"


def parse(source: str, inputs: Mapping[str, float] | None = None) -> Program:
    """Parse an OpenQASM 3 program (with the values of its ``input`` parameters) into
    instructions on qubit indices, result types and the measured qubits."""
    if not isinstance(source, str) or not source.strip():
        raise ValidationError("action.source", source, "must be a non-empty OpenQASM 3 program",
                              "send e.g. 'OPENQASM 3.0; qubit[1] q; h q[0];'")
    values = dict(inputs or {})
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValidationError(f"action.inputs.{name}", value, "must be a finite number",
                                  "send numbers for the program's input parameters")
    return _Parser(source, {k: float(v) for k, v in values.items()}).run()


def _angle(text: str, line_no: int, stmt: str, names: Mapping[str, float]) -> float:
    """A numeric expression: numbers, pi (π, tau, euler), the program's inputs,
    + - * / ** and parentheses only."""
    cleaned = text.replace("π", "pi").replace("τ", "tau").replace("ℇ", "euler")
    if len(cleaned) > MAX_EXPRESSION:
        raise _fail(line_no, stmt, f"a parameter of {len(cleaned)} characters is too long",
                    f"write it in at most {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(cleaned.strip(), mode="eval")
        value = _evaluate(tree.body, names)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError,
            RecursionError, MemoryError) as exc:
        raise _fail(line_no, stmt, f"parameter {text.strip()!r} is not a number expression "
                    f"({exc})", "use numbers, pi, declared inputs, + - * / and parentheses"
                    ) from None
    if not math.isfinite(value):
        raise _fail(line_no, stmt, f"parameter {text!r} is not finite", "use a finite value")
    return value


def _evaluate(node: ast.AST, names: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and (node.id in _CONSTANTS or node.id in names):
        return float(names[node.id]) if node.id in names else _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        result = _BINOPS[type(node.op)](_evaluate(node.left, names),
                                        _evaluate(node.right, names))
        if isinstance(result, complex):
            raise ValueError("the result is not a real number")
        return float(result)
    if isinstance(node, ast.Name):
        raise ValueError(f"{node.id!r} is not a declared input or a constant")
    raise ValueError(f"{ast.dump(node)[:40]} is not allowed")
