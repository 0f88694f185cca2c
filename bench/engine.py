"""Engine benchmarks, as ratios against baselines measured in the same run.

    python bench/engine.py          # a readable table
    python bench/engine.py --json   # one JSON object with the keys below

Keys: np_eigh_pass_over_bare_eigh (goal <= 1.3), iterative_pass_over_bare_eigh (goal <= 0.25),
iterative_loss_rel_diff (goal <= 0.01), speedup_vs_naive_loop (goal >= 10),
peak_mem_mb_100k_rows (goal < 1024), breast_cancer_accuracy (goal >= 0.90);
for dim N in 16, 32, 64: iterative_pass_over_np_eigh_dN (goal <= 0.35) and
iterative_loss_rel_diff_dN (goal <= 0.01); train_time_d64_over_d16 (goal <= 10).

"iterative" is the iterative solver at its default settings (``ITERATIVE``: LOBPCG_FAST with the
wire's default tol and the 10 iterations the issue's table used): compiled per row where numba is
installed (``lobpcg_kernel``; ``--numpy`` measures the numpy version instead). Pass times are the
median of the warm passes (the first pass starts cold), each the best over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from qwidgets.protocol.params import validate_training_parameters
from qwidgets.sim.engine import infer, lobpcg_kernel, train
from qwidgets.sim.engine.parts import cores
from qwidgets.sim.engine.training import Trainer

ROWS, OPERATORS, QBITS, WEIGHT = 10_000, 8, 4, 2
ITERATIVE = {"state_method": "LOBPCG_FAST", "iterations": 10}
NP_EIGH = {"state_method": "NP_EIGH"}
SWEEP = {16: (4, 8_000), 32: (5, 4_000), 64: (6, 2_000)}  # dim: (qbits, rows): seconds a pass
SWEEP_PASSES = 5
GOALS = {
    "np_eigh_pass_over_bare_eigh": "<= 1.3",
    "iterative_pass_over_bare_eigh": "<= 0.25",
    "iterative_loss_rel_diff": "<= 0.01",
    "speedup_vs_naive_loop": ">= 10",
    "peak_mem_mb_100k_rows": "< 1024",
    "breast_cancer_accuracy": ">= 0.90",
    **{f"iterative_pass_over_np_eigh_d{n}": "<= 0.35" for n in SWEEP},
    **{f"iterative_loss_rel_diff_d{n}": "<= 0.01" for n in SWEEP},
    "train_time_d64_over_d16": "<= 10",
}


def dataset(rows: int, seed: int = 0) -> np.ndarray:
    """Eight operators with a linear and a nonlinear relation between them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, OPERATORS))
    X[:, 6] = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.1 * rng.normal(size=rows)
    X[:, 7] = X[:, 2] * X[:, 3]
    return X


def params(state: dict[str, Any], passes: int = 1, batch: int = 1000,
           qbits: int = QBITS) -> dict[str, Any]:
    return validate_training_parameters("pauli", {
        "model": {"operators": [f"o{k}" for k in range(OPERATORS)], "qbits": qbits,
                  "pauli_weight": WEIGHT},
        "batch_size": batch, "num_passes": passes,
        "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 1,
                                       "learning_rate": 0.05},
        "state_kwargs": state,
    })


