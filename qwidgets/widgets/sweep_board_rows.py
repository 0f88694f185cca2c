"""What the SweepBoard shows of a sweep, as plain data: one compact row per configuration
(config columns, status, reason, progress, a decimated loss series, metric, train time), the
order of the rows for a sort column, and the static HTML form of the board.

Pure functions: no widget, no loop, so the kernel's view and the static form (a saved notebook,
an exported page) sort and show the same rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from qwidgets.widgets.base import escape
from qwidgets.widgets.decimate import minmax
from qwidgets.widgets.monitor_static import sparkline_svg

# Points of a row's sparkline in the browser: min/max pairs keep every spike of the loss.
SPARK_POINTS = 64
# The board's own columns, after the configuration's; any of them (or a config column) sorts.
FIXED = ("index", "status", "progress", "loss", "metric", "train_time_s")
FINAL = frozenset({"completed", "failed", "cancelled", "invalid"})
CANCELLABLE = frozenset({"queued", "pending", "processing"})


def cell(value: Any) -> Any:
    """A configuration value as the browser shows and sorts it: numbers, text, booleans and
    None stay; anything else becomes compact JSON text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return cell(value.item())
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def spark(loss: Sequence[float]) -> list[float | None]:
    """At most ``SPARK_POINTS`` values of the loss, min/max decimated; NaN becomes None."""
    if not len(loss):
        return []
    small = minmax(np.asarray(loss, dtype=np.float64), SPARK_POINTS)
    return [float(v) if math.isfinite(v) else None for v in small.y]


def row_view(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    """The synced form of one ``SweepRow``."""
    config: Mapping[str, Any] = getattr(row, "config", None) or {}
    loss = list(getattr(row, "loss", None) or [])
    last = _number(loss[-1]) if loss else None
    return {
        "index": int(row.index),
        "config": {c: cell(config.get(c)) for c in columns},
        "status": str(row.status),
        "reason": str(getattr(row, "reason", "") or ""),
        "progress": _number(getattr(row, "progress", 0.0)) or 0.0,
        "loss": spark(loss),
        "last_loss": last,
        "steps": len(loss),
        "metric": _number(getattr(row, "metric", None)),
        "train_time_s": _number(getattr(row, "train_time_s", None)),
        "guid": getattr(row, "guid", None) or None,
    }


def sort_value(row: Mapping[str, Any], column: str) -> Any:
    """What ``column`` sorts ``row`` by: None sorts last whatever the direction."""
    if column == "loss":
        return row.get("last_loss")
    if column in FIXED:
        return row.get(column)
    return (row.get("config") or {}).get(column)


def sorted_rows(rows: Iterable[Mapping[str, Any]], column: str,
                descending: bool) -> list[Mapping[str, Any]]:
    """Rows in the order of ``column`` (stable; None last; numbers before text when a column
    mixes them); ``column`` '' keeps the sweep's order."""
    rows = list(rows)
    if not column:
        return rows
    present = [r for r in rows if sort_value(r, column) is not None]
    absent = [r for r in rows if sort_value(r, column) is None]

    def key(row: Mapping[str, Any]) -> tuple[int, Any]:
        value = sort_value(row, column)
        if isinstance(value, (int, float)):  # bools too: False < True
            return (0, float(value))
        return (1, str(value))

    # Python's sort is stable also with reverse=True: equal rows keep the sweep's order.
    return sorted(present, key=key, reverse=descending) + absent


def counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for row in rows:
        found[str(row.get("status"))] = found.get(str(row.get("status")), 0) + 1
    return found


def summary_text(sweep_id: str, rows: Sequence[Mapping[str, Any]], done: bool) -> str:
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts(rows).items()))
    state = "done" if done else "running"
    return f"sweep {sweep_id or '-'} ({state}): {len(rows)} configurations" + (
        f", {tally}" if tally else "")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def board_html(state: Mapping[str, Any], losses: Mapping[int, Sequence[float]]) -> str:
    """The static form: a table of the rows in the board's sort order, a small SVG sparkline
    per row from the kernel's whole loss series; text only (every value escaped)."""
    rows: list[Mapping[str, Any]] = list(state.get("rows") or [])
    columns = [str(c) for c in state.get("columns") or []]
    metric = str(state.get("metric_name") or "metric")
    ordered = sorted_rows(rows, str(state.get("sort_by") or ""), bool(state.get("descending")))
    heads = ["#", *columns, "status", "progress", "loss", metric, "train time"]
    summary = summary_text(str(state.get("sweep_id") or ""), rows, bool(state.get("done")))
    parts = ["<div class='qw-static qw-sweep-static'>",
             f"<div><strong>Sweep</strong> {escape(summary)}</div>"]
    if state.get("error"):
        parts.append(f"<div style='color:#d32f2f'>{escape(state['error'])}</div>")
    parts.append("<table style='border-collapse:collapse'><thead><tr>")
    parts += [f"<th style='text-align:left;padding:2px 6px'>{escape(h)}</th>" for h in heads]
    parts.append("</tr></thead><tbody>")
    chosen = state.get("chosen_index")
    for row in ordered:
        index = int(row["index"])
        mark = " (chosen)" if chosen == index else ""
        status = str(row["status"]) + (f": {row['reason']}" if row.get("reason") else "")
        train = row.get("train_time_s")
        cells = [f"{index}{mark}", *(_fmt(row["config"].get(c)) for c in columns), status,
                 f"{float(row.get('progress') or 0):.0f}%"]
        parts.append("<tr>" + "".join(f"<td style='padding:2px 6px'>{escape(c)}</td>" for c in cells))
        svg = sparkline_svg(losses.get(index, []), width=96, height=20)
        parts.append(f"<td style='padding:2px 6px'>{svg}{escape(_fmt(row.get('last_loss')))}</td>")
        seconds = _fmt(train, 3) + " s" if train is not None else ""
        parts.append(f"<td style='padding:2px 6px'>{escape(_fmt(row.get('metric')))}</td>"
                     f"<td style='padding:2px 6px'>{escape(seconds)}</td></tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def board_text(state: Mapping[str, Any]) -> str:
    rows: list[Mapping[str, Any]] = list(state.get("rows") or [])
    return "SweepBoard(" + summary_text(str(state.get("sweep_id") or ""), rows,
                                        bool(state.get("done"))) + ")"
