"""``%load_ext qwidgets``: magics for a dashboard, device queues, a watcher of every job
started in this kernel, and (opt-in) inference results shown as an InferenceGrid.

Every magic is a thin call of a plain function, so scripts and teaching material can do the
same without IPython's syntax:

=====================================  ============================================
magic                                  function
=====================================  ============================================
``%qw_dashboard [df]``                 ``qwidgets.dashboard(df)``
``%qw_devices``                        ``qwidgets.device_queues()``
``%qw_jobs``                           ``qwidgets.watch_jobs()``
``%qw_grid on`` / ``%qw_grid off``     ``qwidgets.show_inference_as_grid(True/False)``
=====================================  ============================================
"""

from __future__ import annotations

from typing import Any

from qwidgets.errors import QwidgetsError


def dashboard(data: Any = None, client: Any = None) -> Any:
    """The whole loop in one panel: DataFrame in, configure, train, watch, infer, browse."""
    from qwidgets.widgets.dashboard import Dashboard

    return Dashboard(data=data, client=client)


def device_queues(client: Any = None, **options: Any) -> Any:
    """Live queue gauges of the devices the client sees (the simulator's by default)."""
    from qwidgets.widgets.gauges import DeviceQueueGauges

    return DeviceQueueGauges(client=client, **options)


def watch_jobs() -> Any:
    """A panel that adds a live view for every training and hybrid job started in this kernel
    from now on."""
    from qwidgets.widgets.watcher import JobWatcher

    return JobWatcher()


_grid_formatter: dict[str, Any] = {}


def show_inference_as_grid(enable: bool = True) -> None:
    """Display DataFrames returned by ``inference`` as InferenceGrid (other frames unchanged)."""
    import pandas as pd
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        raise QwidgetsError("show_inference_as_grid needs IPython (a notebook or IPython shell)")
    formatter = ip.display_formatter.ipython_display_formatter
    if not enable:
        previous = _grid_formatter.pop("previous", None)
        formatter.type_printers.pop(pd.DataFrame, None)
        if previous is not None:
            formatter.for_type(pd.DataFrame, previous)
        return
    if "previous" not in _grid_formatter:
        _grid_formatter["previous"] = formatter.type_printers.get(pd.DataFrame)

    def display_frame(frame: pd.DataFrame) -> Any:
        if frame.attrs.get("qwidgets", {}).get("kind") != "inference":
            # Not ours: refuse, and IPython falls back to the normal HTML table.
            raise NotImplementedError
        from IPython.display import display

        from qwidgets.widgets.grid import InferenceGrid

        display(InferenceGrid(frame))
        return True

    formatter.for_type(pd.DataFrame, display_frame)


def load_ipython_extension(ipython: Any) -> None:
    from IPython.core.magic import Magics, line_magic, magics_class

    @magics_class
    class QwidgetsMagics(Magics):  # type: ignore[misc]
        @line_magic
        def qw_dashboard(self, line: str) -> Any:
            """%qw_dashboard [dataframe]: the dashboard, on a DataFrame of the namespace."""
            name = line.strip()
            data = None
            namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
            if name:
                if name not in namespace:
                    raise QwidgetsError(f"%qw_dashboard: no variable named {name!r} in this "
                                        "notebook; give the name of a pandas DataFrame")
                data = namespace[name]
            return dashboard(data)

        @line_magic
        def qw_devices(self, line: str) -> Any:
            """%qw_devices: live device queue gauges."""
            return device_queues()

        @line_magic
        def qw_jobs(self, line: str) -> Any:
            """%qw_jobs: watch every training and job started in this kernel from now on."""
            return watch_jobs()

        @line_magic
        def qw_grid(self, line: str) -> None:
            """%qw_grid on|off: show inference results as InferenceGrid."""
            word = line.strip().lower() or "on"
            if word not in ("on", "off"):
                raise QwidgetsError(f"%qw_grid takes 'on' or 'off', not {line.strip()!r}")
            show_inference_as_grid(word == "on")

    ipython.register_magics(QwidgetsMagics)


def unload_ipython_extension(ipython: Any) -> None:
    if _grid_formatter:
        show_inference_as_grid(False)
