"""A private event loop in a daemon thread, on which the sync facade runs its coroutines.

Why a thread: a Jupyter kernel already runs a loop in the main thread, so ``asyncio.run`` (and
``loop.run_until_complete``) cannot be used there; patching asyncio (nest-asyncio) would change
the behaviour of every other library in the kernel. Submitting to a loop owned by another
thread works the same in a script, in a kernel and from any number of threads.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from qwidgets.client.errors import UsageError

T = TypeVar("T")


class Closeable(Protocol):
    async def close(self) -> None: ...


class LoopThread:
    def __init__(self, name: str = "qwidgets-client-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the private loop and block the calling thread until it ends."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise UsageError("a QcogClient method was called from its own event loop thread; "
                             "use AsyncQcogClient (await) in coroutines running there")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            # Ctrl-C in a script or "interrupt kernel" must stop the request, not orphan it.
            future.cancel()
            raise

    def stop(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        if not self.alive:
            return
        if cleanup is not None:
            # Best effort: this runs at interpreter exit, where nothing can be reported.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


_shared: LoopThread | None = None
_lock = threading.Lock()
# Weak, so that a client dropped by the user can still be garbage collected.
_tracked: weakref.WeakSet[Closeable] = weakref.WeakSet()


def shared_loop() -> LoopThread:
    """The process-wide loop thread, (re)started on demand."""
    global _shared
    with _lock:
        if _shared is None or not _shared.alive:
            _shared = LoopThread()
        return _shared


def close_at_exit(resource: Closeable) -> None:
    """Close ``resource`` on the loop at interpreter exit, so its pooled connections end
    cleanly instead of raising "Unclosed client session" warnings."""
    _tracked.add(resource)


@atexit.register
def _shutdown() -> None:
    if _shared is None:
        return

    async def run_all() -> None:
        for resource in list(_tracked):
            with contextlib.suppress(Exception):  # one failed close must not stop the others
                await resource.close()

    _shared.stop(run_all)
