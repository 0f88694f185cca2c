"""The circuit simulator against amazon-braket-sdk's own definitions and its local simulators:
every gate's matrix, every noise channel's Kraus operators, the programs the SDK writes parsed
with nothing dropped, exact result types equal to ``LocalSimulator("braket_sv"/"braket_dm")``,
and every device's capabilities document accepting exactly what the device runs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from qwidgets.errors import ValidationError
from qwidgets.protocol import openqasm
from qwidgets.protocol.qasm_gates import GATES, gate_matrix
from qwidgets.sim.braket import circuits, features
from qwidgets.sim.braket.catalog import default_catalog
from qwidgets.sim.braket.noise import CHANNELS, kraus_operators

braket_circuits = pytest.importorskip("braket.circuits")
Circuit, Observable = braket_circuits.Circuit, braket_circuits.Observable


def source_of(circuit: Any) -> str:
    from braket.circuits.serialization import IRType

    return str(circuit.to_ir(IRType.OPENQASM).source)


def sdk_gates() -> dict[str, Any]:
    from braket.circuits import gates as g

    return {"i": g.I(), "h": g.H(), "x": g.X(), "y": g.Y(), "z": g.Z(), "s": g.S(), "si": g.Si(),
            "t": g.T(), "ti": g.Ti(), "v": g.V(), "vi": g.Vi(), "cnot": g.CNot(), "cy": g.CY(),
            "cz": g.CZ(), "cv": g.CV(), "ecr": g.ECR(), "swap": g.Swap(), "iswap": g.ISwap(),
            "ccnot": g.CCNot(), "cswap": g.CSwap(), "rx": g.Rx(0.3), "ry": g.Ry(-1.1),
            "rz": g.Rz(2.2), "phaseshift": g.PhaseShift(0.7), "gpi": g.GPi(0.4),
            "gpi2": g.GPi2(1.3), "prx": g.PRx(0.3, 0.9), "U": g.U(0.1, 0.2, 0.3),
            "gphase": g.GPhase(0.4), "cphaseshift": g.CPhaseShift(0.5),
            "cphaseshift00": g.CPhaseShift00(0.6), "cphaseshift01": g.CPhaseShift01(0.7),
            "cphaseshift10": g.CPhaseShift10(0.8), "pswap": g.PSwap(0.9), "xy": g.XY(1.0),
            "xx": g.XX(1.1), "yy": g.YY(1.2), "zz": g.ZZ(1.3), "ms": g.MS(0.1, 0.2, 0.3)}


def test_every_gate_is_braket_s_matrix_as_the_sdk_writes_it() -> None:
    from braket.circuits import Instruction

    reference = sdk_gates()
    assert set(reference) == set(GATES)
    for name, gate in reference.items():
        if gate.qubit_count == 0:  # gphase alone is no program; its matrix is its phase
            np.testing.assert_allclose(gate_matrix(name, (0.4,)), gate.to_matrix())
            continue
        source = source_of(Circuit().add_instruction(Instruction(gate, range(gate.qubit_count))))
        (op,) = openqasm.parse(source).operations
        assert op.name == name, source
        np.testing.assert_allclose(gate_matrix(op.name, op.params, op.modifiers),
                                   gate.to_matrix(), atol=1e-12, err_msg=source)


def test_every_noise_channel_is_braket_s_kraus_operators() -> None:
    from braket.circuits import noises as n

    kraus = [np.sqrt(0.7) * np.eye(2), np.sqrt(0.3) * np.array([[0, 1], [1, 0]])]
    reference = {
        "bit_flip": n.BitFlip(0.2), "phase_flip": n.PhaseFlip(0.3),
        "depolarizing": n.Depolarizing(0.4), "pauli_channel": n.PauliChannel(0.1, 0.2, 0.3),
        "amplitude_damping": n.AmplitudeDamping(0.35),
        "generalized_amplitude_damping": n.GeneralizedAmplitudeDamping(0.2, 0.3),
        "phase_damping": n.PhaseDamping(0.45),
        "two_qubit_depolarizing": n.TwoQubitDepolarizing(0.5),
        "two_qubit_dephasing": n.TwoQubitDephasing(0.6), "kraus": n.Kraus(kraus)}
    assert set(reference) == set(CHANNELS)
    from braket.circuits import Instruction

    for name, channel in reference.items():
        source = source_of(Circuit().add_instruction(
            Instruction(channel, range(channel.qubit_count))))
        (op,) = openqasm.parse(source).operations
        assert (op.kind, op.name) == ("noise", name), source
        ours, theirs = kraus_operators(op), channel.to_matrix()
        # a channel's operators are unique up to a unitary mixing: compare the channel itself
        superop = sum(np.kron(k, k.conj()) for k in ours)
        np.testing.assert_allclose(superop, sum(np.kron(k, k.conj()) for k in theirs),
                                   atol=1e-12, err_msg=source)


def random_circuit(rng: np.random.Generator, n: int, depth: int, *, noise: bool,
                   controls: bool = False) -> Any:
    circuit = Circuit()
    reference = sdk_gates()
    names = [k for k, g in reference.items() if 0 < g.qubit_count <= n]
    for _ in range(depth):
        name = str(rng.choice(names))
        gate = reference[name]
        targets = [int(q) for q in rng.choice(n, gate.qubit_count, replace=False)]
        kind = rng.integers(6)
        if kind == 0 and controls and gate.qubit_count < n:
            control = int(rng.choice([q for q in range(n) if q not in targets]))
            state = int(rng.integers(2))
            circuit.add_instruction(braket_circuits.Instruction(
                gate, targets, control=control, control_state=state))
        elif kind == 1:
            circuit.add_instruction(braket_circuits.Instruction(
                gate, targets, power=float(rng.choice([2, -1, 0.5, 1.5]))))
        else:
            circuit.add_instruction(braket_circuits.Instruction(gate, targets))
        if kind == 2:
            q = [int(x) for x in rng.choice(n, 2, replace=False)]
            matrix = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
            circuit.unitary(matrix=matrix, targets=q)
        if noise and kind in (3, 4, 5):
            q = [int(x) for x in rng.choice(n, 2, replace=False)]
            p = float(rng.uniform(0.02, 0.3))
            one = ["bit_flip", "phase_flip", "depolarizing", "amplitude_damping",
                   "phase_damping"]
            pick = str(rng.choice([*one, "generalized_amplitude_damping",
                                   "two_qubit_depolarizing", "two_qubit_dephasing"]))
            if pick in one:
                getattr(circuit, pick)(q[0], p)
            elif pick == "generalized_amplitude_damping":
                circuit.generalized_amplitude_damping(q[0], p, 1 - p)
            else:
                getattr(circuit, pick)(q[0], q[1], p)
    return circuit


def with_result_types(circuit: Any, rng: np.random.Generator, n: int, *, dm: bool) -> Any:
    q = [int(x) for x in rng.permutation(n)]
    matrix = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    hermitian = Observable.Hermitian(matrix + matrix.conj().T)
    circuit.expectation(Observable.Z() @ Observable.X(), target=q[:2])
    circuit.expectation(Observable.Y())
    circuit.variance(Observable.H() @ hermitian, target=q[:3])
    circuit.expectation(Observable.I(), target=[q[0]])
    circuit.probability(target=q[:2])
    circuit.probability()
    if dm:
        circuit.density_matrix(target=[q[1], q[0]])
        circuit.density_matrix()
    else:
        circuit.state_vector()
        circuit.amplitude(["0" * n, "1" * n, "01" * (n // 2) + "0" * (n % 2)])
    return circuit


def decoded(kind: str, value: Any) -> Any:
    """A value as the SDK's local simulators give it (complex numbers arrive as [re, im])."""
    if kind == "amplitude":
        return {k: complex(*v) for k, v in value.items()}
    if kind in ("statevector", "densitymatrix"):
        pairs = np.asarray(value)
        return pairs[..., 0] + 1j * pairs[..., 1]
    return value


