"""The embedded simulator: a numpy engine (no I/O) and, built on it, a loopback server.

``start``, ``default_server`` and ``SimServer`` are loaded on first access, so importing the
engine never imports aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qwidgets.sim.server.embedded import SimServer, default_server, start

__all__ = ["SimServer", "default_server", "start"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from qwidgets.sim.server import embedded

        return getattr(embedded, name)
    raise AttributeError(f"module 'qwidgets.sim' has no attribute {name!r}")
