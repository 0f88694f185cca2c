"""A COMPLETED quantum task's ``results.json``: braket-schemas' GateModelTaskResult, what
amazon-braket-sdk's ``task.result()`` parses (``GateModelQuantumTaskResult.from_string``).

Sampled tasks carry their per-shot ``measurements`` (regenerated from the stored counts in the
task's seeded order, the order its sample values were computed in) and ``resultTypes`` with
their values; shots=0 tasks carry only the exact ``resultTypes``.
"""

from __future__ import annotations

import json
from typing import Any

from qwidgets.sim.braket.circuits import seed_for, shot_order
from qwidgets.sim.braket.s3_wire import iso


def measurements(counts: dict[str, int], arn: str) -> list[list[int]]:
    """One row of 0/1 per shot (column j: the j-th measured qubit)."""
    rows = {int(k, 2): [int(b) for b in k] for k in counts}
    return [rows[int(o)] for o in shot_order(counts, seed_for(arn))]


def result_document(row: dict[str, Any]) -> dict[str, Any]:
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
        document["measurements"] = measurements(result["counts"], row["arn"])
        document["measuredQubits"] = result["measuredQubits"]
    if result.get("resultTypes"):
        document["resultTypes"] = result["resultTypes"]
    return document
