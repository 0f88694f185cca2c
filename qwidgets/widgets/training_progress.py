"""What the TrainingMonitor reads from a qcog training: its statuses, its settings' checks, and
the traits one progress answer becomes. No widget: monitor.py polls and shows."""

from __future__ import annotations

from typing import Any

from qwidgets.errors import ValidationError

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
CANCELLABLE = frozenset({"pending", "processing"})
# Consecutive failed polls (each already retried by the client) before giving up.
MAX_FAILURES = 5


def check_intervals(poll_interval: float, max_interval: float,
                    update_interval: float = 0.1) -> None:
    for name, value in (("poll_interval", poll_interval), ("update_interval", update_interval)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValidationError(name, value, "must be positive seconds", f"e.g. {name}=0.25")
    if not (isinstance(max_interval, (int, float)) and max_interval >= poll_interval):
        raise ValidationError("max_interval", max_interval,
                              f"must be at least poll_interval ({poll_interval}) seconds",
                              "e.g. max_interval=2.0")


def progress_fields(progress: dict[str, Any]) -> dict[str, Any]:
    """The monitor's traits from ``client.progress()``."""
    status = str(progress.get("status") or "unknown")
    fields: dict[str, Any] = {
        "status": status,
        "training_completion": float(progress.get("training_completion") or 0),
        "current_batch_completion": float(progress.get("current_batch_completion") or 0),
        "failure_reason": str(progress.get("failure_reason") or ""),
        "_can_cancel": status in CANCELLABLE,
    }
    for key in ("pass_index", "batch_index", "num_passes", "num_batches"):
        fields[key] = int(progress.get(key) or 0)
    if isinstance(progress.get("loss"), (int, float)):
        fields["loss"] = float(progress["loss"])
    return fields
