"""The TrainingMonitor's static form: status, completion, final loss, an inline SVG sparkline
and the last log lines, as escaped HTML that needs no JavaScript (a saved notebook on a code
host, an exported page before its script runs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from qwidgets.widgets.base import escape
from qwidgets.widgets.decimate import minmax

SPARK_POINTS = 240


def sparkline_svg(values: npt.ArrayLike, width: int = 240, height: int = 48) -> str:
    """A polyline of the (decimated) series; empty string when nothing finite is there."""
    small = minmax(values, SPARK_POINTS)
    finite = np.isfinite(small.y)
    if not finite.any():
        return ""
    x, y = small.x[finite].astype(np.float64), small.y[finite]
    span_x = float(x[-1] - x[0]) or 1.0
    low, high = float(y.min()), float(y.max())
    span_y = (high - low) or 1.0
    px = 2 + (x - x[0]) / span_x * (width - 4)
    py = 2 + (high - y) / span_y * (height - 4)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    label = f"loss from {_num(float(y[0]))} to {_num(float(y[-1]))}, min {_num(low)}"
    return (f"<svg class='qw-spark' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
            f"role='img' aria-label='{escape(label)}' xmlns='http://www.w3.org/2000/svg'>"
            f"<polyline fill='none' stroke='currentColor' stroke-width='1.2' "
            f"points='{escape(points)}'/></svg>")


def monitor_html(state: Mapping[str, Any], values: npt.ArrayLike,
                 events: Sequence[Mapping[str, Any]], last_lines: int = 5) -> str:
    status = str(state.get("status") or "idle")
    completion = float(state.get("training_completion") or 0)
    loss = state.get("loss")
    rows = [
        f"<div class='qw-static qw-monitor-static' data-status='{escape(status)}'>",
        f"<div><strong>{escape(state.get('title') or 'Training')}</strong> "
        f"<span class='qw-badge' data-state='{escape(status)}'>{escape(status)}</span>"
        f" <span>{escape(f'{completion:.0f}')}% complete</span>"
        + (f" · loss {escape(_num(loss))}" if isinstance(loss, (int, float)) else "")
        + "</div>",
    ]
    if state.get("model_guid"):
        rows.append(f"<div style='opacity:.7'>model {escape(state['model_guid'])}</div>")
    for key in ("failure_reason", "error"):
        if state.get(key):
            rows.append(f"<div style='color:#d32f2f'>{escape(state[key])}</div>")
    if state.get("state_warning"):
        # The page's own text colour (readable on light and dark); the border marks it a warning.
        rows.append("<div class='qw-warning' role='status' style='border-left:3px solid #bf360c;"
                    f"padding-left:6px'>Warning: {escape(state['state_warning'])}</div>")
    spark = sparkline_svg(values)
    if spark:
        rows.append(f"<div>{spark}</div>")
    if events:
        rows.append("<ul style='margin:2px 0;padding-left:18px'>")
        for event in list(events)[-last_lines:]:
            rows.append(f"<li>{escape(event.get('time', ''))} {escape(event.get('text', ''))}</li>")
        rows.append("</ul>")
    rows.append("</div>")
    return "".join(rows)


def monitor_text(state: Mapping[str, Any]) -> str:
    status = state.get("status") or "idle"
    loss = state.get("loss")
    tail = f", loss {_num(loss)}" if isinstance(loss, (int, float)) else ""
    if state.get("state_warning"):
        tail += f"; warning: {state['state_warning']}"
    return (f"TrainingMonitor({status}, {float(state.get('training_completion') or 0):.0f}% "
            f"complete{tail})")


def _num(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"
