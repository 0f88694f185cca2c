"""Requests from the browser to the kernel: ``{id, kind, ...}`` custom messages answered by
``{id, kind: "reply", ok, result | error}``, each handled as a task on the kernel's loop so a
slow one never blocks the others, and a ``cancel`` message stops one by id.

With JupyterLab 4.6 and ipykernel 7, comm messages may be handled on a kernel *subshell*:
another thread with its own event loop. Clients and polling tasks belong to the loop the
cells run on, so a request arriving elsewhere is handed over to that loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from qwidgets.errors import QwidgetsError
from qwidgets.protocol.request_kinds import Control, Request

log = logging.getLogger(__name__)

Handler = Callable[..., Any | Awaitable[Any]]
Reply = tuple[dict[str, Any], list[bytes | memoryview]]


class Requests:
    """Routes request kinds to handlers. A handler takes the message's fields as keyword
    arguments and returns a JSON-able result, or ``(result, buffers)`` for binary data."""

    def __init__(self, send: Callable[[dict[str, Any], list[Any]], None],
                 home: asyncio.AbstractEventLoop | None = None) -> None:
        self._send = send
        self.home = home if home is not None else running_loop()
        self._handlers: dict[str, Handler] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def register(self, kind: Request, handler: Handler) -> None:
        """``kind``: a request kind of the table (``qwidgets/protocol/request_kinds.json``)."""
        self._handlers[Request(kind).value] = handler

    def receive(self, content: Any, buffers: list[Any] | None = None) -> None:
        """The widget's ``on_msg`` callback body."""
        if not isinstance(content, dict) or "kind" not in content:
            return
        home = self.home
        if home is not None and not home.is_closed() and running_loop() is not home:
            home.call_soon_threadsafe(self._receive_here, content, buffers)
            return
        self._receive_here(content, buffers)

    def _receive_here(self, content: dict[str, Any], buffers: list[Any] | None) -> None:
        kind = str(content["kind"])
        rid = str(content.get("id", ""))
        if kind == Control.CANCEL:
            task = self.tasks.pop(str(content.get("target", "")), None)
            if task is not None:
                task.cancel()
            return
        handler = self._handlers.get(kind)
        if handler is None:
            self._reply(rid, False, error=f"unknown request kind {kind!r}; "
                        f"known: {sorted(self._handlers)}")
            return
        fields = {k: v for k, v in content.items() if k not in ("id", "kind")}
        loop = running_loop()
        if loop is None:
            # No loop (a plain script or a synchronous test): run to completion here.
            self._finish(rid, lambda: asyncio.run(_call(handler, fields)))
            return
        task = loop.create_task(self._run(rid, handler, fields))
        self.tasks[rid] = task
        def forget(_: asyncio.Task[None]) -> None:
            self.tasks.pop(rid, None)

        task.add_done_callback(forget)

    async def _run(self, rid: str, handler: Handler, fields: dict[str, Any]) -> None:
        try:
            result = await _call(handler, fields)
        except asyncio.CancelledError:
            self._reply(rid, False, error="cancelled")
            raise
        except Exception as exc:
            self._fail(rid, exc)
            return
        self._answer(rid, result)

    def _finish(self, rid: str, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except Exception as exc:
            self._fail(rid, exc)
            return
        self._answer(rid, result)

    def _fail(self, rid: str, exc: Exception) -> None:
        if isinstance(exc, (QwidgetsError, ValueError, KeyError, TypeError)):
            self._reply(rid, False, error=str(exc))  # the user's mistake: the message says it
            return
        # a bug or an outage: shown in the widget rather than lost in a log, and logged whole
        log.error("request %s failed", rid, exc_info=exc)
        self._reply(rid, False, error=f"{type(exc).__name__}: {exc}")

    def _answer(self, rid: str, result: Any) -> None:
        buffers: list[Any] = []
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list):
            result, buffers = result
        self._reply(rid, True, result=result, buffers=buffers)

    def _reply(self, rid: str, ok: bool, *, result: Any = None, error: str | None = None,
               buffers: list[Any] | None = None) -> None:
        message: dict[str, Any] = {"id": rid, "kind": Control.REPLY.value, "ok": ok}
        if ok:
            message["result"] = result
        else:
            message["error"] = error
        self._send(message, buffers or [])

    def cancel_all(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        self.tasks.clear()


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _call(handler: Handler, fields: dict[str, Any]) -> Any:
    result = handler(**fields)
    if inspect.isawaitable(result):
        result = await result
    return result
