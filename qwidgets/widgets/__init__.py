"""The widgets. Imported lazily so ``import qwidgets`` stays light."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DeviceQueueGauges": "qwidgets.widgets.gauges",
    "ModelConfigForm": "qwidgets.widgets.config_form",
    "TrainingMonitor": "qwidgets.widgets.monitor",
    "InferenceGrid": "qwidgets.widgets.grid",
    "Dashboard": "qwidgets.widgets.dashboard",
    "PipelineView": "qwidgets.widgets.pipeline_view",
    "JobTimeline": "qwidgets.widgets.timeline",
    "FederatedPanel": "qwidgets.widgets.federated_panel",
    "SweepBoard": "qwidgets.widgets.sweep_board",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'qwidgets.widgets' has no attribute {name!r}")
