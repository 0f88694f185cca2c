"""What every live panel shares: ONE polling task on the kernel's running loop, its pacing
(fast while things change, slower while they do not, backing off while the service fails),
and throttled pushes of its state to the browser with the final state always sent.

A panel (``DeviceQueueGauges``, ``JobTimeline``, ``FederatedPanel``, ``TrainingMonitor``)
only says what one poll fetches and how it becomes traits (``_poll``), how fast to poll
(``pacing``) and how to open its default client (``_open_client``).

The kernel stays free: every wait is an ``await`` on its loop, never a sleep or a thread, so
other cells and the browser's requests run between two polls.
"""

from __future__ import annotations

import asyncio
import enum
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from traitlets import Bool, Unicode

from qwidgets.client.errors import UsageError
from qwidgets.errors import QwidgetsError
from qwidgets.widgets.base import QWidget
from qwidgets.widgets.requests import running_loop
from qwidgets.widgets.throttle import Throttle, sleep_or_wake

C = TypeVar("C")

# Eight pushes a second, not ten: the first and the final state go out at once, outside the
# rhythm, and the total must stay under ten messages a second.
UPDATE_INTERVAL = 0.125
# Exponents past this are capped: the intervals stopped growing long before, and a float
# power would overflow after a few days of quiet polling.
_MAX_EXPONENT = 64
# Closing an owned client is a task nobody awaits: held here so it is not collected mid-way.
_closing: set[asyncio.Task[Any]] = set()


class Polled(enum.Enum):
    """What one poll found; it decides the wait before the next one."""

    CHANGED = "changed"  # something new: poll again after the shortest interval
    UNCHANGED = "unchanged"  # nothing new: the interval grows
    ENDED = "ended"  # a final state (the job ended): polling stops
    FAILED = "failed"  # a problem worth retrying: back off
    REFUSED = "refused"  # a problem retrying cannot fix: polling stops


class PollingRefusedError(QwidgetsError):
    """Raised by a panel's ``_poll`` when polling cannot go on; its message is shown."""


