"""The simulated quantum devices: a catalog (statuses, capabilities that braket-schemas parses, the
shape of each device's queues). Braket's string conventions for queue sizes and positions are
in ``qwidgets.protocol.braket_queues``.

Pure data and formatting, no I/O. The live queues that move over time are in ``queues``.

The three simulators carry Amazon Braket's own ARNs, so code written for SV1/DM1/TN1 runs
against the embedded server unchanged. The QPUs are fictional ("qwidgets" provider): their
queues behave like busy real ones (thousands of tasks, prioritized hybrid jobs) without
pretending to be a vendor's machine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from qwidgets.protocol.braket_queues import DeviceStatus, DeviceType
from qwidgets.sim.braket import features as device_features
from qwidgets.sim.braket.features import Features


@dataclass(frozen=True)
class QueueShape:
    """How a device's queues behave. Rates are per second of (scaled) simulated time.

    Background traffic (other users) arrives so that each queue hovers around its target depth;
    the device serves ``task_rate`` tasks per second, priority tasks first. ``job_slots`` hybrid
    jobs run at once, each for ``job_seconds`` on average; while one runs, its tasks arrive in
    the priority queue (around ``priority_target``) and normal tasks are served at half rate.
    """

    task_rate: float
    normal_target: float
    priority_target: float = 0.0
    job_target: float = 0.0
    job_slots: int = 1
    job_seconds: float = 60.0
    run_seconds: float = 0.2  # how long one of the user's tasks occupies the device

    def __post_init__(self) -> None:
        if self.task_rate <= 0 or self.job_slots < 1 or self.job_seconds <= 0:
            raise ValueError("task_rate and job_seconds must be > 0 and job_slots >= 1")
        if min(self.normal_target, self.priority_target, self.job_target, self.run_seconds) < 0:
            raise ValueError("queue targets and run_seconds must be >= 0")


@dataclass(frozen=True)
class DeviceSpec:
    arn: str
    name: str
    provider: str
    device_type: DeviceType
    status: DeviceStatus
    qubits: int
    queue: QueueShape
    # what a task may use: the capabilities document lists exactly this (``features``)
    features: Features = device_features.SV1
    native_gates: tuple[str, ...] = ()  # a QPU's own gates; it compiles the others to these
    connectivity: dict[str, list[str]] | None = None  # None: fully connected
    location: str = "us-east-1"
    poll_interval_ms: int = 1000
    summary: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def max_shots(self) -> int:
        return self.features.max_shots

    @property
    def min_shots(self) -> int:
        return self.features.min_shots

    @property
    def region(self) -> str:
        parts = self.arn.split(":")
        return parts[3] if len(parts) > 3 else ""

    def capabilities(self) -> dict[str, object]:
        """The ``deviceCapabilities`` document (GetDevice sends it as a JSON *string*)."""
        # braket-schemas has no vendor-neutral QPU document: the QPUs use the IQM family's,
        # the one whose only required parts are the generic gate-model paradigm and actions.
        header = ("braket.device_schema.simulators.gate_model_simulator_device_capabilities"
                  if self.device_type == "SIMULATOR" else "braket.device_schema.iqm.iqm_device_capabilities")
        paradigm: dict[str, object]
        if self.device_type == "SIMULATOR":
            paradigm = {"braketSchemaHeader": {
                "name": "braket.device_schema.simulators.gate_model_simulator_paradigm_properties",
                "version": "1"}, "qubitCount": self.qubits}
        else:
            paradigm = {
                "braketSchemaHeader": {"name": "braket.device_schema.gate_model_qpu_paradigm_properties",
                                       "version": "1"},
                "qubitCount": self.qubits, "nativeGateSet": list(self.native_gates),
                "connectivity": {"fullyConnected": self.connectivity is None,
                                 "connectivityGraph": self.connectivity or {}}}
        return {
            "braketSchemaHeader": {"name": header, "version": "1"},
            "service": {
                "braketSchemaHeader": {"name": "braket.device_schema.device_service_properties",
                                       "version": "1"},
                "executionWindows": [{"executionDay": "Everyday", "windowStartHour": "00:00",
                                      "windowEndHour": "23:59:59"}],
                "shotsRange": [self.min_shots, self.max_shots],
                "deviceLocation": self.location,
                "getTaskPollIntervalMillis": self.poll_interval_ms,
                "deviceDocumentation": {"summary": self.summary or f"{self.name}, simulated by "
                                        "the qwidgets embedded server"},
            },
            "action": {"braket.ir.openqasm.program": self.features.action()},
            "deviceParameters": {},
            "paradigm": paradigm,
        }

    def capabilities_json(self) -> str:
        return json.dumps(self.capabilities(), separators=(",", ":"))


def _sim(arn: str, name: str, qubits: int, summary: str, shape: QueueShape,
         features: Features) -> DeviceSpec:
    return DeviceSpec(arn=arn, name=name, provider="Amazon Braket", device_type="SIMULATOR",
                      status="ONLINE", qubits=qubits, queue=shape, features=features,
                      location="us-east-1", poll_interval_ms=500, summary=summary)


_LINE = {str(i): [str(i - 1), str(i + 1)] for i in range(1, 7)} | {"0": ["1"], "7": ["6"]}


def default_catalog() -> tuple[DeviceSpec, ...]:
    """The devices the embedded server offers: three simulators and four QPUs covering every
    status and queue situation a dashboard has to show."""
    fast = QueueShape(task_rate=40.0, normal_target=2.0, priority_target=0.0, job_target=0.0,
                      job_seconds=20.0, run_seconds=0.1)
    return (
        _sim("arn:aws:braket:::device/quantum-simulator/amazon/sv1", "SV1", 34,
             "State-vector simulator (runs up to 22 qubits in the embedded server)", fast,
             device_features.SV1),
        _sim("arn:aws:braket:::device/quantum-simulator/amazon/dm1", "DM1", 17,
             "Density-matrix simulator with noise channels (noisy circuits of up to 11 qubits "
             "in the embedded server)",
             QueueShape(task_rate=20.0, normal_target=6.0, job_target=1.0, job_seconds=30.0,
                        run_seconds=0.2), device_features.DM1),
        _sim("arn:aws:braket:::device/quantum-simulator/amazon/tn1", "TN1", 50,
             "Tensor-network simulator (runs up to 22 qubits in the embedded server)",
             QueueShape(task_rate=5.0, normal_target=25.0, job_target=2.0, job_seconds=45.0,
                        run_seconds=0.5), device_features.TN1),
        DeviceSpec(
            arn="arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12", name="Aurora-12",
            provider="qwidgets (simulated)", device_type="QPU", features=device_features.QPU,
            status="ONLINE", qubits=12,
            native_gates=("rx", "ry", "rz", "cz"), location="us-east-1",
            queue=QueueShape(task_rate=25.0, normal_target=4600.0, priority_target=40.0,
                             job_target=1300.0, job_slots=2, job_seconds=90.0, run_seconds=1.0),
            summary="A busy trapped-ion-like QPU: queues beyond the displayed caps"),
        DeviceSpec(
            arn="arn:aws:braket:us-west-1::device/qpu/qwidgets/Cedar-8", name="Cedar-8",
            provider="qwidgets (simulated)", device_type="QPU", features=device_features.QPU,
            status="ONLINE", qubits=8,
            native_gates=("rx", "rz", "cz", "x"), connectivity=_LINE, location="us-west-1",
            queue=QueueShape(task_rate=2.0, normal_target=120.0, priority_target=8.0,
                             job_target=0.5, job_seconds=120.0, run_seconds=1.0),
            summary="A superconducting-like QPU with a linear chain; hybrid jobs run on it"),
        DeviceSpec(
            arn="arn:aws:braket:eu-north-1::device/qpu/qwidgets/Dune-20", name="Dune-20",
            provider="qwidgets (simulated)", device_type="QPU", features=device_features.QPU,
            status="OFFLINE", qubits=20,
            native_gates=("rx", "ry", "cz"), location="eu-north-1",
            queue=QueueShape(task_rate=1.0, normal_target=60.0, job_target=3.0,
                             run_seconds=1.0),
            summary="Offline for calibration: tasks wait in its queue until it returns"),
        DeviceSpec(
            arn="arn:aws:braket:us-east-1::device/qpu/qwidgets/Ember-5", name="Ember-5",
            provider="qwidgets (simulated)", device_type="QPU", features=device_features.QPU,
            status="RETIRED", qubits=5,
            native_gates=("rx", "rz", "cnot"), location="us-east-1",
            queue=QueueShape(task_rate=1.0, normal_target=0.0),
            summary="Retired: listed for history, accepts no tasks"),
    )

