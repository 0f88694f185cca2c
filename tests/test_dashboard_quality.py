"""The issue's scenario: raw wine in the dashboard with its defaults, Train. The dashboard says
what in the data misleads, fixes it by default (undoably), trains on the rows it does not
forecast, and scores the held-out forecast, labelled as such."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_wine

from qwidgets.widgets.dashboard import Dashboard
from tests.client_support import client_for


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


async def test_raw_wine_with_the_defaults_gives_a_good_held_out_forecast(server, wine) -> None:
    client = await client_for(server.url, server.token)
    dash = Dashboard(wine, client)
    try:
        # the notes are shown with their fixes, and the fixes are on by default
        assert dash.form.standardize
        assert dash.holdout.standardize.value
        assert dash.form.classes == ["target"]
        assert dash.holdout.classes.value
        assert dash.form.notes == []  # both fixed; untick one and its note comes back
        dash.holdout.standardize.value = False
        assert [n["kind"] for n in dash.form.notes] == ["scales"]
        assert "proline" in dash.holdout.notes.value
        assert "proline" in dash.form.static_text()
        assert "await client.data(df, classes=['target'])" in dash.form.code()
        dash.holdout.standardize.value = True
        # the code says how the data is sent, as Train sends it
        assert "await client.data(df, standardize=True, classes=['target'])" in dash.form.code()
        assert "standardize=True" in dash.form._code

        assert dash.held_out is not None
        assert dash.form.data is not None
        assert len(dash.held_out) + len(dash.form.data) == len(wine)
        assert len(dash.held_out) == pytest.approx(0.3 * len(wine), abs=2)
        assert not set(dash.held_out.index) & set(dash.form.data.index)
        assert f"{len(dash.held_out)} held out" in dash.holdout.size.value

        await dash.form.train()
        grid = await dash.wait()
        assert grid is not None
        assert dash.forecast is not None
        assert list(dash.forecast.index) == list(dash.held_out.index)
        assert set(dash.forecast["target"]) <= {0.0, 1.0, 2.0}
        assert dash.metrics["accuracy"] > 0.9
        assert "held-out rows" in dash._status.value
        assert "accuracy" in dash._status.value
        assert "accuracy" in dash.holdout.result.value
    finally:
        dash.close()
        await client.close()


async def test_held_out_size_and_seed_are_settable(wine) -> None:
    dash = Dashboard(wine, held_out=0.2, seed=7)
    first = list(dash.held_out.index)  # type: ignore[union-attr]
    assert len(first) == pytest.approx(0.2 * len(wine), abs=2)
    dash.holdout.seed.value = 8
    assert list(dash.held_out.index) != first  # type: ignore[union-attr]
    dash.holdout.held_out.value = 0
    assert dash.held_out is None
    assert dash.form.data is not None
    assert len(dash.form.data) == len(wine)
    dash.close()


async def test_a_regression_target_is_scored_by_mae_and_r2(server) -> None:
    frame = load_diabetes(as_frame=True).frame
    client = await client_for(server.url, server.token)
    dash = Dashboard(frame, client)
    try:
        assert dash.form.classes == []
        await dash.form.train()
        await dash.wait()
        assert set(dash.metrics) == {"mae", "r2"}
        assert dash.metrics["r2"] > 0  # better than forecasting the mean
    finally:
        dash.close()
        await client.close()


async def test_any_frame_can_still_be_forecast_from_code(server, wine) -> None:
    client = await client_for(server.url, server.token)
    rows = wine.iloc[:10]
    dash = Dashboard(wine, client, inference_data=rows)
    try:
        await dash.form.train()
        await dash.wait()
        assert dash.forecast is not None
        assert list(dash.forecast.index) == list(rows.index)
        assert "the 10 rows given" in dash._status.value
    finally:
        dash.close()
        await client.close()