@dataclass(frozen=True)
class Pacing:
    """Seconds between polls: ``fast`` after a change, growing by ``growth`` per quiet poll up
    to ``slow``; after failures, ``fast`` doubled per failure up to ``max_backoff``, with full
    jitter if ``jitter`` (so many panels on one service do not retry in step)."""

    fast: float
    slow: float | None = None  # None: always fast
    growth: float = 1.5
    max_backoff: float = 60.0
    jitter: bool = False

    def quiet(self, streak: int) -> float:
        """The wait after ``streak`` polls in a row that changed nothing (0: the last changed)."""
        slow = self.fast if self.slow is None else max(self.fast, self.slow)
        return min(slow, self.fast * self.growth ** min(streak, _MAX_EXPONENT))

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failed polls in a row."""
        ceiling = max(self.fast, min(self.max_backoff,
                                     self.fast * 2.0 ** min(failures, _MAX_EXPONENT)))
        if self.jitter:
            return max(self.fast, random.uniform(ceiling / 2, ceiling))
        return ceiling


class PollingPanel(QWidget, Generic[C]):
    """Base of the live panels. ``start()`` returns the one polling task (``asyncio.Task``),
    also when it already runs, and raises ``UsageError`` where no loop runs; ``stop()``
    returns None. See the module's docstring for what a subclass provides."""

    error = Unicode("", help="The last problem polling or acting on the service, '' if none"
                    ).tag(sync=True)
    polling = Bool(False, help="A polling task is running").tag(sync=True)

    # Exceptions of a poll: stop_on ends polling (checked first), retry_on backs off.
    stop_on: ClassVar[tuple[type[BaseException], ...]] = ()
    retry_on: ClassVar[tuple[type[BaseException], ...]] = (QwidgetsError, OSError,
                                                            asyncio.TimeoutError)
    # Failed polls in a row before giving up (None: retry for as long as the panel lives).
    max_failures: ClassVar[int | None] = None
    # Named in messages: what one poll reads, and the variable a notebook holds the panel in.
    polled: ClassVar[str] = "the service"
    handle: ClassVar[str] = "panel"
    # What a failed or refused poll shows: {exc} the problem, {panel} the panel.
    failure_text: ClassVar[str] = "cannot read {panel.polled}: {exc}"
    refusal_text: ClassVar[str] = "{exc} (polling stopped)"

    # Class-level defaults: close() also runs (from __del__) on an instance whose __init__
    # failed before these were set.
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None
    _throttle: Throttle
    _client: Any = None
    _owns_client = False

    def __init__(self, *, client: C | None = None, update_interval: float = UPDATE_INTERVAL,
                 **kwargs: Any) -> None:
        # before the traits are set: an observer may already stage state
        self._pending: dict[str, Any] = {}
        self._static_due = False
        self._throttle = Throttle(self._flush, update_interval)
        super().__init__(**kwargs)
        self._client = client
        self._owns_client = client is None
        self._quiet = 0
        self._next_delay = 0.0
        self.polls = 0
        self.failures = 0

    # ------------------------------------------------------------ what a panel provides

    async def _poll(self) -> Polled:
        """Fetch once and stage the new state; CHANGED, UNCHANGED or ENDED. Raise what
        ``retry_on`` / ``stop_on`` name on failure (or ``PollingRefusedError``)."""
        raise NotImplementedError

    async def _open_client(self) -> C:
        """The default client of the panel's service, when none was given."""
        raise NotImplementedError

    def pacing(self) -> Pacing:
        """How fast to poll, from the panel's current settings."""
        return Pacing(fast=1.0, slow=5.0)

    def _paused(self) -> bool:
        return False

    def _check_startable(self) -> None:
        """Raise if there is nothing to poll yet."""

    def _no_loop_hint(self) -> str:
        h = self.handle
        return (f"use `await {h}.watch()` (in a script: `asyncio.run({h}.watch())`), or "
                f"`await {h}.refresh()` to poll once")

    def _on_polling(self, active: bool) -> None:
        """Polling started or ended: ``polling`` (and a panel's own traits) follow."""
        self._stage(polling=active)

    def _on_failure(self, message: str) -> None:
        self._stage(error=message)

    def _on_recovered(self) -> None:
        self._stage(error="")

    def _on_refusal(self, message: str) -> None:
        self._stage(error=message)

    # ------------------------------------------------------------ control

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The polling task while polling, else None."""
        task = self._task
        return task if task is not None and not task.done() else None

    def start(self) -> asyncio.Task[None]:
        """Poll on the running loop (a Jupyter kernel's) until a final state, ``stop()`` or
        ``close()``. Returns the polling task, the one already running if any: a panel
        never has two. Raises ``UsageError`` where no loop runs (a plain script)."""
        self._check_startable()
        running = self.task
        if running is not None:
            return running
        loop = running_loop()
        if loop is None:
            raise UsageError(f"no running event loop to poll on: {self._no_loop_hint()}")
        self._wake = asyncio.Event()
        # Kept in self._task: a task nobody holds may be garbage collected mid-poll.
        self._task = loop.create_task(self._run(), name=f"qwidgets-{type(self).__name__}")
        self._on_polling(True)
        self._throttle_now()
        return self._task

    def _start_if_possible(self) -> asyncio.Task[None] | None:
        """``start()`` where a loop runs; None in a plain script (autostart from __init__)."""
        return self.start() if running_loop() is not None else None

    def stop(self) -> None:
        """Stop polling; the last state stays shown, goes to the browser now, and becomes
        the static form. Nothing happens when not polling."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        self._on_polling(False)
        self._send_now()

    def wake(self) -> None:
        """Poll now rather than at the end of the current wait (a setting changed, a click)."""
        wake, task = self._wake, self.task
        if wake is None:
            return
        home = task.get_loop() if task is not None else None
        if home is not None and running_loop() is not home:
            home.call_soon_threadsafe(wake.set)  # an Event is not thread-safe
        else:
            wake.set()

    async def watch(self) -> None:
        """Wait until polling ends (a final state, a refusal, ``stop()``, ``close()``),
        starting the polling task if none runs. Cancelling this wait (interrupting its cell)
        leaves the polling running."""
        task = self.start()
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this wait was cancelled, not the polling

    async def refresh(self) -> bool:
        """Poll once now, besides any polling task, and send the state at once. True if the
        service answered; otherwise ``error`` says why."""
        outcome = await self._poll_once()
        self._send_now()
        return outcome not in (Polled.FAILED, Polled.REFUSED)

    def close(self) -> None:
        self.stop()
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.cancel()
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            loop = running_loop()
            if loop is not None:  # no loop: nothing is open on one
                task = loop.create_task(client.close())
                _closing.add(task)
                task.add_done_callback(_closing.discard)
        super().close()

    # ------------------------------------------------------------ the task

    async def _connection(self) -> C:
        if self._client is None:
            self._client = await self._open_client()
        client: C = self._client
        return client

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        try:
            while True:
                if self._paused():
                    await sleep_or_wake(wake, None)
                    continue
                outcome = await self._poll_once()
                if outcome in (Polled.ENDED, Polled.REFUSED):
                    return
                await sleep_or_wake(wake, self._next_delay)
        finally:
            # stop() already did this; a task it replaced must not end its successor
            if self._task is asyncio.current_task():
                self._task = None
                self._on_polling(False)
                self._send_now()

    async def _poll_once(self) -> Polled:
        self.polls += 1
        try:
            outcome = await self._poll()
        except PollingRefusedError as exc:
            return self._refuse(str(exc))
        except self.stop_on as exc:
            return self._refuse(self.refusal_text.format(exc=exc, panel=self))
        except self.retry_on as exc:
            self.failures += 1
            message = self.failure_text.format(exc=exc, panel=self)
            if self.max_failures is not None and self.failures >= self.max_failures:
                return self._refuse(f"{message} ({self.failures} polls failed in a row; "
                                    f"`{self.handle}.start()` tries again)")
            self._next_delay = self.pacing().backoff(self.failures)
            if self.task is not None:
                message += f"; retrying in {_seconds(self._next_delay)}"
            self._on_failure(message)
            return Polled.FAILED
        if self.failures:
            self.failures = 0
            self._on_recovered()
        self._quiet = 0 if outcome is Polled.CHANGED else self._quiet + 1
        self._next_delay = self.pacing().quiet(self._quiet)
        return outcome

    def _refuse(self, message: str) -> Polled:
        self._on_refusal(message)
        return Polled.REFUSED

    # ------------------------------------------------------------ state for the browser

    def _stage(self, **values: Any) -> None:
        """Set these traits with the next throttled push (at most one per update interval;
        the last state always goes out)."""
        self._pending.update(values)
        self._throttle.request()

    def _staged(self, name: str) -> Any:
        """A trait's value as the next push will leave it."""
        return self._pending.get(name, getattr(self, name))

    def _throttle_now(self) -> None:
        """Push what is staged now, whatever the throttle."""
        self._throttle.finish()

    def _send_now(self) -> None:
        """Push what is staged now, whatever the throttle, and rewrite the static form (what a
        saved notebook shows): for a final state, or one a user asked for."""
        self._static_due = True
        self._throttle.request()
        self._throttle.finish()

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        with self.hold_sync():
            for name, value in pending.items():
                setattr(self, name, value)
        if self._static_due:
            self._static_due = False
            self.refresh_static()


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 10 else f"{delay:.0f} s"
