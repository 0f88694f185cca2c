"""``JobTimeline``: a hybrid job's events in time, its state, queue position and a Cancel button.

    timeline = JobTimeline(arn)                       # the embedded simulator's jobs client
    timeline = JobTimeline(arn, client=jobs)          # any object with async get_job/cancel_job
    timeline

Polling (``PollingPanel``) is one asyncio task on the kernel's loop: every ``min_interval``
seconds while the job changes, growing by half up to ``max_interval`` while it does not, and
stopping when the job ends.
"""

from __future__ import annotations

import html
import time
from datetime import datetime, timezone
from typing import Any

from traitlets import Dict, Float, List, Unicode

from qwidgets.client.braket.hybrid_jobs import JobInfo, JobsApi
from qwidgets.client.errors import ApiError, NotFoundError, ServiceUnavailableError
from qwidgets.errors import QwidgetsError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import bundle
from qwidgets.widgets.polling import Pacing, Polled, PollingPanel

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_STATE_KEYS = ("job_arn", "job_name", "status", "device", "events", "queue_position",
               "queue_message", "failure_reason", "created_at", "started_at", "ended_at")


class JobTimeline(PollingPanel[JobsApi]):
    """A hybrid job's timeline, kept up to date while the job runs."""

    _bundle_name = "timeline"
    _esm = bundle("timeline")

    job_arn = Unicode("", help="The job's ARN.").tag(sync=True)
    job_name = Unicode("", help="The job's name.").tag(sync=True)
    status = Unicode("", help="QUEUED, RUNNING, COMPLETED, FAILED, CANCELLING or CANCELLED.").tag(
        sync=True)
    device = Unicode("", help="The device ARN of the job's queue.").tag(sync=True)
    events = List(Dict(), help="The job's events: {type, time (epoch s), message}.").tag(sync=True)
    queue_position = Unicode("", help="Braket's position string ('3', '>15'), '' if none.").tag(
        sync=True)
    queue_message = Unicode("", help="Why there is no position (the job is not queued).").tag(
        sync=True)
    failure_reason = Unicode("", help="Why the job failed.").tag(sync=True)
    created_at = Float(None, allow_none=True, help="Epoch seconds.").tag(sync=True)
    started_at = Float(None, allow_none=True, help="Epoch seconds.").tag(sync=True)
    ended_at = Float(None, allow_none=True, help="Epoch seconds.").tag(sync=True)
    updated_at = Float(None, allow_none=True, help="When the kernel last read the job.").tag(
        sync=True)

    stop_on = (NotFoundError,)
    retry_on = (ServiceUnavailableError, ApiError, OSError)
    polled = "the job"
    handle = "timeline"

    def __init__(self, job: str | JobInfo | None = None, *, client: JobsApi | None = None,
                 min_interval: float | None = None, max_interval: float | None = None,
                 autostart: bool = True, **kwargs: Any) -> None:
        """``min_interval``/``max_interval``: seconds between polls; by default the client's
        ``poll_intervals`` (Amazon Braket: 5 to 30 s, as the SDK polls), else 0.5 to 5 s."""
        low, high = getattr(client, "poll_intervals", (0.5, 5.0))
        min_interval = low if min_interval is None else min_interval
        max_interval = max(high, min_interval) if max_interval is None else max_interval
        if not 0 < min_interval <= max_interval:
            raise ValueError(f"need 0 < min_interval <= max_interval, got {min_interval!r} and "
                             f"{max_interval!r}")
        if isinstance(job, JobInfo):
            kwargs.update(job.to_state())
        elif job is not None:
            kwargs["job_arn"] = job
        super().__init__(client=client, **kwargs)
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._requests.register(Request.CANCEL_JOB, self._cancel_request)
        if autostart and self.job_arn and self.status not in TERMINAL:
            self._start_if_possible()

    # ------------------------------------------------------------ polling

    def pacing(self) -> Pacing:
        return Pacing(fast=self.min_interval, slow=self.max_interval,
                      max_backoff=self.max_interval)

    def _check_startable(self) -> None:
        if not self.job_arn:
            raise QwidgetsError("JobTimeline has no job_arn to watch: pass the job's ARN")

    async def _open_client(self) -> JobsApi:
        from qwidgets.client.braket.hybrid_jobs import AsyncJobsClient

        return await AsyncJobsClient.create()

    async def _poll(self) -> Polled:
        """Read the job once."""
        client = await self._connection()
        info = await client.get_job(self.job_arn)
        state = info.to_state()
        # GetJob returns the latest 20 events: keep the older ones this timeline already saw
        state["events"] = _merge(self._staged("events"), state["events"])
        changed = any(self._staged(k) != v for k, v in state.items())
        self._stage(**state, updated_at=time.time(), error="")
        if info.terminal:
            return Polled.ENDED
        return Polled.CHANGED if changed else Polled.UNCHANGED

    # ------------------------------------------------------------ cancel

    async def cancel(self) -> str:
        """Cancel the job on the server; ``CANCELLING`` or ``CANCELLED``."""
        client = await self._connection()
        status = await client.cancel_job(self.job_arn)
        if self.task is not None:
            self.wake()  # show the new state now, not after the backoff
        else:
            await self.refresh()
        return status

    async def _cancel_request(self) -> dict[str, str]:
        try:
            status = await self.cancel()
        except QwidgetsError as exc:
            self._stage(error=f"cancel failed: {exc}")
            raise
        return {"cancellationStatus": status}

    # ------------------------------------------------------------ static form

    def static_text(self) -> str:
        where = f", queue position {self.queue_position}" if self.queue_position else ""
        return (f"JobTimeline {self.job_name or self.job_arn}: {self.status or 'unknown'}"
                f" ({len(self.events)} events{where})")

    def static_html(self) -> str:
        e = html.escape
        rows = []
        ordered = sorted(self.events, key=lambda ev: ev.get("time") or 0)
        for i, event in enumerate(ordered):
            start = float(event.get("time") or 0)
            nxt = ordered[i + 1]["time"] if i + 1 < len(ordered) else (self.ended_at or start)
            rows.append(
                f"<tr><td>{e(_clock(start))}</td><td>{e(str(event.get('type', '')))}</td>"
                f"<td>{e(_duration(float(nxt) - start))}</td>"
                f"<td>{e(str(event.get('message', '')))}</td></tr>")
        queue = ""
        if self.queue_position:
            queue = f"<div>Queue position: {e(self.queue_position)} (approximate)</div>"
        elif self.queue_message:
            queue = f"<div>{e(self.queue_message)}</div>"
        failure = (f"<div style='color:#d32f2f'>Failure reason: {e(self.failure_reason)}</div>"
                   if self.failure_reason else "")
        return (
            "<div class='qw-static qw-timeline-static'>"
            f"<div><strong>{e(self.job_name or self.job_arn or 'Hybrid job')}</strong> "
            f"<span>[{e(self.status or 'unknown')}]</span> "
            f"<span>{e(self.device)}</span></div>{queue}{failure}"
            "<table><thead><tr><th>Time (UTC)</th><th>Event</th><th>Duration</th>"
            f"<th>Message</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _merge(seen: list[dict[str, Any]], latest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {(e.get("type"), e.get("time"), e.get("message")) for e in latest}
    older = [e for e in seen if (e.get("type"), e.get("time"), e.get("message")) not in keys
             and (not latest or (e.get("time") or 0) <= (latest[0].get("time") or 0))]
    return [*older, *latest]


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S") if epoch else ""


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
