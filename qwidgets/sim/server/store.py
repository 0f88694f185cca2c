"""The simulator server's persistence: one SQLite file holding datasets, training parameters,
models (status, progress, loss, weights, checkpoints) and idempotency records.

Every row belongs to a namespace, the SHA-256 of the bearer token (the token itself is never
stored). One connection guarded by a lock serves both the event loop and the training threads:
each statement is short, and WAL mode lets a second process read the file meanwhile.

The directory is made 0700 and the database 0600 (SQLite gives its WAL and shared-memory files
the database's mode): datasets and trained models are the users' data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwidgets.sim.server.dirlock import DirLock
from qwidgets.sim.server.limits import QuotaExceededError, Quotas

log = logging.getLogger("qwidgets.sim.server.store")

DB_NAME = "qwidgets-sim.sqlite3"
IDEMPOTENCY_TTL_S = 24 * 3600

# Statuses in which a training still has work to do (and is resumed after a restart).
ACTIVE = ("pending", "processing")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    ns TEXT NOT NULL, guid TEXT NOT NULL,
    format TEXT NOT NULL, source TEXT NOT NULL, project_guid TEXT, name TEXT,
    csv BLOB NOT NULL, indexing TEXT NOT NULL, n_rows INTEGER NOT NULL, columns TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (ns, guid)
);
CREATE TABLE IF NOT EXISTS training_parameters (
    ns TEXT NOT NULL, guid TEXT NOT NULL,
    model TEXT NOT NULL, parameters TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (ns, guid)
);
CREATE TABLE IF NOT EXISTS models (
    ns TEXT NOT NULL, guid TEXT NOT NULL,
    dataset_guid TEXT NOT NULL, training_parameters_guid TEXT NOT NULL,
    qcog_version TEXT NOT NULL, status TEXT NOT NULL,
    loss TEXT, training_completion INTEGER NOT NULL DEFAULT 0,
    current_batch_completion INTEGER NOT NULL DEFAULT 0, progress TEXT NOT NULL,
    failure_reason TEXT, weights BLOB, checkpoint BLOB, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (ns, guid)
);
CREATE INDEX IF NOT EXISTS models_status ON models (status);
CREATE TABLE IF NOT EXISTS idempotency (
    ns TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (ns, key)
);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created);
"""

_MODEL_COLUMNS = (
    "guid, dataset_guid, training_parameters_guid, qcog_version, status, loss, "
    "training_completion, current_batch_completion, progress, failure_reason, attempts")


def namespace(token: str) -> str:
    """The namespace of a token: its SHA-256, so the database never holds a usable token.
    A token that is not valid text (a header's stray byte arrives as a surrogate) still has
    one, which matches no accepted token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def private_directory(directory: Path) -> None:
    """Create ``directory`` as 0700; tighten an existing one that is empty or already holds
    a store. Any other existing directory (``--data-dir /tmp``) is left as it is, with a
    warning when others can read it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = directory.stat().st_mode & 0o777
    if not mode & 0o077:
        return
    if not any(directory.iterdir()) or (directory / DB_NAME).exists():
        os.chmod(directory, 0o700)
    else:
        log.warning("data directory %s is readable by other users (mode %o); its database "
                    "is 0600, but consider a directory of its own", directory, mode)


def _private_file(path: Path) -> None:
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    content_type: str
    body: bytes


