"""qwidgets: Jupyter widgets for quantum-cognition ML services and quantum devices."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qwidgets.errors import QwidgetsError, QwidgetsWarning, ValidationError
from qwidgets.version import __version__

if TYPE_CHECKING:
    from qwidgets.client import (
        AdamOptimizationParameters,
        AnalyticOptimizationParameters,
        AsyncQcogClient,
        EIGHStateParameters,
        EIGSStateParameters,
        GradOptimizationParameters,
        GradStateParameters,
        InferenceParameters,
        LOBPCGFastStateParameters,
        LOBPCGStateParameters,
        NPEIGHStateParameters,
        PowerIterStateParameters,
        QcogClient,
    )

# The client's names load on first access (PEP 562) so that ``import qwidgets`` stays light:
# no aiohttp, no pandas until a client or a parameter type is actually used.
__all__ = [
    "AdamOptimizationParameters",
    "AnalyticOptimizationParameters",
    "AsyncQcogClient",
    "EIGHStateParameters",
    "EIGSStateParameters",
    "GradOptimizationParameters",
    "GradStateParameters",
    "InferenceParameters",
    "LOBPCGFastStateParameters",
    "LOBPCGStateParameters",
    "NPEIGHStateParameters",
    "PowerIterStateParameters",
    "QcogClient",
    "QwidgetsError",
    "QwidgetsWarning",
    "ValidationError",
    "__version__",
]
_EAGER = frozenset({"QwidgetsError", "QwidgetsWarning", "ValidationError", "__version__"})


# ``%load_ext qwidgets`` and the plain functions behind its magics.
_EXTENSION = frozenset({"dashboard", "device_queues", "watch_jobs", "show_inference_as_grid",
                        "save_html", "sweep_board"})


def load_ipython_extension(ipython: Any) -> None:
    from qwidgets.extension import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from qwidgets.extension import unload_ipython_extension as unload

    unload(ipython)


# Subpackages a user reaches as ``qwidgets.widgets.X`` after a bare ``import qwidgets``.
_SUBPACKAGES = frozenset({"widgets", "client", "sim", "protocol"})


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"qwidgets.{name}")
    if name == "save_html":
        from qwidgets.export import save_html

        return save_html
    if name in _EXTENSION:
        import qwidgets.extension

        return getattr(qwidgets.extension, name)
    if name in __all__ and name not in _EAGER:
        import qwidgets.client

        return getattr(qwidgets.client, name)
    raise AttributeError(f"module 'qwidgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_EXTENSION, *_SUBPACKAGES})
