"""Statistics of the simulated devices against analytic values: each of DM1's noise channels
(exact with shots=0, and sampled within 4 standard deviations), and sampled result types
(expectation, variance, probability, sample) against the exact ones of the same circuit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qwidgets.sim.braket import circuits, features
from qwidgets.sim.braket.task_result import measurements

SHOTS = 20_000
HEAD = "OPENQASM 3.0;\nqubit[2] q;\n"


def dm1(body: str, shots: int, seed: int = 1) -> circuits.Outcome:
    return circuits.run(HEAD + body, shots, seed, features=features.DM1, device="DM1")


def within_4_sigma(counts: dict[str, int], expected: dict[str, float], shots: int) -> None:
    for outcome, p in expected.items():
        observed = counts.get(outcome, 0) / shots
        sigma = math.sqrt(max(p * (1 - p), 1 / shots) / shots)
        assert abs(observed - p) <= 4 * sigma, (outcome, observed, p)
    assert sum(counts.values()) == shots


P, G = 0.2, 0.35  # a probability and a damping rate
CHANNELS = [
    # (circuit body, outcome probabilities of q[0] q[1])
    (f"x q[0];\n#pragma braket noise bit_flip({P}) q[0]", {"00": P, "10": 1 - P}),
    (f"h q[0];\n#pragma braket noise phase_flip({P}) q[0]\nh q[0];", {"00": 1 - P, "10": P}),
    (f"#pragma braket noise depolarizing({P}) q[0]", {"00": 1 - 2 * P / 3, "10": 2 * P / 3}),
    ("#pragma braket noise pauli_channel(0.1, 0.15, 0.2) q[0]", {"00": 0.75, "10": 0.25}),
    ("h q[0];\n#pragma braket noise pauli_channel(0.1, 0.15, 0.2) q[0]\nh q[0];",
     {"00": 0.65, "10": 0.35}),
    (f"x q[0];\n#pragma braket noise amplitude_damping({G}) q[0]", {"00": G, "10": 1 - G}),
    (f"x q[0];\n#pragma braket noise generalized_amplitude_damping({G}, 0.3) q[0]",
     {"00": 0.3 * G, "10": 1 - 0.3 * G}),
    (f"#pragma braket noise generalized_amplitude_damping({G}, 0.3) q[0]",
     {"00": 1 - 0.7 * G, "10": 0.7 * G}),
    (f"h q[0];\n#pragma braket noise phase_damping({G}) q[0]\nh q[0];",
     {"00": (1 + math.sqrt(1 - G)) / 2, "10": (1 - math.sqrt(1 - G)) / 2}),
    (f"#pragma braket noise two_qubit_depolarizing({P}) q[0], q[1]",
     {"00": 1 - 0.8 * P, "01": 4 * P / 15, "10": 4 * P / 15, "11": 4 * P / 15}),
    (f"h q;\n#pragma braket noise two_qubit_dephasing({P}) q[0], q[1]\nh q;",
     {"00": 1 - P, "01": P / 3, "10": P / 3, "11": P / 3}),
    ("#pragma braket noise kraus([[0.8366600265340756, 0], [0, 0.8366600265340756]], "
     "[[0, 0.5477225575051661], [0.5477225575051661, 0]]) q[1]", {"00": 0.7, "01": 0.3}),
]


@pytest.mark.parametrize(("body", "expected"), CHANNELS)
def test_each_noise_channel_exactly(body: str, expected: dict[str, float]) -> None:
    outcome = dm1(body + "\n#pragma braket result probability q[0], q[1]", 0)
    probs = outcome.result_types[0]["value"]
    full = {format(i, "02b"): p for i, p in enumerate(probs)}
    assert full == pytest.approx({k: expected.get(k, 0.0) for k in full}, abs=1e-12)


@pytest.mark.parametrize(("body", "expected"), CHANNELS)
def test_each_noise_channel_sampled_within_4_sigma(body: str, expected: dict[str, float]) -> None:
    outcome = dm1(body + "\nbit[2] b;\nb[0] = measure q[0];\nb[1] = measure q[1];", SHOTS,
                  seed=len(body))
    within_4_sigma(outcome.counts, expected, SHOTS)


def test_a_noisy_expectation_exact_and_sampled() -> None:
    body = f"h q[0];\n#pragma braket noise depolarizing({P}) q[0]\n" \
           "#pragma braket result expectation x(q[0])\n#pragma braket result variance x(q[0])"
    exact = dm1(body, 0)
    mean = 1 - 4 * P / 3  # depolarizing shrinks the Bloch vector by 1 - 4p/3
    assert exact.result_types[0]["value"] == pytest.approx(mean, abs=1e-12)
    assert exact.result_types[1]["value"] == pytest.approx(1 - mean ** 2, abs=1e-12)
    sampled = dm1(body, SHOTS, seed=3)
    sigma = math.sqrt((1 - mean ** 2) / SHOTS)
    assert abs(sampled.result_types[0]["value"] - mean) <= 4 * sigma
    assert sampled.result_types[1]["value"] == pytest.approx(
        1 - sampled.result_types[0]["value"] ** 2, abs=1e-12)  # samples are +-1


ROTATED = ("OPENQASM 3.0;\nqubit[3] q;\nry(0.9) q[0];\nrx(-1.3) q[1];\ncnot q[0], q[2];\n"
           "rz(0.4) q[2];\nh q[2];\ncz q[1], q[2];\n")
OBSERVABLE_RESULTS = [
    "x(q[0])", "y(q[1])", "h(q[2])", "z(q[0]) @ x(q[2])", "y(q[1]) @ h(q[2]) @ x(q[0])",
    "hermitian([[2, 1-1im], [1+1im, -0.5]]) q[1]",
    "x(q[0]) @ hermitian([[1, 0, 0, 0.5im], [0, -1, 2, 0], [0, 2, 0.5, 0], [-0.5im, 0, 0, 3]]) "
    "q[2], q[1]",
]


@pytest.mark.parametrize("observable", OBSERVABLE_RESULTS)
def test_sampled_observables_agree_with_the_exact_values(observable: str) -> None:
    body = (f"#pragma braket result expectation {observable}\n"
            f"#pragma braket result variance {observable}\n"
            f"#pragma braket result sample {observable}")
    exact = circuits.run(ROTATED + "\n".join(body.splitlines()[:2]), 0, 1)
    mean, variance = (r["value"] for r in exact.result_types)
    sampled = circuits.run(ROTATED + body, SHOTS, seed=len(observable))
    got_mean, got_variance, samples = (r["value"] for r in sampled.result_types)
    assert len(samples) == SHOTS
    assert got_mean == pytest.approx(float(np.mean(samples)), abs=1e-12)
    assert got_variance == pytest.approx(float(np.var(samples)), abs=1e-9)
    assert abs(got_mean - mean) <= 4 * math.sqrt(variance / SHOTS), (got_mean, mean)
    fourth = float(np.mean((np.array(samples) - got_mean) ** 4))
    assert abs(got_variance - variance) <= 4 * math.sqrt((fourth - got_variance ** 2) / SHOTS)


def test_sampled_probabilities_and_measurements_agree() -> None:
    exact = circuits.run(ROTATED + "#pragma braket result probability q[2], q[0]", 0, 1)
    body = "#pragma braket result probability q[2], q[0]\n#pragma braket result expectation " \
           "z(q[1])"
    sampled = circuits.run(ROTATED + body, SHOTS, seed=5)
    expected = {format(i, "02b"): p for i, p in enumerate(exact.result_types[0]["value"])}
    got = sampled.result_types[0]["value"]
    within_4_sigma({format(i, "02b"): round(p * SHOTS) for i, p in enumerate(got)}, expected,
                   SHOTS)
    # the rows results.json carries are the same shots the values came from
    assert sampled.measured_qubits == (0, 1, 2)
    rows = np.array(measurements(sampled.counts, "arn:task"))
    assert rows.shape == (SHOTS, 3)
    counts = {f"{a}{b}{c}": 0 for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    for row in rows:
        counts["".join(map(str, row))] += 1
    assert {k: v for k, v in counts.items() if v} == sampled.counts
    assert sampled.result_types[1]["value"] == pytest.approx(float(np.mean(1 - 2 * rows[:, 1])))
    # a task's seed orders its shots: its sample values follow its measurement rows
    task = circuits.run(ROTATED + "#pragma braket result sample z(q[1])", 50,
                        seed=circuits.seed_for("arn:task"))
    rows = np.array(measurements(task.counts, "arn:task"))
    assert task.result_types[0]["value"] == list(1.0 - 2 * rows[:, 1])


@pytest.mark.parametrize("body", ["", "#pragma braket result expectation z(q[1])"])
def test_results_json_text_is_the_document(body: str) -> None:
    import json

    from braket.task_result import GateModelTaskResult

    from qwidgets.sim.braket.task_result import result_document, result_json

    outcome = circuits.run(ROTATED + body, 300, seed=2)
    row = {"result": outcome.to_json(), "arn": "arn:task", "device_arn": "arn:device",
           "created": 1.7e9, "ended": 1.7e9 + 1, "action": json.dumps({"source": ROTATED})}
    text = result_json(row)
    assert json.loads(text) == result_document(row)
    parsed = GateModelTaskResult.parse_raw(text)
    assert len(parsed.measurements) == 300
    assert parsed.measuredQubits == [0, 1, 2]
