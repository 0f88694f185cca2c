"""``Sweep``: many configurations of one model family trained on the same data, ranked on the
same held-out rows.

    sweep = client.start_sweep(df, {"model": ["pauli"], "qbits": [2, 3]}, holdout=0.25)
    board = await sweep.wait()          # a DataFrame, best first
    best = await sweep.client_for(sweep.best.index)

The training part is uploaded once; up to ``concurrency`` trainings run at once, each through
its own ``AsyncQcogClient`` on the parent's connection pool; a service that refuses a training
with 429 (its quota of active trainings) is waited out, not counted as a failure. One poll loop
follows every running training. The sweep is saved (``sweep_store``) at every status change, so
``attach_sweep(sweep.id)`` in a new kernel picks it up where it was. Fields of a configuration:
``qwidgets.client.qcog.sweep_configs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from qwidgets.client import activity
from qwidgets.client.errors import ApiError, ServiceUnavailableError, UsageError, ValidationError
from qwidgets.client.qcog import sweep_store
from qwidgets.client.qcog.inference_inputs import EncodedInputs
from qwidgets.client.qcog.status import WAITING_STATUSES
from qwidgets.client.qcog.sweep_configs import Plan, model_arguments, plan
from qwidgets.client.qcog.sweep_data import SweepData, scores
from qwidgets.client.qcog.sweep_rows import (
    ACTIVE,
    SweepRow,
    flat_loss,
    leaderboard,
    ranked,
)
from qwidgets.protocol.scaling import FrameScaling

if TYPE_CHECKING:  # the client imports this module; siblings are made as type(parent)(...)
    from qwidgets.client.qcog.client import AsyncQcogClient

__all__ = ["Sweep", "SweepRow"]

logger = logging.getLogger("qwidgets.client")

CONCURRENCY = 4
POLL_TIME = 1.0
FIRST_POLL = 0.05
# Waiting for a place after a 429: at first briefly, then at most this long between tries.
MAX_QUOTA_WAIT = 8.0
SAVE_DELAY = 0.5

OnChange = Callable[["Sweep"], None]


class Sweep:
    """A running (or finished) sweep; ``rows`` in the order of the configurations."""

    def __init__(self, parent: AsyncQcogClient, sweep_id: str, rows: list[SweepRow],
                 columns: list[str], metric_name: str, shared: SweepData, *,
                 concurrency: int, poll_time: float) -> None:
        self.id = sweep_id
        self.rows = rows
        self.columns = columns
        self.metric_name = metric_name
        self.version = 0
        self._parent = parent
        self._shared = shared
        self._plans: dict[int, Plan] = {}
        self._concurrency = concurrency
        self._poll_time = poll_time
        self._callbacks: list[OnChange] = []
        self._clients: dict[int, AsyncQcogClient] = {}
        self._ended: dict[int, asyncio.Event] = {}
        self._cancelling: set[int] = set()
        self._freed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._training_frame: pd.DataFrame | None = None
        self._with_data: AsyncQcogClient | None = None
        self._inputs: EncodedInputs | None = None  # the held-out rows, encoded once
        self._row_text: dict[int, str] = {}  # each row as JSON, until it changes
        self._save_later: asyncio.TimerHandle | None = None
        self._finished = False
        self._hold: sweep_store.Hold | None = None  # while this process follows the sweep

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return f"Sweep({self.id!r}, {len(self.rows)} configurations, {counts})"

    # ------------------------------------------------------------ reading

    @property
    def done(self) -> bool:
        """True from the last ``on_change`` of a sweep whose rows are all final."""
        return self._finished or (self._task is not None and self._task.done())

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the sweep runs on (None before it starts)."""
        return self._task.get_loop() if self._task is not None else None

    @property
    def best(self) -> SweepRow | None:
        """The completed row with the best metric, if any."""
        top = ranked(self.rows, self.metric_name)
        first = top[0] if top else None
        scored = first is not None and first.status == "completed" and first.metric is not None
        return first if scored else None

    @property
    def best_guid(self) -> str | None:
        best = self.best
        return best.guid if best else None

    @property
    def target(self) -> list[str]:
        return list(self._shared.targets)

    @property
    def held_out(self) -> pd.DataFrame:
        """The rows every model is scored on (targets included)."""
        return self._shared.held_out.copy()

    def leaderboard(self) -> pd.DataFrame:
        """Best first: the varying config fields, the metric (accuracy; or r2 and mae),
        train_time_s, status, reason, guid."""
        return leaderboard(self.rows, self.columns, self.metric_name)

    def on_change(self, callback: OnChange) -> Callable[[], None]:
        """Call ``callback(sweep)`` on the sweep's loop at every change; returns the
        function that unsubscribes it."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
        return unsubscribe

    # ------------------------------------------------------------ acting

    async def wait(self) -> pd.DataFrame:
        """Wait until every row is final; the leaderboard."""
        if self._task is None:
            raise UsageError("this sweep was not started: use client.start_sweep(...)")
        if self._task.cancelled():
            raise UsageError(f"sweep {self.id} was detached from this kernel; follow it again "
                             f"with await client.attach_sweep({self.id!r})")
        await asyncio.shield(self._task)
        return self.leaderboard()

    async def cancel(self, index: int | None = None) -> None:
        """Cancel one row (``index``) or every unfinished one: a queued row ends at once, a
        running training is stopped on the server."""
        for row in self.rows if index is None else [self._row(index)]:
            if row.status == "queued" and row.index not in self._clients:
                self._update(row, status="cancelled", reason="cancelled before it started")
                self._end(row)
            elif row.status in ("queued", *ACTIVE):
                self._cancelling.add(row.index)
                self._freed.set()  # a row waiting out a 429 gives up now
                self._freed = asyncio.Event()
                client = self._clients.get(row.index)
                if client is not None and client.model_guid is not None:
                    await client.cancel()
                    self._update(row, reason="cancel requested")

    async def detach(self) -> None:
        """Stop following the sweep in this kernel (its trainings go on on the server, and
        ``attach_sweep(sweep.id)`` picks it up again), as a kernel restart would."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def client_for(self, index: int) -> AsyncQcogClient:
        """A client with row ``index``'s model loaded (and the data's scaling), ready for
        ``inference``; it shares the sweep's connections (do not close it)."""
        row = self._row(index)
        if row.guid is None or row.status != "completed":
            raise UsageError(f"row {index} has no trained model (status {row.status!r}"
                             f"{': ' + row.reason if row.reason else ''}); pick a completed "
                             "row, e.g. sweep.best.index")
        return await self._loaded(row.guid)

    # ------------------------------------------------------------ the work

    def start(self, training_frame: pd.DataFrame | None = None) -> Sweep:
        self._training_frame = training_frame
        for row in self.rows:
            if row.status != "invalid":
                self._plans[row.index] = plan(row.config, self._shared.operators,
                                              self._shared.targets, self._shared.training_rows)
        loop = asyncio.get_running_loop()
        self._hold = sweep_store.hold(self.id)
        self._task = loop.create_task(self._run(), name=f"sweep {self.id}")
        self._task.add_done_callback(_report)
        return self

    async def _run(self) -> None:
        poller = asyncio.create_task(self._poll_loop())
        try:
            if self._shared.dataset_guid is None and self._plans:
                await self._upload()
            self._save(now=True)
            slots = asyncio.Semaphore(self._concurrency)
            # Trainings already on the server take their places first.
            order = sorted(self.rows, key=lambda r: (r.status not in ACTIVE, r.index))
            await asyncio.gather(*(self._run_row(row, slots) for row in order))
        except Exception as exc:
            for row in self.rows:
                if not row.final:
                    self._update(row, status="failed", reason=f"the sweep stopped: {exc}")
            raise
        # A cancelled task (its loop ends, the kernel shuts down) leaves the rows as they
        # are, saved: attach_sweep(id) goes on with them.
        finally:
            poller.cancel()
            self._save(now=True)
            if self._hold is not None:
                self._hold.release()
            self._finished = True
            self._notify()

    async def _upload(self) -> None:
        frame = self._training_frame
        if frame is None:
            raise UsageError(f"sweep {self.id} stopped before its training data was uploaded; "
                             "start it again with client.start_sweep(...)")
        shared = self._shared
        uploader = self._sibling()
        await uploader.data(frame, standardize=shared.standardize, classes=shared.classes,
                            warn=False)
        shared.dataset_guid = uploader.dataset_guid
        self._with_data = uploader
        scaling = FrameScaling.fit(frame, standardize=shared.standardize,
                                   classes=shared.classes)
        shared.scaling = None if scaling.identity else scaling.to_dict()
        self._training_frame = None

    async def _run_row(self, row: SweepRow, slots: asyncio.Semaphore) -> None:
        client: AsyncQcogClient | None = None
        try:
            if row.status in ("queued", *ACTIVE):
                async with slots:
                    if row.status == "cancelled":
                        return
                    if row.status == "queued":
                        client = await self._start_training(row)
                    elif row.guid is not None:
                        client = await self._loaded(row.guid)
                        await self._follow(row, client)
                    if client is None:
                        return
                    await self._ended.setdefault(row.index, asyncio.Event()).wait()
            if row.status == "completed" and row.metric is None and not row.scores:
                await self._score(row, client or await self._loaded(str(row.guid)))
        except (ApiError, ValidationError, ServiceUnavailableError, UsageError) as exc:
            self._update(row, status="failed", reason=str(exc))
        except Exception as exc:  # a bug must not stop the other rows
            logger.exception("sweep %s, row %d", self.id, row.index)
            self._update(row, status="failed", reason=f"{type(exc).__name__}: {exc}")
        finally:
            self._clients.pop(row.index, None)
            self._end(row)

    async def _start_training(self, row: SweepRow) -> AsyncQcogClient | None:
        plan_ = self._plans[row.index]
        if self._with_data is None:  # reattached: the data was uploaded by an earlier kernel
            self._with_data = await self._sibling().preloaded_data(str(self._shared.dataset_guid))
        # A copy of a client that holds the dataset: no request per row to find it again.
        client = copy.copy(self._with_data)
        self._clients[row.index] = client
        getattr(client, plan_.model)(**model_arguments(plan_))
        wait = 0.25
        while True:
            if row.index in self._cancelling:
                self._update(row, status="cancelled", reason="cancelled before it started")
                return None
            try:
                await self._train(client, plan_)
                break
            except ServiceUnavailableError as exc:
                if "HTTP 429" not in exc.last_cause:
                    raise
                # The service's quota of active trainings is full (other clients' too): wait
                # for one of ours to end, or a while, then try again.
                self._update(row, reason=f"waiting for a free training place ({exc.last_cause})")
                freed = self._freed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(freed.wait(), wait)
                wait = min(MAX_QUOTA_WAIT, wait * 2)
        if self._shared.scaling is not None:
            client.scaling = FrameScaling.from_dict(self._shared.scaling)
        self._update(row, status="pending", reason="", guid=client.model_guid,
                     started_at=time.time())
        self._save(now=True)  # a guid lost to a crash would be trained twice on reattach
        await self._follow(row, client)
        return client

    @staticmethod
    async def _train(client: AsyncQcogClient, plan_: Plan) -> None:
        parameters = client.training_parameters_guid
        if parameters is None:
            await client.train(plan_.batch_size, plan_.num_passes, plan_.weights, plan_.state)
            return
        # Again after a 429: the training parameters were stored by the first try; only the
        # model is asked for again (one record per configuration, however long the wait).
        accepted = await client.http_client.post("model/", {
            "training_parameters_guid": parameters, "dataset_guid": client.dataset_guid,
            "qcog_version": client.version})
        if not isinstance(accepted, dict) or not isinstance(accepted.get("guid"), str):
            raise ApiError(None, f"the service answered without 'guid': {str(accepted)[:200]}")
        await client.preloaded_model(accepted["guid"])
        activity.started("training", accepted["guid"], client)

    async def _follow(self, row: SweepRow, client: AsyncQcogClient) -> None:
        self._clients[row.index] = client
        self._ended.setdefault(row.index, asyncio.Event())
        self._wake.set()
        if row.index in self._cancelling:  # asked while its training was being started
            await client.cancel()
            self._update(row, reason="cancel requested")

    async def _poll_loop(self) -> None:
        """One loop polls every running training: quickly at first, then every poll_time. A
        training that starts brings the next round forward, never to at once (it is pending
        then), and never delays a round already due."""
        loop = asyncio.get_running_loop()
        interval = FIRST_POLL
        due = loop.time() + interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, due - loop.time()))
            if self._wake.is_set():
                self._wake.clear()
                interval = FIRST_POLL
                due = min(due, loop.time() + interval)
                continue
            watched = [(i, c) for i, c in self._clients.items()
                       if self.rows[i].status in ACTIVE and self.rows[i].guid is not None]
            if watched:
                await asyncio.gather(*(self._poll(self.rows[i], c) for i, c in watched))
                interval = min(self._poll_time, interval * 1.5)
            due = loop.time() + interval

    async def _poll(self, row: SweepRow, client: AsyncQcogClient) -> None:
        try:
            view = await client.progress()
        except ServiceUnavailableError:
            return  # transient: the next round asks again
        except ApiError as exc:
            self._update(row, status="failed", reason=str(exc))
            self._ended[row.index].set()
            return
        status = str(view.get("status"))
        loss = flat_loss(client.trained_model.get("loss"))
        progress = float(view.get("training_completion") or 0)
        if status == "pending":
            # still waiting for a place on the service: its train time starts after this
            # look (give or take a poll), not at its submission
            row.started_at = time.time()
            self._row_text.pop(row.index, None)
        if status in WAITING_STATUSES:
            shown = "processing" if status == "cancelled_pending" else status
            reason = "cancelling" if status == "cancelled_pending" else row.reason
            self._update(row, status=shown, reason=reason, progress=progress, loss=loss)
            return
        elapsed = time.time() - row.started_at if row.started_at is not None else None
        if status == "completed":
            self._update(row, status="completed", reason="", progress=100.0, loss=loss,
                         train_time_s=elapsed)
        elif status == "cancelled":
            self._update(row, status="cancelled", reason="cancelled", loss=loss,
                         train_time_s=elapsed)
        else:
            reason = view.get("failure_reason") or f"the training ended {status!r}"
            self._update(row, status="failed", reason=str(reason), loss=loss,
                         train_time_s=elapsed)
        self._ended[row.index].set()

    async def _score(self, row: SweepRow, client: AsyncQcogClient) -> None:
        shared = self._shared
        inputs = self._inputs
        if inputs is None or inputs.scaling != client.scaling:
            inputs = self._inputs = client.encode_inference(shared.inputs, shared.targets)
        forecast = await client.inference(inputs, {
            "operators_to_forecast": shared.targets,
            "state_parameters": self._plans[row.index].state})
        found = scores(shared, forecast, self.metric_name)
        self._update(row, scores=found, metric=found.get(self.metric_name), persist=True)

    # ------------------------------------------------------------ helpers

    def _sibling(self) -> AsyncQcogClient:
        parent = self._parent
        return type(parent)(parent.http_client, version=parent.version,
                            upload_threshold=parent.upload_threshold)

    async def _loaded(self, guid: str) -> AsyncQcogClient:
        client = await self._sibling().preloaded_model(guid)
        if self._shared.scaling is not None:
            client.scaling = FrameScaling.from_dict(self._shared.scaling)
        return client

    def _row(self, index: int) -> SweepRow:
        if isinstance(index, bool) or not isinstance(index, int) \
                or not 0 <= index < len(self.rows):
            raise ValidationError("index", index, f"must be a row index from 0 to "
                                  f"{len(self.rows) - 1}", "e.g. sweep.best.index")
        return self.rows[index]

    def _end(self, row: SweepRow) -> None:
        event = self._ended.get(row.index)
        if event is not None:
            event.set()
        # Anyone waiting for a place after a 429 tries again.
        self._freed.set()
        self._freed = asyncio.Event()

    def _update(self, row: SweepRow, *, persist: bool = False, **changes: Any) -> None:
        # pending -> processing changes nothing a new kernel needs: no write for it.
        moved = changes.get("status", row.status) not in (row.status, "processing")
        changed = False
        for name, value in changes.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        if changed:
            self._row_text.pop(row.index, None)
        if moved or persist:
            self._save()
        if changed:
            self._notify()

    def _notify(self) -> None:
        self.version += 1
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception:
                logger.exception("a sweep's on_change callback failed")

    def _save(self, now: bool = False) -> None:
        """Write the sweep's file now, or once within SAVE_DELAY (changes coalesce: a sweep
        of many short trainings would otherwise spend its time rewriting the file)."""
        if not now:
            if self._save_later is None:
                self._save_later = asyncio.get_running_loop().call_later(
                    SAVE_DELAY, self._save, True)
            return
        if self._save_later is not None:
            self._save_later.cancel()
            self._save_later = None
        try:
            sweep_store.save_text(self.id, self.state_text())
        except OSError as exc:
            logger.warning("sweep %s could not be saved (%s); it cannot be reattached", self.id,
                           exc)

    def state(self) -> dict[str, Any]:
        """What a new kernel needs to reattach (never the token)."""
        return json.loads(self.state_text())

    def state_text(self) -> str:
        """``state()`` as JSON. Only the rows changed since the last call are encoded again:
        a sweep of many long trainings rewrites its file as they progress, and their loss
        series made each write slower than the polls it follows."""
        rows = []
        for row in self.rows:
            text = self._row_text.get(row.index)
            if text is None:
                text = self._row_text[row.index] = json.dumps(row.to_dict())
            rows.append(text)
        head = json.dumps({"id": self.id, "base_url": self._parent.http_client.base_url,
                           "metric": self.metric_name, "columns": self.columns,
                           "concurrency": self._concurrency, "data": self._shared.to_dict(),
                           "saved": time.time()})
        return f'{head[:-1]}, "rows": [{", ".join(rows)}]}}'


def _report(task: asyncio.Task[None]) -> None:
    # Read here so an unawaited sweep's failure is logged, not lost as "never retrieved".
    if not task.cancelled() and task.exception() is not None:
        logger.warning("%s stopped: %s", task.get_name(), task.exception())
