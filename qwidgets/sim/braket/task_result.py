"""A COMPLETED quantum task's ``results.json``: braket-schemas' GateModelTaskResult, what
amazon-braket-sdk's ``task.result()`` parses (``GateModelQuantumTaskResult.from_string``).

Sampled tasks carry their per-shot ``measurements`` (regenerated from the stored counts in the
task's seeded order, the order its sample values were computed in) and ``resultTypes`` with
their values; shots=0 tasks carry only the exact ``resultTypes``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from qwidgets.sim.braket.circuits import seed_for, shot_order
from qwidgets.sim.braket.s3_wire import iso


def measurements(counts: dict[str, int], arn: str) -> list[list[int]]:
    """One row of 0/1 per shot (column j: the j-th measured qubit)."""
    rows = {int(k, 2): [int(b) for b in k] for k in counts}
    return [rows[int(o)] for o in shot_order(counts, seed_for(arn))]


def _measurements_json(counts: dict[str, int], arn: str) -> bytes:
    """``measurements(counts, arn)`` as JSON text, built by numpy: 100k shots of 22 qubits are
    2.2 M numbers, too many to pass through json.dumps on the server's event loop."""
    order = shot_order(counts, seed_for(arn))
    width = len(next(iter(counts)))
    shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
    bits = ((order[:, None] >> shifts) & 1).astype(np.uint8)
    text = np.empty((len(order), 2 * width + 2), dtype=np.uint8)
    text[:, 0], text[:, -2], text[:, -1] = ord("["), ord("]"), ord(",")
    text[:, 1:-2:2] = bits + ord("0")
    text[:, 2:-2:2] = ord(",")
    return b"[" + text.tobytes()[:-1] + b"]"


def result_json(row: dict[str, Any]) -> bytes:
    """``result_document(row)`` serialized, its measurements written without json.dumps."""
    document = result_document(row, with_measurements=False)
    if int(row["result"]["shots"]) == 0:
        return json.dumps(document).encode()
    head = json.dumps(document).encode()
    rows = _measurements_json(row["result"]["counts"], row["arn"])
    return head[:-1] + b', "measurements": ' + rows + b"}"


def result_document(row: dict[str, Any], *, with_measurements: bool = True) -> dict[str, Any]:
    result = row["result"]
    shots = int(result["shots"])
    document: dict[str, Any] = {
        "braketSchemaHeader": {"name": "braket.task_result.gate_model_task_result", "version": "1"},
        "taskMetadata": {
            "braketSchemaHeader": {"name": "braket.task_result.task_metadata", "version": "1"},
            "id": row["arn"], "shots": shots, "deviceId": row["device_arn"],
            "createdAt": iso(row["created"]),
            "endedAt": None if row["ended"] is None else iso(row["ended"]),
            "status": "COMPLETED"},
        "additionalMetadata": {"action": json.loads(row["action"])},
    }
    if shots > 0:
        if with_measurements:
            document["measurements"] = measurements(result["counts"], row["arn"])
        document["measuredQubits"] = result["measuredQubits"]
    if result.get("resultTypes"):
        document["resultTypes"] = result["resultTypes"]
    return document
