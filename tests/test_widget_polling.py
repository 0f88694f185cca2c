"""PollingPanel, the base of the live panels, on a scripted panel: one task however often
start() is called, stop() sending the final state at once, backoff while polls fail and giving
up on a refusal, the final state always pushed, and at most ten pushes a second."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from traitlets import Int

from qwidgets.client.errors import NotFoundError, UsageError
from qwidgets.widgets.polling import Pacing, Polled, PollingPanel
from tests.widget_support import Wire, until

QUICK = Pacing(fast=0.01, slow=0.04, max_backoff=0.16)


class Scripted(PollingPanel[Any]):
    """Each poll plays the next step: an exception is raised, a Polled is returned after the
    value went up by one; past the script, every poll changes the value."""

    _esm = "export default { render() {} }"
    value = Int(0).tag(sync=True)
    stop_on = (NotFoundError,)
    retry_on = (OSError,)
    handle = "scripted"

    def __init__(self, script: list[Any] | None = None,
                 pace: Pacing = QUICK,
                 **kwargs: Any) -> None:
        super().__init__(client=object(), **kwargs)
        self.script = list(script or [])
        self.pace = pace
        self.called: list[float] = []

    def pacing(self) -> Pacing:
        return self.pace

    async def _poll(self) -> Polled:
        self.called.append(time.monotonic())
        step = self.script.pop(0) if self.script else Polled.CHANGED
        if isinstance(step, BaseException):
            raise step
        self._stage(value=self._staged("value") + 1)
        return step


async def test_one_task_however_often_start_is_called_and_stop_sends_the_last_state() -> None:
    panel = Scripted()
    wire = Wire(panel)
    task = panel.start()
    assert isinstance(task, asyncio.Task)
    assert panel.start() is task
    assert panel.task is task
    await until(lambda: panel.polls >= 5)
    assert panel.start() is task  # still the one task while it polls
    panel.stop()
    assert panel.task is None
    # sent at once, not at the next throttle tick: the browser shows "stopped" now
    assert wire.last()["polling"] is False
    assert wire.last()["value"] == panel.value == panel.polls
    polls = panel.polls
    await asyncio.sleep(0.1)
    assert task.cancelled()
    assert panel.polls == polls
    panel.stop()  # stopping a stopped panel does nothing
    # a new start() gets a new task; the old one's ending leaves it alone
    again = panel.start()
    assert again is not task
    await until(lambda: panel.polls >= polls + 3)
    assert panel.polling is True
    panel.close()
    assert panel.task is None


def test_start_without_a_running_loop_says_what_to_do() -> None:
    panel = Scripted()
    with pytest.raises(UsageError, match=r"await scripted\.watch\(\)"):
        panel.start()
    assert panel._start_if_possible() is None  # what autostart in __init__ uses
    panel.close()


async def test_failures_back_off_and_a_success_clears_the_error() -> None:
    panel = Scripted([OSError("down"), OSError("down"), OSError("down"), Polled.ENDED],
                     pace=Pacing(fast=0.02, slow=0.02, max_backoff=0.16))
    seen: list[tuple[int, str]] = []
    original = panel._on_failure

    def on_failure(message: str) -> None:
        seen.append((panel.failures, message))
        original(message)

    panel._on_failure = on_failure  # type: ignore[method-assign]
    await asyncio.wait_for(panel.watch(), 10)
    assert [n for n, _ in seen] == [1, 2, 3]
    assert all("cannot read the service: down; retrying in" in m for _, m in seen)
    gaps = [b - a for a, b in zip(panel.called, panel.called[1:], strict=False)]
    # doubling from the fast interval: 0.04, 0.08, 0.16 s (a timer may fire a little early)
    for gap, expected in zip(gaps, (0.04, 0.08, 0.16), strict=True):
        assert gap >= expected * 0.8, gaps
    assert panel.failures == 0
    assert panel.error == ""  # the poll that got through cleared it
    assert panel.value == 1
    assert panel.polling is False
    assert panel.task is None


def test_pacing() -> None:
    pace = Pacing(fast=1.0, slow=4.0, growth=2.0, max_backoff=10.0)
    assert [pace.quiet(n) for n in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert [pace.backoff(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert pace.quiet(10**6) == 4.0  # no overflow after days of quiet polls
    assert pace.backoff(10**6) == 10.0
    jittered = Pacing(fast=1.0, max_backoff=60.0, jitter=True)
    waits = {jittered.backoff(3) for _ in range(50)}
    assert len(waits) > 1
    assert all(4.0 <= w <= 8.0 for w in waits)


async def test_a_refusal_or_too_many_failures_end_polling_with_a_reason() -> None:
    refused = Scripted([NotFoundError(404, "no such model")])
    wire = Wire(refused)
    await asyncio.wait_for(refused.watch(), 10)
    assert "no such model (polling stopped)" in refused.error
    assert wire.last()["polling"] is False
    assert refused.polls == 1

    class Fragile(Scripted):
        max_failures = 3

    fragile = Fragile([OSError("down")] * 4, pace=Pacing(fast=0.005, max_backoff=0.01))
    await asyncio.wait_for(fragile.watch(), 10)
    assert fragile.polls == 3
    assert "3 polls failed in a row; `scripted.start()` tries again" in fragile.error
    assert await fragile.refresh() is False  # the fourth failure, counted and shown
    assert await fragile.refresh() is True
    assert fragile.error == ""


async def test_pushes_are_throttled_and_the_final_state_always_goes_out() -> None:
    # polls as fast as the loop runs; the last one ends polling on an odd value
    panel = Scripted([Polled.CHANGED] * 400 + [Polled.ENDED],
                     pace=Pacing(fast=0.001, slow=0.001))
    wire = Wire(panel)
    started = time.monotonic()
    await asyncio.wait_for(panel.watch(), 30)
    span = time.monotonic() - started
    assert panel.polls == 401
    assert span > 0.3  # long enough for the rate to mean something
    assert len(wire.updates()) <= 10 * span + 2, (len(wire.updates()), span)
    assert len(wire.updates()) >= 3  # it pushed while polling, not only at the end
    assert wire.last()["value"] == 401
    assert wire.last()["polling"] is False


async def test_wake_polls_now_rather_than_after_the_wait() -> None:
    panel = Scripted([Polled.UNCHANGED] * 3, pace=Pacing(fast=30.0, slow=30.0))
    panel.start()
    await until(lambda: panel.polls == 1)
    panel.wake()
    await until(lambda: panel.polls == 2, timeout=5)
    panel.close()
