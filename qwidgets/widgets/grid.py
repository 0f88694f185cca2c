"""InferenceGrid: a table of a DataFrame of any length that stays in the kernel.

The browser shows only the rows in view and asks for windows of them (offset, limit, sort,
filters); the kernel answers with binary buffers for numbers and JSON for text. Sorting and
filtering run in pandas/numpy here, once per view, on a worker thread so the kernel keeps
answering. Forecast columns that meet their actual values get an error column beside them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from traitlets import Bool, Dict, Int, List, Unicode, validate

from qwidgets.errors import QwidgetsError, ValidationError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import QWidget, bundle, escape
from qwidgets.widgets.frame_view import FrameView, ViewKey

STATIC_ROWS = 20  # rows in the static HTML form (a saved notebook without a kernel)
_STATIC_CELL = 80  # characters of one cell in that form
# Rows of the view kept in `_offline_rows`, which the notebook saves with the widget state: a
# reopened notebook's new kernel does not know the frame, and the browser shows these instead.
SAVED_ROWS = 200
# Above this many rows the constructor leaves the saved rows to the first window request
# (which runs on a worker thread): their summaries read every value.
_SAVED_AT_ONCE = 100_000


class InferenceGrid(QWidget):
    """A virtualized, sortable, filterable table of ``df``; with ``actual`` (a frame of the same
    rows), each forecast column is paired with its actual values and their difference.

    ``grid.df = other`` (or ``grid.update(other)``) shows another frame; ``grid.to_csv(path)``
    writes the rows in view, sorted and filtered as shown. The grid keeps sort orders and
    summaries of the frame it was given: after changing that frame in place, call
    ``grid.update(df)``.
    """

    _bundle_name = "grid"
    _esm = bundle("grid")

    sort_by = Unicode(None, allow_none=True,
                      help="Column the rows are sorted by; None keeps the frame's order.").tag(sync=True)
    descending = Bool(False, help="Sort from largest to smallest.").tag(sync=True)
    filters = Dict(help="{column: {'min': x, 'max': y}} for numbers, {column: {'contains': 'text'}} "
                   "for text; rows must pass every filter.").tag(sync=True)
    height = Int(360, help="Height of the rows area, in pixels.").tag(sync=True)

    _columns: List[dict[str, str]] = List(
        help="name, kind, dtype, role (pred/actual/error) and pair of each column").tag(sync=True)
    _index = Dict(help="the frame index: its name, and whether labels are row positions").tag(sync=True)
    _rows = Int(0, help="rows in the frame").tag(sync=True)
    _page_rows = Int(50, help="rows per page the browser asks for").tag(sync=True)
    _version = Int(0, help="bumped when the frame changes, so the browser drops its pages").tag(sync=True)
    _offline_rows = Dict(help="_offline_payload(): the first rows of the view as JSON, kept "
                         "for the view as last shown, for a notebook reopened without this "
                         "kernel").tag(sync=True)

    def __init__(self, df: pd.DataFrame, actual: pd.DataFrame | None = None, **kwargs: Any) -> None:
        # Only the shape, names and dtypes are read here (no copy, no sort); the saved rows of
        # a small frame (_save_rows) are the only values read.
        self._view = FrameView(df, actual)
        self._describe()
        super().__init__(**kwargs)
        self._requests.register(Request.WINDOW, self._on_window)
        self._requests.register(Request.SUMMARY, self._on_summary)
        self._requests.register(Request.EXPORT, self._on_export)
        self._save_rows()

    def _describe(self) -> None:
        view = self._view
        self._columns = [c.meta() for c in view.columns]
        self._index = {"name": view.index_name, "kind": view.index_kind}
        self._rows = view.rows
        self._page_rows = view.page_rows

    # ------------------------------------------------------------------ data

    @property
    def df(self) -> pd.DataFrame:
        return self._view.df

    @df.setter
    def df(self, df: pd.DataFrame) -> None:
        actual = self._view.actual
        if actual is not None and isinstance(df, pd.DataFrame) and len(df) != len(actual):
            raise ValidationError("actual", f"a frame of {len(actual)} rows", f"the new df has "
                                  f"{len(df)} rows, so the actual values no longer match",
                                  "call grid.update(df, actual=...) with both, or actual=None")
        self.update(df, actual)

    @property
    def actual(self) -> pd.DataFrame | None:
        return self._view.actual

    @property
    def columns(self) -> list[str]:
        """The grid's columns: the frame's, plus <name>_actual and <name>_error of each pair."""
        return self._view.names

    def update(self, df: pd.DataFrame, actual: pd.DataFrame | None = None) -> None:
        """Show another frame (and its actual values); sort and filters are reset."""
        view = FrameView(df, actual)
        with self.hold_sync():
            self._view = view
            self.filters = {}
            self.sort_by = None
            self.descending = False
            self._describe()
            self._version += 1
        self._save_rows()
        self.refresh_static()

    @property
    def view_key(self) -> ViewKey:
        return self._view.key(self.sort_by, self.descending, self.filters)

    def view_rows(self) -> int:
        """How many rows pass the filters."""
        return self._view.total(self.view_key)

    def head(self, n: int = STATIC_ROWS) -> pd.DataFrame:
        """The first ``n`` rows of the view, with every grid column."""
        return self._view.head_frame(self.view_key, n)

    def summary(self) -> pd.DataFrame:
        """dtype, count, missing and min/max/mean (numbers) or distinct values (text) per column."""
        return pd.DataFrame.from_dict(self._view.summaries(), orient="index")

    def to_csv(self, path: str | Path | None = None) -> str | None:
        """The view (sort and filters as shown) as CSV: written to ``path``, or returned."""
        return self._view.to_csv(self.view_key, path)

    def _save_rows(self) -> None:
        view, key = self._view, self.view_key
        if view.rows <= _SAVED_AT_ONCE:
            self._offline_rows = view.offline_payload(key, SAVED_ROWS)
            self._saved_for: tuple[FrameView, ViewKey] | None = (view, key)
        else:
            self._offline_rows = {}
            self._saved_for = None

    def _offline_payload(self, max_rows: int = 500) -> dict[str, Any]:
        """The first ``max_rows`` rows of the view as JSON, for a page with no kernel: with
        ``_offline`` true the browser sorts, filters and pages through them by itself."""
        if not isinstance(max_rows, int) or max_rows < 0:
            raise ValidationError("max_rows", max_rows, "a row count of 0 or more is needed")
        return self._view.offline_payload(self.view_key, max_rows)

    # ------------------------------------------------------------ validation

    @validate("sort_by")
    def _check_sort_by(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is not None:
            self._view.key(sort_by=value)
        return value

    @validate("filters")
    def _check_filters(self, proposal: Any) -> dict[str, Any]:
        return ViewKey(filters=self._view.normalize_filters(proposal["value"])).filter_dict()

    @validate("height")
    def _check_height(self, proposal: Any) -> int:
        value = proposal["value"]
        if value < 80:
            raise ValidationError("height", value, "at least 80 pixels are needed to show rows",
                                  "pass e.g. height=360")
        return value

    # -------------------------------------------------------------- requests

    def _fresh(self, version: Any) -> FrameView:
        if version is not None and version != self._version:
            raise QwidgetsError(f"stale request for version {version} of the frame; "
                                f"it is at version {self._version}")
        return self._view

    async def _on_window(self, offset: int = 0, limit: int = 50, sort_by: str | None = None,
                         descending: bool = False, filters: Any = None, version: Any = None
                         ) -> tuple[dict[str, Any], list[Any]]:
        view, served = self._fresh(version), self._version
        key = view.key(sort_by, descending, filters)
        result, buffers = await asyncio.to_thread(view.window, key, offset, limit)
        result["version"] = served
        if offset == 0 and (view, key) != self._saved_for and key == self.view_key:
            # The view as the reader sees it now is what a saved notebook should show.
            saved = await asyncio.to_thread(view.offline_payload, key, SAVED_ROWS)
            if view is self._view and key == self.view_key:
                self._offline_rows = saved
                self._saved_for = (view, key)
        if not view.has_order(key):
            view.order_future(key)  # sort the rest now, for when the reader scrolls on
        # No refresh_static() for a new sort or filter: replacing the display re-creates the
        # live view in JupyterLab (focus, scroll position and cached pages lost on every click).
        return result, buffers

    async def _on_summary(self, columns: list[str] | None = None, version: Any = None
                          ) -> dict[str, Any]:
        view = self._fresh(version)
        return await asyncio.to_thread(view.summaries, columns)

    async def _on_export(self, start: int = 0, sort_by: str | None = None, descending: bool = False,
                         filters: Any = None, version: Any = None) -> tuple[dict[str, Any], list[Any]]:
        view = self._fresh(version)
        key = view.key(sort_by, descending, filters)
        result, buffers = await asyncio.to_thread(view.export_chunk, key, start)
        return result, buffers

    # ------------------------------------------------------------ static form

    def static_text(self) -> str:
        names = self.columns
        shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
        return f"InferenceGrid: {self._view.rows:,} rows × {len(names)} columns ({shown})"

    def static_html(self) -> str:
        view, key = self._view, self.view_key
        head = view.head_frame(key, STATIC_ROWS)
        total = view.total(key)
        what = [f"{view.rows:,} rows × {len(view.columns)} columns"]
        if key.sort_by is not None:
            what.append(f"sorted by {key.sort_by} ({'descending' if key.descending else 'ascending'})")
        if key.filters:
            what.append(f"{len(key.filters)} filter(s): {total:,} rows match")
        cell = "border:1px solid #ccc;padding:2px 6px;white-space:nowrap"
        header = "".join(
            f"<th style='{cell}' title='{escape(c.dtype)}'>{escape(c.name)}"
            f"<br><small style='font-weight:normal;color:#666'>{escape(c.dtype)}</small></th>"
            for c in view.columns)
        index_name = escape(view.index_name)
        body = []
        for label, row in zip(head.index, head.itertuples(index=False, name=None), strict=True):
            cells = "".join(f"<td style='{cell}'>{escape(_cell(v))}</td>" for v in row)
            body.append(f"<tr><th style='{cell}'>{escape(_cell(label))}</th>{cells}</tr>")
        more = total - len(head)
        tail = f"<p style='margin:4px 0'>… {more:,} more rows</p>" if more > 0 else ""
        return (f"<div class='qw-static qw-grid-static'><p style='margin:4px 0'>InferenceGrid: "
                f"{escape('; '.join(what))}</p><div style='overflow:auto;max-height:480px'>"
                f"<table style='border-collapse:collapse;font-size:12px'><thead><tr>"
                f"<th style='{cell}'>{index_name}</th>{header}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table></div>{tail}</div>")


def _cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return "NaN" if value != value else f"{value:.6g}"
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    text = str(value)
    return text if len(text) <= _STATIC_CELL else text[: _STATIC_CELL - 1] + "…"
