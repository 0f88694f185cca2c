"""When to retry a request and how long to wait before the next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# Statuses that say "try again later" rather than "your request is wrong".
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog's variant).

    Full jitter spreads the retries of many clients that failed together (a server restart
    during a classroom session) instead of having them hammer the server in lock-step.
    """

    attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # a server asking for longer is treated as unavailable

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (1, 2, ...)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return (rng or random).uniform(0, ceiling)

    def delay(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The server knows when it will be back; jitter on top avoids a thundering herd.
            return min(retry_after, self.max_retry_after) + self.backoff(1) / 4
        return self.backoff(failures)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
