"""The CloudWatch Logs calls amazon-braket-sdk's ``AwsQuantumJob.logs()`` makes, over the job
output the runner stored (json 1.1, ``POST /`` with ``X-Amz-Target: Logs_20140328.<Op>``):

- DescribeLogStreams in log group ``/aws/braket/jobs``: one stream per job that has written
  output, named ``<jobName>/algo-1-<creation time>`` like Braket's;
- GetLogEvents: the job's lines, paged with ``nextForwardToken`` / ``nextBackwardToken``; a
  forward page past the end is empty and repeats its token, which ends the SDK's loop.

A token sees only its own jobs' streams.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.braket.job_store import JobStore

TARGET_PREFIX = "Logs_20140328."
LOG_GROUP = "/aws/braket/jobs"
JOBS = web.AppKey("qwidgets_logs_job_store", JobStore)
MAX_EVENTS = 10_000  # GetLogEvents' largest page, as CloudWatch's
_TOKEN_DIGITS = 56


def stream_name(row: dict[str, Any]) -> str:
    return f"{row['name']}/algo-1-{int(row['created'])}"


async def handle(request: web.Request, ns: str, operation: str,
                 body: dict[str, Any]) -> dict[str, Any]:
    jobs = request.app[JOBS]
    if operation == "DescribeLogStreams":
        return _describe_log_streams(jobs, ns, body)
    if operation == "GetLogEvents":
        return _get_log_events(jobs, ns, body)
    raise AwsError(400, "UnknownOperationException",
                   f"CloudWatch Logs operation {operation!r} is not served here; this server "
                   "answers DescribeLogStreams and GetLogEvents for hybrid-job logs")


def _group(body: dict[str, Any]) -> None:
    group = body.get("logGroupName")
    if group != LOG_GROUP:
        raise AwsError(400, "ResourceNotFoundException", f"The specified log group does not "
                       f"exist: {group!r} (hybrid-job logs are in {LOG_GROUP!r})")


def _int(body: dict[str, Any], name: str, default: int | None, low: int = 0,
         high: int = 2**62) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AwsError(400, "InvalidParameterException",
                       f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _describe_log_streams(jobs: JobStore, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    _group(body)
    prefix = body.get("logStreamNamePrefix", "")
    if not isinstance(prefix, str):
        raise AwsError(400, "InvalidParameterException", "logStreamNamePrefix must be a string")
    if body.get("orderBy", "LogStreamName") != "LogStreamName" and prefix:
        raise AwsError(400, "InvalidParameterException",
                       "Cannot order by LastEventTime with a logStreamNamePrefix.")
    limit = _int(body, "limit", 50, 1, 50) or 50
    token = body.get("nextToken", "0")
    if not isinstance(token, str) or not token.isdigit():
        raise AwsError(400, "InvalidParameterException",
                       f"The specified nextToken is invalid: {token!r}")
    start = int(token)
    streams = []
    for row in jobs.named(ns, prefix.partition("/")[0]):
        name = stream_name(row)
        if not name.startswith(prefix):
            continue
        summary = jobs.log_summary(row["arn"])
        if not summary["n"]:
            continue  # a stream exists once the job wrote something, as on CloudWatch
        streams.append({
            "logStreamName": name, "creationTime": int(row["created"] * 1000),
            "firstEventTimestamp": summary["first"], "lastEventTimestamp": summary["last"],
            "lastIngestionTime": summary["last"], "storedBytes": summary["bytes"],
            "arn": f"arn:aws:logs:::log-group:{LOG_GROUP}:log-stream:{name}"})
    streams.sort(key=lambda s: s["logStreamName"], reverse=bool(body.get("descending")))
    page = streams[start:start + limit]
    out: dict[str, Any] = {"logStreams": page}
    if start + limit < len(streams):
        out["nextToken"] = str(start + limit)
    return out


def _get_log_events(jobs: JobStore, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    _group(body)
    name = body.get("logStreamName")
    row = next((r for r in jobs.named(ns, str(name).partition("/")[0])
                if stream_name(r) == name), None) if isinstance(name, str) else None
    if row is None:
        raise AwsError(400, "ResourceNotFoundException",
                       f"The specified log stream does not exist: {name!r}")
    limit = _int(body, "limit", MAX_EVENTS, 1, MAX_EVENTS) or MAX_EVENTS
    start_ms = _int(body, "startTime", 0) or 0
    end_ms = _int(body, "endTime", None)
    token = body.get("nextToken")
    head = bool(body.get("startFromHead", False))

    def lines(after: int = 0, before: int | None = None,
              newest: bool = False) -> list[dict[str, Any]]:
        return jobs.logs(row["arn"], after=after, before=before, start_ms=start_ms,
                         end_ms=end_ms, limit=limit, newest=newest)

    if token is None:
        events = lines(newest=not head)
        forward = events[-1]["seq"] if events else 0
        backward = events[0]["seq"] if events else 0
    else:
        direction, seq = _token(token)
        if direction == "f":
            events = lines(after=seq)
            forward = events[-1]["seq"] if events else seq
            backward = events[0]["seq"] if events else seq + 1
        else:
            events = lines(before=seq, newest=True)
            forward = events[-1]["seq"] if events else seq - 1
            backward = events[0]["seq"] if events else seq
    return {
        "events": [{"timestamp": e["time"], "message": e["message"], "ingestionTime": e["time"]}
                   for e in events],
        "nextForwardToken": f"f/{forward:0{_TOKEN_DIGITS}d}",
        "nextBackwardToken": f"b/{backward:0{_TOKEN_DIGITS}d}",
    }


def _token(token: Any) -> tuple[str, int]:
    if isinstance(token, str) and len(token) > 2 and token[0] in "fb" and token[1] == "/" \
            and token[2:].isdigit():
        return token[0], int(token[2:])
    raise AwsError(400, "InvalidParameterException",
                   f"The specified nextToken is invalid: {token!r}")
