"""Backing off a client address that keeps sending wrong tokens.

Tokens are compared in constant time, so guessing learns nothing from the timing, but nothing
limited the rate (1,266 guesses a second were measured). Once an address has sent ``allowed``
wrong tokens within ``window`` seconds it is refused with 429 for ``base`` seconds, doubling
with each further failure up to ``max_block``; while refused, its requests are not even checked, so a
guess made then is lost. The count clears once a window passes without a failure. The qcog,
federated and Braket routes share one throttle per server.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

MAX_TRACKED = 10_000  # addresses remembered at once; the quietest are dropped beyond that


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    strikes: int = 0


class AuthThrottle:
    """Per-address failure counts and the block each earns (thread-safe)."""

    def __init__(self, allowed: int = 20, window: float = 60.0, base: float = 1.0,
                 max_block: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        if allowed < 1 or window <= 0 or base <= 0 or max_block < base:
            raise ValueError("AuthThrottle needs allowed >= 1, window > 0 and "
                             "0 < base <= max_block")
        self.allowed = allowed
        self.window = window
        self.base = base
        self.max_block = max_block
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str) -> int | None:
        """Whole seconds until ``who`` may try again; None if it may now."""
        with self._lock:
            record = self._records.get(who)
            if record is None:
                return None
            left = record.blocked_until - self.clock()
            return math.ceil(left) if left > 0 else None

    def failed(self, who: str) -> None:
        now = self.clock()
        with self._lock:
            record = self._records.get(who)
            if record is None:
                if len(self._records) >= MAX_TRACKED:
                    self._prune(now)
                record = self._records[who] = _Record()
            while record.failures and record.failures[0] <= now - self.window:
                record.failures.popleft()
            if not record.failures:
                record.strikes = 0
            record.failures.append(now)
            if len(record.failures) >= self.allowed:
                if len(record.failures) > self.allowed:
                    record.failures.popleft()
                block = min(self.max_block, self.base * 2.0 ** record.strikes)
                record.strikes += 1
                record.blocked_until = now + block

    def _prune(self, now: float) -> None:
        quiet = [who for who, r in self._records.items()
                 if r.blocked_until <= now and (not r.failures
                                                or r.failures[-1] <= now - self.window)]
        for who in quiet:
            del self._records[who]
        if len(self._records) >= MAX_TRACKED:  # all busy: forget the oldest half
            order = sorted(self._records, key=lambda w: self._records[w].blocked_until)
            for who in order[: len(order) // 2]:
                del self._records[who]


def client_address(remote: str | None) -> str:
    """The key a request is counted under: its peer address (a unix socket has none)."""
    return remote or "local"


THROTTLE = web.AppKey("qwidgets_auth_throttle", AuthThrottle)
