"""amazon-braket-sdk's own calls, unchanged, configured only by ``AWS_ENDPOINT_URL*``, against our
server: result types (expectation with tensor products and Hermitian observables, variance,
probability, sample, amplitude, state_vector, density_matrix) with shots=0 and shots > 0,
``unitary`` matrices, DM1's noise channels (also through the SDK's ``NoiseModel``), free
parameters, and what a device refuses: unsupported instructions by name, offline and retired
devices by Braket's exceptions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from qwidgets.sim import SimServer
from tests.braket_sdk_support import aws_environment

pytestmark = pytest.mark.peer

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
DUNE = "arn:aws:braket:eu-north-1::device/qpu/qwidgets/Dune-20"
EMBER = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Ember-5"


@pytest.fixture
def aws(server: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    aws_environment(server, monkeypatch)
    return server


def run(arn: str, circuit: Any, shots: int, **kwargs: Any) -> Any:
    """``AwsDevice(arn).run(circuit, shots=...).result()``, as a user writes it (the default
    session, bucket and folder)."""
    from braket.aws import AwsDevice

    task = AwsDevice(arn, **kwargs.pop("device_kwargs", {})).run(
        circuit, shots=shots, poll_interval_seconds=0.05, poll_timeout_seconds=60, **kwargs)
    result = task.result()
    assert result is not None, task.state()
    return result


def within_4_sigma(observed: float, p: float, shots: int) -> None:
    assert abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / shots), (observed, p)


def test_expectation_of_a_tensor_product(aws: SimServer) -> None:
    from braket.circuits import Circuit, Observable, ResultType

    bell = Circuit().h(0).cnot(0, 1).expectation(Observable.Z() @ Observable.Z(), target=[0, 1])
    for shots in (0, 1000):
        result = run(SV1, bell, shots)
        assert result.values == [pytest.approx(1.0)]
        assert result.get_value_by_result_type(
            ResultType.Expectation(Observable.Z() @ Observable.Z(), target=[0, 1])) == 1.0
    sampled = run(SV1, Circuit().h(0).cnot(0, 1).expectation(Observable.X() @ Observable.X(),
                                                                target=[0, 1]), 500)
    assert sampled.values == [1.0]  # measured in the X basis: every shot agrees
    assert set(sampled.measurement_counts) <= {"00", "11"}


def test_unitary_matrices_are_applied(aws: SimServer) -> None:
    from braket.circuits import Circuit

    x = np.array([[0, 1], [1, 0]])
    assert dict(run(SV1, Circuit().unitary(matrix=x, targets=[0]), 100).measurement_counts) \
        == {"1": 100}
    cy = np.kron(np.diag([1, 0]), np.eye(2)) + np.kron(np.diag([0, 1]), [[0, -1j], [1j, 0]])
    circuit = Circuit().x(0).unitary(matrix=cy, targets=[0, 1]).state_vector()
    np.testing.assert_allclose(run(SV1, circuit, 0).values[0], [0, 0, 0, 1j], atol=1e-12)


def test_exact_result_types_on_sv1(aws: SimServer) -> None:
    from braket.circuits import Circuit, Observable

    theta = 0.8
    circuit = (Circuit().ry(0, theta).cnot(0, 1)
               .expectation(Observable.Z(), target=[0])
               .variance(Observable.Z(), target=[1])
               .expectation(Observable.X())
               .expectation(Observable.Hermitian(np.array([[2, 0], [0, -1]])), target=[1])
               .probability(target=[1, 0])
               .amplitude(["00", "11"])
               .state_vector())
    values = run(SV1, circuit, 0).values
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    assert values[0] == pytest.approx(math.cos(theta))
    assert values[1] == pytest.approx(math.sin(theta) ** 2)
    assert values[2] == pytest.approx([0.0, 0.0], abs=1e-12)  # one per qubit ("x all")
    assert values[3] == pytest.approx(2 * c * c - s * s)
    assert isinstance(values[4], np.ndarray)
    np.testing.assert_allclose(values[4], [c * c, 0, 0, s * s], atol=1e-12)
    assert values[5] == {"00": pytest.approx(c), "11": pytest.approx(s)}
    np.testing.assert_allclose(values[6], [c, 0, 0, s], atol=1e-12)
    assert np.iscomplexobj(values[6])


def test_sampled_result_types_on_sv1(aws: SimServer) -> None:
    from braket.circuits import Circuit, Observable

    shots = 4000
    circuit = (Circuit().ry(0, 1.1).h(1).ry(2, 1.1)
               .sample(Observable.Y(), target=[1])
               .expectation(Observable.H(), target=[0])
               .probability(target=[2]))  # the SDK refuses it on a qubit measured in H's basis
    result = run(SV1, circuit, shots)
    samples, h_mean, probs = result.values
    assert len(samples) == shots
    assert set(samples) <= {1.0, -1.0}
    within_4_sigma((1 + float(np.mean(samples))) / 2, 0.5, shots)  # <Y> = 0 on |+>
    # <H> on ry(1.1)|0> = (cos 1.1 + sin 1.1) / sqrt 2
    expected = (math.cos(1.1) + math.sin(1.1)) / math.sqrt(2)
    assert abs(h_mean - expected) <= 4 * math.sqrt((1 - expected ** 2) / shots)
    within_4_sigma(probs[1], math.sin(0.55) ** 2, shots)
    assert result.measurements.shape == (shots, 3)


def test_dm1_simulates_noise(aws: SimServer) -> None:
    from braket.circuits import Circuit, Observable

    flipped = run(DM1, Circuit().x(0).bit_flip(0, 0.2).probability(target=[0]), 0).values[0]
    np.testing.assert_allclose(flipped, [0.2, 0.8], atol=1e-12)
    shots = 4000
    counts = run(DM1, Circuit().x(0).bit_flip(0, 0.2), shots).measurement_counts
    within_4_sigma(counts["0"] / shots, 0.2, shots)
    damped = (Circuit().h(0).amplitude_damping(0, 0.3).phase_damping(0, 0.2)
              .depolarizing(1, 0.1).two_qubit_dephasing(0, 1, 0.15).density_matrix(target=[0]))
    rho = np.array(run(DM1, damped, 0).values[0])
    rho = rho[..., 0] + 1j * rho[..., 1]  # as the service sends it: [re, im] pairs
    coherence = 0.5 * math.sqrt(0.7) * math.sqrt(0.8) * (1 - 2 * 0.15 * 2 / 3)
    np.testing.assert_allclose(rho, [[0.5 + 0.15, coherence], [coherence, 0.35]], atol=1e-12)
    kraus = [math.sqrt(0.75) * np.eye(2), math.sqrt(0.25) * np.array([[1, 0], [0, -1]])]
    dephased = Circuit().h(0).kraus([0], kraus).expectation(Observable.X(), target=[0])
    assert run(DM1, dephased, 0).values == [pytest.approx(0.5)]


def test_a_noise_model_on_dm1_and_refused_on_sv1(aws: SimServer) -> None:
    from braket.aws import AwsDevice
    from braket.circuits import Circuit
    from braket.circuits.noise_model import GateCriteria, NoiseModel
    from braket.circuits.noises import BitFlip

    model = NoiseModel().add_noise(BitFlip(0.1), GateCriteria())
    circuit = Circuit().x(0).x(1).probability()
    values = run(DM1, circuit, 0, device_kwargs={"noise_model": model}).values[0]
    np.testing.assert_allclose(values, [0.01, 0.09, 0.09, 0.81], atol=1e-12)
    with pytest.raises(ValueError, match="does not support noise"):
        AwsDevice(SV1, noise_model=model)  # the SDK reads SV1's capabilities: no noise pragmas


def test_free_parameters_travel_as_inputs(aws: SimServer) -> None:
    from braket.circuits import Circuit, FreeParameter

    circuit = Circuit().rx(0, FreeParameter("theta")).probability()
    values = run(SV1, circuit, 0, inputs={"theta": math.pi / 2}).values[0]
    np.testing.assert_allclose(values, [0.5, 0.5], atol=1e-12)


def test_what_a_device_does_not_run_is_refused(aws: SimServer) -> None:
    from botocore.exceptions import ClientError
    from braket.aws import AwsDevice
    from braket.circuits import Circuit

    cases = [(SV1, Circuit().x(0).bit_flip(0, 0.1).probability(), 0, "'bit_flip'"),
             (DM1, Circuit().h(0).state_vector(), 0, "'state_vector'"),
             (SV1, Circuit().h(0).density_matrix(), 0, "'density_matrix'")]
    for arn, circuit, shots, word in cases:
        with pytest.raises(ClientError) as caught:
            AwsDevice(arn).run(circuit, shots=shots)
        error = caught.value.response["Error"]
        assert error["Code"] == "ValidationException"
        assert word in error["Message"]
    properties = AwsDevice(DM1).properties.action["braket.ir.openqasm.program"]
    assert "braket_noise_bit_flip" in properties.supportedPragmas
    assert "StateVector" not in {r.name for r in properties.supportedResultTypes}
    for arn, code in ((DUNE, "DeviceOfflineException"), (EMBER, "DeviceRetiredException")):
        with pytest.raises(ClientError) as caught:
            AwsDevice(arn).run(Circuit().h(0), shots=10)
        assert caught.value.response["Error"]["Code"] == code
