"""What the Braket calls send, built once for both ways of sending them: our client's JSON
bodies and boto3's keyword arguments (``provider``) carry the same fields."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from qwidgets.client.errors import ValidationError

DEFAULT_BUCKET = "qwidgets-results"
OPENQASM_HEADER = {"name": "braket.ir.openqasm.program", "version": "1"}


def program_source(program: Any) -> str:
    """OpenQASM 3 source from a string, or from an amazon-braket-sdk ``Circuit``."""
    if isinstance(program, str):
        return program
    to_ir = getattr(program, "to_ir", None)
    if callable(to_ir):
        from braket.circuits.serialization import IRType

        return str(to_ir(IRType.OPENQASM).source)
    raise ValidationError("program", program, "must be OpenQASM 3 source text or a braket "
                          "Circuit", "pass e.g. 'OPENQASM 3.0; qubit[1] q; h q[0];'")


def device_filters(statuses: Sequence[str] | None,
                   types: Sequence[str] | None) -> list[dict[str, Any]]:
    """SearchDevices filters: only these statuses and device types (None: any)."""
    filters: list[dict[str, Any]] = []
    if statuses:
        filters.append({"name": "deviceStatus", "values": list(statuses)})
    if types:
        filters.append({"name": "deviceType", "values": list(types)})
    return filters


def create_task_request(device_arn: str, source: str, shots: int, *, s3_bucket: str,
                        s3_prefix: str, tags: Mapping[str, str] | None,
                        client_token: str | None) -> dict[str, Any]:
    """CreateQuantumTask's fields for an OpenQASM 3 program."""
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValidationError("shots", shots, "must be a whole number >= 1", "e.g. shots=100")
    request: dict[str, Any] = {
        "deviceArn": device_arn, "shots": shots,
        "action": json.dumps({"braketSchemaHeader": OPENQASM_HEADER, "source": source,
                              "inputs": {}}),
        "deviceParameters": json.dumps({}), "outputS3Bucket": s3_bucket,
        "outputS3KeyPrefix": s3_prefix, "clientToken": client_token or str(uuid.uuid4())}
    if tags:
        request["tags"] = dict(tags)
    return request
