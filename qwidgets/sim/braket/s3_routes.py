"""The result objects of quantum tasks as a minimal S3 GetObject under ``/s3/{bucket}/{key}``
(point boto3's S3 endpoint at ``<server>/s3``): the ``results.json`` amazon-braket-sdk
downloads, computed from the stored counts. Nothing else of S3 exists here.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from aiohttp import web

from qwidgets.sim.braket.auth import braket_namespace
from qwidgets.sim.braket.runtime import RUNTIME
from qwidgets.sim.braket.wire import BraketError

RESULTS_FILE = "results.json"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/s3/{bucket}/{key:.+}", s3_get_object)


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{xml_escape(message)}</Message></Error>")
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


async def s3_get_object(request: web.Request) -> web.Response:
    """``results.json`` of a COMPLETED task, in braket-schemas' GateModelTaskResult shape, for
    amazon-braket-sdk's ``task.result()``; the exact counts travel as measurement
    probabilities (count / shots), from which the SDK rebuilds the same counts."""
    try:
        ns = await braket_namespace(request)
    except BraketError as exc:
        return _s3_error(403, "AccessDenied" if exc.code != "InvalidSignatureException"
                         else "SignatureDoesNotMatch", exc.message)
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    directory, _, name = key.rpartition("/")
    row = request.app[RUNTIME].tasks.by_output(ns, bucket, directory)
    if row is None or name != RESULTS_FILE or row["result"] is None:
        return _s3_error(404, "NoSuchKey", f"The specified key does not exist: {key}")
    return web.json_response(_result_document(row))


def _result_document(row: dict[str, Any]) -> dict[str, Any]:
    result = row["result"]
    shots = int(result["shots"])
    action = json.loads(row["action"])
    return {
        "braketSchemaHeader": {"name": "braket.task_result.gate_model_task_result", "version": "1"},
        "measurementProbabilities": {k: v / shots for k, v in result["counts"].items()},
        "measuredQubits": result["measuredQubits"],
        "measurementsCopiedFromDevice": False,
        "measurementProbabilitiesCopiedFromDevice": True,
        "taskMetadata": {
            "braketSchemaHeader": {"name": "braket.task_result.task_metadata", "version": "1"},
            "id": row["arn"], "shots": shots, "deviceId": row["device_arn"],
            "createdAt": _iso(row["created"]), "endedAt": _iso(row["ended"]),
            "status": "COMPLETED"},
        "additionalMetadata": {"action": action},
    }


def _iso(value: float | None) -> str | None:
    """ISO 8601 with milliseconds: braket-schemas allows at most 24 characters."""
    if value is None:
        return None
    when = datetime.fromtimestamp(value, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
