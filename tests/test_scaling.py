"""Feature checks and the standardization recorded with a model (qwidgets.protocol.scaling),
alone and through the client against the simulator: raw wine warns, a scaled model forecasts
in the caller's units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from qwidgets.errors import DataValidationError
from qwidgets.protocol.scaling import DataWarning, FrameScaling, check_features
from tests.client_support import client_for


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


def test_raw_wine_is_noticed_with_the_fix(wine: pd.DataFrame) -> None:
    notes = {n.kind: n for n in check_features(wine, ["target"])}
    assert set(notes) == {"scales", "classes"}
    assert notes["scales"].columns[0] == "proline"  # the largest spread is named
    assert "standardize" in notes["scales"].fix
    assert notes["classes"].columns == ["target"]
    assert "3 integer class labels (0, 1, 2)" in notes["classes"].message


def test_chosen_fixes_silence_their_notes_but_not_constant_columns(wine: pd.DataFrame) -> None:
    frame = wine.assign(flat=1.0)
    kinds = [n.kind for n in check_features(frame, ["target"], standardize=True,
                                            classes=["target"])]
    assert kinds == ["constant"]
    assert check_features(frame[["flat"]], ["flat"])[0].columns == ["flat"]


def test_a_continuous_or_count_target_is_not_called_classes() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=50), "y": rng.normal(size=50),
                          "count": np.arange(50)})
    assert [n for n in check_features(frame, ["y", "count"]) if n.kind == "classes"] == []


def test_standardization_round_trips_and_rounds_class_columns(wine: pd.DataFrame) -> None:
    scaling = FrameScaling.fit(wine, classes=["target"])
    scaled = scaling.apply(wine)
    features = scaled.drop(columns="target")
    assert np.allclose(features.mean(), 0, atol=1e-9)
    assert np.allclose(features.std(ddof=0), 1)
    assert scaled["target"].equals(wine["target"].astype(float))  # labels keep their values
    back = scaling.invert(scaled)
    assert np.allclose(back.to_numpy(), wine.to_numpy())
    noisy = scaled[["target"]].add(np.linspace(-0.45, 0.45, len(wine)), axis=0)
    assert scaling.invert(noisy)["target"].equals(wine["target"].astype(float))
    assert set(scaling.invert(scaled[["target"]] * 7)["target"]) <= {0.0, 1.0, 2.0}
    again = FrameScaling.from_dict(scaling.to_dict())
    assert again == scaling


def test_a_constant_column_keeps_its_unit_and_bad_classes_are_refused() -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 1.0], "b": [0.5, 1.5, 2.5]})
    scaling = FrameScaling.fit(frame)
    assert scaling.scale["a"] == 1.0
    assert np.isfinite(scaling.apply(frame).to_numpy()).all()
    with pytest.raises(DataValidationError, match="class labels"):
        FrameScaling.fit(frame, classes=["b"])


async def test_client_warns_on_raw_wine_and_scales_on_request(server, wine) -> None:
    client = await client_for(server.url, server.token)
    try:
        client.pauli(list(wine.columns), qbits=3, target_operator=["target"])
        with pytest.warns(DataWarning) as caught:
            await client.data(wine)
        assert {str(w.message).split(" ")[0] for w in caught} == {"features", "target"}
        assert client.scaling is None

        train, test = wine.iloc[::2], wine.iloc[1::2]
        await client.data(train, standardize=True, classes=["target"])
        await client.train(batch_size=100, num_passes=5)
        await client.wait_for_training(poll_time=0.05)
        assert client.scaling is not None
        forecast = await client.inference(test.drop(columns="target"),
                                          {"state_parameters": {"state_method": "NP_EIGH"}})
        # back in the caller's units: labels, and mostly right
        assert set(forecast["target"]) <= {0.0, 1.0, 2.0}
        assert (forecast["target"] == test["target"]).mean() > 0.85

        # the scaling is recorded with the model guid: another client finds it again
        other = await client_for(server.url, server.token)
        try:
            await other.preloaded_model(str(client.model_guid))
            assert other.scaling == client.scaling
        finally:
            await other.close()
    finally:
        await client.close()
