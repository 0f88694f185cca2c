"""The whole loop in one panel: a DataFrame in, configure, train, watch, infer, browse.

A root container of the three widgets (form, monitor, grid), not one big widget: each part
keeps its own bundle and tests, and the dashboard only wires their events together.
"""

from __future__ import annotations

import asyncio
import html
import logging
from pathlib import Path
from typing import Any

import ipywidgets
import pandas as pd

from qwidgets.client import AsyncQcogClient
from qwidgets.errors import QwidgetsError
from qwidgets.widgets.base import QWidget
from qwidgets.widgets.config_form import ModelConfigForm
from qwidgets.widgets.grid import InferenceGrid
from qwidgets.widgets.holdout import (
    DASHBOARD_PAULI_WEIGHT,
    DASHBOARD_QBITS,
    HELD_OUT,
    SEED,
    HoldoutPanel,
    describe,
    score,
    split,
)
from qwidgets.widgets.monitor import TrainingMonitor

log = logging.getLogger(__name__)

_STATE = {"state_method": "NP_EIGH"}  # exact ground states for the forecasts shown


class Dashboard(ipywidgets.VBox):
    """``Dashboard(df)``: configure a model on ``df``'s columns, press Train, watch the
    training live (Cancel stops it on the server), then browse the forecast of the target
    operators next to their actual values.

    ``held_out`` of the rows (``seed`` picks them) are kept out of training; the forecast
    and its score (accuracy for class labels, MAE and R² otherwise) are on those rows.
    ``inference_data``: rows to forecast instead (any frame; scored if it holds the targets).
    """

    def __init__(self, data: pd.DataFrame | None = None, client: AsyncQcogClient | None = None,
                 *, inference_data: pd.DataFrame | None = None, held_out: float = HELD_OUT,
                 seed: int = SEED, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"Dashboard() got unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}; it accepts data, client, "
                            "inference_data, held_out, seed")
        self.data = data
        self.held_out: pd.DataFrame | None = None
        self.metrics: dict[str, float] = {}
        self.holdout = HoldoutPanel(self._resplit, held_out, seed)
        self.form = ModelConfigForm(data=data, client=client)
        self.monitor: TrainingMonitor | None = None
        self.grid: InferenceGrid | None = None
        self.inference_data = inference_data
        self.forecast: pd.DataFrame | None = None
        self._status = ipywidgets.HTML(self._status_html("Configure a model, then press Train."))
        self._monitor_box = ipywidgets.VBox()
        self._grid_box = ipywidgets.VBox()
        self.extra: list[QWidget] = []
        self._extra_box = ipywidgets.VBox()
        self._tasks: set[asyncio.Task[None]] = set()
        self.form.on_train(self._on_train)
        super().__init__(children=[self._status, self.holdout, self.form, self._monitor_box,
                                   self._grid_box, self._extra_box])
        self._dashboard_defaults()
        self.add_class("qw-dashboard")

    # ------------------------------------------------------------ the loop

    def _on_train(self, client: AsyncQcogClient, model: dict[str, Any] | None = None,
                  rows: pd.DataFrame | None = None) -> None:
        if self.monitor is not None:
            self.monitor.close()
        self.monitor = TrainingMonitor(client, title="Training")
        self._monitor_box.children = [self.monitor]
        # The previous forecast belongs to another model: gone from screen and attribute alike.
        self.forecast = None
        if self.grid is not None:
            self.grid.close()
            self.grid = None
        self._grid_box.children = []
        self._say(f"Training model {client.model_guid}…")
        task = asyncio.get_running_loop().create_task(self._follow(client, self.monitor, model, rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, client: AsyncQcogClient, monitor: TrainingMonitor,
                      model: dict[str, Any] | None = None,
                      rows: pd.DataFrame | None = None) -> None:
        try:
            status = await monitor.wait()
            if monitor is not self.monitor:
                return  # a newer training replaced this one
            if model is None:  # the form's own training
                self.form.training_ended(client.model_guid, status)
            if status != "completed":
                self._say(f"The training ended {status}: no forecast.")
                return
            self._say("Trained. Forecasting…")
            await self.infer(client, model, rows)
        except Exception as exc:  # shown, not lost in the log
            log.exception("dashboard step failed")
            self._say(f"{type(exc).__name__}: {exc}", error=True)

    async def use(self, client: AsyncQcogClient,
                  rows: pd.DataFrame | None = None) -> InferenceGrid | None:
        """Show a model trained elsewhere (a sweep's "Use this model"): its training in the
        monitor, then its forecast of ``rows`` (a sweep's held-out rows; by default the
        dashboard's own) in the grid. Returns the grid, or None if it did not complete."""
        if client.model_guid is None:
            raise QwidgetsError("this client has no model: pass one that trained or was "
                                "loaded with `await client.preloaded_model(guid)`")
        self._on_train(client, model=client.model, rows=rows)
        return await self.wait()

    async def wait(self) -> InferenceGrid | None:
        """Wait until the current training has ended and its forecast is shown (as pressing
        Train and watching would); returns the grid, or None if the training did not complete."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return self.grid

    async def infer(self, client: AsyncQcogClient, model: dict[str, Any] | None = None,
                    given: pd.DataFrame | None = None) -> InferenceGrid:
        """Forecast the targets on the held-out rows (or ``inference_data``, or ``given``)
        and show them beside the actual values, with their score. ``model``: the model's
        choice when it is not the form's (``client.model`` of a sweep's configuration)."""
        data, rows = (self._forecast_rows() if given is None else
                      (given, f"the {len(given):,} rows given (held out of the sweep)"))
        if data is None:
            raise QwidgetsError("no data to forecast: pass inference_data=df or data=df")
        if model is None:
            model = self.form.value.get("model", {})
        operators = [str(o) for o in model.get("operators") or []]
        targets = [str(t) for t in model.get("target_operators") or []] or operators[-1:]
        if not targets:
            raise QwidgetsError("the model has no operators to forecast")
        inputs = data[[c for c in data.columns if str(c) in operators and str(c) not in targets]]
        forecast = await client.inference(
            inputs, {"operators_to_forecast": targets, "state_parameters": _STATE})
        self.forecast = forecast
        actual = data[[c for c in data.columns if str(c) in targets]]
        self.metrics = {}
        if list(map(str, actual.columns)) == list(map(str, forecast.columns)):
            classes = client.scaling is not None and bool(client.scaling.classes)
            for (name, column), other in zip(actual.items(), forecast.columns, strict=True):
                found = score(column, forecast[other], classes)
                self.metrics.update(found if len(targets) == 1 else
                                    {f"{name} {k}": v for k, v in found.items()})
        self.holdout.show_result(f"On {rows}: " + (describe(self.metrics) or "no actual values"))
        grid = InferenceGrid(forecast, actual=actual if len(actual.columns) else None)
        if self.grid is not None:
            self.grid.close()
        self.grid = grid
        self._grid_box.children = [grid]
        self._say(f"Forecast of {', '.join(targets)} on {rows}, beside the actual values"
                  + (f": {describe(self.metrics)}." if self.metrics else "."))
        return grid

    # ------------------------------------------------------------ held-out rows, data notes

    def _dashboard_defaults(self) -> None:
        """Model size and fixes measured by bench/quality.py (see holdout.DASHBOARD_QBITS);
        each stays visible and undoable in the form and the panel."""
        value = dict(self.form.value)
        model = value.get("model")
        if isinstance(model, dict) and model.get("model_name", "pauli") == "pauli":
            value["model"] = {**model, "qbits": DASHBOARD_QBITS,
                              "pauli_weight": DASHBOARD_PAULI_WEIGHT}
            self.form.value = value
        self.form.standardize = True
        notes = [n for n in self.form.notes if n["kind"] == "classes"]
        self.form.classes = notes[0]["columns"] if notes else []
        ipywidgets.link((self.holdout.standardize, "value"), (self.form, "standardize"))
        self.holdout.classes.value = bool(self.form.classes)
        self.holdout.classes.observe(self._on_classes, "value")
        self.form.observe(self._on_form, ["value", "notes"])
        self._resplit()

    def _targets(self) -> list[str]:
        model = self.form.value.get("model") or {}
        operators = [str(o) for o in model.get("operators") or []]
        return [str(t) for t in model.get("target_operators") or []] or operators[-1:]

    def _on_classes(self, change: dict[str, Any]) -> None:
        self.form.classes = self._targets()[:1] if change["new"] else []

    def _on_form(self, change: dict[str, Any]) -> None:
        self.holdout.show_notes(self.form.notes)
        if change["name"] == "value":
            if self.form.classes and self.form.classes != self._targets()[:1]:
                self.holdout.classes.value = False
                self.form.classes = []
            self._resplit()

    def _resplit(self) -> None:
        """Give the form the training rows only; the rest are forecast after training."""
        if self.data is None:
            return
        targets = self._targets()
        try:
            train, held = split(self.data, self.holdout.fraction, int(self.holdout.seed.value),
                                targets[0] if len(targets) == 1 else None)
        except QwidgetsError as exc:
            self._say(str(exc), error=True)
            return
        self.held_out = self.data.iloc[held] if len(held) else None
        if self.form.data is None or not self.form.data.index.equals(self.data.index[train]):
            self.form.data = self.data.iloc[train]
        self.holdout.show_size(len(train), len(held))
        self.holdout.show_notes(self.form.notes)

    def _forecast_rows(self) -> tuple[pd.DataFrame | None, str]:
        if self.inference_data is not None:
            return self.inference_data, f"the {len(self.inference_data):,} rows given"
        if self.held_out is not None:
            seed = int(self.holdout.seed.value)
            return self.held_out, (f"{len(self.held_out):,} held-out rows ({self.holdout.fraction:.0%}"
                                   f", seed {seed}; not trained on)")
        data = self.form.data
        return data, "the training rows (none held out: an optimistic score)"

    def add(self, *panels: QWidget) -> Dashboard:
        """Join other panels (device queue gauges, a job timeline, a federated panel, a
        pipeline view, a sweep board: its "Use this model" then comes here) below the loop;
        they are part of ``save_html`` too."""
        for panel in panels:
            if not isinstance(panel, QWidget):
                raise TypeError(f"Dashboard.add takes qwidgets widgets, not {type(panel).__name__}")
        self.extra.extend(panels)
        self._extra_box.children = list(self.extra)
        for panel in panels:
            joined = getattr(panel, "joined", None)
            if callable(joined):  # a panel that hands models on (a sweep board) hands them here
                joined(self)
        return self

    # ------------------------------------------------------------ presentation

    def _say(self, text: str, error: bool = False) -> None:
        self._status.value = self._status_html(text, error)

    @staticmethod
    def _status_html(text: str, error: bool = False) -> str:
        style = "color: var(--jp-error-color1, #d32f2f)" if error else ""
        return (f"<div class='qw-dashboard-status' role='status' style='{style}'>"
                f"<b>qwidgets dashboard</b> · {html.escape(text)}</div>")

    @property
    def panels(self) -> list[QWidget]:
        return [w for w in (self.form, self.monitor, self.grid, *self.extra) if w is not None]

    def static_html(self) -> str:
        return self._status.value + "".join(p.static_html() for p in self.panels)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = dict(super()._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = " | ".join(p.static_text() for p in self.panels)
        data["text/html"] = self.static_html()
        return data

    def save_html(self, path: str | Path, title: str = "qwidgets dashboard") -> Path:
        """The form, the monitor and the grid as they are now, in one offline HTML file."""
        from qwidgets.export import save_html

        return save_html(path, *self.panels, title=title)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for panel in self.panels:
            panel.close()
        super().close()
