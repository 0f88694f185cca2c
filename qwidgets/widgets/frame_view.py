"""The data side of an InferenceGrid: a DataFrame that stays in the kernel, viewed through a
sort and filters, served one window of rows at a time.

A view's row order (an index permutation) is computed once per (sort, filters) and kept, so
paging through it costs a slice and a ``take`` per column. Windows carry numbers as binary
buffers and text as JSON, and stay under ``WINDOW_BUDGET`` bytes. No method here touches a
widget or a socket: the widget calls them, mostly from a worker thread.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.errors import ValidationError
from qwidgets.widgets.frame_columns import (
    TEXT_CAP,
    GridColumn,
    json_number,
    plan_columns,
    require_dataframe,
)
from qwidgets.widgets.frame_order import full_order, head_order

WINDOW_BUDGET = 100_000  # bytes of one window reply, JSON and buffers together
HEAD_MAX = 10_000  # windows ending above this row of a sorted view come from head_order
EXPORT_CHUNK_ROWS = 20_000  # rows of CSV per message to the browser
EXPORT_MAX_ROWS = 1_000_000  # a browser download holds at most this many rows
CSV_CHUNK_ROWS = 100_000  # rows per write of to_csv(path)
_ORDERS_KEPT = 4  # permutations kept: 80 MB each at 10,000,000 rows
_WIRE = {np.dtype(np.float64): "f8", np.dtype(np.int64): "i8", np.dtype(np.uint64): "u8",
         np.dtype(np.uint8): "b1"}

# Full sorts run one at a time, off the kernel's loop: numpy releases the GIL while it sorts,
# so the kernel keeps answering. Not the loop's default executor: a script that serves one
# window with asyncio.run() should not wait for a sort it never asked to finish.
_SORTS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwidgets-grid-sort")

Filters = tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]


@dataclass(frozen=True)
class ViewKey:
    """What defines a view's rows: the sort column and direction and the filters."""

    sort_by: str | None = None
    descending: bool = False
    filters: Filters = ()

    def unsorted(self) -> ViewKey:
        return ViewKey(None, False, self.filters)

    def filter_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dict(spec) for name, spec in self.filters}


