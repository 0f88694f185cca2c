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
``%qw_sweep df grid [k=v ...]``        ``qwidgets.sweep_board(df, grid, k=v...)``
``%qw_sweep attach <id>``              ``qwidgets.sweep_board(sweep_id=id)``
=====================================  ============================================

``%qw_sweep``'s options: ``client=<name>`` (a client of the namespace; the embedded simulator's
by default), ``dashboard=<name>`` ("Use this model" hands the model there), ``target=<column>``
(``a,b`` for several; the last column by default), ``holdout=0.25``,
``metric=r2|mae|accuracy``, ``seed=0``, ``concurrency=4``.
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


def sweep_board(data: Any = None, configs: Any = None, *, client: Any = None,
                sweep_id: str | None = None, dashboard: Any = None, **options: Any) -> Any:
    """The live leaderboard of a sweep of ``configs`` (a list of flat dicts, or a grid
    ``{field: [values]}``) on ``data``, started now on the kernel's loop; or, with
    ``sweep_id``, of a sweep started before (after a kernel restart)."""
    from qwidgets.widgets.sweep_board import SweepBoard

    return SweepBoard.start(data, configs, client=client, sweep_id=sweep_id,
                            dashboard=dashboard, **options)


# %qw_sweep's key=value options: their parsers (the rest are names of the namespace).
_SWEEP_NUMBERS = {"holdout": float, "seed": int, "concurrency": int}
_SWEEP_WORDS = ("metric", "target")
_SWEEP_NAMES = ("client", "dashboard")


def parse_sweep_line(line: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The arguments of ``sweep_board`` from ``%qw_sweep``'s line."""
    words = line.split()
    usage = ("usage: %qw_sweep <dataframe> <configs> [target=<column> holdout=0.25 metric=r2 "
             "seed=0 concurrency=4 client=<name> dashboard=<name>], or %qw_sweep attach <sweep id>")
    if words[:1] == ["attach"]:
        if len(words) < 2:
            raise QwidgetsError(f"%qw_sweep attach needs the sweep's id; {usage}")
        found: dict[str, Any] = {"sweep_id": words[1]}
        rest = words[2:]
    else:
        positional = [w for w in words if "=" not in w]
        if len(positional) != 2:
            raise QwidgetsError(f"%qw_sweep takes a DataFrame and configurations by name, got "
                                f"{' '.join(positional) or 'nothing'}; {usage}")
        found = {"data": _named(positional[0], namespace),
                 "configs": _named(positional[1], namespace)}
        rest = [w for w in words if "=" in w]
    for word in rest:
        key, _, value = word.partition("=")
        if key in _SWEEP_NUMBERS:
            try:
                found[key] = _SWEEP_NUMBERS[key](value)
            except ValueError:
                raise QwidgetsError(f"%qw_sweep: {key}={value!r} is not a number") from None
        elif key in _SWEEP_WORDS:
            # target=a,b: several columns to forecast
            found[key] = value.split(",") if key == "target" and "," in value else value
        elif key in _SWEEP_NAMES:
            found[key] = _named(value, namespace)
        else:
            raise QwidgetsError(f"%qw_sweep: unknown option {word!r}; {usage}")
    return found


def _named(name: str, namespace: dict[str, Any]) -> Any:
    if name not in namespace:
        raise QwidgetsError(f"%qw_sweep: no variable named {name!r} in this notebook")
    return namespace[name]


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

        @line_magic
        def qw_sweep(self, line: str) -> Any:
            """%qw_sweep df configs [target=.. holdout=.. metric=.. seed=.. concurrency=..
            client=.. dashboard=..] | %qw_sweep attach <id>: a sweep's live leaderboard."""
            namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
            return sweep_board(**parse_sweep_line(line, namespace))

    ipython.register_magics(QwidgetsMagics)


def unload_ipython_extension(ipython: Any) -> None:
    if _grid_formatter:
        show_inference_as_grid(False)
