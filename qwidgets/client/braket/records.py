"""What the Braket routes answer, as the client returns it: devices with their queues, tasks,
and hybrid jobs' status (the same from our servers and from Amazon Braket through boto3)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from qwidgets.client.braket.queue_info import QueueDepth, QueueInfo

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
DM1 = "arn:aws:braket:::device/quantum-simulator/amazon/dm1"
TN1 = "arn:aws:braket:::device/quantum-simulator/amazon/tn1"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class DeviceSummary:
    arn: str
    name: str
    provider: str
    device_type: str  # QPU or SIMULATOR
    status: str  # ONLINE, OFFLINE or RETIRED

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> DeviceSummary:
        return cls(str(body["deviceArn"]), str(body.get("deviceName", "")),
                   str(body.get("providerName", "")), str(body.get("deviceType", "")),
                   str(body.get("deviceStatus", "")))


@dataclass(frozen=True)
class Device(DeviceSummary):
    queue: QueueDepth
    capabilities: dict[str, Any]

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> Device:
        summary = DeviceSummary.from_wire(body)
        try:
            capabilities = json.loads(body.get("deviceCapabilities") or "{}")
        except ValueError:
            capabilities = {}
        return cls(summary.arn, summary.name, summary.provider, summary.device_type,
                   summary.status, QueueDepth.from_wire(body.get("deviceQueueInfo")),
                   capabilities if isinstance(capabilities, dict) else {})

    @property
    def qubits(self) -> int | None:
        paradigm = self.capabilities.get("paradigm")
        count = paradigm.get("qubitCount") if isinstance(paradigm, dict) else None
        return int(count) if isinstance(count, int) else None

    @property
    def poll_interval(self) -> float | None:
        """The device's suggested task polling interval in seconds, if it gives one."""
        service = self.capabilities.get("service")
        millis = service.get("getTaskPollIntervalMillis") if isinstance(service, dict) else None
        return millis / 1000 if isinstance(millis, (int, float)) and millis > 0 else None


@dataclass(frozen=True)
class TaskInfo:
    arn: str
    status: str
    device_arn: str
    shots: int
    created_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    queue: QueueInfo | None
    job_arn: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> TaskInfo:
        info = body.get("queueInfo")
        return cls(str(body["quantumTaskArn"]), str(body.get("status", "")),
                   str(body.get("deviceArn", "")), int(body.get("shots") or 0),
                   _time(body.get("createdAt")), _time(body.get("endedAt")),
                   body.get("failureReason"),
                   QueueInfo.from_wire(info) if info is not None else None,
                   body.get("jobArn"))


@dataclass(frozen=True)
class JobStatus:
    arn: str
    status: str
    name: str
    device_arn: str | None
    queue: QueueInfo | None

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> JobStatus:
        info = body.get("queueInfo")
        device = body.get("deviceConfig")
        return cls(str(body["jobArn"]), str(body.get("status", "")), str(body.get("jobName", "")),
                   device.get("device") if isinstance(device, dict) else None,
                   QueueInfo.from_wire(info) if info is not None else None)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # boto3 parses timestamps itself
        return value
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