class FrameView:
    """Windows, sorts, filters, summaries and CSV of one DataFrame (and its actual values)."""

    def __init__(self, df: Any, actual: Any = None) -> None:
        self.df = require_dataframe(df, "df")
        if actual is not None:
            require_dataframe(actual, "actual")
            if len(actual) != len(df):
                raise ValidationError(
                    "actual", f"a frame of {len(actual)} rows",
                    f"the actual values need one row per row of df ({len(df)} rows), in the same order",
                    "pass the actual values of the rows you ran inference on")
        self.actual: pd.DataFrame | None = actual
        self.columns: list[GridColumn] = plan_columns(df, actual)
        self.by_name = {c.name: c for c in self.columns}
        self.rows = len(df)
        index = df.index
        plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        self.index_kind = "position" if plain else "label"
        self.index_name = "" if index.name is None else str(index.name)
        self.page_rows = _page_rows(self.columns, self.index_kind)
        # Re-entrant: cancelling a queued sort runs its done-callback, which takes the lock too.
        self._lock = threading.RLock()
        self._orders: OrderedDict[ViewKey, np.ndarray | None] = OrderedDict()
        self._heads: OrderedDict[ViewKey, np.ndarray] = OrderedDict()
        self._pending: dict[ViewKey, Future[np.ndarray | None]] = {}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # ------------------------------------------------------------ view keys

    def key(self, sort_by: str | None = None, descending: bool = False,
            filters: Any = None) -> ViewKey:
        """The view for a sort and filters, checked against the columns."""
        if sort_by is not None and sort_by not in self.by_name:
            raise ValidationError("sort_by", sort_by, f"not a column of this grid, which has: "
                                  f"{self._hint()}", "pick one of grid.columns, or None")
        if not isinstance(descending, (bool, np.bool_)):
            raise ValidationError("descending", descending, "True or False is needed")
        return ViewKey(sort_by, bool(descending) and sort_by is not None,
                       self.normalize_filters(filters))

    def normalize_filters(self, filters: Any) -> Filters:
        """``{column: {"min": x, "max": y}}`` for numbers, ``{column: {"contains": "text"}}``
        for the rest, as a hashable tuple; empty filters are dropped."""
        if filters is None:
            return ()
        if not isinstance(filters, dict):
            raise ValidationError("filters", filters, "a dict {column: {'min': x, 'max': y}} or "
                                  "{column: {'contains': 'text'}} is needed", "pass {} for none")
        out = []
        for name, spec in filters.items():
            col = self.by_name.get(name)
            if col is None:
                raise ValidationError("filters", name, f"not a column of this grid, which has: "
                                      f"{self._hint()}", "check the spelling against grid.columns")
            field = f"filters.{name}"
            if not isinstance(spec, dict):
                raise ValidationError(field, spec, "a dict like {'min': 0, 'max': 1} or "
                                      "{'contains': 'text'} is needed")
            if col.numeric:
                extra = sorted(set(spec) - {"min", "max"})
                if extra:
                    raise ValidationError(field, spec, f"{name} is numeric: it filters by 'min' and "
                                          f"'max', not {', '.join(map(repr, extra))}",
                                          "use {'min': low, 'max': high}; either may be left out")
                low, high = _bound(spec.get("min"), f"{field}.min"), _bound(spec.get("max"), f"{field}.max")
                if low is not None and high is not None and low > high:
                    raise ValidationError(field, spec, "min must not be above max", "swap them")
                items: tuple[tuple[str, Any], ...] = tuple(
                    (k, v) for k, v in (("max", high), ("min", low)) if v is not None)
            else:
                extra = sorted(set(spec) - {"contains"})
                text = spec.get("contains", "")
                if extra or not isinstance(text, str):
                    raise ValidationError(field, spec, f"{name} holds {col.kind}: it filters by "
                                          "{'contains': 'some text'}", "pass a string to find")
                items = (("contains", text),) if text else ()
            if items:
                out.append((str(name), items))
        return tuple(sorted(out))

    def _hint(self) -> str:
        names = self.names
        shown = ", ".join(repr(n) for n in names[:12])
        return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")

    # ----------------------------------------------------------------- orders

    def _remember(self, key: ViewKey, rows: np.ndarray | None) -> None:
        with self._lock:
            self._orders[key] = rows
            self._orders.move_to_end(key)
            while len(self._orders) > _ORDERS_KEPT:
                self._orders.popitem(last=False)

    def _known(self, key: ViewKey) -> tuple[bool, np.ndarray | None]:
        with self._lock:
            if key in self._orders:
                self._orders.move_to_end(key)
                return True, self._orders[key]
            return False, None

    def filter_rows(self, key: ViewKey) -> np.ndarray | None:
        """The rows the filters keep, in frame order (None: every row)."""
        if not key.filters:
            return None
        fkey = key.unsorted()
        known, rows = self._known(fkey)
        if known:
            return rows
        mask: np.ndarray | None = None
        for name, spec in key.filters:
            col, found = self.by_name[name], dict(spec)
            part = (col.range_mask(found.get("min"), found.get("max")) if col.numeric
                    else col.contains_mask(found["contains"]))
            mask = part if mask is None else mask & part
        assert mask is not None  # key.filters is not empty
        rows = np.flatnonzero(mask).astype(np.int64, copy=False)
        self._remember(fkey, rows)
        return rows

    def total(self, key: ViewKey) -> int:
        rows = self.filter_rows(key)
        return self.rows if rows is None else len(rows)

    def order(self, key: ViewKey) -> np.ndarray | None:
        """Every row of the view in order (None: the frame's own order). Computed once."""
        if key.sort_by is None:
            return self.filter_rows(key)
        known, rows = self._known(key)
        if known:
            return rows
        keys, missing = self.by_name[key.sort_by].sort_key()
        rows = full_order(keys, missing, self.filter_rows(key), key.descending)
        self._remember(key, rows)
        with self._lock:
            self._heads.pop(key, None)
        return rows

    def order_future(self, key: ViewKey) -> Future[np.ndarray | None]:
        """The full order, computed on the sort thread; a newer view's sort goes before
        older ones that have not started."""
        known, rows = self._known(key)
        if known:
            done: Future[np.ndarray | None] = Future()
            done.set_result(rows)
            return done
        with self._lock:
            future = self._pending.get(key)
            if future is None:
                for older, waiting in list(self._pending.items()):
                    if waiting.cancel():
                        self._pending.pop(older, None)
                future = _SORTS.submit(self.order, key)
                self._pending[key] = future
                future.add_done_callback(partial(self._forget_pending, key))
            return future

    def _forget_pending(self, key: ViewKey, _done: Future[np.ndarray | None]) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def has_order(self, key: ViewKey) -> bool:
        return self._known(key)[0] or key.sort_by is None

    def head(self, key: ViewKey, k: int) -> np.ndarray:
        """The first ``k`` rows of a sorted view without sorting all of it."""
        with self._lock:
            got = self._heads.get(key)
        if got is not None and (len(got) >= k or len(got) == self.total(key)):
            return got[:k]
        keys, missing = self.by_name[str(key.sort_by)].sort_key()
        rows = head_order(keys, missing, self.filter_rows(key), key.descending, k)
        with self._lock:
            self._heads[key] = rows
            while len(self._heads) > 8:
                self._heads.popitem(last=False)
        return rows

    def positions(self, key: ViewKey, offset: int, limit: int) -> tuple[np.ndarray, int, int]:
        """Frame positions of view rows ``offset .. offset + limit``, the view's row count and
        the offset actually used (clamped to the view)."""
        base = self.filter_rows(key)
        total = self.rows if base is None else len(base)
        offset = min(max(0, int(offset)), total)
        stop = min(total, offset + max(0, int(limit)))
        if key.sort_by is None:
            rows = np.arange(offset, stop, dtype=np.int64) if base is None else base[offset:stop]
            return rows, total, offset
        known, full = self._known(key)
        if not known:
            if stop <= HEAD_MAX:
                # The whole head at once: sorting 10,000 keys costs nothing next to the
                # partition, and scrolling on through them needs no second partition.
                return self.head(key, HEAD_MAX)[offset:stop], total, offset
            try:
                full = self.order_future(key).result()
            except CancelledError:  # a newer view's sort went first: sort here instead
                full = self.order(key)
        assert full is not None
        return full[offset:stop], total, offset

    # ---------------------------------------------------------------- windows

    def window(self, key: ViewKey, offset: int, limit: int) -> tuple[dict[str, Any], list[Any]]:
        """Rows ``offset .. offset + limit`` of the view: numbers as binary buffers, text as
        JSON. At most two pages per request, and at most WINDOW_BUDGET bytes in all."""
        limit = min(int(limit), 2 * self.page_rows)
        rows, total, offset = self.positions(key, offset, limit)
        return self.encode(rows, offset, total)

    def encode(self, rows: np.ndarray, offset: int, total: int) -> tuple[dict[str, Any], list[Any]]:
        cap = TEXT_CAP
        while True:
            buffers: list[Any] = []

            def buffer(values: np.ndarray, buffers: list[Any] = buffers) -> int:
                buffers.append(memoryview(np.ascontiguousarray(values).data))
                return len(buffers) - 1

            if self.index_kind == "position":
                index: dict[str, Any] = {"encoding": "i8", "buffer": buffer(rows)}
            else:
                index = {"encoding": "json", "data": self.index_labels(rows)}
            columns = []
            for col in self.columns:
                if col.numeric:
                    values = col.take_numbers(rows)
                    columns.append({"name": col.name, "encoding": _WIRE[values.dtype],
                                    "buffer": buffer(values)})
                else:
                    columns.append({"name": col.name, "encoding": "json",
                                    "data": col.take_text(rows, cap)})
            result = {"offset": offset, "count": len(rows), "total": total, "index": index,
                      "columns": columns, "scales": self.scales()}
            if cap <= 8 or message_bytes(result, buffers) <= WINDOW_BUDGET:
                return result, buffers
            cap //= 4  # long text: show less of each cell rather than fewer rows

    def index_labels(self, rows: np.ndarray) -> list[str]:
        return [str(v) for v in self.df.index.take(rows).tolist()]

    def scales(self) -> dict[str, float]:
        return {c.name: c.error_scale() for c in self.columns if c.role == "error"}

    def summaries(self, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
        chosen = self.names if names is None else [n for n in names if n in self.by_name]
        return {name: self.by_name[name].summary() for name in chosen}

    # -------------------------------------------------------------- frames, CSV

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The view's rows as a DataFrame with every grid column, the frame's index kept."""
        out = self.df.iloc[rows]
        if all(c.source == "df" for c in self.columns):
            return out
        out = out.copy()
        for loc, col in enumerate(self.columns):
            if col.source != "df":
                out.insert(loc, col.name, col.take_series(rows).array)
        return out

    def head_frame(self, key: ViewKey, n: int) -> pd.DataFrame:
        return self.frame(self.positions(key, 0, n)[0])

    def to_csv(self, key: ViewKey, path: str | Path | None = None) -> str | None:
        """The whole view as CSV, written in chunks so no copy of the view is ever whole."""
        if path is None:
            buf = io.StringIO()
            self._write_csv(key, buf)
            return buf.getvalue()
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            self._write_csv(key, fh)
        return None

    def _write_csv(self, key: ViewKey, fh: Any) -> None:
        total, start = self.total(key), 0
        while True:
            stop = min(total, start + CSV_CHUNK_ROWS)
            rows = self.positions(key, start, stop - start)[0]
            self.frame(rows).to_csv(fh, header=start == 0)
            start = stop
            if start >= total:
                return

    def export_chunk(self, key: ViewKey, start: int) -> tuple[dict[str, Any], list[bytes]]:
        """One piece of the browser's CSV download: rows ``start ..`` as UTF-8 CSV text."""
        total = self.total(key)
        limit = min(total, EXPORT_MAX_ROWS)
        start = min(max(0, int(start)), limit)
        stop = min(limit, start + EXPORT_CHUNK_ROWS)
        rows = self.positions(key, start, stop - start)[0]
        text = self.frame(rows).to_csv(header=start == 0)
        capped = total > limit
        message = (f"the view has {total:,} rows; a browser download holds the first {limit:,}. "
                   "For all of them run grid.to_csv('view.csv') in the notebook") if capped else ""
        result = {"start": start, "count": len(rows), "next": stop if stop < limit else None,
                  "total": total, "limit": limit, "capped": capped, "message": message}
        return result, [text.encode("utf-8")]

    def offline_payload(self, key: ViewKey, max_rows: int) -> dict[str, Any]:
        """The first ``max_rows`` rows of the view as plain JSON, for a page with no kernel."""
        rows, total, _ = self.positions(key, 0, max_rows)
        data: dict[str, list[Any]] = {}
        for col in self.columns:
            if col.numeric:
                data[col.name] = [json_number(v) for v in col.take_numbers(rows)]
            else:
                data[col.name] = col.take_text(rows)
        index = rows.tolist() if self.index_kind == "position" else self.index_labels(rows)
        return {"columns": self.names, "data": data, "index": index, "rows": len(rows),
                "total": total, "frame_rows": self.rows, "summaries": self.summaries(),
                "scales": self.scales()}


def message_bytes(content: dict[str, Any], buffers: list[Any]) -> int:
    """Bytes of a custom message as the Jupyter packer writes it: JSON plus raw buffers."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False)
    return len(text.encode("utf-8")) + sum(memoryview(b).nbytes for b in buffers)


def _bound(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValidationError(field, value, "a number (or None for no bound) is needed",
                              "pass e.g. 0.5")
    if not np.isfinite(value):
        raise ValidationError(field, value, "a finite number is needed", "leave it out for no bound")
    return float(value)


def _page_rows(columns: list[GridColumn], index_kind: str) -> int:
    """Rows per page, so that two pages of typical rows stay under WINDOW_BUDGET; long text is
    cut to fit (see ``FrameView.encode``)."""
    per_row = (8 if index_kind == "position" else 24) + sum(8 if c.numeric else 64 for c in columns)
    return int(min(100, max(4, WINDOW_BUDGET // 2 // per_row)))
