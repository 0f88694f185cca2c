"""Federated learning over the simulator's SQLite store: additive ``fl_*`` tables in the same
file and the operations the routes call (``FederatedService``). The decisions (rules,
aggregation, scores) are the engine's (``qwidgets.protocol.federated``); this module keeps the
state, one transaction per operation, so an update and the aggregate it completes are written
together or not at all, and a restarted server carries on where it stopped.

Ids (federated models, updates, aggregates, artifacts) are integers counted per namespace, as
the reference service's database ids are integers. Times are the service clock's seconds,
shown as ISO 8601 UTC (``created_on``).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np

from qwidgets.errors import ValidationError
from qwidgets.protocol.federated import (
    DEFAULT_SCORE_KEY,
    FederatedNotFoundError,
    NotRegisteredError,
    Rule,
    Tensor,
    check_fits,
    describe,
    parse_scores,
    parse_tensor,
    rebuild,
    rule_from_dict,
    unwrap_samples,
)
from qwidgets.sim.federated.aggregation import (
    PendingUpdate,
    aggregate,
    latest_model,
    latest_per_client,
    summarize_scores,
)
from qwidgets.sim.server.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fl_models (
    ns TEXT NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL, rule TEXT NOT NULL,
    signature TEXT, score_key TEXT NOT NULL, created REAL NOT NULL, next_due REAL,
    PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS fl_models_due ON fl_models (next_due);
CREATE TABLE IF NOT EXISTS fl_clients (
    ns TEXT NOT NULL, model_id INTEGER NOT NULL, uuid TEXT NOT NULL,
    registered REAL NOT NULL, last_seen REAL NOT NULL,
    updates INTEGER NOT NULL DEFAULT 0, scores INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns, model_id, uuid)
);
CREATE TABLE IF NOT EXISTS fl_updates (
    ns TEXT NOT NULL, id INTEGER NOT NULL, model_id INTEGER NOT NULL, client TEXT NOT NULL,
    base_aggregate INTEGER, num_samples INTEGER, flat BLOB NOT NULL, created REAL NOT NULL,
    aggregate_id INTEGER,
    PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS fl_updates_pending ON fl_updates (ns, model_id, aggregate_id);
CREATE TABLE IF NOT EXISTS fl_aggregates (
    ns TEXT NOT NULL, id INTEGER NOT NULL, model_id INTEGER NOT NULL,
    version INTEGER NOT NULL, parent INTEGER, result TEXT NOT NULL,
    n_updates INTEGER NOT NULL, n_clients INTEGER NOT NULL, num_samples INTEGER,
    trigger TEXT NOT NULL, created REAL NOT NULL,
    validation_score REAL, metrics TEXT, n_scores INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS fl_aggregates_model ON fl_aggregates (ns, model_id, id);
CREATE TABLE IF NOT EXISTS fl_scores (
    ns TEXT NOT NULL, aggregate_id INTEGER NOT NULL, client TEXT NOT NULL,
    results TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (ns, aggregate_id, client)
);
CREATE TABLE IF NOT EXISTS fl_artifacts (
    ns TEXT NOT NULL, id INTEGER NOT NULL, model_id INTEGER NOT NULL,
    version INTEGER NOT NULL, vals TEXT NOT NULL, aggregate_id INTEGER,
    created REAL NOT NULL,
    PRIMARY KEY (ns, id)
);
CREATE INDEX IF NOT EXISTS fl_artifacts_model ON fl_artifacts (ns, model_id, id);
"""

_AGGREGATE_COLUMNS = ("id, model_id, version, parent, n_updates, n_clients, num_samples, "
                      "trigger, created, validation_score, metrics, n_scores")


