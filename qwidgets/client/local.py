"""The embedded simulator as the client finds it: through the ``qwidgets.local_server`` entry
point, which ``qwidgets.sim`` registers. The client never imports the simulator, so a client
of a remote service loads none of it, and the arrows run client -> protocol <- server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from qwidgets.client.errors import UsageError

GROUP = "qwidgets.local_server"


@dataclass(frozen=True)
class LocalServer:
    url: str  # without the ``/api`` suffix
    token: str

    def __repr__(self) -> str:
        return f"LocalServer({self.url!r})"  # the token stays out of reprs and logs


def _factory() -> Any:
    found = entry_points(group=GROUP)
    if not found:
        raise UsageError(f"no embedded simulator is installed (entry point group {GROUP!r} is "
                         "empty): pass hostname=... / endpoint=..., or reinstall qwidgets")
    return next(iter(found)).load()


async def local_server() -> LocalServer:
    """The process-wide simulator, started on first use (in a worker thread: it binds a port)."""
    server = await asyncio.to_thread(lambda: _factory()())
    return LocalServer(server.url, server.token)
