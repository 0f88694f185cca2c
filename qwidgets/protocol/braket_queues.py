"""Braket's queue conventions, shared by the simulator's routes and the client: queue names,
task and device states, and how depths and positions are written on the wire (``'>4000'``
past a cap; ``docs/braket-and-federated-wire-formats.md``).
"""

from __future__ import annotations

from typing import Literal

DeviceType = Literal["QPU", "SIMULATOR"]


DeviceStatus = Literal["ONLINE", "OFFLINE", "RETIRED"]


Priority = Literal["Normal", "Priority"]


Kind = Literal["task", "job"]


DEVICE_STATUSES: tuple[DeviceStatus, ...] = ("ONLINE", "OFFLINE", "RETIRED")


PRIORITIES: tuple[Priority, ...] = ("Normal", "Priority")


TASKS_QUEUE = "QUANTUM_TASKS_QUEUE"


JOBS_QUEUE = "JOBS_QUEUE"


# Braket shows larger values as '>N' (amazon-braket-sdk's documented thresholds).
TASK_DEPTH_CAP = 4000


JOB_DEPTH_CAP = 1000


TASK_POSITION_CAP = 2000


JOB_POSITION_CAP = 15


TASK_STATES = ("CREATED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")


TERMINAL_TASK_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def depth_string(count: int, kind: Kind, *, running_jobs: int = 0,
                 device_type: DeviceType = "QPU") -> str:
    """A queue size as GetDevice shows it: ``'>4000'`` (tasks) / ``'>1000'`` (jobs) above the
    caps, and on a QPU with no job waiting but some running, ``'0 (1 prioritized job(s)
    running)'``."""
    cap = TASK_DEPTH_CAP if kind == "task" else JOB_DEPTH_CAP
    if count > cap:
        return f">{cap}"
    if kind == "job" and count == 0 and running_jobs > 0 and device_type == "QPU":
        return f"0 ({running_jobs} prioritized job(s) running)"
    return str(count)


def position_string(ahead: int, kind: Kind) -> str:
    """A queue position as GetQuantumTask/GetJob show it (``'>2000'``, ``'>15'`` above caps)."""
    cap = TASK_POSITION_CAP if kind == "task" else JOB_POSITION_CAP
    return f">{cap}" if ahead > cap else str(ahead)


def no_position_message(kind: Kind, status: str) -> str:
    noun = "Task" if kind == "task" else "Job"
    return f"{noun} is in {status} status. AmazonBraket does not show queue position for this status."