@pytest.mark.parametrize("noisy", [False, True])
def test_exact_result_types_match_braket_local_simulators(noisy: bool) -> None:
    from braket.devices import LocalSimulator

    rng = np.random.default_rng(7 if noisy else 3)
    local = LocalSimulator("braket_dm" if noisy else "braket_sv")
    device, name = (features.DM1, "DM1") if noisy else (features.SV1, "SV1")
    for _ in range(6):
        n = int(rng.integers(3, 5))
        circuit = with_result_types(random_circuit(rng, n, 12, noise=noisy), rng, n, dm=noisy)
        source = source_of(circuit)
        ours = circuits.run(source, 0, seed=1, features=device, device=name)
        theirs = local.run(circuit, shots=0).result()
        assert [r["type"] for r in ours.result_types] == \
            [json.loads(rt.to_ir().json()) for rt in circuit.result_types]
        for got, want, rt in zip(ours.result_types, theirs.values, circuit.result_types,
                                 strict=True):
            value = decoded(got["type"]["type"], got["value"])
            if isinstance(want, dict):
                assert value == pytest.approx(want, abs=1e-9), rt
            else:
                np.testing.assert_allclose(value, want, atol=1e-9, err_msg=str(rt))


def test_control_and_power_modifiers_match_the_sdk_s_unitary() -> None:
    # braket_sv (default simulator 1.41) misplaces some controls on 4+ qubits (ctrl @ rx
    # q[2], q[0] on 4 qubits), so the SDK's own Circuit.to_unitary is the reference here
    rng = np.random.default_rng(5)
    for _ in range(12):
        n = int(rng.integers(2, 5))
        circuit = random_circuit(rng, n, 14, noise=False, controls=True)
        expected = circuit.to_unitary()[:, 0]
        outcome = circuits.run(source_of(circuit.copy().state_vector()), 0, seed=1)
        got = decoded("statevector", outcome.result_types[0]["value"])
        np.testing.assert_allclose(got, expected, atol=1e-9, err_msg=source_of(circuit))


