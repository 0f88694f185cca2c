"""Coalesce bursts of widget updates: at most one flush per interval, and the last one always.

Jupyter drops comm messages past about 1,000/s, and a browser redraw more often than ~10/s
is wasted, so widgets mark themselves dirty and let this class decide when to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable


class Throttle:
    """Calls ``flush`` at most once per ``interval`` seconds; a ``request`` made while
    waiting is folded into the next flush, so the final state always goes out.

    Works with or without a running event loop: without one (plain scripts, tests that
    drive a widget synchronously) every request flushes at once if the interval has passed,
    and ``finish()`` sends whatever is pending.
    """

    def __init__(self, flush: Callable[[], None], interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive seconds, not {interval!r}")
        self._flush = flush
        self.interval = interval
        self._clock = clock
        self._last = -float("inf")
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None
        self.flushes = 0

    @property
    def pending(self) -> bool:
        return self._pending

    def request(self) -> None:
        """Something changed: flush now if the interval has passed, else soon."""
        self._pending = True
        wait = self._last + self.interval - self._clock()
        if wait <= 0:
            self._run()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: finish() sends it
            self._timer = loop.call_later(wait, self._run)

    def finish(self) -> None:
        """Send what is pending now (the final state), whatever the interval."""
        if self._pending:
            self._run()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _run(self) -> None:
        self.cancel()
        if not self._pending:
            return
        self._pending = False
        self._last = self._clock()
        self.flushes += 1
        self._flush()


async def sleep_or_wake(wake: asyncio.Event, seconds: float | None) -> None:
    """Sleep ``seconds`` (None: until woken), or less if ``wake`` is set (a Refresh or Cancel
    click); the event is cleared for the next sleep. Shared by the widgets' polling loops."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
    wake.clear()
