"""The qcog client: ``AsyncQcogClient``, the blocking ``QcogClient``, parameter types and errors.

Submodules load on first access, so ``import qwidgets.client`` does not import aiohttp or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qwidgets.client.braket.devices import AsyncDeviceClient, DeviceClient
    from qwidgets.client.braket.hybrid_jobs import AsyncJobsClient, JobEvent, JobInfo, QueuePosition
    from qwidgets.client.braket.provider import BraketProvider
    from qwidgets.client.braket.queue_info import QueueCount, QueueDepth, QueueInfo, parse_count
    from qwidgets.client.braket.records import Device, DeviceSummary, TaskInfo
    from qwidgets.client.braket.tasks import QuantumTask, TaskFailedError
    from qwidgets.client.errors import (
        ApiError,
        AuthenticationError,
        ConflictError,
        NotFoundError,
        ServerValidationError,
        ServiceUnavailableError,
        TrainingCancelledError,
        TrainingFailedError,
        TrainingTimeoutError,
        UsageError,
    )
    from qwidgets.client.federated.models import AsyncFederatedClient
    from qwidgets.client.federated.participant import AsyncWebClient, WebClient
    from qwidgets.client.federated.simulation import SimulationReport, simulate_clients
    from qwidgets.client.pipeline.action import Action, FunctionAction
    from qwidgets.client.pipeline.events import ActionState, Event, EventHandler, PipelineStopped
    from qwidgets.client.pipeline.runner import Pipeline
    from qwidgets.client.pipeline.training import TrainingPipeline
    from qwidgets.client.qcog.client import AsyncQcogClient
    from qwidgets.client.qcog.parameters import (
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
    from qwidgets.client.qcog.sweep import Sweep, SweepRow
    from qwidgets.client.qcog.sync import QcogClient, SyncSweep
    from qwidgets.client.retry import RetryPolicy

__all__ = [
    "Action",
    "ActionState",
    "AdamOptimizationParameters",
    "AnalyticOptimizationParameters",
    "ApiError",
    "AsyncDeviceClient",
    "AsyncFederatedClient",
    "AsyncJobsClient",
    "AsyncQcogClient",
    "AsyncWebClient",
    "AuthenticationError",
    "BraketProvider",
    "ConflictError",
    "Device",
    "DeviceClient",
    "DeviceSummary",
    "EIGHStateParameters",
    "EIGSStateParameters",
    "EmptyDictionary",
    "Event",
    "EventHandler",
    "FunctionAction",
    "GradOptimizationParameters",
    "GradStateParameters",
    "InferenceParameters",
    "JobEvent",
    "JobInfo",
    "LOBPCGFastStateParameters",
    "LOBPCGStateParameters",
    "NPEIGHStateParameters",
    "NotFoundError",
    "Pipeline",
    "PipelineStopped",
    "PowerIterStateParameters",
    "QcogClient",
    "QuantumTask",
    "QueueCount",
    "QueueDepth",
    "QueueInfo",
    "QueuePosition",
    "RetryPolicy",
    "ServerValidationError",
    "ServiceUnavailableError",
    "SimulationReport",
    "Sweep",
    "SweepRow",
    "SyncSweep",
    "TaskFailedError",
    "TaskInfo",
    "TrainingCancelledError",
    "TrainingFailedError",
    "TrainingPipeline",
    "TrainingTimeoutError",
    "UsageError",
    "WebClient",
    "parse_count",
    "simulate_clients",
]

_WHERE = {
    "AsyncQcogClient": "qcog.client",
    **dict.fromkeys(("AsyncJobsClient", "JobEvent", "JobInfo", "QueuePosition"), "braket.hybrid_jobs"),
    "QcogClient": "qcog.sync",
    "SyncSweep": "qcog.sync",
    **dict.fromkeys(("Sweep", "SweepRow"), "qcog.sweep"),
    "RetryPolicy": "retry",
    "TrainingPipeline": "pipeline.training",
    **dict.fromkeys(("Action", "FunctionAction"), "pipeline.action"),
    **dict.fromkeys(("ActionState", "Event", "EventHandler", "PipelineStopped"), "pipeline.events"),
    "Pipeline": "pipeline.runner",
    **dict.fromkeys((n for n in __all__ if n.endswith("Parameters") or n == "EmptyDictionary"),
                    "qcog.parameters"),
    **dict.fromkeys((n for n in __all__ if n.endswith("Error")), "errors"),
    **dict.fromkeys(("AsyncDeviceClient", "DeviceClient"), "braket.devices"),
    **dict.fromkeys(("Device", "DeviceSummary", "TaskInfo"), "braket.records"),
    **dict.fromkeys(("QuantumTask", "TaskFailedError"), "braket.tasks"),
    **dict.fromkeys(("QueueCount", "QueueDepth", "QueueInfo", "parse_count"), "braket.queue_info"),
    "BraketProvider": "braket.provider",
    "AsyncFederatedClient": "federated.models",
    **dict.fromkeys(("AsyncWebClient", "WebClient"), "federated.participant"),
    **dict.fromkeys(("SimulationReport", "simulate_clients"), "federated.simulation"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'qwidgets.client' has no attribute {name!r}")
    return getattr(importlib.import_module(f"qwidgets.client.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
