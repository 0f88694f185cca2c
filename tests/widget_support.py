"""What the widget tests share: what a widget sends to the browser, counted at its comm, and a
wait for a condition that lets the loop run meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


class Wire:
    """Every message the widget sends to the frontend: (time, data, buffers)."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[tuple[float, dict[str, Any], list[Any]]] = []
        original = widget.comm.publish_msg

        def publish(msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
            self.messages.append((time.monotonic(), data or {}, list(buffers or [])))
            original(msg_type, data=data, metadata=metadata, buffers=buffers, **keys)

        widget.comm.publish_msg = publish

    def timed_updates(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, d["state"]) for t, d, _ in self.messages if d.get("method") == "update"]

    def updates(self) -> list[dict[str, Any]]:
        return [state for _, state in self.timed_updates()]

    def last(self) -> dict[str, Any]:
        """The state the browser holds: every update applied in order."""
        state: dict[str, Any] = {}
        for update in self.updates():
            state.update(update)
        return state

    def replies(self) -> list[dict[str, Any]]:
        return [d["content"] for _, d, _ in self.messages
                if d.get("method") == "custom" and d["content"].get("kind") == "reply"]

    def last_buffer(self, name: str) -> np.ndarray:
        """The float32 buffer ``name`` of the last update that carried it."""
        for _, data, buffers in reversed(self.messages):
            paths = data.get("buffer_paths") or []
            if [name] in paths:
                return np.frombuffer(bytes(buffers[paths.index([name])]), dtype="<f4")
        raise AssertionError(f"no update carried {name}")


async def until(predicate: Callable[[], Any], timeout: float = 60.0,
                what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def linear_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """x, y uniform in [-1, 1] and z = 0.5 x - 0.3 y: a target any model learns in a few passes."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df
