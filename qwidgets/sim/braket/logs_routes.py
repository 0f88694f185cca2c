"""The CloudWatch Logs calls amazon-braket-sdk's ``AwsQuantumJob.logs()`` makes, over the job
output the runner stored (json 1.1, ``POST /`` with ``X-Amz-Target: Logs_20140328.<Op>``):

- DescribeLogStreams in log group ``/aws/braket/jobs``: one stream per job that has written
  output, named ``<jobName>/algo-1-<creation time>`` like Braket's;
- GetLogEvents: the job's lines, paged with ``nextForwardToken`` / ``nextBackwardToken``; a
  forward page past the end is empty and repeats its token, which ends the SDK's loop;
- StartQuery / GetQueryResults (Logs Insights) for the queries ``AwsQuantumJob.metrics()``
  sends: ``fields`` of ``@timestamp``, ``@message``, ``@logStream``, then ``filter <field>
  like /regex/`` clauses. A query runs at once; its results stay for ``QUERY_TTL_S``.

A token sees only its own jobs' streams (and queries).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime, timezone
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
    if operation == "StartQuery":
        return {"queryId": _QUERIES.start(ns, _run_query(jobs, ns, body))}
    if operation == "GetQueryResults":
        return _QUERIES.results(ns, body.get("queryId"))
    raise AwsError(400, "UnknownOperationException",
                   f"CloudWatch Logs operation {operation!r} is not served here; this server "
                   "answers DescribeLogStreams, GetLogEvents, StartQuery and GetQueryResults "
                   "for hybrid-job logs")


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
    # isdigit alone accepts "²", which int() refuses
    if not isinstance(token, str) or not (token.isascii() and token.isdigit()) or len(token) > 18:
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
            and token[2:].isascii() and token[2:].isdigit() and len(token) <= 2 + _TOKEN_DIGITS:
        return token[0], int(token[2:])
    raise AwsError(400, "InvalidParameterException",
                   f"The specified nextToken is invalid: {token!r}")


# ---------------------------------------------------------------- Logs Insights

QUERY_TTL_S = 15 * 60
MAX_QUERIES = 100  # kept at once, over all tokens
_FIELDS = ("@timestamp", "@message", "@logStream")
_CLAUSE = re.compile(r"^filter\s+(@\w+)\s+like\s+/(.*)/$")


class _Queries:
    """Finished queries' results by id, for GetQueryResults, each visible to its token only."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[str, float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def start(self, ns: str, answer: dict[str, Any]) -> str:
        query_id = str(uuid.uuid4())
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (_, t, _) in self._done.items() if now - t > QUERY_TTL_S]:
                del self._done[old]
            while len(self._done) >= MAX_QUERIES:
                del self._done[next(iter(self._done))]
            self._done[query_id] = (ns, now, answer)
        return query_id

    def results(self, ns: str, query_id: Any) -> dict[str, Any]:
        with self._lock:
            found = self._done.get(query_id) if isinstance(query_id, str) else None
        if found is None or found[0] != ns:
            raise AwsError(400, "ResourceNotFoundException",
                           f"The query {query_id!r} does not exist (or has expired)")
        return found[2]


_QUERIES = _Queries()


def _run_query(jobs: JobStore, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    groups = body.get("logGroupNames") or [body.get("logGroupName")]
    if groups != [LOG_GROUP]:
        raise AwsError(400, "ResourceNotFoundException", f"Log group {groups!r} does not exist "
                       f"(hybrid-job logs are in {LOG_GROUP!r})")
    start = _int(body, "startTime", None)
    end = _int(body, "endTime", None)
    if start is None or end is None or start > end:
        raise AwsError(400, "InvalidParameterException",
                       "startTime and endTime (epoch seconds, start <= end) are required")
    limit = _int(body, "limit", 1000, 1, 10_000) or 1000
    fields, filters = _parse_query(body.get("queryString"))
    rows: list[tuple[int, str, str]] = []
    for row in jobs.named(ns, ""):
        stream = stream_name(row)
        if not all(pattern.search(stream) for name, pattern in filters if name == "@logStream"):
            continue
        for line in jobs.logs(row["arn"], start_ms=start * 1000, end_ms=end * 1000 + 999,
                              limit=10_000):
            if all(pattern.search(line["message"]) for name, pattern in filters
                   if name == "@message"):
                rows.append((line["time"], line["message"], stream))
    # by time, and lines of one millisecond in the order they were logged (a sort on the
    # whole row put them in the order of their text: metrics came back out of order)
    rows.sort(key=lambda r: r[0])
    results = [[{"field": name, "value": _value(name, row)} for name in fields]
               for row in rows[:limit]]
    return {"status": "Complete", "results": results,
            "statistics": {"recordsMatched": float(len(rows)), "recordsScanned": float(len(rows)),
                           "bytesScanned": float(sum(len(r[1]) for r in rows))}}


def _parse_query(query: Any) -> tuple[list[str], list[tuple[str, re.Pattern[str]]]]:
    """``fields a, b | filter @x like /re/ | ...``: the subset of Logs Insights the SDK's
    metrics fetcher writes."""
    if not isinstance(query, str):
        raise AwsError(400, "MalformedQueryException", "queryString is required")
    # '|' splits the clauses, except escaped inside a regex: the SDK escapes '/' only
    clauses = [c.strip() for c in query.split("|")]
    head = clauses[0]
    if not head.startswith("fields "):
        raise AwsError(400, "MalformedQueryException",
                       f"this server runs 'fields ... | filter <field> like /regex/' queries "
                       f"only, got {query[:200]!r}")
    fields = [f.strip() for f in head[len("fields "):].split(",")]
    filters: list[tuple[str, re.Pattern[str]]] = []
    for clause in clauses[1:]:
        found = _CLAUSE.match(clause)
        if found is None or found.group(1) not in _FIELDS or any(f not in _FIELDS
                                                                  for f in fields):
            raise AwsError(400, "MalformedQueryException", f"unsupported clause {clause[:200]!r}"
                           f" (fields and filters take {', '.join(_FIELDS)} here)")
        try:
            filters.append((found.group(1), re.compile(found.group(2).replace("\\/", "/"))))
        except re.error as exc:
            raise AwsError(400, "MalformedQueryException", f"bad regex in {clause[:200]!r}: "
                           f"{exc}") from None
    return fields, filters


def _value(name: str, row: tuple[int, str, str]) -> str:
    if name == "@timestamp":  # Logs Insights' format, UTC with milliseconds
        when = datetime.fromtimestamp(row[0] / 1000, timezone.utc)
        return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{row[0] % 1000:03d}"
    return row[1] if name == "@message" else row[2]

