"""The qcog client: ``AsyncQcogClient``, the blocking ``QcogClient``, parameter types and errors.

Submodules load on first access, so ``import qwidgets.client`` does not import aiohttp or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qwidgets.client.errors import (
        ApiError,
        AuthenticationError,
        ConflictError,
        NotFoundError,
        ServerValidationError,
        ServiceUnavailableError,
        TrainingCancelledError,
        TrainingFailedError,
        UsageError,
    )
    from qwidgets.client.parameters import (
        AdamOptimizationParameters,
        AnalyticOptimizationParameters,
        EIGHStateParameters,
        EIGSStateParameters,
        EmptyDictionary,
        GradOptimizationParameters,
        GradStateParameters,
        InferenceParameters,
        LOBPCGFastStateParameters,
        LOBPCGStateParameters,
        NPEIGHStateParameters,
        PowerIterStateParameters,
    )
    from qwidgets.client.qcog import AsyncQcogClient
    from qwidgets.client.retry import RetryPolicy
    from qwidgets.client.sync import QcogClient

__all__ = [
    "AdamOptimizationParameters",
    "AnalyticOptimizationParameters",
    "ApiError",
    "AsyncQcogClient",
    "AuthenticationError",
    "ConflictError",
    "EIGHStateParameters",
    "EIGSStateParameters",
    "EmptyDictionary",
    "GradOptimizationParameters",
    "GradStateParameters",
    "InferenceParameters",
    "LOBPCGFastStateParameters",
    "LOBPCGStateParameters",
    "NPEIGHStateParameters",
    "NotFoundError",
    "PowerIterStateParameters",
    "QcogClient",
    "RetryPolicy",
    "ServerValidationError",
    "ServiceUnavailableError",
    "TrainingCancelledError",
    "TrainingFailedError",
    "UsageError",
]

_WHERE = {
    "AsyncQcogClient": "qcog",
    "QcogClient": "sync",
    "RetryPolicy": "retry",
    **dict.fromkeys((n for n in __all__ if n.endswith("Parameters") or n == "EmptyDictionary"),
                    "parameters"),
    **dict.fromkeys((n for n in __all__ if n.endswith("Error")), "errors"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'qwidgets.client' has no attribute {name!r}")
    return getattr(importlib.import_module(f"qwidgets.client.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