def test_the_sdk_s_programs_parse_with_no_instruction_dropped() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(3, 5))
        circuit = with_result_types(random_circuit(rng, n, 15, noise=True, controls=True), rng,
                                    n, dm=True)
        program = openqasm.parse(source_of(circuit))
        assert len(program.operations) == len(circuit.instructions)
        kinds = [("noise" if hasattr(i.operator, "probability") or hasattr(i.operator, "gamma")
                  else None) for i in circuit.instructions]
        assert all(op.kind == "noise" for op, k in zip(program.operations, kinds, strict=True)
                   if k == "noise")
        assert len(program.results) == len(circuit.result_types)


# ---------------------------------------------------------------- one table


def program_using(operation: str) -> str:
    if operation == "unitary":
        return "#pragma braket unitary([[0, 1.0], [1.0, 0]]) q[0]"
    if operation in CHANNELS:
        if operation == "kraus":
            return "#pragma braket noise kraus([[1, 0], [0, 1]]) q[0]"
        channel = CHANNELS[operation]
        args = ", ".join("0.1" for _ in channel.params)
        targets = ", ".join(f"q[{i}]" for i in range(channel.qubits))
        return f"#pragma braket noise {operation}({args}) {targets}"
    name = "gphase" if operation == "GPhase" else operation
    gate = GATES[name]
    args = f"({', '.join(['0.3'] * gate.params)})" if gate.params else ""
    return f"{name}{args} {', '.join(f'q[{i}]' for i in range(gate.qubits))}".strip()