class Store:
    """Thread-safe access to the simulator's SQLite file in ``directory``."""

    def __init__(self, directory: str | Path, *, exclusive: bool = True) -> None:
        """``exclusive`` locks the directory (``DataDirInUseError`` if another server has it)."""
        self.directory = Path(directory)
        private_directory(self.directory)
        self.path = self.directory / DB_NAME
        self._dirlock = DirLock(self.directory)
        if exclusive:
            self._dirlock.acquire()
        self._lock = threading.RLock()
        # Decoded model rows, refilled after every write to the row: status polls then never
        # touch SQLite, whose calls release the GIL and leave a polled server thread waiting
        # for the notebook's threads to give it back.
        self._models: dict[tuple[str, str], dict[str, Any]] = {}
        _private_file(self.path)
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self.install(_SCHEMA)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ------------------------------------------------------------ queries
    # The one way in for every table of this file, the qcog ones here and those other modules
    # keep (``braket.device_store``, ``braket.job_store``, ``federated.store``): one lock, one
    # connection, one WAL.

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the store is closed")
            yield self._conn

    def fetch(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows of one read statement, run under the store's lock."""
        with self._connection() as conn:
            return conn.execute(sql, args).fetchall()

    def first(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """The first row of one read statement (None if there is none)."""
        with self._connection() as conn:
            row: sqlite3.Row | None = conn.execute(sql, args).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed when the block ends and rolled
        back if it raises. The store's lock is held throughout, so no read in another thread
        sees it half done."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def install(self, schema: str) -> None:
        """Create the tables and indexes of ``schema`` (``;``-separated ``IF NOT EXISTS``
        statements) in one transaction: a module's tables appear together or not at all."""
        with self.transaction() as conn:
            for statement in _statements(schema):
                conn.execute(statement)

    def _run(self, sql: str, args: tuple[Any, ...]) -> int:
        with self.transaction() as conn:
            return conn.execute(sql, args).rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._models.clear()
            self._dirlock.release()

    @property
    def closed(self) -> bool:
        return self._conn is None

    # ------------------------------------------------------------ datasets

    def add_dataset(
        self, ns: str, *, csv: str, indexing: list[int], n_rows: int, columns: list[str],
        format: str = "dataframe", source: str = "client", project_guid: str | None = None,
        name: str | None = None, quotas: Quotas | None = None,
    ) -> dict[str, Any]:
        guid = new_guid()
        blob = csv.encode()
        with self.transaction() as conn:  # the quota's check and the insert in one step
            if quotas is not None:
                self._check_dataset_quota(conn, ns, len(blob), quotas)
            conn.execute(
                "INSERT INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (ns, guid, format, source, project_guid, name, blob, json.dumps(indexing),
                 n_rows, json.dumps(columns), time.time()))
        found = self.dataset(ns, guid)
        assert found is not None
        return found

    def check_dataset_quota(self, ns: str, size: int, quotas: Quotas) -> None:
        """Refuse early, before a dataset is parsed, what ``add_dataset`` would refuse."""
        with self._connection() as conn:
            self._check_dataset_quota(conn, ns, size, quotas)

    @staticmethod
    def _check_dataset_quota(conn: sqlite3.Connection, ns: str, size: int,
                             quotas: Quotas) -> None:
        count, stored = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(csv)), 0) FROM datasets WHERE ns=?",
            (ns,)).fetchone()
        if count >= quotas.max_datasets:
            raise QuotaExceededError(403, "dataset", f"this token already stores {count} "
                                     f"datasets, its quota ({quotas.max_datasets})",
                                     "reuse a stored dataset (preloaded_data(guid)), or ask "
                                     "the server's operator for a larger --max-datasets")
        if stored + size > quotas.max_dataset_bytes:
            raise QuotaExceededError(403, "dataset", f"this token stores {stored} bytes of "
                                     f"datasets; {size} more would pass its quota of "
                                     f"{quotas.max_dataset_bytes} bytes",
                                     "reuse a stored dataset, or ask the server's operator "
                                     "for a larger --max-dataset-storage-mb")

    def check_model_quota(self, ns: str, quotas: Quotas) -> None:
        """Refuse a new training past the token's quotas: stored models (403) or unfinished
        trainings (429: one that ends frees its place)."""
        count, active = self.first(
            "SELECT COUNT(*), COALESCE(SUM(status IN ('pending', 'processing', "
            "'cancelled_pending')), 0) FROM models WHERE ns=?", (ns,)) or (0, 0)
        if count >= quotas.max_models:
            raise QuotaExceededError(403, "model", f"this token already has {count} models, "
                                     f"its quota ({quotas.max_models})",
                                     "reuse a trained model (preloaded_model(guid)), or ask "
                                     "the server's operator for a larger --max-models")
        if active >= quotas.max_active_trainings:
            raise QuotaExceededError(429, "model", f"this token has {active} trainings "
                                     f"pending or running, its quota "
                                     f"({quotas.max_active_trainings})",
                                     "wait for one to finish (or cancel one), then retry; "
                                     "the operator sets --max-active-trainings")

    def dataset(self, ns: str, guid: str) -> dict[str, Any] | None:
        row = self.first(
            "SELECT guid, format, source, project_guid, name, n_rows, columns FROM datasets "
            "WHERE ns=? AND guid=?", (ns, guid))
        if row is None:
            return None
        out = dict(row)
        out["columns"] = json.loads(out["columns"])
        return out

    def dataset_csv(self, ns: str, guid: str) -> tuple[str, list[int]] | None:
        row = self.first("SELECT csv, indexing FROM datasets WHERE ns=? AND guid=?", (ns, guid))
        if row is None:
            return None
        return bytes(row["csv"]).decode(), json.loads(row["indexing"])

    # ------------------------------------------------------------ training parameters

    def add_training_parameters(
        self, ns: str, model: str, parameters: dict[str, Any]) -> dict[str, Any]:
        guid = new_guid()
        self._run("INSERT INTO training_parameters VALUES (?,?,?,?,?)",
                  (ns, guid, model, json.dumps(parameters), time.time()))
        return {"guid": guid, "model": model, "parameters": parameters}

    def training_parameters(self, ns: str, guid: str) -> dict[str, Any] | None:
        row = self.first("SELECT guid, model, parameters FROM training_parameters "
                        "WHERE ns=? AND guid=?", (ns, guid))
        if row is None:
            return None
        return {"guid": row["guid"], "model": row["model"],
                "parameters": json.loads(row["parameters"])}

    # ------------------------------------------------------------ models

    def add_model(
        self, ns: str, *, dataset_guid: str, training_parameters_guid: str,
        qcog_version: str, progress: dict[str, int],
    ) -> dict[str, Any]:
        guid = new_guid()
        now = time.time()
        self._run(
            "INSERT INTO models (ns, guid, dataset_guid, training_parameters_guid, qcog_version,"
            " status, progress, created, updated) VALUES (?,?,?,?,?,?,?,?,?)",
            (ns, guid, dataset_guid, training_parameters_guid, qcog_version, "pending",
             json.dumps(progress), now, now))
        found = self.model(ns, guid)
        assert found is not None
        return found

    def model(self, ns: str, guid: str) -> dict[str, Any] | None:
        with self._lock:  # the read and the fill in one hold: no write can land in between
            cached = self._models.get((ns, guid))
            if cached is None:
                row = self.first(f"SELECT {_MODEL_COLUMNS} FROM models WHERE ns=? AND guid=?",
                                (ns, guid))
                if row is None:
                    return None
                cached = dict(row)
                cached["loss"] = json.loads(cached["loss"]) if cached["loss"] is not None else None
                cached["progress"] = json.loads(cached["progress"])
                self._models[(ns, guid)] = cached
        # a copy the caller may change: loss is passes x batches floats, progress flat
        out = dict(cached)
        out["loss"] = None if cached["loss"] is None else [list(r) for r in cached["loss"]]
        out["progress"] = dict(cached["progress"])
        return out

    def _write_model(self, ns: str, guid: str, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            self._models.pop((ns, guid), None)
            return self._run(sql, args)

    def active_models(self) -> list[tuple[str, str, str]]:
        """``(ns, guid, status)`` of every model a previous server left unfinished."""
        rows = self.fetch("SELECT ns, guid, status FROM models WHERE status IN "
                          "('pending', 'processing', 'cancelled_pending') ORDER BY created")
        return [(r["ns"], r["guid"], r["status"]) for r in rows]

    def set_status(self, ns: str, guid: str, status: str, *, when: tuple[str, ...],
                   failure_reason: str | None = None) -> bool:
        """Move to ``status`` only from one of ``when``; True if the row changed.

        The guard makes every transition atomic against a concurrent cancel."""
        marks = ",".join("?" * len(when))
        changed = self._write_model(
            ns, guid,
            f"UPDATE models SET status=?, failure_reason=?, updated=? "
            f"WHERE ns=? AND guid=? AND status IN ({marks})",
            (status, failure_reason, time.time(), ns, guid, *when))
        return changed > 0

    def start_attempt(self, ns: str, guid: str) -> int | None:
        """Mark a pending model processing; return its attempt number, None if not pending."""
        with self.transaction() as conn:  # holds the store lock: no read refills the row meanwhile
            self._models.pop((ns, guid), None)
            changed = conn.execute(
                "UPDATE models SET status='processing', attempts=attempts+1, updated=? "
                "WHERE ns=? AND guid=? AND status='pending'", (time.time(), ns, guid)).rowcount
            if not changed:
                return None
            row = conn.execute("SELECT attempts FROM models WHERE ns=? AND guid=?",
                               (ns, guid)).fetchone()
            return int(row["attempts"])

    def release_attempt(self, ns: str, guid: str) -> None:
        """Undo ``start_attempt`` for a training a clean shutdown interrupted."""
        self._write_model(ns, guid, "UPDATE models SET attempts=MAX(attempts-1, 0) "
                          "WHERE ns=? AND guid=?", (ns, guid))

    def update_progress(
        self, ns: str, guid: str, *, loss: list[list[float]], training_completion: int,
        current_batch_completion: int, progress: dict[str, int],
    ) -> None:
        self._write_model(
            ns, guid,
            "UPDATE models SET loss=?, training_completion=?, current_batch_completion=?,"
            " progress=?, updated=? WHERE ns=? AND guid=?",
            (json.dumps(loss), training_completion, current_batch_completion,
             json.dumps(progress), time.time(), ns, guid))

    def save_checkpoint(self, ns: str, guid: str, blob: bytes, loss: list[list[float]]) -> None:
        self._write_model(ns, guid, "UPDATE models SET checkpoint=?, loss=?, updated=? "
                          "WHERE ns=? AND guid=?", (blob, json.dumps(loss), time.time(), ns, guid))

    def checkpoint(self, ns: str, guid: str) -> bytes | None:
        row = self.first("SELECT checkpoint FROM models WHERE ns=? AND guid=?", (ns, guid))
        return None if row is None or row["checkpoint"] is None else bytes(row["checkpoint"])

    def complete(self, ns: str, guid: str, weights: bytes, loss: list[list[float]]) -> bool:
        """Store the trained weights; False (nothing written) if it was cancelled meanwhile."""
        changed = self._write_model(
            ns, guid,
            "UPDATE models SET status='completed', weights=?, checkpoint=NULL, loss=?,"
            " training_completion=100, current_batch_completion=100, failure_reason=NULL,"
            " updated=? WHERE ns=? AND guid=? AND status='processing'",
            (weights, json.dumps(loss), time.time(), ns, guid))
        return changed > 0

    def weights(self, ns: str, guid: str) -> bytes | None:
        row = self.first("SELECT weights FROM models WHERE ns=? AND guid=?", (ns, guid))
        return None if row is None or row["weights"] is None else bytes(row["weights"])

    # ------------------------------------------------------------ idempotency

    def stored_response(self, ns: str, key: str) -> StoredResponse | None:
        row = self.first("SELECT fingerprint, status, content_type, body FROM idempotency "
                        "WHERE ns=? AND key=? AND created>?",
                        (ns, key, time.time() - IDEMPOTENCY_TTL_S))
        if row is None:
            return None
        return StoredResponse(row["fingerprint"], int(row["status"]), row["content_type"],
                              bytes(row["body"]))

    def store_response(self, ns: str, key: str, response: StoredResponse) -> None:
        now = time.time()
        with self.transaction() as conn:
            conn.execute("DELETE FROM idempotency WHERE created<=?", (now - IDEMPOTENCY_TTL_S,))
            conn.execute("INSERT OR REPLACE INTO idempotency VALUES (?,?,?,?,?,?,?)",
                         (ns, key, response.fingerprint, response.status,
                          response.content_type, response.body, now))


def _statements(schema: str) -> Iterator[str]:
    """The statements of a ``;``-separated script; a ``;`` inside a string or a trigger body
    does not end one (``sqlite3.complete_statement`` decides)."""
    pending = ""
    for piece in schema.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                yield pending.strip()
            pending = ""
    if pending.strip(" \t\n;"):
        yield pending.strip()
