"""The dashboard's honesty about data: a held-out split it never trains on (size and seed shown
and settable), the score of the forecast on those rows, and the data notes with their one-click
fixes (standardize, treat the target as classes).

The split and the scores live in ``qwidgets.protocol.holdout`` (plain numpy, shared with the
client's sweep); they are importable from here too.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets
import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.protocol.holdout import HELD_OUT, SEED, describe, score, split
from qwidgets.protocol.scaling import DataNote, check_features, default_targets

__all__ = ["DASHBOARD_PAULI_WEIGHT", "DASHBOARD_QBITS", "HELD_OUT", "SEED", "HoldoutPanel",
           "data_notes", "describe", "score", "split"]

# The dashboard's model size: 3 qubits (dimension 8), every Pauli string (weight 3). Measured
# on the dashboard's splits of breast_cancer, wine, iris (standardized, 5 passes, mean accuracy
# of 3 seeds): 2 qubits stay 5 to 13 points under scikit-learn on breast_cancer and iris;
# weight 2 gives wine 0.943 against 0.969 with weight 3; 4 qubits cost 3-10x the time for no
# steady gain.
DASHBOARD_QBITS = 3
DASHBOARD_PAULI_WEIGHT = 3


def data_notes(frame: pd.DataFrame | None, value: Mapping[str, Any], standardize: bool,
               classes: Sequence[str]) -> list[DataNote]:
    """The notes on the operators a form's ``value`` trains on (none while they are invalid:
    the form's errors say why)."""
    model = value.get("model")
    if frame is None or not isinstance(model, Mapping):
        return []
    operators = [str(o) for o in model.get("operators") or []]
    labels = {str(c): c for c in frame.columns}
    if not operators or any(o not in labels for o in operators):
        return []
    targets = default_targets(operators, model.get("target_operators") or [])
    try:
        return check_features(frame[[labels[o] for o in operators]], targets,
                              standardize=standardize, classes=classes)
    except ValidationError:
        return []


class HoldoutPanel(ipywidgets.VBox):
    """Held-out size and seed, the data notes with their fixes, and the held-out score."""

    def __init__(self, on_change: Callable[[], None], fraction: float = HELD_OUT,
                 seed: int = SEED) -> None:
        self.notes = ipywidgets.HTML()
        self.standardize = ipywidgets.Checkbox(
            value=True, description="Standardize features", indent=False,
            tooltip="train on (x - mean) / std; kept with the model, undone on its forecasts")
        self.classes = ipywidgets.Checkbox(
            value=False, description="Target is class labels", indent=False,
            tooltip="round forecasts to the nearest label and score them by accuracy")
        self.held_out = ipywidgets.BoundedIntText(
            value=round(100 * fraction), min=0, max=90, step=5, description="Held out %",
            tooltip="rows kept out of training; the forecast and its score are on these")
        self.seed = ipywidgets.BoundedIntText(value=seed, min=0, max=2**32 - 1,
                                              description="Split seed")
        self.size = ipywidgets.HTML()
        self.result = ipywidgets.HTML()
        for control in (self.held_out, self.seed):
            control.observe(lambda _change: on_change(), "value")
        super().__init__(children=[
            self.notes, ipywidgets.HBox([self.standardize, self.classes]),
            ipywidgets.HBox([self.held_out, self.seed, self.size]), self.result])
        self.add_class("qw-holdout")

    @property
    def fraction(self) -> float:
        return float(self.held_out.value) / 100

    def show_notes(self, notes: Sequence[Mapping[str, Any]]) -> None:
        """``notes``: DataNote.to_dict()s, as the form holds them."""
        items = "".join(f"<li><b>{html.escape(str(n['message']))}</b>. Fix: "
                        f"{html.escape(str(n['fix']))}</li>" for n in notes)
        self.notes.value = (f"<ul class='qw-data-notes' role='alert'>{items}</ul>"
                            if items else "")

    def show_size(self, training: int, held_out: int) -> None:
        self.size.value = (f"<span class='qw-split'>trains on {training:,} rows, "
                           f"{held_out:,} held out</span>")

    def show_result(self, text: str) -> None:
        self.result.value = f"<div class='qw-holdout-result'>{html.escape(text)}</div>"
