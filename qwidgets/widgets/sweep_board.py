"""``SweepBoard``: the live leaderboard of a hyperparameter sweep (``client.start_sweep``).

    sweep = await client.start_sweep(df, grid)     # or client.start_sweep(...) on the loop
    board = SweepBoard(sweep, dashboard=dash)      # one row per configuration
    board = await SweepBoard.attach(sweep_id)      # after a kernel restart

The sweep and its whole loss series stay in the kernel; the browser gets a compact view of
each row (config columns, status and reason, progress, a <= 64 point min/max decimated loss,
metric, train time), pushed on the sweep's ``on_change`` at most eight times a second, the
last state always sent. Sorting is the browser's (``sort_by``/``descending`` come back so the
static form shows the same order); Cancel (one row or all) and "Use this model" are requests
handled as tasks on the kernel's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets import Bool, Dict, Int, List, Unicode

from qwidgets.client.errors import UsageError
from qwidgets.errors import ValidationError
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import QWidget, bundle
from qwidgets.widgets.polling import UPDATE_INTERVAL
from qwidgets.widgets.requests import running_loop
from qwidgets.widgets.sweep_board_rows import (
    CANCELLABLE,
    FIXED,
    board_html,
    board_text,
    row_view,
)
from qwidgets.widgets.throttle import Throttle

if TYPE_CHECKING:
    from qwidgets.client import AsyncQcogClient
    from qwidgets.widgets.dashboard import Dashboard

log = logging.getLogger(__name__)
Chooser = Callable[["AsyncQcogClient"], Any]
# Tasks nobody awaits (closing clients, following a sweep being started): held so they are
# not collected mid-way.
_background: set[asyncio.Task[Any]] = set()


class SweepBoard(QWidget):
    """Live leaderboard of a ``Sweep``: progress, loss sparkline and metric per configuration,
    sortable by any column, Cancel per row or for all, and "Use this model" on a completed row
    (handed to ``dashboard`` if given, else kept as ``board.chosen`` and passed to the
    ``on_choose`` callbacks)."""

    _bundle_name: ClassVar[str] = "sweep_board"
    _esm = bundle("sweep_board")

    title = Unicode("Sweep", help="Heading shown above the board").tag(sync=True)
    sweep_id = Unicode("", help="Id of the sweep (reattach with SweepBoard.attach(id))").tag(sync=True)
    columns = List(Unicode(), help="The configuration fields that vary, one column each").tag(sync=True)
    metric_name = Unicode("metric", help="What the metric column holds").tag(sync=True)
    rows = List(Dict(), help="One compact row per configuration").tag(sync=True)
    done = Bool(False, help="Every configuration reached a final status").tag(sync=True)
    sort_by = Unicode("", help="Column the rows are sorted by ('' for the sweep's order)").tag(sync=True)
    descending = Bool(False, help="Sort from the largest").tag(sync=True)
    chosen_index = Int(None, allow_none=True, help="The row handed on by 'Use this model'").tag(sync=True)
    message = Unicode("", help="What the board did last (a model handed on...)").tag(sync=True)
    error = Unicode("", help="The last problem, '' if none").tag(sync=True)
    _has_dashboard = Bool(False, help="'Use this model' hands the model to a dashboard").tag(sync=True)
    # Names this board to its views: a view rendered anew (the static form rewritten at the
    # sweep's end) gives the keyboard's focus back to the control the last view had it on.
    _view_key = Unicode(help="This board's id among the page's views").tag(sync=True)

    _sweep: Any = None
    _unsubscribe: Callable[[], Any] | None = None
    _throttle: Throttle | None = None
    _owned_client: Any = None

    def __init__(self, sweep: Any = None, dashboard: Dashboard | None = None, *,
                 update_interval: float = UPDATE_INTERVAL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dashboard = dashboard
        self._has_dashboard = dashboard is not None
        self._view_key = uuid.uuid4().hex
        self.chosen: AsyncQcogClient | None = None
        self._choosers: list[Chooser] = []
        self._throttle = Throttle(self._flush, update_interval)
        self._requests.register(Request.CANCEL_SWEEP, self._on_cancel_request)
        self._requests.register(Request.USE_MODEL, self._on_use_request)
        self.observe(self._on_sort, ["sort_by", "descending"])
        if sweep is not None:
            self.follow(sweep)

    # ------------------------------------------------------------ the sweep

    @property
    def sweep(self) -> Any:
        return self._sweep

    def follow(self, sweep: Any) -> SweepBoard:
        """Show ``sweep`` (replacing the one shown, if any) and follow its changes."""
        for name in ("id", "rows", "version", "on_change", "cancel", "client_for"):
            if not hasattr(sweep, name):
                raise ValidationError("sweep", type(sweep).__name__,
                                      f"is not a sweep (it has no {name!r})",
                                      "pass what `client.start_sweep(...)` returns")
        self._stop_following()
        self._sweep = sweep
        self._views: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._unsubscribe = sweep.on_change(lambda *_: self._changed())
        self._throttle_request()
        self._send_now()
        loop = running_loop()
        if loop is not None and not getattr(sweep, "done", True):
            # The sweep's last on_change comes before its task has ended (``done`` is still
            # False then): the end itself is what makes the final state.
            _keep(loop.create_task(self._final_state(sweep)))
        return self

    async def _final_state(self, sweep: Any) -> None:
        try:
            await sweep.wait()
        except Exception as exc:  # a sweep that stopped shows it on its rows
            log.debug("sweep %s ended with %r", getattr(sweep, "id", "?"), exc)
        if sweep is self._sweep:
            self._throttle_request()
            self._send_now()

    @classmethod
    async def attach(cls, sweep_id: str, client: AsyncQcogClient | None = None,
                     dashboard: Dashboard | None = None, **kwargs: Any) -> SweepBoard:
        """Reattach to a sweep by id (after a kernel restart): ``await
        SweepBoard.attach(sweep_id)``. With no client, the embedded simulator's default
        client is created, and closed with the board."""
        board = cls(None, dashboard, **kwargs)
        await board._open(client, lambda c: c.attach_sweep(_sweep_id(sweep_id)))
        return board

    @classmethod
    def start(cls, data: Any = None, configs: Any = None, *, client: AsyncQcogClient | None = None,
              sweep_id: str | None = None, dashboard: Dashboard | None = None,
              **options: Any) -> SweepBoard:
        """The board at once, and on the running loop (a notebook's) the sweep it shows:
        ``client.start_sweep(data, configs, **options)``, or the sweep ``sweep_id`` reattached.
        With no client, the embedded simulator's default one, closed with the board once the
        sweep ended. A failure to start shows on the board (``board.error``)."""
        if sweep_id is None and (data is None or configs is None):
            raise ValidationError("configs", configs, "is missing: a sweep needs data and "
                                  "configurations", "pass data=df and configs=[{...}, ...] or "
                                  "a grid {field: [values]}, or sweep_id=... to reattach")
        loop = running_loop()
        if loop is None:
            raise UsageError("no running event loop to start the sweep on: in a script use "
                             "`SweepBoard(await client.start_sweep(...))`")
        board = cls(None, dashboard)
        board.message = "starting the sweep…" if sweep_id is None else f"attaching {sweep_id}…"

        def opening(c: Any) -> Any:
            if sweep_id is not None:
                return c.attach_sweep(_sweep_id(sweep_id))
            return c.start_sweep(data, configs, **options)

        async def run() -> None:
            try:
                await board._open(client, opening)
                board.message = ""
            except Exception as exc:
                log.debug("sweep failed to start", exc_info=exc)
                board.message = ""
                board.error = f"{type(exc).__name__}: {exc}"
                board.refresh_static()

        _keep(loop.create_task(run(), name="qwidgets-sweep-board"))
        return board

    async def _open(self, client: AsyncQcogClient | None, opening: Callable[[Any], Any]) -> None:
        owned = None
        if client is None:
            from qwidgets.client import AsyncQcogClient

            client = owned = await AsyncQcogClient.create()
        try:
            sweep = opening(client)
            if inspect.isawaitable(sweep):
                sweep = await sweep
        except BaseException:
            if owned is not None:
                await owned.close()
            raise
        self._owned_client = owned
        self.follow(sweep)

    def _changed(self) -> None:
        # on_change may come from another thread (a worker): the throttle's timer needs the
        # loop the board was made on.
        home = self._requests.home
        if home is not None and not home.is_closed() and running_loop() is not home:
            home.call_soon_threadsafe(self._throttle_request)
        else:
            self._throttle_request()

    def _throttle_request(self) -> None:
        if self._throttle is not None:
            self._throttle.request()

    def _send_now(self) -> None:
        if self._throttle is not None:
            self._throttle.finish()

    def _flush(self) -> None:
        sweep = self._sweep
        if sweep is None:
            return
        columns = [str(c) for c in getattr(sweep, "columns", None) or []]
        rows = [self._view(r, columns) for r in list(sweep.rows)]
        done = bool(getattr(sweep, "done", False))
        ended = done and not self.done
        with self.hold_sync():
            self.sweep_id = str(sweep.id)
            self.columns = columns
            self.metric_name = str(getattr(sweep, "metric_name", None) or "metric")
            self.rows = rows
            self.done = done
        if ended:
            self.refresh_static()

    def _view(self, row: Any, columns: list[str]) -> dict[str, Any]:
        """``row_view`` of a row, recomputed only when the row changed: a flush touches the
        few rows running, not the whole loss history of every row (200 rows of 10,000 losses:
        about 240 ms per flush on the kernel's loop without this)."""
        loss = getattr(row, "loss", None) or []
        key = (row.status, getattr(row, "reason", ""), getattr(row, "progress", None),
               len(loss), loss[-1] if len(loss) else None, getattr(row, "metric", None),
               getattr(row, "train_time_s", None), getattr(row, "guid", None), tuple(columns))
        cached = self._views.get(int(row.index))
        if cached is not None and cached[0] == key:
            return cached[1]
        view = row_view(row, columns)
        self._views[int(row.index)] = (key, view)
        return view

    def _on_sort(self, change: dict[str, Any]) -> None:
        # Not refresh_static() here: rewriting the display re-renders the view in JupyterLab,
        # and the header the user sorts with would lose the focus. The order reaches the
        # static form with the next final state, and every export.
        if change["name"] == "sort_by" and change["new"] and change["new"] not in (
                *FIXED, *self.columns):
            self.sort_by = change["old"]  # a column the board does not have: keep the order

    # ------------------------------------------------------------ actions

    async def wait(self) -> Any:
        """Wait until the sweep ends; the last state is sent; returns its leaderboard."""
        sweep = self._require_sweep()
        await sweep.wait()
        self._throttle_request()
        self._send_now()
        return sweep.leaderboard()

    async def cancel(self, index: int | None = None) -> list[int]:
        """Cancel one configuration (``index``) or every one still running (None); they stay
        on the board as cancelled. Returns the indices asked to stop."""
        sweep = self._require_sweep()
        statuses = {int(r.index): str(r.status) for r in sweep.rows}
        if index is not None:
            index = self._index(index, statuses)
            if statuses[index] not in CANCELLABLE:
                raise ValidationError("index", index, f"is {statuses[index]}: only a queued or "
                                      "running configuration can be cancelled",
                                      "pick a row whose status is queued, pending or processing")
        targets = [index] if index is not None else [
            i for i, s in statuses.items() if s in CANCELLABLE]
        await sweep.cancel(index)
        self._throttle_request()
        self._send_now()
        return targets

    async def use(self, index: int) -> AsyncQcogClient:
        """"Use this model": a client with configuration ``index``'s model loaded, handed to
        the dashboard (monitor and held-out forecast) if the board has one, kept as
        ``board.chosen`` and passed to each ``on_choose`` callback."""
        sweep = self._require_sweep()
        statuses = {int(r.index): str(r.status) for r in sweep.rows}
        index = self._index(index, statuses)
        if statuses[index] != "completed":
            raise ValidationError("index", index, f"is {statuses[index]}: only a completed "
                                  "configuration has a model to use", "pick a completed row")
        client = await sweep.client_for(index)
        self.chosen = client
        self.chosen_index = index
        self.error = ""
        self.message = f"configuration {index} chosen (model {client.model_guid})"
        if self.dashboard is not None:
            await self.dashboard.use(client, rows=getattr(sweep, "held_out", None))
            self.message = f"configuration {index} handed to the dashboard (model {client.model_guid})"
        for choose in list(self._choosers):
            result = choose(client)
            if inspect.isawaitable(result):
                await result
        # No refresh_static() here: rewriting the display re-renders the view, and the
        # button just pressed would lose the keyboard's focus; exports show the choice.
        return client

    def joined(self, dashboard: Dashboard) -> None:
        """Called by ``Dashboard.add(board)``: "Use this model" hands models to it, unless
        the board was given another dashboard."""
        if self.dashboard is None:
            self.dashboard = dashboard
            self._has_dashboard = True

    def on_choose(self, callback: Chooser) -> Callable[[], None]:
        """Call ``callback(client)`` when "Use this model" is pressed; returns the unsubscribe."""
        self._choosers.append(callback)
        return lambda: self._choosers.remove(callback) if callback in self._choosers else None

    async def _on_cancel_request(self, index: int | None = None) -> dict[str, Any]:
        try:
            return {"cancelled": await self.cancel(index)}
        except Exception as exc:
            self.error = f"cancel failed: {exc}"
            raise

    async def _on_use_request(self, index: int) -> dict[str, Any]:
        try:
            client = await self.use(index)
        except Exception as exc:
            self.error = f"use this model failed: {exc}"
            raise
        return {"index": self.chosen_index, "model_guid": client.model_guid}

    def _require_sweep(self) -> Any:
        if self._sweep is None:
            raise UsageError("this board shows no sweep yet: pass one, or call board.follow(sweep)")
        return self._sweep

    @staticmethod
    def _index(index: Any, statuses: dict[int, str]) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or index not in statuses:
            raise ValidationError("index", index, "is not a configuration of this sweep",
                                  f"pass one of 0..{max(statuses, default=-1)} (the # column)")
        return index

    # ------------------------------------------------------------ static form

    def _losses(self) -> dict[int, list[float]]:
        sweep = self._sweep
        if sweep is None:
            return {}
        return {int(r.index): list(getattr(r, "loss", None) or []) for r in list(sweep.rows)}

    def _state(self) -> dict[str, Any]:
        names = ("sweep_id", "columns", "metric_name", "rows", "done", "sort_by", "descending",
                 "chosen_index", "error")
        return {n: getattr(self, n) for n in names}

    def static_html(self) -> str:
        return board_html(self._state(), self._losses())

    def static_text(self) -> str:
        return board_text(self._state())

    # ------------------------------------------------------------ closing

    def _stop_following(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def close(self) -> None:
        """Stop showing the sweep (it goes on running). A client the board opened (``attach``
        or ``start`` without one) is closed once the sweep has ended; the chosen model's
        client shares the sweep's connections and stays usable while they are open."""
        self._stop_following()
        if self._throttle is not None:
            self._throttle.cancel()
        owned, sweep = self._owned_client, self._sweep
        self._owned_client = None
        loop = running_loop()
        if loop is not None and owned is not None:
            # the sweep runs on it: closed once the sweep ended
            _keep(loop.create_task(_close_after(owned, sweep)))
        super().close()


def _keep(task: asyncio.Task[Any]) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _close_after(client: Any, sweep: Any) -> None:
    try:
        if sweep is not None and not getattr(sweep, "done", True):
            await sweep.wait()
    except Exception as exc:  # the sweep's own failure is on its rows already
        log.debug("sweep ended with %r", exc)
    finally:
        await client.close()


def _sweep_id(sweep_id: Any) -> str:
    if not isinstance(sweep_id, str) or not sweep_id.strip():
        raise ValidationError("sweep_id", sweep_id, "must be a sweep id string",
                              "pass board.sweep_id (or sweep.id) of the sweep to show")
    return sweep_id.strip()
