"""Sweep benchmark: 16 small configurations trained one after another (concurrency=1) against
the same 16 at the sweep's default concurrency, on the same embedded simulator (its default
training pool) in the same run.

Both sides do the same work: one upload, 16 trainings, 16 forecasts of the held-out rows.
A warm-up sweep first starts the server's workers, then the two sides alternate, best of
``ROUNDS`` each (the machine's other load only ever slows a round down).

    python bench/scale_sweep.py          # a readable table
    python bench/scale_sweep.py --json   # one JSON object
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from typing import Any

# `python bench/scale_sweep.py` puts bench/ first on the path: its helpers import as modules.
import report
from sklearn.datasets import load_iris

from qwidgets.client import AsyncQcogClient
from qwidgets.client.qcog.sweep import CONCURRENCY
from qwidgets.sim import start

ROUNDS = 5
# 16 small configurations: 2 qubits, weight 1 or 2, 1 or 2 passes, two exact solvers, two seeds.
GRID = {"qbits": 2, "pauli_weight": [1, 2], "num_passes": [1, 2],
        "state_method": ["NP_EIGH", "EIGH"], "seed": [1, 2]}


async def timed_sweep(client: AsyncQcogClient, concurrency: int) -> float:
    frame = load_iris(as_frame=True).frame
    started = time.perf_counter()
    sweep = client.start_sweep(frame, GRID, concurrency=concurrency)
    board = await sweep.wait()
    elapsed = time.perf_counter() - started
    if len(board) != 16 or set(board["status"]) != {"completed"}:
        raise RuntimeError(f"the sweep did not complete its 16 trainings:\n{board}")
    return elapsed


async def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as saved:
        os.environ["QWIDGETS_SWEEP_DIR"] = saved  # not the user's own sweeps
        with start() as server:
            async with await AsyncQcogClient.create(
                    token=server.token, hostname=server.host, port=server.port) as client:
                await timed_sweep(client, CONCURRENCY)  # warm-up: workers start, imports
                sequential, concurrent = [], []
                for _ in range(ROUNDS):
                    sequential.append(await timed_sweep(client, 1))
                    concurrent.append(await timed_sweep(client, CONCURRENCY))
    return {
        "sweep_speedup_vs_sequential": round(min(sequential) / min(concurrent), 2),
        "seconds_sequential_16": round(min(sequential), 3),
        "seconds_concurrent_16": round(min(concurrent), 3),
        "concurrency": CONCURRENCY,
        "cpu_count": os.cpu_count() or 0,
    }


def measure() -> dict[str, float]:
    """The figures, for a caller that is not in an event loop."""
    return {k: float(v) for k, v in asyncio.run(run()).items()}


def table(result: dict[str, Any]) -> str:
    return report.table([
        ("16 configurations, one after another", f"{result['seconds_sequential_16']:.2f} s"),
        (f"16 configurations, concurrency {result['concurrency']}",
         f"{result['seconds_concurrent_16']:.2f} s"),
        ("sweep_speedup_vs_sequential (goal >= 1.7)",
         f"{result['sweep_speedup_vs_sequential']:.2f}x"),
        ("cores", f"{result['cpu_count']}"),
    ])


if __name__ == "__main__":
    report.main(__doc__, run, table)
