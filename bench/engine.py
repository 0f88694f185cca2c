"""Engine benchmarks, as ratios against baselines measured in the same run.

    python bench/engine.py          # a readable table
    python bench/engine.py --json   # one JSON object with the keys below

Keys: np_eigh_pass_over_bare_eigh (goal <= 1.3), iterative_pass_over_bare_eigh (goal <= 0.25),
iterative_loss_rel_diff (goal <= 0.01), speedup_vs_naive_loop (goal >= 10),
peak_mem_mb_100k_rows (goal < 1024), breast_cancer_accuracy (goal >= 0.90).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from qwidgets.protocol.params import validate_training_parameters
from qwidgets.sim.engine import infer, train
from qwidgets.sim.engine.parts import cores
from qwidgets.sim.engine.training import Trainer

ROWS, OPERATORS, QBITS, WEIGHT = 10_000, 8, 4, 2
GOALS = {
    "np_eigh_pass_over_bare_eigh": "<= 1.3",
    "iterative_pass_over_bare_eigh": "<= 0.25",
    "iterative_loss_rel_diff": "<= 0.01",
    "speedup_vs_naive_loop": ">= 10",
    "peak_mem_mb_100k_rows": "< 1024",
    "breast_cancer_accuracy": ">= 0.90",
}


def dataset(rows: int, seed: int = 0) -> np.ndarray:
    """Eight operators with a linear and a nonlinear relation between them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, OPERATORS))
    X[:, 6] = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.1 * rng.normal(size=rows)
    X[:, 7] = X[:, 2] * X[:, 3]
    return X


def params(state: dict[str, Any], passes: int = 1, batch: int = 1000) -> dict[str, Any]:
    return validate_training_parameters("pauli", {
        "model": {"operators": [f"o{k}" for k in range(OPERATORS)], "qbits": QBITS,
                  "pauli_weight": WEIGHT},
        "batch_size": batch, "num_passes": passes,
        "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 1,
                                       "learning_rate": 0.05},
        "state_kwargs": state,
    })


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pass_times(X: np.ndarray, state: dict[str, Any], passes: int) -> tuple[list[float], list[list[float]]]:
    """Wall time of every pass of one training, and its loss."""
    marks: list[float] = []
    trainer = Trainer("pauli", params(state, passes), X,
                      on_pass_end=lambda _: marks.append(time.perf_counter()))
    start = time.perf_counter()
    trainer.run()
    edges = [start, *marks]
    return [b - a for a, b in itertools.pairwise(edges)], trainer.loss


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
    Trainer("pauli", params({"state_method": "NP_EIGH"}, batch=10_000), X).run()
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


def run(repeat: int) -> dict[str, Any]:
    X = dataset(ROWS)
    stack_trainer = Trainer("pauli", params({"state_method": "NP_EIGH"}), X)
    from qwidgets.sim.engine.hamiltonian import Hamiltonian

    ham = Hamiltonian(stack_trainer.model.operator_stack(), stack_trainer.model.sigma)
    stack = ham.build(X).copy()
    bare = best_of(lambda: np.linalg.eigh(stack), repeat)

    np_pass = min(pass_times(X, {"state_method": "NP_EIGH"}, 1)[0][0] for _ in range(repeat))

    passes = 6
    np_times, np_loss = pass_times(X, {"state_method": "NP_EIGH"}, passes)
    iterative: dict[str, tuple[list[float], list[list[float]]]] = {}
    for method, state in {
        "LOBPCG_FAST": {"state_method": "LOBPCG_FAST", "iterations": 3, "tol": 1e-2},
        "POWER_ITER": {"state_method": "POWER_ITER", "iterations": 20, "tol": 1e-2},
    }.items():
        runs = [pass_times(X, state, passes) for _ in range(repeat)]
        times = np.min([r[0] for r in runs], axis=0)
        iterative[method] = (list(times), runs[0][1])
    final_np = float(np.mean(np_loss[-1]))

    def rel_diff(method: str) -> float:
        return abs(float(np.mean(iterative[method][1][-1])) - final_np) / final_np

    # The fastest method whose final loss stays within 1% of the exact run; if none does, the
    # most accurate one (a fast pass with a drifting loss does not count).
    accurate = [m for m in iterative if rel_diff(m) <= 0.01] or [min(iterative, key=rel_diff)]
    best_method = min(accurate, key=lambda m: float(np.median(iterative[m][0][1:])))
    warm_times, warm_loss = iterative[best_method]
    final_iter = float(np.mean(warm_loss[-1]))

    naive = best_of(lambda: naive_pass(X), 1)

    return {
        "np_eigh_pass_over_bare_eigh": np_pass / bare,
        "iterative_pass_over_bare_eigh": float(np.median(warm_times[1:])) / bare,
        "iterative_loss_rel_diff": abs(final_iter - final_np) / final_np,
        "speedup_vs_naive_loop": naive / np_pass,
        "peak_mem_mb_100k_rows": peak_memory_mb(),
        "breast_cancer_accuracy": breast_cancer_accuracy(),
        "details": {
            "bare_eigh_s": bare, "np_eigh_pass_s": np_pass, "naive_loop_pass_s": naive,
            "iterative_method": best_method,
            "iterative_warm_pass_s": {m: [round(t, 4) for t in v[0]] for m, v in iterative.items()},
            "np_eigh_passes_s": [round(t, 4) for t in np_times],
            "final_loss": {"NP_EIGH": final_np, best_method: final_iter},
            "loss_rel_diff_by_method": {m: rel_diff(m) for m in iterative},
            "rows": ROWS, "operators": OPERATORS, "qbits": QBITS, "pauli_weight": WEIGHT,
            "batch_size": 1000, "cores": cores(), "goals": GOALS,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the best time counts")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child()
        return
    result = run(args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    for key, goal in GOALS.items():
        print(f"{key:32s} {result[key]:10.4f}   goal {goal}")
    print(json.dumps(result["details"], indent=2))


if __name__ == "__main__":
    main()
