"""Single-flight reads: concurrent identical GETs through one client share one request.

Why: a notebook with several widgets watching the same training (progress bar, loss plot,
status badge) polls the same ``model/{guid}/`` at the same moments; one request answers them
all. Each caller still decodes its own copy of the answer and gets its own exception.

Consistency: a read only joins a request that started after this client's last write began
and ended (``invalidate`` around every POST), so a caller never sees a state older than its
own previous write. Like any poll, it may see the state of a moment just before its call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, tuple[int, asyncio.Task[T]]] = {}
        self._generation = 0
        self.joined = 0  # reads answered by another caller's request

    def invalidate(self) -> None:
        """A write started or ended: later reads must not join earlier requests."""
        self._generation += 1

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        entry = self._inflight.get(key)
        if entry is not None and entry[0] == self._generation and not entry[1].done():
            self.joined += 1
            # shield: a caller that gives up must not cancel the request others wait for
            return await asyncio.shield(entry[1])
        task: asyncio.Task[T] = asyncio.ensure_future(fetch())
        self._inflight[key] = (self._generation, task)
        task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        entry = self._inflight.get(key)
        if entry is not None and entry[1] is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning if every caller left
