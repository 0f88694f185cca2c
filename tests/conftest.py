from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def linear_frame() -> pd.DataFrame:
    """A noiseless linear relation z = 0.5 x - 0.3 y on 400 rows."""
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.uniform(-1, 1, (400, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df


def training_params(**overrides: object) -> dict:
    params: dict = {
        "model": {"operators": ["x", "y", "z"], "qbits": 2, "pauli_weight": 2},
        "batch_size": 100,
        "num_passes": 3,
        "weight_optimization_kwargs": {"optimization_method": "ANALYTIC"},
        "state_kwargs": {"state_method": "NP_EIGH"},
    }
    params.update(overrides)
    return params