RESULT_LINES = {"expectation": "expectation z(q[0])", "variance": "variance x(q[1])",
                "sample": "sample z(q[0]) @ z(q[1])", "probability": "probability q[0]",
                "amplitude": 'amplitude "000"', "state_vector": "state_vector",
                "density_matrix": "density_matrix q[0]", "adjoint_gradient":
                "adjoint_gradient expectation(z(q[0])) all"}


def test_each_device_accepts_exactly_what_its_capabilities_list() -> None:
    from braket.device_schema import DeviceActionType
    from braket.schema_common import BraketSchemaBase

    everything = sorted({op for spec in default_catalog() for op in spec.features.operations()})
    for spec in default_catalog():
        action = BraketSchemaBase.parse_raw_schema(spec.capabilities_json()).action[
            DeviceActionType.OPENQASM]
        supported = set(action.supportedOperations)
        pragmas = set(action.supportedPragmas)
        for operation in everything:
            source = f"OPENQASM 3.0;\nqubit[3] q;\nh q[0];\n{program_using(operation)};"
            if operation in supported:
                circuits.prepare(source, 10, features=spec.features, device=spec.name)
                noisy = operation in CHANNELS
                assert f"braket_noise_{operation}" in pragmas if noisy else True
            else:
                qasm_name = "gphase" if operation == "GPhase" else operation
                with pytest.raises(ValidationError, match=f"'{qasm_name}'|braket_unitary_matrix"):
                    circuits.prepare(source, 10, features=spec.features, device=spec.name)
        listed = {rt.name: rt for rt in action.supportedResultTypes}
        for kind, line in RESULT_LINES.items():
            source = f"OPENQASM 3.0;\nqubit[3] q;\nh q;\n#pragma braket result {line}"
            name = features.RESULT_TYPE_NAMES[kind]
            pragma_listed = f"braket_result_type_{kind}" in pragmas
            assert (name in listed) == pragma_listed, (spec.name, kind)
            if name not in listed:
                with pytest.raises(ValidationError, match=f"result type '{kind}'"):
                    circuits.prepare(source, 10, features=spec.features, device=spec.name)
                continue
            shots = listed[name].minShots or min(10, listed[name].maxShots)
            circuits.prepare(source, shots, features=spec.features, device=spec.name)
            if listed[name].maxShots == 0:
                with pytest.raises(ValidationError, match="shots=0"):
                    circuits.prepare(source, 10, features=spec.features, device=spec.name)
        modifiers = {m.name for m in action.supportedModifiers}
        ctrl = "OPENQASM 3.0;\nqubit[3] q;\nctrl @ x q[0], q[1];"
        if "ctrl" in modifiers:
            circuits.prepare(ctrl, 10, features=spec.features, device=spec.name)
        else:
            with pytest.raises(ValidationError, match="modifier 'ctrl'"):
                circuits.prepare(ctrl, 10, features=spec.features, device=spec.name)


# ---------------------------------------------------------------- refused, never skipped


SV1, DM1 = (features.SV1, "SV1"), (features.DM1, "DM1")
HEAD = "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\n"


