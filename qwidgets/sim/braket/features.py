"""What each simulated device runs, in one table: the gates, pragmas, noise channels, modifiers and
result types a device accepts. Its capabilities document (``catalog``) is written from this table
and every task is checked against the same table (``check``), so a device never accepts what its
document does not list, nor refuses what it lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwidgets.errors import ValidationError
from qwidgets.protocol.qasm_gates import GATES
from qwidgets.protocol.qasm_program import STANDARD_OBSERVABLES, Program, ResultSpec
from qwidgets.sim.braket.noise import CHANNELS

# braket-schemas' names of the result types, keyed by the pragma's spelling
RESULT_TYPE_NAMES = {"expectation": "Expectation", "variance": "Variance", "sample": "Sample",
                     "probability": "Probability", "amplitude": "Amplitude",
                     "state_vector": "StateVector", "density_matrix": "DensityMatrix",
                     "adjoint_gradient": "AdjointGradient"}
# Braket lists a few gates under another capitalization than OpenQASM's
CAPABILITY_NAMES = {"gphase": "GPhase"}
OBSERVABLES = (*STANDARD_OBSERVABLES, "hermitian")
UNBOUNDED = 100_000  # the most shots this server runs


@dataclass(frozen=True)
class ResultTypeSupport:
    kind: str  # the pragma's spelling: expectation, state_vector, ...
    min_shots: int = 0
    max_shots: int = UNBOUNDED
    observables: bool = False

    def document(self) -> dict[str, object]:
        return {"name": RESULT_TYPE_NAMES[self.kind],
                "observables": list(OBSERVABLES) if self.observables else None,
                "minShots": self.min_shots, "maxShots": self.max_shots}


@dataclass(frozen=True)
class Features:
    gates: tuple[str, ...]
    result_types: tuple[ResultTypeSupport, ...]
    unitary: bool = True
    noise: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ("ctrl", "negctrl", "pow", "inv")
    verbatim: bool = False
    min_shots: int = 0
    max_shots: int = UNBOUNDED

    def __post_init__(self) -> None:
        unknown = [g for g in self.gates if g not in GATES] + \
            [n for n in self.noise if n not in CHANNELS]
        if unknown:
            raise ValueError(f"features name what the simulator does not run: {unknown}")

    def operations(self) -> list[str]:
        """``supportedOperations``: gates (with the unitary pragma's ``unitary``) and, as on
        Braket's DM1, the noise channels."""
        names = [CAPABILITY_NAMES.get(g, g) for g in self.gates]
        return names + (["unitary"] if self.unitary else []) + list(self.noise)

    def pragmas(self) -> list[str]:
        return ((["braket_unitary_matrix"] if self.unitary else [])
                + [f"braket_result_type_{r.kind}" for r in self.result_types]
                + [f"braket_noise_{n}" for n in self.noise]
                + (["verbatim"] if self.verbatim else []))

    def forbidden_pragmas(self) -> list[str]:
        supported = set(self.pragmas())
        every = ([f"braket_noise_{n}" for n in CHANNELS]
                 + [f"braket_result_type_{k}" for k in RESULT_TYPE_NAMES])
        return [p for p in every if p not in supported]

    def action(self) -> dict[str, object]:
        """The ``braket.ir.openqasm.program`` action properties of the capabilities."""
        modifiers: list[dict[str, object]] = []
        for name in self.modifiers:
            entry: dict[str, object] = {"name": name}
            if name in ("ctrl", "negctrl"):
                entry["max_qubits"] = None
            elif name == "pow":
                entry["exponent_types"] = ["int", "float"]
            modifiers.append(entry)
        return {
            "actionType": "braket.ir.openqasm.program", "version": ["1"],
            "supportedOperations": self.operations(), "supportedModifiers": modifiers,
            "supportedPragmas": self.pragmas(), "forbiddenPragmas": self.forbidden_pragmas(),
            "supportedResultTypes": [r.document() for r in self.result_types],
            "supportPhysicalQubits": False, "supportsPartialVerbatimBox": self.verbatim,
            "requiresAllQubitsMeasurement": False, "requiresContiguousQubitIndices": False,
            "supportsUnassignedMeasurements": True, "disabledQubitRewiringSupported": False}

    def result_type(self, kind: str) -> ResultTypeSupport | None:
        return next((r for r in self.result_types if r.kind == kind), None)


_COMMON_GATES = tuple(sorted(n for n in GATES))
_SAMPLED = (ResultTypeSupport("expectation", observables=True),
            ResultTypeSupport("variance", observables=True),
            ResultTypeSupport("probability"),
            ResultTypeSupport("sample", min_shots=1, observables=True))

SV1 = Features(gates=_COMMON_GATES, result_types=(
    *_SAMPLED, ResultTypeSupport("amplitude", max_shots=0),
    ResultTypeSupport("state_vector", max_shots=0)))
DM1 = Features(gates=_COMMON_GATES, noise=tuple(CHANNELS), result_types=(
    *_SAMPLED, ResultTypeSupport("density_matrix", max_shots=0)))
# TN1 samples only (as Braket's): no shots=0 results
TN1 = Features(gates=_COMMON_GATES, min_shots=1, result_types=tuple(
    ResultTypeSupport(r.kind, min_shots=1, observables=r.observables) for r in _SAMPLED))
# the QPUs compile the usual gates to their native set; no matrices, no noise pragmas
QPU_GATES = ("ccnot", "cnot", "cphaseshift", "cswap", "cy", "cz", "h", "i", "phaseshift",
             "rx", "ry", "rz", "s", "si", "swap", "t", "ti", "v", "vi", "x", "y", "z")
QPU = Features(gates=QPU_GATES, unitary=False, modifiers=(), min_shots=1, result_types=TN1.result_types)


def refuse(where: str, text: str, problem: str, fix: str) -> ValidationError:
    return ValidationError(where, text, problem, fix)


def check(program: Program, features: Features, shots: int, device: str) -> None:
    """Refuse (``ValidationError`` naming it) anything in ``program`` that ``features`` does
    not list, and shots the device does not take."""
    if not features.min_shots <= shots <= features.max_shots:
        raise refuse("shots", str(shots), f"{device} runs {features.min_shots} to "
                     f"{features.max_shots} shots", "ask for a number of shots in that range"
                     + (" (shots=0 needs result types)" if features.min_shots == 0 else ""))
    for line in program.verbatim_lines:
        if not features.verbatim:
            raise refuse(f"action.source line {line}", "#pragma braket verbatim",
                         f"verbatim boxes are not supported by {device} (its capabilities "
                         "list no 'verbatim' pragma)", "drop the verbatim box")
    for op in program.operations:
        where = f"action.source line {op.line}"
        if op.kind == "unitary" and not features.unitary:
            raise refuse(where, op.text, f"pragma braket_unitary_matrix is not supported by "
                         f"{device}", "decompose the matrix into the device's gates: "
                         f"{', '.join(features.operations())}")
        if op.kind == "noise" and op.name not in features.noise:
            raise refuse(where, op.text, f"noise channel {op.name!r} (pragma braket_noise_"
                         f"{op.name}) is not supported by {device}",
                         "run noise on a density-matrix device (DM1)" if not features.noise
                         else f"use one of {', '.join(features.noise)}")
        if op.kind == "gate":
            if op.name not in features.gates:
                raise refuse(where, op.text, f"gate {op.name!r} is not supported by {device}",
                             f"use one of {', '.join(features.operations())}")
            for modifier in op.modifiers:
                if modifier.name not in features.modifiers:
                    raise refuse(where, op.text, f"gate modifier {modifier.name!r} is not "
                                 f"supported by {device}", "write the gate without modifiers")
    for spec in program.results:
        _check_result(spec, features, shots, device)
    if shots == 0 and not program.results:
        raise refuse("shots", "0", "shots=0 asks for exact results, and the program names "
                     "no result types", "add '#pragma braket result ...' lines (e.g. "
                     "circuit.probability()) or ask for shots >= 1")


def _check_result(spec: ResultSpec, features: Features, shots: int, device: str) -> None:
    where = f"action.source line {spec.line}"
    support = features.result_type(spec.kind)
    if support is None:
        raise refuse(where, spec.text, f"result type {spec.kind!r} (pragma braket_result_type_"
                     f"{spec.kind}) is not supported by {device}",
                     f"use one of {', '.join(r.kind for r in features.result_types)}")
    if not support.min_shots <= shots <= support.max_shots:
        wanted = "shots=0" if support.max_shots == 0 else f"shots >= {support.min_shots}"
        raise refuse(where, spec.text, f"result type {spec.kind!r} needs {wanted} on {device} "
                     f"(this task asks for {shots})", f"run it with {wanted}")