def iso(seconds: float) -> str:
    """ISO 8601 UTC with microseconds, as the reference service (Django REST) writes dates."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


class FederatedService:
    """The federated-learning state of every namespace, on a shared ``Store``.

    ``clock``: seconds since the epoch (``time.time``); tests pass a
    ``federated.ManualClock`` to drive periodic aggregation by hand. Methods are synchronous
    and short; the routes run them in a thread."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        store.install(_SCHEMA)

    # ------------------------------------------------------------ models

    def create_model(self, ns: str, *, name: str, rule: Rule, initial_artifact: Any = None,
                     score_key: str = DEFAULT_SCORE_KEY) -> dict[str, Any]:
        tensor = parse_tensor(initial_artifact, "initial_artifact") \
            if initial_artifact is not None else None
        now = self.clock()
        with self.store.transaction() as conn:
            model_id = _next_id(conn, "fl_models", ns)
            conn.execute(
                "INSERT INTO fl_models VALUES (?,?,?,?,?,?,?,?)",
                (ns, model_id, name, json.dumps(rule.to_dict()),
                 json.dumps(tensor.signature) if tensor is not None else None, score_key, now,
                 now + rule.period_s if rule.period_s is not None else None))
            if tensor is not None:
                self._insert_artifact(conn, ns, model_id, tensor.to_json(), None, now)
        return self.model(ns, model_id)

    def models(self, ns: str) -> list[dict[str, Any]]:
        rows = self.store.fetch("SELECT id FROM fl_models WHERE ns=? ORDER BY id", (ns,))
        return [self.model(ns, int(r["id"])) for r in rows]

    def model(self, ns: str, model_id: int) -> dict[str, Any]:
        row = self._model_row(ns, model_id)
        counts = self.store.fetch(
            "SELECT (SELECT COUNT(*) FROM fl_clients WHERE ns=?1 AND model_id=?2) AS clients,"
            " (SELECT COUNT(*) FROM fl_aggregates WHERE ns=?1 AND model_id=?2) AS aggregates,"
            " (SELECT MAX(id) FROM fl_aggregates WHERE ns=?1 AND model_id=?2) AS latest,"
            " (SELECT MAX(id) FROM fl_artifacts WHERE ns=?1 AND model_id=?2) AS artifact,"
            " (SELECT COUNT(*) FROM fl_updates WHERE ns=?1 AND model_id=?2) AS updates,"
            " (SELECT COUNT(*) FROM fl_updates WHERE ns=?1 AND model_id=?2"
            "  AND aggregate_id IS NULL) AS pending", (ns, model_id))[0]
        signature = json.loads(row["signature"]) if row["signature"] else None
        return {"id": model_id, "name": row["name"], **json.loads(row["rule"]),
                "score_key": row["score_key"],
                "structure": describe(signature) if signature is not None else None,
                "created_on": iso(row["created"]), "clients": counts["clients"],
                "updates": counts["updates"], "pending_updates": counts["pending"],
                "aggregates": counts["aggregates"], "latest_aggregate": counts["latest"],
                "current_artifact": counts["artifact"],
                "next_aggregation_in_s": None if row["next_due"] is None
                else max(0.0, row["next_due"] - self.clock())}

    def _model_row(self, ns: str, model_id: int) -> sqlite3.Row:
        row = self.store.first("SELECT * FROM fl_models WHERE ns=? AND id=?", (ns, model_id))
        if row is None:
            raise FederatedNotFoundError(
                "federated_model", model_id, "federated model",
                "create it first (POST /api/v1/federated/models/) and use the id it returns; "
                "a model is only visible to the token that created it")
        return row

    # ------------------------------------------------------------ clients

    def register(self, ns: str, model_id: int, client: str | None) -> tuple[str, bool]:
        """``(uuid, created)``: a known client stays as it is (and is seen now)."""
        self._model_row(ns, model_id)
        now = self.clock()
        client = client or str(uuid.uuid4())
        with self.store.transaction() as conn:
            created = conn.execute(
                "INSERT OR IGNORE INTO fl_clients (ns, model_id, uuid, registered, last_seen) "
                "VALUES (?,?,?,?,?)", (ns, model_id, client, now, now)).rowcount > 0
            if not created:
                conn.execute("UPDATE fl_clients SET last_seen=? WHERE ns=? AND model_id=? "
                             "AND uuid=?", (now, ns, model_id, client))
        return client, created

    def seen(self, ns: str, model_id: int, client: str | None, *, required: bool) -> None:
        """Check that ``client`` (if any, or if ``required``) is registered; note it was seen."""
        self._model_row(ns, model_id)
        if client is None:
            if required:
                raise NotRegisteredError(None, model_id)
            return
        with self.store.transaction() as conn:
            if not _touch(conn, ns, model_id, client, self.clock()):
                raise NotRegisteredError(client, model_id)

    def clients(self, ns: str, model_id: int) -> list[dict[str, Any]]:
        self._model_row(ns, model_id)
        rows = self.store.fetch(
            "SELECT c.uuid, c.registered, c.last_seen, c.updates, c.scores,"
            " (SELECT COUNT(*) FROM fl_updates u WHERE u.ns=c.ns AND u.model_id=c.model_id"
            "  AND u.client=c.uuid AND u.aggregate_id IS NULL) AS pending"
            " FROM fl_clients c WHERE c.ns=? AND c.model_id=? ORDER BY c.registered, c.uuid",
            (ns, model_id))
        return [{"uuid": r["uuid"], "registered_on": iso(r["registered"]),
                 "last_seen": iso(r["last_seen"]), "updates": r["updates"],
                 "scores": r["scores"], "pending_updates": r["pending"]} for r in rows]

    # ------------------------------------------------------------ updates and aggregates

    def add_update(self, ns: str, model_id: int, client: str, data: Any, *,
                   base_aggregate: int | None = None, num_samples: Any = None
                   ) -> dict[str, Any]:
        """Store an update; if it completes the rule, aggregate in the same transaction. The
        answer's ``aggregate`` is the id of that aggregate (None if none was made)."""
        row = self._model_row(ns, model_id)
        rule = rule_from_dict(json.loads(row["rule"]))
        data, samples = unwrap_samples(data, num_samples)
        if rule.aggregation == "fedavg" and samples is None:
            raise ValidationError("num_samples", None, "is required by this model's 'fedavg' "
                                  "aggregation (it weighs each update by its sample count)",
                                  "send num_samples=<training rows>, or data={'values': ..., "
                                  "'num_samples': n}")
        tensor = parse_tensor(data, "data")
        now = self.clock()
        with self.store.transaction() as conn:
            current = conn.execute("SELECT signature FROM fl_models WHERE ns=? AND id=?",
                                   (ns, model_id)).fetchone()
            expected = json.loads(current["signature"]) if current["signature"] else None
            check_fits(tensor, expected)
            if expected is None:
                conn.execute("UPDATE fl_models SET signature=? WHERE ns=? AND id=?",
                             (json.dumps(tensor.signature), ns, model_id))
            if base_aggregate is not None and conn.execute(
                    "SELECT 1 FROM fl_aggregates WHERE ns=? AND model_id=? AND id=?",
                    (ns, model_id, base_aggregate)).fetchone() is None:
                raise FederatedNotFoundError(
                    "base_aggregate", base_aggregate, f"aggregate of federated model {model_id}",
                    "send the id of an aggregate of this model, or null")
            if not _touch(conn, ns, model_id, client, now, updates=1):
                raise NotRegisteredError(client, model_id)
            update_id = _next_id(conn, "fl_updates", ns)
            conn.execute("INSERT INTO fl_updates VALUES (?,?,?,?,?,?,?,?,NULL)",
                         (ns, update_id, model_id, client, base_aggregate, samples,
                          tensor.flat.astype("<f8").tobytes(), now))
            made = self._aggregate(conn, ns, model_id, rule, "update") if rule.on_update \
                else None
        return {"id": update_id, "federated_model": model_id, "client": client,
                "base_aggregate": base_aggregate, "num_samples": samples,
                "created_on": iso(now), "aggregate": made}

    def _aggregate(self, conn: sqlite3.Connection, ns: str, model_id: int, rule: Rule,
                   trigger: str, *, force: bool = False) -> int | None:
        """Make the next aggregate if the rule (or ``force``: any pending update) allows."""
        pending = conn.execute(
            "SELECT id, client, num_samples FROM fl_updates WHERE ns=? AND model_id=? AND "
            "aggregate_id IS NULL ORDER BY id", (ns, model_id)).fetchall()
        if not pending:
            return None
        if not force:
            registered = [r["uuid"] for r in conn.execute(
                "SELECT uuid FROM fl_clients WHERE ns=? AND model_id=?", (ns, model_id))]
            if not rule.ready([r["client"] for r in pending], registered):
                return None
        signature = json.loads(conn.execute(
            "SELECT signature FROM fl_models WHERE ns=? AND id=?", (ns, model_id)
        ).fetchone()["signature"])
        # only the update each client sent last is read back and averaged
        chosen = latest_per_client([PendingUpdate(r["id"], r["client"], _NO_TENSOR,
                                                  r["num_samples"]) for r in pending])
        updates = []
        for update in chosen:
            blob = conn.execute("SELECT flat FROM fl_updates WHERE ns=? AND id=?",
                                (ns, update.id)).fetchone()["flat"]
            updates.append(PendingUpdate(update.id, update.client, Tensor(
                np.frombuffer(blob, dtype="<f8"), signature), update.num_samples))
        flat = aggregate(updates, rule.aggregation)
        parent = conn.execute(
            "SELECT id, version FROM fl_aggregates WHERE ns=? AND model_id=? "
            "ORDER BY id DESC LIMIT 1", (ns, model_id)).fetchone()
        samples = [u.num_samples for u in updates]
        aggregate_id = _next_id(conn, "fl_aggregates", ns)
        conn.execute(
            "INSERT INTO fl_aggregates (ns, id, model_id, version, parent, result, n_updates,"
            " n_clients, num_samples, trigger, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (ns, aggregate_id, model_id, 1 + (parent["version"] if parent else 0),
             parent["id"] if parent else None, json.dumps(rebuild(flat, signature)),
             len(pending), len(updates),
             sum(s for s in samples if s is not None) if None not in samples else None,
             trigger, self.clock()))
        conn.execute(
            f"UPDATE fl_updates SET aggregate_id=? WHERE ns=? AND model_id=? AND "
            f"aggregate_id IS NULL AND id IN ({','.join('?' * len(pending))})",
            (aggregate_id, ns, model_id, *(r["id"] for r in pending)))
        return aggregate_id

    def aggregate_now(self, ns: str, model_id: int) -> dict[str, Any] | None:
        """Aggregate whatever is pending, rule or not (an operator closing a stalled round)."""
        row = self._model_row(ns, model_id)
        rule = rule_from_dict(json.loads(row["rule"]))
        with self.store.transaction() as conn:
            made = self._aggregate(conn, ns, model_id, rule, "manual", force=True)
        return None if made is None else self.aggregate_row(ns, model_id, made)

    def tick(self) -> list[tuple[str, int, int]]:
        """Run the periodic schedules that are due: ``(ns, model, aggregate)`` of each
        aggregate made. The server's background task calls it; tests call it by hand."""
        now = self.clock()
        made: list[tuple[str, int, int]] = []
        due = self.store.fetch("SELECT ns, id FROM fl_models WHERE next_due IS NOT NULL AND "
                               "next_due<=? ORDER BY next_due", (now,))
        for item in due:
            ns, model_id = item["ns"], int(item["id"])
            with self.store.transaction() as conn:
                row = conn.execute("SELECT rule, next_due FROM fl_models WHERE ns=? AND id=?",
                                   (ns, model_id)).fetchone()
                if row is None or row["next_due"] is None or row["next_due"] > now:
                    continue  # handled meanwhile
                rule = rule_from_dict(json.loads(row["rule"]))
                assert rule.period_s is not None
                following = row["next_due"] + rule.period_s
                # after a long pause (a stopped server), resume the rhythm from now
                conn.execute("UPDATE fl_models SET next_due=? WHERE ns=? AND id=?",
                             (following if following > now else now + rule.period_s, ns,
                              model_id))
                aggregate_id = self._aggregate(conn, ns, model_id, rule, "schedule")
            if aggregate_id is not None:
                made.append((ns, model_id, aggregate_id))
        return made

    def next_due(self) -> float | None:
        """Clock time of the earliest periodic aggregation (None: no periodic model)."""
        rows = self.store.fetch("SELECT MIN(next_due) AS due FROM fl_models")
        due = rows[0]["due"] if rows else None
        return None if due is None else float(due)

    def latest_aggregate(self, ns: str, model_id: int) -> dict[str, Any] | None:
        self._model_row(ns, model_id)
        rows = self.store.fetch("SELECT MAX(id) AS id FROM fl_aggregates WHERE ns=? AND "
                                "model_id=?", (ns, model_id))
        latest = rows[0]["id"] if rows else None
        return None if latest is None else self.aggregate_row(ns, model_id, int(latest))

    def aggregate_row(self, ns: str, model_id: int, aggregate_id: int, *,
                      values: bool = True) -> dict[str, Any]:
        columns = _AGGREGATE_COLUMNS + (", result" if values else "")
        row = self.store.first(f"SELECT {columns} FROM fl_aggregates WHERE ns=? AND "
                               "model_id=? AND id=?", (ns, model_id, aggregate_id))
        if row is None:
            raise FederatedNotFoundError(
                "aggregate", aggregate_id, f"aggregate of federated model {model_id}",
                "use an aggregate id from get_latest_aggregate or the aggregates list")
        return _aggregate_view(row, values)

    def aggregates(self, ns: str, model_id: int, *, after: int = 0, limit: int = 100,
                   values: bool = False) -> list[dict[str, Any]]:
        """Aggregates with an id above ``after``, oldest first, at most ``limit``."""
        self._model_row(ns, model_id)
        columns = _AGGREGATE_COLUMNS + (", result" if values else "")
        rows = self.store.fetch(
            f"SELECT {columns} FROM fl_aggregates WHERE ns=? AND model_id=? AND id>? "
            "ORDER BY id LIMIT ?", (ns, model_id, after, limit))
        return [_aggregate_view(r, values) for r in rows]

    # ------------------------------------------------------------ artifacts

    def _insert_artifact(self, conn: sqlite3.Connection, ns: str, model_id: int, values: Any,
                         aggregate_id: int | None, now: float) -> int:
        version = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM fl_artifacts "
                               "WHERE ns=? AND model_id=?", (ns, model_id)).fetchone()[0]
        artifact_id = _next_id(conn, "fl_artifacts", ns)
        conn.execute("INSERT INTO fl_artifacts VALUES (?,?,?,?,?,?,?)",
                     (ns, artifact_id, model_id, version, json.dumps(values), aggregate_id,
                      now))
        return artifact_id

    def current_artifact(self, ns: str, model_id: int) -> dict[str, Any] | None:
        found = self._artifact(ns, model_id)
        if found is not None:
            del found["created"]
        return found

    def _artifact(self, ns: str, model_id: int) -> dict[str, Any] | None:
        self._model_row(ns, model_id)
        r = self.store.first(
            "SELECT id, model_id, version, vals, aggregate_id, created FROM fl_artifacts "
            "WHERE ns=? AND model_id=? ORDER BY id DESC LIMIT 1", (ns, model_id))
        if r is None:
            return None
        return {"id": r["id"], "values": json.loads(r["vals"]), "version": r["version"],
                "created_on": iso(r["created"]), "federated_model": r["model_id"],
                "aggregate": r["aggregate_id"], "created": r["created"]}

    def publish(self, ns: str, model_id: int, aggregate_id: int) -> dict[str, Any]:
        """Make an aggregate the model's current artifact (the next artifact version)."""
        source = self.aggregate_row(ns, model_id, aggregate_id)
        with self.store.transaction() as conn:
            self._insert_artifact(conn, ns, model_id, source["results"], aggregate_id,
                                  self.clock())
        artifact = self.current_artifact(ns, model_id)
        assert artifact is not None
        return artifact

    def latest_model(self, ns: str, model_id: int) -> dict[str, Any]:
        """``{values, aggregate, artifact}`` of the newer of the two, or ``{}``."""
        agg = self.latest_aggregate(ns, model_id)
        if agg is not None:
            agg["created"] = float(self.store.fetch(
                "SELECT created FROM fl_aggregates WHERE ns=? AND id=?", (ns, agg["id"])
            )[0]["created"])
        return latest_model(agg, self._artifact(ns, model_id))

    # ------------------------------------------------------------ validation scores

    def add_scores(self, ns: str, model_id: int, client: str, aggregate_id: int,
                   results: Any) -> dict[str, Any]:
        """A client's validation results for an aggregate (a resend replaces them); the
        aggregate's ``validation_score`` becomes the mean over its clients."""
        row = self._model_row(ns, model_id)
        scores = parse_scores(results, row["score_key"])
        now = self.clock()
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM fl_aggregates WHERE ns=? AND model_id=? AND id=?",
                            (ns, model_id, aggregate_id)).fetchone() is None:
                raise FederatedNotFoundError(
                    "aggregate", aggregate_id, f"aggregate of federated model {model_id}",
                    "send the id of the aggregate the results were computed on")
            if not _touch(conn, ns, model_id, client, now):
                raise NotRegisteredError(client, model_id)
            conn.execute(
                "INSERT INTO fl_scores VALUES (?,?,?,?,?) ON CONFLICT (ns, aggregate_id, client)"
                " DO UPDATE SET results=excluded.results, created=excluded.created",
                (ns, aggregate_id, client, json.dumps(scores), now))
            conn.execute("UPDATE fl_clients SET scores=scores+1 WHERE ns=? AND model_id=? AND "
                         "uuid=?", (ns, model_id, client))
            reports = [json.loads(r["results"]) for r in conn.execute(
                "SELECT results FROM fl_scores WHERE ns=? AND aggregate_id=?",
                (ns, aggregate_id))]
            score, metrics = summarize_scores(reports, row["score_key"])
            conn.execute("UPDATE fl_aggregates SET validation_score=?, metrics=?, n_scores=? "
                         "WHERE ns=? AND id=?",
                         (score, json.dumps(metrics), len(reports), ns, aggregate_id))
        return {"validation_results": scores, "federated_model": model_id,
                "aggregate": aggregate_id, "client": client, "created_on": iso(now),
                "validation_score": score}

    # ------------------------------------------------------------ for watchers

    def summary(self, ns: str, model_id: int, *, after: int = 0, limit: int = 500
                ) -> dict[str, Any]:
        """One answer for a panel: the model, its clients, the round in progress, and the
        aggregates after ``after`` (without their values)."""
        model = self.model(ns, model_id)
        rule = rule_from_dict(model)
        clients = self.clients(ns, model_id)
        pending = [r["client"] for r in self.store.fetch(
            "SELECT client FROM fl_updates WHERE ns=? AND model_id=? AND aggregate_id IS NULL "
            "ORDER BY id", (ns, model_id))]
        rows = self.aggregates(ns, model_id, after=after, limit=limit + 1)
        return {"model": model, "clients": clients,
                "round": {"version": (model["aggregates"] or 0) + 1,
                          **rule.waiting(pending, [c["uuid"] for c in clients])},
                "aggregates": rows[:limit], "more": len(rows) > limit,
                "now": iso(self.clock())}


