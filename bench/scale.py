"""Many trainings at once: the server under 50 trainings, a sweep against one training at a
time, a Dask cluster against the local pool, and fairness across tokens, in one report.

    python bench/scale.py --json   # one JSON object: every key of the three parts below

Each part runs in a process of its own (``bench/scale_server.py``, ``scale_sweep.py``,
``scale_dask.py``; each also runs alone), so one part's servers and workers never load the
next; every ratio is taken inside its part, against a baseline of the same run.

Goals (issue 16, 2 cores): status_p99_ms_50_trainings <= 20, sweep_speedup_vs_sequential >= 1.7,
dask_sweep_over_pool <= 1.3, fair_wait_slots <= 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARTS = ("scale_server.py", "scale_sweep.py", "scale_dask.py")
GOALS: dict[str, tuple[str, float]] = {
    "status_p99_ms_50_trainings": ("<=", 20.0),
    "sweep_speedup_vs_sequential": (">=", 1.7),
    "dask_sweep_over_pool": ("<=", 1.3),
    "fair_wait_slots": ("<=", 1.0),
}


def run_part(script: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(HERE / script), "--json"], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return {f"{script}_error": done.stderr.strip().splitlines()[-1:] or [done.returncode]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for key, (sense, goal) in GOALS.items():
        value = result.get(key)
        if isinstance(value, (int, float)):
            met[key] = value <= goal if sense == "<=" else value >= goal
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for script in PARTS:
        result.update(run_part(script))
    result["goals_met"] = verdicts(result)
    if args.json:
        print(json.dumps(result))
        return
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
