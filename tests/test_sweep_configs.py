"""A sweep's configurations, before any server: what a grid expands to, the defaults a sweep
adds, and reasons that name the field the user wrote."""

from __future__ import annotations

import pandas as pd
import pytest

from qwidgets.client.qcog.sweep_configs import DEFAULT_STATE_ITERATIONS, expand, plan
from qwidgets.errors import ValidationError


def test_a_grid_gives_each_solver_only_the_fields_it_takes() -> None:
    rows = expand({"qbits": [2], "state_method": ["NP_EIGH", "LOBPCG_FAST"],
                   "state_iterations": [20, 40]})
    assert rows == [{"qbits": 2, "state_method": "NP_EIGH"},
                    {"qbits": 2, "state_method": "LOBPCG_FAST", "state_iterations": 20},
                    {"qbits": 2, "state_method": "LOBPCG_FAST", "state_iterations": 40}]


def test_a_grid_field_that_no_row_takes_is_refused_not_dropped() -> None:
    with pytest.raises(ValidationError) as caught:
        expand({"state_method": ["NP_EIGH"], "state_iterations": [20]})
    assert caught.value.field == "configs.state_iterations"
    assert "leave state_iterations out" in str(caught.value)


def test_an_iterative_solver_gets_an_iteration_budget_by_default() -> None:
    state = plan({"state_method": "LOBPCG_FAST"}, ["x", "y"], ["y"], 100).state
    assert state["iterations"] == DEFAULT_STATE_ITERATIONS
    assert plan({"state_method": "LOBPCG_FAST", "state_iterations": 7}, ["x", "y"], ["y"],
                100).state["iterations"] == 7
    assert "iterations" not in plan({}, ["x", "y"], ["y"], 100).state


def test_a_missing_field_is_named_as_the_sweep_spells_it() -> None:
    with pytest.raises(ValidationError) as caught:
        plan({"state_method": "GRAD"}, ["x", "y"], ["y"], 100)
    assert caught.value.field == "state_learning_rate"
    assert "'state_learning_rate' to the configuration" in str(caught.value)
    assert "state_kwargs" not in str(caught.value)


def test_integer_fields_stay_integers_beside_empty_cells() -> None:
    from qwidgets.client.qcog.sweep_rows import SweepRow, leaderboard

    rows = [SweepRow(0, {"model": "pauli", "qbits": 2}), SweepRow(1, {"model": "ensemble",
                                                                      "dim": 4})]
    board = leaderboard(rows, ["model", "qbits", "dim"], "accuracy")
    assert board.loc[0, "qbits"] == 2
    assert str(board["qbits"].dtype) == "Int64"
    assert board.loc[1, "qbits"] is pd.NA
