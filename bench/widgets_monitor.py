"""TrainingMonitor benchmark: the kernel-side cost of one update, and the messages reaching the
browser while updates pour in.

- ``monitor_update_cost_over_tqdm``: median per-update cost of ``monitor.push(loss)`` over the
  median per-iteration cost of ``tqdm.notebook.tqdm.update(1)`` (an ipywidgets progress bar),
  each over 100,000 updates, in alternating rounds of the same run (goal <= 2). With no
  browser attached both widgets still serialize their state into comm messages; that Python
  cost is what is measured.
- ``monitor_msgs_per_s``: comm messages per second while 100,000 values per second arrive on
  a running event loop for about two seconds (goal <= 10), counted at the comm.

    python bench/widgets_monitor.py      # one JSON object
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import statistics
import time
from typing import Any

import numpy as np

from qwidgets.widgets.monitor import TrainingMonitor

UPDATES = 100_000
ROUNDS = 5
RATE = 100_000  # values per second in the message count
SECONDS = 2.0


def _count_messages(widget: Any) -> list[float]:
    """Wraps the widget's comm so every message sent to the frontend is timestamped."""
    sent: list[float] = []
    publish = widget.comm.publish_msg

    def counting(*args: Any, **kwargs: Any) -> None:
        sent.append(time.monotonic())
        publish(*args, **kwargs)

    widget.comm.publish_msg = counting
    return sent


def _tqdm_round(n: int) -> float:
    from tqdm.notebook import tqdm

    # display=False: no IPython display outside a kernel; the widget bar still updates.
    with contextlib.redirect_stdout(io.StringIO()):
        bar = tqdm(total=n, display=False)
        started = time.perf_counter()
        for _ in range(n):
            bar.update(1)
        elapsed = time.perf_counter() - started
        bar.close()
    return elapsed / n


def _monitor_round(values: list[float]) -> float:
    monitor = TrainingMonitor()
    started = time.perf_counter()
    for v in values:
        monitor.push(v)
    monitor.finish()  # the final state is part of the cost
    elapsed = time.perf_counter() - started
    assert monitor._points == len(values)
    monitor.close()
    return elapsed / len(values)


async def _messages_at_rate(rate: int, seconds: float) -> tuple[float, int, int]:
    monitor = TrainingMonitor()
    sent = _count_messages(monitor)
    values = np.random.default_rng(0).normal(size=int(rate * seconds) + rate).tolist()
    pushed = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = min(int(elapsed * rate), len(values))
        for v in values[pushed:due]:
            monitor.push(v)
        pushed = due
        await asyncio.sleep(0.001)  # the loop runs between bursts, as in a kernel
    monitor.finish()
    elapsed = time.monotonic() - started
    assert monitor._points == pushed, "the last state must reach the browser"
    count = len(sent)
    monitor.close()
    return count / elapsed, count, pushed


def _flush_ms(points: int) -> float:
    """One refresh (min/max decimation and encoding) with a long history."""
    monitor = TrainingMonitor()
    monitor.push(np.cumsum(np.random.default_rng(1).normal(size=points)))
    times = []
    for _ in range(5):
        monitor._chart_dirty = True
        started = time.perf_counter()
        monitor._flush()
        times.append(time.perf_counter() - started)
    monitor.close()
    return min(times) * 1e3


def measure() -> dict[str, Any]:
    values = np.random.default_rng(2).normal(size=UPDATES).tolist()
    tqdm_costs, monitor_costs = [], []
    _tqdm_round(10_000), _monitor_round(values[:10_000])  # warm-up: imports, first allocations
    for _ in range(ROUNDS):
        tqdm_costs.append(_tqdm_round(UPDATES))
        monitor_costs.append(_monitor_round(values))
    tqdm_ns = statistics.median(tqdm_costs) * 1e9
    monitor_ns = statistics.median(monitor_costs) * 1e9
    per_s, count, pushed = asyncio.run(_messages_at_rate(RATE, SECONDS))
    return {
        "monitor_update_cost_over_tqdm": round(monitor_ns / tqdm_ns, 3),
        "monitor_msgs_per_s": round(per_s, 2),
        "monitor_push_ns": round(monitor_ns, 1),
        "tqdm_update_ns": round(tqdm_ns, 1),
        "monitor_msgs_counted": count,
        "monitor_values_pushed": pushed,
        "monitor_refresh_ms_1m_points": round(_flush_ms(1_000_000), 2),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
