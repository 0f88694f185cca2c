"""Braket's gate set as matrices: every gate Amazon Braket's simulators list in their OpenQASM
``supportedOperations``, with Braket's own definitions (checked against amazon-braket-sdk's
``Gate.to_matrix`` in the tests), and the OpenQASM 3 gate modifiers ``ctrl``, ``negctrl``,
``inv`` and ``pow``.

Matrices are big-endian: the first target qubit is the most significant bit, as in Braket.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Matrix = np.ndarray

_S2 = 1 / math.sqrt(2)


def _c(rows: list[list[complex]]) -> Matrix:
    return np.array(rows, dtype=complex)


def _controlled(target: Matrix, on: int = 1) -> Matrix:
    """``target`` controlled by one more (most significant) qubit, active when it is ``on``."""
    k = target.shape[0]
    out = np.eye(2 * k, dtype=complex)
    block = slice(k, 2 * k) if on else slice(0, k)
    out[block, block] = target
    return out


_X = _c([[0, 1], [1, 0]])
_Y = _c([[0, -1j], [1j, 0]])
_Z = _c([[1, 0], [0, -1]])
_V = 0.5 * _c([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])
_SWAP = _c([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])

FIXED: dict[str, Matrix] = {
    "i": np.eye(2, dtype=complex),
    "h": _S2 * _c([[1, 1], [1, -1]]),
    "x": _X, "y": _Y, "z": _Z,
    "s": np.diag([1, 1j]).astype(complex),
    "si": np.diag([1, -1j]).astype(complex),
    "t": np.diag([1, np.exp(1j * math.pi / 4)]).astype(complex),
    "ti": np.diag([1, np.exp(-1j * math.pi / 4)]).astype(complex),
    "v": _V,
    "vi": _V.conj().T,
    "cnot": _controlled(_X), "cy": _controlled(_Y), "cz": _controlled(_Z),
    "cv": _controlled(_V),
    "ecr": _S2 * _c([[0, 0, 1, 1j], [0, 0, 1j, 1], [1, -1j, 0, 0], [-1j, 1, 0, 0]]),
    "swap": _SWAP,
    "iswap": _c([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]),
    "ccnot": _controlled(_controlled(_X)),
    "cswap": _controlled(_SWAP),
}


def _rx(t: float) -> Matrix:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _c([[c, -1j * s], [-1j * s, c]])


def _ry(t: float) -> Matrix:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _c([[c, -s], [s, c]])


def _rz(t: float) -> Matrix:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)]).astype(complex)


def _phase(t: float) -> Matrix:
    return np.diag([1, np.exp(1j * t)]).astype(complex)


def _gpi(p: float) -> Matrix:
    return _c([[0, np.exp(-1j * p)], [np.exp(1j * p), 0]])


def _gpi2(p: float) -> Matrix:
    return _S2 * _c([[1, -1j * np.exp(-1j * p)], [-1j * np.exp(1j * p), 1]])


def _prx(t: float, p: float) -> Matrix:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _c([[c, -1j * np.exp(-1j * p) * s], [-1j * np.exp(1j * p) * s, c]])


def _u(t: float, p: float, lam: float) -> Matrix:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _c([[c, -np.exp(1j * lam) * s], [np.exp(1j * p) * s, np.exp(1j * (p + lam)) * c]])


def _cphase(index: int) -> Callable[[float], Matrix]:
    def matrix(t: float) -> Matrix:
        diagonal = np.ones(4, dtype=complex)
        diagonal[index] = np.exp(1j * t)
        return np.diag(diagonal)
    return matrix


def _pswap(t: float) -> Matrix:
    e = np.exp(1j * t)
    return _c([[1, 0, 0, 0], [0, 0, e, 0], [0, e, 0, 0], [0, 0, 0, 1]])


def _xy(t: float) -> Matrix:
    c, s = math.cos(t / 2), 1j * math.sin(t / 2)
    return _c([[1, 0, 0, 0], [0, c, s, 0], [0, s, c, 0], [0, 0, 0, 1]])


def _xx(t: float) -> Matrix:
    c, s = math.cos(t / 2), -1j * math.sin(t / 2)
    return _c([[c, 0, 0, s], [0, c, s, 0], [0, s, c, 0], [s, 0, 0, c]])


def _yy(t: float) -> Matrix:
    c, s = math.cos(t / 2), 1j * math.sin(t / 2)
    return _c([[c, 0, 0, s], [0, c, -s, 0], [0, -s, c, 0], [s, 0, 0, c]])


def _zz(t: float) -> Matrix:
    a, b = np.exp(-0.5j * t), np.exp(0.5j * t)
    return np.diag([a, b, b, a]).astype(complex)


def _ms(p0: float, p1: float, t: float) -> Matrix:
    c, s = math.cos(t / 2), -1j * math.sin(t / 2)
    return _c([[c, 0, 0, s * np.exp(-1j * (p0 + p1))],
               [0, c, s * np.exp(-1j * (p0 - p1)), 0],
               [0, s * np.exp(1j * (p0 - p1)), c, 0],
               [s * np.exp(1j * (p0 + p1)), 0, 0, c]])


def _gphase(t: float) -> Matrix:
    return np.array([[np.exp(1j * t)]], dtype=complex)


@dataclass(frozen=True)
class GateDef:
    qubits: int
    params: int
    matrix: Callable[..., Matrix]


def _fixed(name: str) -> GateDef:
    matrix = FIXED[name]
    return GateDef(int(math.log2(matrix.shape[0])), 0, lambda: matrix)


GATES: dict[str, GateDef] = {
    **{name: _fixed(name) for name in FIXED},
    "rx": GateDef(1, 1, _rx), "ry": GateDef(1, 1, _ry), "rz": GateDef(1, 1, _rz),
    "phaseshift": GateDef(1, 1, _phase), "gpi": GateDef(1, 1, _gpi),
    "gpi2": GateDef(1, 1, _gpi2), "prx": GateDef(1, 2, _prx), "U": GateDef(1, 3, _u),
    "gphase": GateDef(0, 1, _gphase),
    "cphaseshift": GateDef(2, 1, _cphase(3)), "cphaseshift00": GateDef(2, 1, _cphase(0)),
    "cphaseshift01": GateDef(2, 1, _cphase(1)), "cphaseshift10": GateDef(2, 1, _cphase(2)),
    "pswap": GateDef(2, 1, _pswap), "xy": GateDef(2, 1, _xy), "xx": GateDef(2, 1, _xx),
    "yy": GateDef(2, 1, _yy), "zz": GateDef(2, 1, _zz), "ms": GateDef(2, 3, _ms),
}

# OpenQASM's standard-library spellings of the same gates
ALIASES = {"cx": "cnot", "sdg": "si", "tdg": "ti", "id": "i", "ccx": "ccnot", "sx": "v",
           "sxdg": "vi", "p": "phaseshift", "phase": "phaseshift", "cp": "cphaseshift",
           "cphase": "cphaseshift", "u": "U", "u3": "U"}

MODIFIERS = ("ctrl", "negctrl", "pow", "inv")


@dataclass(frozen=True)
class Modifier:
    """One gate modifier; ``ctrl``/``negctrl`` take ``count`` control qubits, ``pow`` an
    ``exponent``."""

    name: str
    count: int = 1
    exponent: float = 1.0


def power(matrix: Matrix, exponent: float) -> Matrix:
    """``matrix ** exponent`` for a unitary: integer powers exactly, others on the principal
    branch of each eigenvalue (OpenQASM's ``pow`` for non-integer exponents)."""
    if float(exponent).is_integer():
        base = matrix if exponent >= 0 else matrix.conj().T
        return np.linalg.matrix_power(base, abs(int(exponent)))
    # a unitary is normal: its Schur form is diagonal, so T^p is taken entrywise
    from scipy.linalg import schur

    form, vectors = schur(matrix, output="complex")
    return vectors @ np.diag(np.diag(form) ** exponent) @ vectors.conj().T


def gate_matrix(name: str, params: tuple[float, ...],
                modifiers: tuple[Modifier, ...] = ()) -> Matrix:
    """The matrix of ``modifiers... @ name(params)``; the first modifier is the outermost and
    its control qubits come first."""
    matrix = GATES[name].matrix(*params)
    for modifier in reversed(modifiers):
        if modifier.name == "inv":
            matrix = matrix.conj().T
        elif modifier.name == "pow":
            matrix = power(matrix, modifier.exponent)
        else:
            for _ in range(modifier.count):
                matrix = _controlled(matrix, on=1 if modifier.name == "ctrl" else 0)
    return matrix


def modified_qubits(name: str, modifiers: tuple[Modifier, ...]) -> int:
    """How many qubits ``modifiers... @ name`` acts on."""
    return GATES[name].qubits + sum(m.count for m in modifiers if m.name in ("ctrl", "negctrl"))
