"""Entry point ``qwidgets.sim.braket.programs.train:main``: train an engine model inside a hybrid
job, with the hyperparameters of ``qwidgets.protocol.train_job``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.protocol.train_job import FIELD, engine_parameters, parse
from qwidgets.sim import engine
from qwidgets.sim.braket.job_programs import JobContext
from qwidgets.sim.engine.training import Progress


def generated_frame(rows: int, noise: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    frame["z"] = 0.5 * frame.x - 0.3 * frame.y + noise * rng.standard_normal(rows)
    return frame


def main(context: JobContext) -> dict[str, Any]:
    spec = parse(context.hyperparameters)
    given = context.input_data.get("input")
    frame = given if given is not None else generated_frame(spec.rows, spec.noise, spec.data_seed)
    operators = spec.operators or [str(c) for c in frame.columns]
    missing = [op for op in operators if op not in map(str, frame.columns)]
    if missing:
        raise ValidationError(f"{FIELD}.operators", ",".join(operators),
                              f"names columns the data lacks: {missing}",
                              f"use columns of {[str(c) for c in frame.columns]}")
    frame = frame.loc[:, [c for c in frame.columns if str(c) in operators]]
    params = engine_parameters(spec, operators)
    step = 0

    def progress(p: Progress) -> None:
        nonlocal step
        if p.current_batch_completion >= 100:
            step += 1
            context.log_metric("loss", float(p.loss), step)

    trained = engine.train(spec.model, params, frame, progress=progress,
                           should_stop=context.should_stop)
    final = trained.loss[-1] if trained.loss else []
    return {
        "algorithm": "qwidgets.sim.braket.programs.train:main",
        "model": spec.model,
        "operators": operators,
        "rows": len(frame),
        "data": "input channel" if given is not None else
                f"generated: z = 0.5 x - 0.3 y + {spec.noise:g} noise, seed {spec.data_seed}",
        "num_passes": params["num_passes"],
        "loss": trained.loss,
        "final_loss": float(np.mean(final)) if final else None,
    }
