"""Shared helpers of the client tests: a real simulator server, clients with fast retries, and
counts read straight from the server's SQLite store."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from urllib.parse import urlsplit

from qwidgets.client import AsyncQcogClient, RetryPolicy
from qwidgets.sim import SimServer
from qwidgets.sim.server.store import DB_NAME

# Fast retries keep the fault tests short; the policy's logic is the same at any scale.
FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)


async def client_for(url: str, token: str, **options: object) -> AsyncQcogClient:
    """A client of the service at ``url`` (the server itself or a proxy in front of it)."""
    parts = urlsplit(url)
    options.setdefault("retry", FAST_RETRY)
    return await AsyncQcogClient.create(token=token, hostname=parts.hostname,
                                        port=parts.port, **options)  # type: ignore[arg-type]


def count_rows(server: SimServer, table: str) -> int:
    """Rows the server stored, read independently of the HTTP API."""
    assert table in ("datasets", "training_parameters", "models")
    uri = f"file:{server.data_dir / DB_NAME}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
