"""The main job: train and query a model on the embedded simulator, offline, from a DataFrame.

``python -m qwidgets demo --headless`` runs the same loop the dashboard drives (DataFrame ->
configure -> train -> watch -> infer) and prints what happened, for machines without a browser.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import pandas as pd


def demo_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three inputs and two targets: a linear relation and a product (XY = Z)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.uniform(-1, 1, (rows, 3)), columns=["x", "y", "w"])
    frame["linear"] = 0.6 * frame.x - 0.4 * frame.w
    frame["product"] = frame.x * frame.y
    return frame


async def run_headless(say: Callable[[str], None] = print, rows: int = 600) -> pd.DataFrame:
    from qwidgets.client import AsyncQcogClient

    frame = demo_frame(rows)
    train_rows, test_rows = frame.iloc[: rows * 5 // 6], frame.iloc[rows * 5 // 6:]
    say(f"data: {len(frame)} rows, columns {list(frame.columns)}; "
        f"training on {len(train_rows)}, forecasting {len(test_rows)}")
    async with await AsyncQcogClient.create() as client:
        say(f"simulator: {client.http_client!r}")
        client.ensemble(operators=list(frame.columns), dim=16, num_axes=64,
                        target_operator=["linear", "product"])
        await client.data(train_rows)
        say(f"dataset uploaded: {client.dataset_guid}")
        await client.train(batch_size=100, num_passes=20,
                           weight_optimization={"optimization_method": "ANALYTIC"},
                           get_states_extra={"state_method": "NP_EIGH"})
        say(f"training started: model {client.model_guid}")
        started = time.perf_counter()
        last = -1
        while (progress := await client.progress())["status"] in ("pending", "processing"):
            if progress["training_completion"] != last:
                last = progress["training_completion"]
                say(f"  {progress['status']:10s} {last:3d}%")
            await asyncio.sleep(0.2)
        await client.wait_for_training(poll_time=1)
        loss = await client.loss()
        say(f"completed in {time.perf_counter() - started:.1f} s; mean loss per pass "
            f"{np.mean(loss[0]):.4f} -> {np.mean(loss[-1]):.4f}")
        forecast = await client.inference(test_rows[["x", "y", "w"]], {"state_method": "NP_EIGH"})
    for column in forecast.columns:
        truth = test_rows[column]
        rmse = float(np.sqrt(np.mean((forecast[column] - truth) ** 2)))
        say(f"forecast {column:8s}: rmse {rmse:.3f} (predicting the mean: {truth.std():.3f})")
    return forecast
