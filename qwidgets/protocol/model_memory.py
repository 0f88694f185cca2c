"""How much memory a training asks for, estimated from its validated parameters alone, so a
server can refuse at once what would otherwise fail, or take the machine, minutes later.

The figures follow the engine's largest arrays (``qwidgets.sim.engine``): K operators as dense
complex N x N matrices, held a few times over during a step (A, A R, the gradient, the per-chunk
sums); the solvers' chunks of row Hamiltonians, bounded whatever the batch size; for Pauli
models the sparse basis of P strings and, with ANALYTIC weights, the products P_q R (P x N x N
complex, twice: the stack and its transpose) and the P x P Gram matrix with its eigenvectors.
That last term is what makes ``qbits=8, pauli_weight=4`` ask for 7.3 GiB in one allocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import comb
from typing import Any

from qwidgets.errors import ValidationError

COMPLEX = 16
REAL = 8
# two worker threads, each with a chunk of row Hamiltonians (engine.hamiltonian.CHUNK_BYTES)
SOLVER_CHUNKS = 2 * 64 * 2**20
# copies of the K x N x N operator stack alive during a step
STACK_COPIES = 6


def pauli_strings(qbits: int, weight: int) -> int:
    """Pauli strings on ``qbits`` qubits with at most ``weight`` non-identity factors."""
    return sum(comb(qbits, j) * 3**j for j in range(min(weight, qbits) + 1))


def training_memory(model: str, parameters: Mapping[str, Any], rows: int = 0) -> int:
    """Bytes a training of ``parameters`` (validated ``training_parameters``) needs at its
    peak; ``rows`` adds the dataset's own arrays once it is known."""
    spec = parameters["model"]
    operators = len(spec["operators"])
    analytic = (parameters.get("weight_optimization_kwargs") or {}).get(
        "optimization_method", "ANALYTIC") == "ANALYTIC"
    if model == "pauli":
        dim = 2 ** int(spec["qbits"])
        count = pauli_strings(int(spec["qbits"]), int(spec["pauli_weight"]))
        # basis: a phase and a column index per string and row (sparse), weights and moments
        extra = count * dim * (COMPLEX + 2 * REAL) + 4 * operators * count * REAL
        if analytic:
            extra += 2 * count * dim * dim * COMPLEX + 3 * count * count * REAL
    else:
        dim = int(spec["dim"])
        axes = int(spec["num_axes"])
        extra = 3 * dim * axes * COMPLEX + 4 * operators * axes * REAL
        if analytic:
            extra += 3 * axes * axes * REAL
    stack = STACK_COPIES * operators * dim * dim * COMPLEX
    data = 4 * rows * operators * REAL
    return stack + extra + SOLVER_CHUNKS + data


def check_training_memory(model: str, parameters: Mapping[str, Any], limit: int,
                          rows: int = 0, field: str = "parameters.model") -> int:
    """The estimate, or a ``ValidationError`` naming it and ``limit`` when it is larger."""
    need = training_memory(model, parameters, rows)
    if need <= limit:
        return need
    spec = parameters["model"]
    if model == "pauli":
        shape = (f"qbits={spec['qbits']}, pauli_weight={spec['pauli_weight']}: "
                 f"{pauli_strings(int(spec['qbits']), int(spec['pauli_weight']))} Pauli strings "
                 f"of {2 ** int(spec['qbits'])}x{2 ** int(spec['qbits'])}")
        fix = ("lower pauli_weight or qbits, or train the weights with GRAD or ADAM instead of "
               "ANALYTIC (no dense Gram matrix)")
    else:
        shape = f"dim={spec['dim']}, num_axes={spec['num_axes']}"
        fix = "lower dim or num_axes"
    shape += f", {len(spec['operators'])} operators" + (f", {rows} rows" if rows else "")
    raise ValidationError(field, shape, f"this training needs about {_size(need)} of memory; "
                          f"the server's limit is {_size(limit)} (--max-model-memory)",
                          fix + ", or start the server with a larger --max-model-memory")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