def best_of(fn: Callable[[], Any], repeat: int,
            clock: Callable[[], float] = time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


@dataclass
class Run:
    """One training: wall time of every pass, the loss, the unconverged rows of every pass."""

    times: list[float]
    loss: list[list[float]]
    unconverged: list[int]
    cpu: float = 0.0  # process CPU seconds of the whole training (every thread)

    @property
    def final_loss(self) -> float:
        return float(np.mean(self.loss[-1]))

    @property
    def total(self) -> float:
        return sum(self.times)


def training(X: np.ndarray, state: dict[str, Any], passes: int, qbits: int = QBITS) -> Run:
    marks: list[float] = []
    trainer = Trainer("pauli", params(state, passes, qbits=qbits), X,
                      on_pass_end=lambda _: marks.append(time.perf_counter()))
    start, cpu = time.perf_counter(), time.process_time()
    trainer.run()
    edges = [start, *marks]
    return Run([b - a for a, b in itertools.pairwise(edges)], trainer.loss,
               [sum(row) for row in trainer.unconverged], time.process_time() - cpu)


def best_runs(X: np.ndarray, states: dict[str, dict[str, Any]], passes: int, repeat: int,
              qbits: int = QBITS) -> dict[str, Run]:
    """Each state's training ``repeat`` times, interleaved so that the machine's load hits all
    alike; per pass the best time, and the first run's loss (the runs are identical)."""
    runs: dict[str, list[Run]] = {name: [] for name in states}
    for _ in range(repeat):
        for name, state in states.items():
            runs[name].append(training(X, state, passes, qbits))
    return {name: Run(list(np.min([r.times for r in rs], axis=0)), rs[0].loss, rs[0].unconverged,
                      min(r.cpu for r in rs))
            for name, rs in runs.items()}


def warm_pass(run: Run) -> float:
    return float(np.median(run.times[1:]))


def rel_diff(run: Run, exact: Run) -> float:
    return abs(run.final_loss - exact.final_loss) / exact.final_loss


def naive_pass(X: np.ndarray) -> None:
    """What a straightforward implementation does: one row at a time, scipy's eigh each."""
    trainer = Trainer("pauli", params({"state_method": "EIGH"}), X)
    model = trainer.model
    A = model.operator_stack()
    n = model.dim
    for batch in trainer.batches:
        R = np.zeros((n, n), complex)
        Rk = np.zeros((OPERATORS, n, n), complex)
        for x in X[batch]:
            H = sum((A[k] - x[k] * np.eye(n)) @ (A[k] - x[k] * np.eye(n)) / 2 for k in range(OPERATORS))
            _, vecs = scipy.linalg.eigh(H)
            rho = np.outer(vecs[:, 0], vecs[:, 0].conj())
            R += rho
            Rk += x[:, None, None] * rho
        trainer.optimizer.batch_step(model, R, Rk, batch.stop - batch.start)
        A = model.operator_stack()


def memory_child() -> None:
    X = dataset(100_000)
    Trainer("pauli", params(NP_EIGH, batch=10_000), X).run()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_memory_mb() -> float:
    out = subprocess.run([sys.executable, __file__, "--memory-child"], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def breast_cancer_accuracy() -> float:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    X = pd.DataFrame(data.data, columns=[f"f{i}" for i in range(data.data.shape[1])])
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.2, random_state=42, stratify=data.target)
    mean, std = X_train.mean(), X_train.std()
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    frame = X_train.assign(malignant=(y_train == 0).astype(float), benign=(y_train == 1).astype(float))
    model = train("pauli", {
        "model": {"operators": list(frame.columns), "qbits": 4, "pauli_weight": 2,
                  "target_operators": ["malignant", "benign"]},
        "batch_size": 64, "num_passes": 10,
        "weight_optimization_kwargs": {"optimization_method": "ANALYTIC"},
        "state_kwargs": {"state_method": "NP_EIGH"},
    }, frame)
    forecast = infer(model, X_test)
    predicted = (forecast["benign"].to_numpy() > forecast["malignant"].to_numpy()).astype(int)
    return float(np.mean(predicted == y_test))


def products_per_row(qbits: int, rows: int = 1024, repeat: int = 9) -> float:
    """CPU seconds per row of one product H(x) psi (rows.LinearRows), one BLAS thread: CPU
    time, so that other processes' load does not enter this ratio of two tiny timings."""
    from threadpoolctl import threadpool_limits

    from qwidgets.sim.engine.hamiltonian import Hamiltonian

    X = dataset(rows)
    model = Trainer("pauli", params(NP_EIGH, qbits=qbits), X).model
    op = Hamiltonian(model.operator_stack(), model.sigma).rows(X)
    psi = np.random.default_rng(0).standard_normal((rows, op.dim)) + 0j
    with threadpool_limits(1, "blas"):
        return best_of(lambda: op.matvec(psi), repeat, time.process_time) / rows


def sweep(repeat: int) -> tuple[dict[str, float], dict[str, Any]]:
    """The iterative default against NP_EIGH at dim 16, 32 and 64."""
    keys: dict[str, float] = {}
    details: dict[str, Any] = {}
    for dim, (qbits, rows) in SWEEP.items():
        X = dataset(rows)
        runs = best_runs(X, {"NP_EIGH": NP_EIGH, "iterative": ITERATIVE}, SWEEP_PASSES, repeat,
                         qbits)
        exact, iterative = runs["NP_EIGH"], runs["iterative"]
        keys[f"iterative_pass_over_np_eigh_d{dim}"] = warm_pass(iterative) / warm_pass(exact)
        keys[f"iterative_loss_rel_diff_d{dim}"] = rel_diff(iterative, exact)
        details[f"d{dim}"] = {
            "qbits": qbits, "rows": rows, "passes": SWEEP_PASSES,
            "np_eigh_passes_s": [round(t, 3) for t in exact.times],
            "iterative_passes_s": [round(t, 3) for t in iterative.times],
            "final_loss": {"NP_EIGH": exact.final_loss, "iterative": iterative.final_loss},
            "iterative_unconverged_rows_per_pass": iterative.unconverged,
            # whole trainings in CPU seconds: what the load of other processes does not enter
            "cpu_s": {"NP_EIGH": round(exact.cpu, 3), "iterative": round(iterative.cpu, 3)},
            "training_cpu_iterative_over_np_eigh": round(iterative.cpu / exact.cpu, 3),
        }
    # the same rows and passes at dim 16 and 64, whole trainings
    rows = SWEEP[64][1]
    X = dataset(rows)
    totals, cpus = {}, {}
    for dim in (16, 64):
        runs_d = [training(X, ITERATIVE, SWEEP_PASSES, SWEEP[dim][0]) for _ in range(repeat)]
        totals[dim] = min(r.total for r in runs_d)
        cpus[dim] = min(r.cpu for r in runs_d)
    keys["train_time_d64_over_d16"] = totals[64] / totals[16]
    details["train_cpu_d64_over_d16"] = cpus[64] / cpus[16]
    products = {dim: products_per_row(SWEEP[dim][0]) for dim in (16, 64)}
    details["train_time_s"] = {f"d{d}": round(t, 3) for d, t in totals.items()}
    details["products_per_row_us"] = {f"d{d}": round(t * 1e6, 3) for d, t in products.items()}
    details["products_d64_over_d16"] = products[64] / products[16]
    return keys, details


def run(repeat: int) -> dict[str, Any]:
    X = dataset(ROWS)
    stack_trainer = Trainer("pauli", params(NP_EIGH), X)
    from qwidgets.sim.engine.hamiltonian import Hamiltonian

    ham = Hamiltonian(stack_trainer.model.operator_stack(), stack_trainer.model.sigma)
    stack = ham.build(X).copy()
    bare = best_of(lambda: np.linalg.eigh(stack), repeat)

    np_pass = min(training(X, NP_EIGH, 1).times[0] for _ in range(repeat))
    passes = 6
    runs = best_runs(X, {"NP_EIGH": NP_EIGH, "iterative": ITERATIVE}, passes, repeat)
    exact, iterative = runs["NP_EIGH"], runs["iterative"]
    naive = best_of(lambda: naive_pass(X), 1)
    sweep_keys, sweep_details = sweep(repeat)

    return {
        "np_eigh_pass_over_bare_eigh": np_pass / bare,
        "iterative_pass_over_bare_eigh": warm_pass(iterative) / bare,
        "iterative_loss_rel_diff": rel_diff(iterative, exact),
        "speedup_vs_naive_loop": naive / np_pass,
        "peak_mem_mb_100k_rows": peak_memory_mb(),
        "breast_cancer_accuracy": breast_cancer_accuracy(),
        **sweep_keys,
        "details": {
            "bare_eigh_s": bare, "np_eigh_pass_s": np_pass, "naive_loop_pass_s": naive,
            "iterative_state": ITERATIVE,
            "iterative_passes_s": [round(t, 4) for t in iterative.times],
            "np_eigh_passes_s": [round(t, 4) for t in exact.times],
            "final_loss": {"NP_EIGH": exact.final_loss, "iterative": iterative.final_loss},
            "iterative_unconverged_rows_per_pass": iterative.unconverged,
            "rows": ROWS, "operators": OPERATORS, "qbits": QBITS, "pauli_weight": WEIGHT,
            "batch_size": 1000, "cores": cores(), "goals": GOALS,
            "lobpcg_compiled": lobpcg_kernel.AVAILABLE,
            "sweep": sweep_details,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the best time counts")
    parser.add_argument("--sweep", action="store_true",
                        help="only the dim 16/32/64 keys (the Hilbert-dimension sweep)")
    parser.add_argument("--numpy", action="store_true",
                        help="LOBPCG_FAST's numpy version even where numba is installed")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child()
        return
    if args.numpy:
        lobpcg_kernel.AVAILABLE = False
    if args.sweep:
        keys, details = sweep(args.repeat)
        result: dict[str, Any] = {**keys, "details": {"sweep": details, "goals": GOALS,
                                                      "lobpcg_compiled": lobpcg_kernel.AVAILABLE}}
    else:
        result = run(args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    for key, goal in GOALS.items():
        if key in result:
            print(f"{key:36s} {result[key]:10.4f}   goal {goal}")
    print(json.dumps(result["details"], indent=2))


if __name__ == "__main__":
    main()
