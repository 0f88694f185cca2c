"""Batches cut into parts solved on threads: same answers on any number of cores, BLAS held to
one thread only while parts run."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

import qwidgets.sim.engine.parts as parts_module
from qwidgets.sim.engine import infer, train
from qwidgets.sim.engine.parts import PART_ROWS, map_parts, parts


@pytest.mark.parametrize("count", [0, 1, PART_ROWS - 1, PART_ROWS, PART_ROWS + 1, 1000, 1300, 10_000])
def test_parts_cover_every_row_once_and_none_is_tiny(count: int) -> None:
    cut = parts(count)
    covered = np.concatenate([np.arange(count)[s] for s in cut]) if cut else np.arange(0)
    np.testing.assert_array_equal(covered, np.arange(count))
    if len(cut) > 1:
        assert min(s.stop - s.start for s in cut) >= PART_ROWS // 2
        assert max(s.stop - s.start for s in cut) < 2 * PART_ROWS


def test_results_come_back_in_part_order_from_several_threads(monkeypatch) -> None:
    monkeypatch.setattr(parts_module, "cores", lambda: 4)
    seen: set[str] = set()

    def work(part: slice, rng: np.random.Generator) -> int:
        seen.add(threading.current_thread().name)
        return part.start

    starts = map_parts(work, 40 * PART_ROWS, np.random.default_rng(0))
    assert starts == [k * PART_ROWS for k in range(40)]
    assert any(name.startswith("qwidgets-rows") for name in seen)


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_is_one_thread_inside_parts_and_restored_after(monkeypatch) -> None:
    monkeypatch.setattr(parts_module, "cores", lambda: 2)
    before = _blas_threads()
    assert before, "numpy's BLAS is not visible to threadpoolctl"
    inside = map_parts(lambda part, rng: _blas_threads(), 4 * PART_ROWS, np.random.default_rng(0))
    assert all(threads == [1] * len(before) for threads in inside)
    assert _blas_threads() == before


def _frame(rows: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["x", "y", "w"])
    df["z"] = 0.5 * df.x - 0.3 * df.y + 0.1 * rng.normal(size=rows)
    return df


@pytest.mark.parametrize("state", [
    {"state_method": "NP_EIGH"},
    {"state_method": "POWER_ITER", "iterations": 5, "tol": 1e-3},  # draws random starts
    {"state_method": "LOBPCG_FAST", "iterations": 3, "tol": 1e-3},
], ids=lambda s: s["state_method"])
def test_training_and_inference_do_not_depend_on_the_core_count(monkeypatch, state: dict) -> None:
    df = _frame()
    params = {
        "model": {"operators": list(df.columns), "qbits": 3, "pauli_weight": 2, "seed": 7},
        "batch_size": 1500, "num_passes": 3,
        "weight_optimization_kwargs": {"optimization_method": "GRAD", "iterations": 1,
                                       "learning_rate": 0.05},
        "state_kwargs": state,
    }
    results = []
    for cores in (1, 3):
        monkeypatch.setattr(parts_module, "cores", lambda cores=cores: cores)
        model = train("pauli", params, df)
        results.append((model.loss, infer(model, df[["x", "y", "w"]])))
    (loss_1, forecast_1), (loss_3, forecast_3) = results
    np.testing.assert_allclose(loss_1, loss_3, rtol=1e-12)
    pd.testing.assert_frame_equal(forecast_1, forecast_3, rtol=1e-10)