# ---------------------------------------------------------------- helpers

_NO_TENSOR = Tensor(np.zeros(0), "number")


def _next_id(conn: sqlite3.Connection, table: str, ns: str) -> int:
    # inside BEGIN IMMEDIATE: no other writer can take the same id meanwhile
    return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table} WHERE ns=?",
                            (ns,)).fetchone()[0])


def _touch(conn: sqlite3.Connection, ns: str, model_id: int, client: str, now: float, *,
           updates: int = 0) -> bool:
    return conn.execute(
        "UPDATE fl_clients SET last_seen=?, updates=updates+? WHERE ns=? AND model_id=? AND "
        "uuid=?", (now, updates, ns, model_id, client)).rowcount > 0


def _aggregate_view(row: sqlite3.Row, values: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"], "federated_model": row["model_id"], "version": row["version"],
        "parent": row["parent"], "validation_score": row["validation_score"],
        "metrics": json.loads(row["metrics"]) if row["metrics"] else {},
        "n_scores": row["n_scores"], "n_updates": row["n_updates"],
        "n_clients": row["n_clients"], "num_samples": row["num_samples"],
        "trigger": row["trigger"], "created_on": iso(row["created"])}
    if values:
        # the key of fma_connect's documentation (id, results, validation_score); its client
        # reads none of them, so no older alias is kept
        out["results"] = json.loads(row["result"])
    return out
