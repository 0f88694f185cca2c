"""Hybrid jobs in the simulator's SQLite file: two tables of their own (jobs, events) on the
store's shared connection. Every status change is a guarded UPDATE and writes its event in the
same transaction, so a concurrent cancel and a finishing job never both win.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from qwidgets.protocol.hybrid_jobs import CANCELLING, MAX_EVENTS, QUEUED, RUNNING, JobSpec
from qwidgets.sim.server.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hybrid_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ns TEXT NOT NULL, arn TEXT NOT NULL UNIQUE, name TEXT NOT NULL, client_token TEXT,
    device TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, failure_reason TEXT,
    result TEXT, metrics TEXT NOT NULL DEFAULT '{}', attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, started REAL, ended REAL,
    UNIQUE (ns, name)
);
CREATE INDEX IF NOT EXISTS hybrid_jobs_queue ON hybrid_jobs (status, device, seq);
CREATE TABLE IF NOT EXISTS hybrid_job_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL, type TEXT NOT NULL, time REAL NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hybrid_job_events_arn ON hybrid_job_events (arn, seq);
CREATE TABLE IF NOT EXISTS hybrid_job_logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL, time INTEGER NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hybrid_job_logs_arn ON hybrid_job_logs (arn, seq);
"""

_COLUMNS = ("seq, ns, arn, name, client_token, device, spec, status, failure_reason, result, "
            "metrics, attempts, created, started, ended")
MAX_METRIC_POINTS = 2000  # per metric; older points are thinned out


class JobExistsError(Exception):
    """A job of that name already exists for this caller."""


class JobStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.install(_SCHEMA)

    # ------------------------------------------------------------ reads

    def job(self, arn: str, ns: str | None = None) -> dict[str, Any] | None:
        """The job, only if it belongs to ``ns`` (when given)."""
        row = self.store.first(f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE arn=?", (arn,))
        if row is None or (ns is not None and row["ns"] != ns):
            return None
        return _decode(row)

    def by_client_token(self, ns: str, token: str) -> dict[str, Any] | None:
        row = self.store.first(f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE ns=? AND "
                               "client_token=?", (ns, token))
        return None if row is None else _decode(row)

    def events(self, arn: str, limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
        """The latest ``limit`` events, oldest first."""
        rows = self.store.fetch("SELECT type, time, message FROM hybrid_job_events WHERE arn=? "
                                "ORDER BY seq DESC LIMIT ?", (arn, limit))
        return [{"type": r["type"], "time": r["time"], "message": r["message"]}
                for r in reversed(rows)]

    def queued_jobs(self) -> list[dict[str, Any]]:
        rows = self.store.fetch(f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE status=? ORDER BY seq",
                                (QUEUED,))
        return [_decode(r) for r in rows]

    def unfinished(self) -> list[dict[str, Any]]:
        rows = self.store.fetch(f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE status IN (?,?) "
                                "ORDER BY seq", (RUNNING, CANCELLING))
        return [_decode(r) for r in rows]

    def search(self, ns: str, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The caller's jobs, newest first; ``after`` a seq to continue below."""
        rows = self.store.fetch(
            f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE ns=? AND seq<? ORDER BY seq DESC LIMIT ?",
            (ns, after or 2**62, limit))
        return [_decode(r) for r in rows]

    def named(self, ns: str, prefix: str) -> list[dict[str, Any]]:
        """The caller's jobs whose name starts with ``prefix``, by name."""
        rows = self.store.fetch(f"SELECT {_COLUMNS} FROM hybrid_jobs WHERE ns=? AND name>=? "
                                "ORDER BY name LIMIT 1000", (ns, prefix))
        return [_decode(r) for r in rows if r["name"].startswith(prefix)]

    def logs(self, arn: str, *, after: int = 0, before: int | None = None, start_ms: int = 0,
             end_ms: int | None = None, limit: int = 10_000,
             newest: bool = False) -> list[dict[str, Any]]:
        """Log lines (``seq``, ``time`` in ms, ``message``) with a seq in (after, before) and a
        time in [start_ms, end_ms], oldest first; ``newest``: the last ``limit`` of them."""
        rows = self.store.fetch(
            "SELECT seq, time, message FROM hybrid_job_logs WHERE arn=? AND seq>? AND seq<? AND "
            f"time>=? AND time<=? ORDER BY seq {'DESC' if newest else 'ASC'} LIMIT ?",
            (arn, after, before if before is not None else 2**62, start_ms,
             end_ms if end_ms is not None else 2**62, limit))
        out = [dict(r) for r in rows]
        return out[::-1] if newest else out

    def log_summary(self, arn: str) -> dict[str, Any]:
        row = self.store.first("SELECT COUNT(*) AS n, MIN(time) AS first, MAX(time) AS last, "
                               "COALESCE(SUM(LENGTH(message)), 0) AS bytes FROM hybrid_job_logs "
                               "WHERE arn=?", (arn,))
        return dict(row) if row is not None else {"n": 0, "first": None, "last": None, "bytes": 0}

    # ------------------------------------------------------------ writes

    def add_logs(self, arn: str, lines: list[tuple[int, str]]) -> None:
        """Append ``(time in ms, message)`` lines of the job's output."""
        if not lines:
            return
        with self.store.transaction() as conn:
            conn.executemany("INSERT INTO hybrid_job_logs (arn, time, message) VALUES (?,?,?)",
                             [(arn, when, message) for when, message in lines])

    def add(self, ns: str, arn: str, spec: JobSpec, client_token: str | None,
            event: tuple[str, str]) -> dict[str, Any]:
        now = time.time()
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    "INSERT INTO hybrid_jobs (ns, arn, name, client_token, device, spec, status,"
                    " created) VALUES (?,?,?,?,?,?,?,?)",
                    (ns, arn, spec.name, client_token, spec.device, json.dumps(spec.to_wire()),
                     QUEUED, now))
                _event(conn, arn, *event, now)
        except sqlite3.IntegrityError as exc:
            raise JobExistsError(spec.name) from exc
        found = self.job(arn)
        assert found is not None
        return found

    def transition(self, arn: str, status: str, *, when: tuple[str, ...],
                   event: tuple[str, str] | None = None, failure_reason: str | None = None,
                   started: bool = False, ended: bool = False, attempt: bool = False) -> bool:
        """Move to ``status`` only from one of ``when``, writing ``event`` with it; True if the
        job changed."""
        now = time.time()
        sets = ["status=?"]
        args: list[Any] = [status]
        if failure_reason is not None:
            sets.append("failure_reason=?")
            args.append(failure_reason)
        if started:
            sets.append("started=?")
            args.append(now)
        if ended:
            sets.append("ended=?")
            args.append(now)
        if attempt:
            sets.append("attempts=attempts+1")
        marks = ",".join("?" * len(when))
        with self.store.transaction() as conn:
            changed = conn.execute(
                f"UPDATE hybrid_jobs SET {', '.join(sets)} WHERE arn=? AND status IN ({marks})",
                (*args, arn, *when)).rowcount
            if changed and event is not None:
                _event(conn, arn, *event, now)
        return changed > 0

    def add_event(self, arn: str, kind: str, message: str) -> None:
        with self.store.transaction() as conn:
            _event(conn, arn, kind, message, time.time())

    def requeue(self, arn: str, message: str, *, release_attempt: bool) -> bool:
        """Back to QUEUED (it runs again from the start): after a server stop."""
        with self.store.transaction() as conn:
            changed = conn.execute(
                "UPDATE hybrid_jobs SET status=?, started=NULL, attempts=MAX(attempts-?, 0) "
                "WHERE arn=? AND status=?",
                (QUEUED, 1 if release_attempt else 0, arn, RUNNING)).rowcount
            if changed:
                _event(conn, arn, "QUEUED_FOR_EXECUTION", message, time.time())
        return changed > 0

    def set_result(self, arn: str, result: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute("UPDATE hybrid_jobs SET result=? WHERE arn=?", (json.dumps(result), arn))

    def add_metrics(self, arn: str, points: list[tuple[str, float, int, float]]) -> None:
        """Append ``(name, value, iteration, time)`` points."""
        if not points:
            return
        with self.store.transaction() as conn:
            row = conn.execute("SELECT metrics FROM hybrid_jobs WHERE arn=?", (arn,)).fetchone()
            if row is None:
                return
            metrics: dict[str, list[list[float]]] = json.loads(row["metrics"])
            for name, value, iteration, when in points:
                series = metrics.setdefault(name, [])
                series.append([iteration, value, when])
                if len(series) > MAX_METRIC_POINTS:
                    # keep the first point and every other one after it: the shape survives
                    metrics[name] = series[:1] + series[1::2]
            conn.execute("UPDATE hybrid_jobs SET metrics=? WHERE arn=?", (json.dumps(metrics), arn))


def _event(conn: sqlite3.Connection, arn: str, kind: str, message: str, when: float) -> None:
    conn.execute("INSERT INTO hybrid_job_events (arn, type, time, message) VALUES (?,?,?,?)",
                 (arn, kind, when, message))


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["spec"] = json.loads(out["spec"])
    out["metrics"] = json.loads(out["metrics"])
    out["result"] = json.loads(out["result"]) if out["result"] is not None else None
    return out
