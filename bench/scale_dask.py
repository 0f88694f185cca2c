"""The simulator server's trainings on a Dask cluster against its own local worker pool.

The same sweep of 16 small configurations (Pauli models on 400 rows, 16 seeds x 2 Pauli
weights... see ``CONFIGS``), started through the public client's ``sweep`` with all 16
trainings submitted at once, on two servers in the same run: one whose trainings run on a
two-worker ``distributed.LocalCluster`` (one thread each, worker processes) and one with the
default local pool of two worker processes. The key figure:

- ``dask_sweep_over_pool``: wall time of the sweep on the Dask server / on the pool server
  (goal <= 1.3; the best of ``ROUNDS`` rounds each, rounds interleaved, after a warm-up sweep
  that lets both sets of workers import the engine).

    python bench/scale_dask.py          # a readable table
    python bench/scale_dask.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.client import AsyncQcogClient
from qwidgets.sim import SimServer, start
from qwidgets.sim.server.dask_local import local_cluster
from qwidgets.sim.server.limits import Quotas, ServerLimits

ROUNDS = 6
ROWS = 400
SLOTS = 2
CONFIGS: dict[str, list[Any]] = {"qbits": [2], "pauli_weight": [1, 2], "seed": list(range(8)),
                                 "batch_size": [50], "num_passes": [8]}
SWEEP_SIZE = 16
# every training of the sweep submitted at once, so the servers' schedulers keep both slots busy
LIMITS = ServerLimits(quotas=Quotas(max_active_trainings=SWEEP_SIZE))


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = pd.DataFrame(rng.uniform(-1, 1, (ROWS, 2)), columns=["x", "y"])
    data["z"] = 0.5 * data.x - 0.3 * data.y + 0.05 * rng.normal(size=ROWS)
    return data


async def sweep_seconds(server: SimServer) -> float:
    """Wall time of the whole sweep through the public client, every training completed."""
    client = await AsyncQcogClient.create(token=server.token, hostname=server.host,
                                          port=server.port)
    async with client:
        started = time.perf_counter()
        board = await client.sweep(frame(), CONFIGS, concurrency=SWEEP_SIZE, poll_time=0.05)
        seconds = time.perf_counter() - started
    statuses = set(board["status"]) if "status" in board else {"completed"}
    if len(board) != SWEEP_SIZE or statuses != {"completed"}:
        raise RuntimeError(f"the sweep did not complete every training:\n{board}")
    return seconds


async def rounds(pool: SimServer, dask: SimServer) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"pool": [], "dask": []}
    for server in (pool, dask):  # warm-up: workers import the engine on their first training
        await sweep_seconds(server)
    for _ in range(ROUNDS):
        times["pool"].append(await sweep_seconds(pool))
        times["dask"].append(await sweep_seconds(dask))
    return times


def measure() -> dict[str, float]:
    os.environ.setdefault("QWIDGETS_SWEEP_DIR", tempfile.mkdtemp(prefix="qwidgets-bench-"))
    # the cluster in a process of its own, as a classroom's scheduler would be (not sharing
    # this process's interpreter with the two servers)
    with local_cluster(workers=SLOTS) as address, \
            start(training_workers=SLOTS, limits=LIMITS) as pool, \
            start(dask=address, training_workers=SLOTS, limits=LIMITS) as dask:
        times = asyncio.run(rounds(pool, dask))
    best_pool, best_dask = min(times["pool"]), min(times["dask"])
    return {
        "dask_sweep_over_pool": best_dask / best_pool,
        "sweep_seconds_dask": best_dask,
        "sweep_seconds_pool": best_pool,
        "sweep_seconds_dask_median": float(np.median(times["dask"])),
        "sweep_seconds_pool_median": float(np.median(times["pool"])),
        "trainings_per_sweep": float(SWEEP_SIZE),
    }


def table(result: dict[str, float]) -> str:
    rows = [
        (f"sweep of {SWEEP_SIZE} on a {SLOTS}-worker LocalCluster (best of {ROUNDS})",
         f"{result['sweep_seconds_dask']:.2f} s"),
        (f"same sweep on the local pool of {SLOTS} (best of {ROUNDS})",
         f"{result['sweep_seconds_pool']:.2f} s"),
        ("medians, Dask / pool", f"{result['sweep_seconds_dask_median']:.2f} / "
                                 f"{result['sweep_seconds_pool_median']:.2f} s"),
        ("dask_sweep_over_pool (goal <= 1.3)", f"{result['dask_sweep_over_pool']:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>16}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure()
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
