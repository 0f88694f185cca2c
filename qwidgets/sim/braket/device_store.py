"""Quantum tasks in the simulator's SQLite store (the same file and connection as the qcog data,
in a table of their own), so tasks and their counts survive a server restart.

Each row belongs to a namespace (the SHA-256 of the caller's token). Status changes are guarded
by the statuses they may come from, which keeps a cancel racing a start consistent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from qwidgets.sim.server.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS braket_tasks (
    ns TEXT NOT NULL, arn TEXT NOT NULL, device_arn TEXT NOT NULL, status TEXT NOT NULL,
    shots INTEGER NOT NULL, action TEXT NOT NULL, device_parameters TEXT NOT NULL,
    output_bucket TEXT NOT NULL, output_directory TEXT NOT NULL, client_token TEXT NOT NULL,
    priority TEXT NOT NULL, job_token TEXT, tags TEXT NOT NULL,
    created REAL NOT NULL, started REAL, ended REAL, failure_reason TEXT, result TEXT,
    PRIMARY KEY (ns, arn)
);
CREATE UNIQUE INDEX IF NOT EXISTS braket_tasks_token ON braket_tasks (ns, client_token);
CREATE INDEX IF NOT EXISTS braket_tasks_status ON braket_tasks (status);
"""

_COLUMNS = ("arn, device_arn, status, shots, action, device_parameters, output_bucket, "
            "output_directory, priority, job_token, tags, created, started, ended, "
            "failure_reason, result")
UNFINISHED = ("CREATED", "QUEUED", "RUNNING", "CANCELLING")


@dataclass(frozen=True)
class NewTask:
    arn: str
    device_arn: str
    shots: int
    action: str  # the OpenQASM program document, as sent
    device_parameters: str
    output_bucket: str
    output_directory: str
    client_token: str
    priority: str = "Normal"
    job_token: str | None = None
    tags: dict[str, str] | None = None


class TaskStore:
    """The ``braket_tasks`` table of a ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.install(_SCHEMA)

    def add(self, ns: str, task: NewTask) -> tuple[dict[str, Any], bool]:
        """Insert a CREATED task; a repeated ``client_token`` returns the first task instead
        (``(row, False)``), which is how boto3's automatic clientToken makes retries safe."""
        with self.store.transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM braket_tasks WHERE ns=? AND "
                               "client_token=?", (ns, task.client_token)).fetchone()
            if row is not None:
                return _row(row), False
            conn.execute(
                "INSERT INTO braket_tasks (ns, arn, device_arn, status, shots, action, "
                "device_parameters, output_bucket, output_directory, client_token, priority, "
                "job_token, tags, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ns, task.arn, task.device_arn, "CREATED", task.shots, task.action,
                 task.device_parameters, task.output_bucket, task.output_directory,
                 task.client_token, task.priority, task.job_token, json.dumps(task.tags or {}),
                 time.time()))
        found = self.get(ns, task.arn)
        assert found is not None
        return found, True

    def get(self, ns: str, arn: str) -> dict[str, Any] | None:
        row = self.store.first(f"SELECT {_COLUMNS} FROM braket_tasks WHERE ns=? AND arn=?",
                               (ns, arn))
        return None if row is None else _row(row)

    def by_output(self, ns: str, bucket: str, directory: str) -> dict[str, Any] | None:
        """The task whose results live in ``s3://bucket/directory/``."""
        row = self.store.first(f"SELECT {_COLUMNS} FROM braket_tasks WHERE ns=? AND "
                               "output_bucket=? AND output_directory=?", (ns, bucket, directory))
        return None if row is None else _row(row)

    def owner(self, arn: str) -> str | None:
        row = self.store.first("SELECT ns FROM braket_tasks WHERE arn=?", (arn,))
        return None if row is None else str(row["ns"])

    def search(self, ns: str, *, statuses: tuple[str, ...] | None = None,
               device_arn: str | None = None, created_after: float | None = None,
               created_before: float | None = None, after_rowid: int = 0,
               limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; returns the rows and the cursor of the next page (None at the end)."""
        where = ["ns=?"]
        args: list[Any] = [ns]
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if device_arn is not None:
            where.append("device_arn=?")
            args.append(device_arn)
        if created_after is not None:
            where.append("created>=?")
            args.append(created_after)
        if created_before is not None:
            where.append("created<=?")
            args.append(created_before)
        if after_rowid:
            where.append("rowid<?")
            args.append(after_rowid)
        rows = self.store.fetch(
            f"SELECT rowid, {_COLUMNS} FROM braket_tasks WHERE {' AND '.join(where)} "
            "ORDER BY rowid DESC LIMIT ?", (*args, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return [_row(r) for r in rows], (int(rows[-1]["rowid"]) if more and rows else None)

    def unfinished(self) -> list[tuple[str, dict[str, Any]]]:
        """``(ns, row)`` of every task a previous server left waiting or running, oldest first."""
        rows = self.store.fetch(
            f"SELECT ns, {_COLUMNS} FROM braket_tasks WHERE status IN "
            f"({','.join('?' * len(UNFINISHED))}) ORDER BY created", UNFINISHED)
        return [(str(r["ns"]), _row(r)) for r in rows]

    def move(self, ns: str, arn: str, status: str, *, when: tuple[str, ...],
             failure_reason: str | None = None, result: dict[str, Any] | None = None) -> bool:
        """Set ``status`` if the task is in one of ``when``; True if it changed. Entering
        RUNNING stamps ``started``, a terminal status stamps ``ended``."""
        now = time.time()
        sets = ["status=?"]
        args: list[Any] = [status]
        if status == "RUNNING":
            sets.append("started=?")
            args.append(now)
        if status in ("COMPLETED", "FAILED", "CANCELLED"):
            sets.append("ended=?")
            args.append(now)
        if failure_reason is not None:
            sets.append("failure_reason=?")
            args.append(failure_reason)
        if result is not None:
            sets.append("result=?")
            args.append(json.dumps(result))
        marks = ",".join("?" * len(when))
        with self.store.transaction() as conn:
            changed = conn.execute(
                f"UPDATE braket_tasks SET {', '.join(sets)} WHERE ns=? AND arn=? "
                f"AND status IN ({marks})", (*args, ns, arn, *when)).rowcount
        return changed > 0


def _row(row: Any) -> dict[str, Any]:
    out = {k: v for k, v in dict(row).items() if k not in ("rowid", "ns")}
    out["tags"] = json.loads(out["tags"])
    out["result"] = json.loads(out["result"]) if out["result"] else None
    return out
