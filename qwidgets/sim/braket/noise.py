"""Braket's noise channels as Kraus operators, with the parameter ranges amazon-braket-sdk
enforces (``braket.circuits.noises``): what ``#pragma braket noise <name>(...)`` means on DM1."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.qasm_program import Operation

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_PAULIS = (_I, _X, _Y, _Z)
CPTP_TOLERANCE = 1e-7


@dataclass(frozen=True)
class Channel:
    qubits: int
    params: tuple[tuple[str, float], ...]  # (name, largest value); every one is >= 0
    kraus: Callable[..., list[np.ndarray]]


def _mix(weights: list[float], operators: list[np.ndarray]) -> list[np.ndarray]:
    return [math.sqrt(w) * op for w, op in zip(weights, operators, strict=True) if w > 0]


def _flip(pauli: np.ndarray) -> Callable[[float], list[np.ndarray]]:
    return lambda p: _mix([1 - p, p], [_I, pauli])


def _depolarizing(p: float) -> list[np.ndarray]:
    return _mix([1 - p, p / 3, p / 3, p / 3], list(_PAULIS))


def _pauli_channel(px: float, py: float, pz: float) -> list[np.ndarray]:
    return _mix([1 - px - py - pz, px, py, pz], list(_PAULIS))


def _amplitude_damping(gamma: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=complex),
            np.array([[0, math.sqrt(gamma)], [0, 0]], dtype=complex)]


def _generalized_amplitude_damping(gamma: float, p: float) -> list[np.ndarray]:
    a, b = math.sqrt(p), math.sqrt(1 - p)
    g, h = math.sqrt(gamma), math.sqrt(1 - gamma)
    return [a * np.array([[1, 0], [0, h]], dtype=complex),
            a * np.array([[0, g], [0, 0]], dtype=complex),
            b * np.array([[h, 0], [0, 1]], dtype=complex),
            b * np.array([[0, 0], [g, 0]], dtype=complex)]


def _phase_damping(gamma: float) -> list[np.ndarray]:
    return [np.array([[1, 0], [0, math.sqrt(1 - gamma)]], dtype=complex),
            np.array([[0, 0], [0, math.sqrt(gamma)]], dtype=complex)]


def _two_qubit_depolarizing(p: float) -> list[np.ndarray]:
    pairs = [np.kron(a, b) for a, b in itertools.product(_PAULIS, repeat=2)]
    return _mix([1 - p] + [p / 15] * 15, pairs)


def _two_qubit_dephasing(p: float) -> list[np.ndarray]:
    return _mix([1 - p, p / 3, p / 3, p / 3],
                [np.kron(_I, _I), np.kron(_I, _Z), np.kron(_Z, _I), np.kron(_Z, _Z)])


CHANNELS: dict[str, Channel] = {
    "bit_flip": Channel(1, (("probability", 0.5),), _flip(_X)),
    "phase_flip": Channel(1, (("probability", 0.5),), _flip(_Z)),
    "depolarizing": Channel(1, (("probability", 0.75),), _depolarizing),
    "pauli_channel": Channel(1, (("probX", 1.0), ("probY", 1.0), ("probZ", 1.0)), _pauli_channel),
    "amplitude_damping": Channel(1, (("gamma", 1.0),), _amplitude_damping),
    "generalized_amplitude_damping": Channel(1, (("gamma", 1.0), ("probability", 1.0)),
                                             _generalized_amplitude_damping),
    "phase_damping": Channel(1, (("gamma", 1.0),), _phase_damping),
    "two_qubit_depolarizing": Channel(2, (("probability", 15 / 16),), _two_qubit_depolarizing),
    "two_qubit_dephasing": Channel(2, (("probability", 0.75),), _two_qubit_dephasing),
    "kraus": Channel(0, (), list),  # its operators are the pragma's matrices
}


def kraus_operators(op: Operation) -> list[np.ndarray]:
    """The Kraus operators of a noise pragma, checked as Braket checks them."""
    where = f"action.source line {op.line}"
    channel = CHANNELS.get(op.name)
    if channel is None:
        raise ValidationError(where, op.text, f"noise channel {op.name!r} is not one of "
                              "Braket's", f"use one of {', '.join(CHANNELS)}")
    if op.name == "kraus":
        return _checked_kraus(op, where)
    if len(op.qubits) != channel.qubits:
        raise ValidationError(where, op.text, f"{op.name} acts on {channel.qubits} qubit(s), "
                              f"got {len(op.qubits)}", f"give {channel.qubits} target(s)")
    if len(op.params) != len(channel.params):
        names = ", ".join(n for n, _ in channel.params)
        raise ValidationError(where, op.text, f"{op.name} takes ({names}), got "
                              f"{len(op.params)} value(s)", f"write {op.name}({names})")
    for value, (name, top) in zip(op.params, channel.params, strict=True):
        if not 0 <= value <= top:
            raise ValidationError(where, op.text, f"{op.name} {name} must be in [0, {top:g}], "
                                  f"got {value:g}", f"give a {name} in that range")
    if op.name == "pauli_channel" and sum(op.params) > 1:
        raise ValidationError(where, op.text, "the pauli_channel probabilities add up to more "
                              "than 1", "give probX + probY + probZ <= 1")
    return channel.kraus(*op.params)


def _checked_kraus(op: Operation, where: str) -> list[np.ndarray]:
    matrices = list(op.matrices)
    size = 2 ** len(op.qubits)
    if not matrices or any(m.shape != (size, size) for m in matrices):
        raise ValidationError(where, op.text, f"kraus on {len(op.qubits)} qubit(s) needs "
                              f"{size}x{size} matrices", "give matrices matching the targets")
    if len(op.qubits) > 2:
        raise ValidationError(where, op.text, "kraus acts on at most 2 qubits",
                              "split the channel")
    if len(matrices) > size * size:
        raise ValidationError(where, op.text, f"at most {size * size} Kraus operators act on "
                              f"{len(op.qubits)} qubit(s), got {len(matrices)}",
                              "give fewer operators")
    total = sum(m.conj().T @ m for m in matrices)
    if not np.allclose(total, np.eye(size), atol=CPTP_TOLERANCE):
        raise ValidationError(where, op.text, "the Kraus operators are not trace preserving "
                              "(sum of K^dagger K is not the identity)",
                              "normalize the operators so that sum K^dagger K = I")
    return matrices