@pytest.mark.parametrize(("device", "shots", "body", "words"), [
    (SV1, 10, "#pragma braket noise bit_flip(0.1) q[0]", ["'bit_flip'", "SV1", "DM1"]),
    (DM1, 0, "#pragma braket result state_vector", ["'state_vector'", "DM1"]),
    (SV1, 0, "#pragma braket result density_matrix q[0]", ["'density_matrix'", "SV1"]),
    (SV1, 0, "#pragma braket result sample z(q[0])", ["'sample'", "shots >= 1"]),
    (SV1, 10, "#pragma braket result state_vector", ["'state_vector'", "shots=0"]),
    (SV1, 0, "#pragma braket result adjoint_gradient expectation(z(q[0])) all",
     ["'adjoint_gradient'"]),
    (SV1, 10, "#pragma braket verbatim\nbox{\nh q[0];\n}", ["verbatim", "SV1"]),
    (SV1, 10, "#pragma braket foo q[0]", ["line 4", "foo"]),
    (SV1, 10, "#pragma qiskit something", ["line 4", "qiskit"]),
    (SV1, 10, "#pragma braket unitary([[1, 1], [0, 1]]) q[0]", ["not unitary"]),
    (SV1, 10, "#pragma braket unitary([[1, 0], [0, 1]]) q[0], q[1]", ["4x4"]),
    (DM1, 10, "#pragma braket noise bit_flip(0.7) q[0]", ["[0, 0.5]", "0.7"]),
    (DM1, 10, "#pragma braket noise pauli_channel(0.5, 0.4, 0.3) q[0]", ["add up"]),
    (DM1, 10, "#pragma braket noise kraus([[1, 0], [0, 1]], [[0, 1], [1, 0]]) q[0]",
     ["trace preserving"]),
    (DM1, 10, "#pragma braket noise two_qubit_dephasing(0.1) q[0]", ["2 qubit"]),
    (DM1, 10, "#pragma braket noise bit_flip(0.1, 0.2) q[0]", ["takes (probability)"]),
    (SV1, 10, "#pragma braket result expectation x(q[0])\n#pragma braket result expectation "
     "z(q[0])", ["two bases"]),
    (SV1, 10, "#pragma braket result expectation x(q[0])\n#pragma braket result probability",
     ["observable's basis"]),
    (SV1, 0, "#pragma braket result expectation 2 * y(q[1])", ["coefficient"]),
    (SV1, 0, "#pragma braket result expectation x(q[0]) + z(q[1])", ["sums"]),
    (SV1, 0, '#pragma braket result amplitude "00"', ["one bit per qubit", "(1)"]),
    (SV1, 0, "#pragma braket result expectation hermitian([[1, 1im], [1im, 1]]) q[0]",
     ["not Hermitian"]),
    (SV1, 0, "#pragma braket result expectation hermitian([[1, 0], [0, 1]]) q[0], q[1]",
     ["acts on 1 qubit(s), got 2"]),
    (SV1, 0, "x q[0];", ["names no result types"]),
    (SV1, 10, "rx(theta) q[0];", ["'theta' is not a declared input"]),
    (SV1, 10, "input float theta;\nrx(theta) q[0];", ["input 'theta' has no value"]),
    (SV1, 10, "bit[1] b;\nb[0] = measure q[0];\n#pragma braket noise bit_flip(0.1) q[0]",
     ["after a measurement"]),
    ((features.QPU, "QPU"), 10, "#pragma braket unitary([[0, 1], [1, 0]]) q[0]",
     ["braket_unitary_matrix", "QPU"]),
    ((features.TN1, "TN1"), 0, "#pragma braket result probability", ["TN1 runs 1 to"]),
])
def test_what_a_device_does_not_run_is_refused_by_name(device: tuple[features.Features, str],
                                                       shots: int, body: str,
                                                       words: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        circuits.prepare(HEAD + body, shots, features=device[0], device=device[1])
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_inputs_parameters_and_modifiers_are_applied() -> None:
    source = ("OPENQASM 3.0;\ninput float theta;\nqubit[2] q;\nrx(2 * theta) q[0];\n"
              "negctrl @ x q[0], q[1];\npow(0.5) @ z q[1];\ninv @ s q[1];\n"
              "#pragma braket result state_vector")
    outcome = circuits.run(source, 0, 1, inputs={"theta": np.pi / 4})
    (vector,) = [np.array([complex(*v) for v in r["value"]]) for r in outcome.result_types]
    # rx(pi/2)|0> = (|0> - i|1>)/sqrt2; negctrl flips q1 when q0 = 0: (|01> - i|10>)/sqrt2;
    # pow(0.5) @ z = s then inv @ s undo each other on q1
    np.testing.assert_allclose(vector, np.array([0, 1, -1j, 0]) / np.sqrt(2), atol=1e-12)
