"""Training statuses and the progress view built from ``GET model/{guid}/``."""

from __future__ import annotations

import math
from typing import Any

from qwidgets.client.errors import TrainingTimeoutError, ValidationError

__all__ = ["TrainingTimeoutError", "describe_progress", "progress_view", "validate_version"]

STATUSES = ("pending", "processing", "failed", "completed", "cancelled", "cancelled_pending",
            "unknown")
# cancelled_pending is transient (the server stops at the next batch), so it is waited out.
WAITING_STATUSES = frozenset({"pending", "processing", "cancelled_pending"})


def validate_version(version: str) -> str:
    """qcog versions are ``M.N.F`` with integer parts (``0.0.63``)."""
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValidationError("version", version, "must be 'M.N.F' with integers",
                              "e.g. '0.0.63'")
    return version


def last_loss(loss: Any) -> float | None:
    """The most recent finite value of a passes x batches matrix (rows may be partial)."""
    for row in reversed(loss or []):
        for value in reversed(row or []):
            if isinstance(value, (int, float)) and math.isfinite(value):
                return float(value)
    return None


# Iterative state solvers that stop at their budget: the server names the rows' share and the fix.
STATE_FIELDS = ("state_warning", "solved_rows", "unconverged_rows")


def progress_view(model: dict[str, Any]) -> dict[str, Any]:
    """The progress of ``GET model/{guid}/``; ``state_warning`` and the row counts are there
    only when the server reports them (the simulator does, the public service may not)."""
    progress = model.get("progress") or {}
    view = {
        "guid": model.get("guid"),
        "status": model.get("status"),
        "training_completion": model.get("training_completion") or 0,
        "current_batch_completion": model.get("current_batch_completion") or 0,
        "pass_index": progress.get("pass_index"),
        "batch_index": progress.get("batch_index"),
        "num_passes": progress.get("num_passes"),
        "num_batches": progress.get("num_batches"),
        "loss": last_loss(model.get("loss")),
        "failure_reason": model.get("failure_reason"),
    }
    view.update({key: progress[key] for key in STATE_FIELDS if key in progress})
    return view


def describe_progress(progress: dict[str, Any]) -> str:
    """How far a training got, in words: passes, batches, percentage, last loss."""
    parts = [f"{progress.get('training_completion') or 0}% done"]
    if progress.get("num_passes"):
        parts.append(f"pass {(progress.get('pass_index') or 0) + 1} of {progress['num_passes']}")
    if progress.get("num_batches"):
        parts.append(f"batch {(progress.get('batch_index') or 0) + 1} of "
                     f"{progress['num_batches']}")
    if progress.get("loss") is not None:
        parts.append(f"last loss {progress['loss']:.4g}")
    if progress.get("state_warning"):
        parts.append(f"warning: {progress['state_warning']}")
    return ", ".join(parts)


def timed_out(model_guid: str, timeout: float, model: dict[str, Any]) -> TrainingTimeoutError:
    """The error of a wait that gave up, with how far the training got."""
    progress = progress_view(model)
    return TrainingTimeoutError(model_guid, timeout, progress, describe_progress(progress))
