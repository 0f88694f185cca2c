"""Forecast quality of the dashboard's defaults against scikit-learn, on the same split.

    python bench/quality.py          # a readable table
    python bench/quality.py --json   # one JSON object with the keys below

For each of breast_cancer, wine, iris (classification: accuracy) and diabetes (regression: R²),
a ``Dashboard`` on the raw frame (``load_<name>(as_frame=True).frame``) with nothing changed
is trained on the embedded simulator and its held-out forecast scored, over 3 split seeds
(held-out 30%). scikit-learn fits the very same training rows (``dash.form.data``) and is
scored on the same held-out rows.

Keys: ``defaults_<name>_score`` (mean over seeds), ``sklearn_best_<name>_score`` (the best mean
of LogisticRegression / RBF-SVC / MLP, or LinearRegression / RBF-SVR / MLP for diabetes, each
on standardized features), ``baseline_<name>_score`` (majority class / training mean) and
``goal_met``: every classification set within 5 points of sklearn's best, and every set at or
above its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwidgets.client import AsyncQcogClient
from qwidgets.widgets.dashboard import Dashboard

SETS = {"breast_cancer": True, "wine": True, "iris": True, "diabetes": False}  # classes?
SEEDS = (0, 1, 2)
HELD_OUT = 0.3
MARGIN = 0.05  # "within 5 points" of accuracy


def sklearn_scores(train: pd.DataFrame, test: pd.DataFrame, classes: bool) -> dict[str, float]:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    models: dict[str, Any] = (
        {"logistic": LogisticRegression(max_iter=2000), "rbf_svc": SVC(),
         "mlp": MLPClassifier(max_iter=2000, random_state=0)} if classes else
        {"linear": LinearRegression(), "rbf_svr": SVR(),
         "mlp": MLPRegressor(max_iter=2000, random_state=0)})
    x, y = train.drop(columns="target"), train["target"]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence chatter
        for name, model in models.items():
            fitted = make_pipeline(StandardScaler(), model).fit(x, y)
            out[name] = float(fitted.score(test.drop(columns="target"), test["target"]))
    return out


def baseline(train: pd.DataFrame, test: pd.DataFrame, classes: bool) -> float:
    actual = test["target"].to_numpy(dtype=np.float64)
    if classes:
        return float(np.mean(actual == train["target"].mode().iloc[0]))
    guess = float(train["target"].mean())
    return 1.0 - float(np.sum((actual - guess) ** 2)) / float(np.sum((actual - actual.mean()) ** 2))


async def one_run(client: AsyncQcogClient, name: str, seed: int) -> dict[str, Any]:
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    dash = Dashboard(frame, client, held_out=HELD_OUT, seed=seed)
    try:
        start = time.perf_counter()
        await dash.form.train()
        await dash.wait()
        seconds = time.perf_counter() - start
        train, test = dash.form.data, dash.held_out
        if train is None or test is None or not dash.metrics:
            raise RuntimeError(f"{name}, seed {seed}: no held-out score ({dash._status.value})")
        classes = SETS[name]
        return {"defaults": dash.metrics["accuracy" if classes else "r2"],
                "sklearn": sklearn_scores(train, test, classes),
                "baseline": baseline(train, test, classes), "seconds": seconds,
                "notes": [n["kind"] for n in Dashboard(frame).form.notes]}
    finally:
        dash.close()


async def measure() -> tuple[dict[str, Any], dict[str, Any]]:
    keys: dict[str, Any] = {}
    details: dict[str, Any] = {}
    met = True
    async with await AsyncQcogClient.create() as client:
        for name, classes in SETS.items():
            runs = [await one_run(client, name, seed) for seed in SEEDS]
            defaults = float(np.mean([r["defaults"] for r in runs]))
            per_model = {m: float(np.mean([r["sklearn"][m] for r in runs]))
                         for m in runs[0]["sklearn"]}
            best = max(per_model.values())
            base = float(np.mean([r["baseline"] for r in runs]))
            keys[f"defaults_{name}_score"] = round(defaults, 4)
            keys[f"sklearn_best_{name}_score"] = round(best, 4)
            keys[f"baseline_{name}_score"] = round(base, 4)
            ok = defaults >= base and (not classes or defaults >= best - MARGIN)
            met = met and ok
            details[name] = {"metric": "accuracy" if classes else "r2", "goal_met": ok,
                             "per_seed": [round(r["defaults"], 4) for r in runs],
                             "sklearn": {m: round(v, 4) for m, v in per_model.items()},
                             "seconds_per_run": round(float(np.mean([r["seconds"] for r in runs])), 2)}
    keys["goal_met"] = met
    return keys, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    keys, details = asyncio.run(measure())
    if args.json:
        print(json.dumps({**keys, "details": details}))
        return
    print(f"{'set':<14}{'metric':<10}{'defaults':>10}{'sklearn best':>14}{'baseline':>10}  goal")
    for name in SETS:
        d = details[name]
        print(f"{name:<14}{d['metric']:<10}{keys[f'defaults_{name}_score']:>10.3f}"
              f"{keys[f'sklearn_best_{name}_score']:>14.3f}{keys[f'baseline_{name}_score']:>10.3f}"
              f"  {'met' if d['goal_met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
