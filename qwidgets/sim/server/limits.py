"""What one request, and one token, may cost the simulator: body sizes per route, the
dataset's shape, a training's memory, the per-token quotas, the header timeout and the
throttling of wrong tokens. ``make_app(limits=ServerLimits(...))`` and the CLI's options set
them; each refusal names the limit and the option that raises it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass, field

from qwidgets.protocol.qcog_wire import DatasetLimits

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_MAX_BODY_BYTES = 256 * MiB


def default_model_memory() -> int:
    """A quarter of the machine's memory, between 1 and 8 GiB: two trainings at the limit
    still leave the machine half of its memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * GiB
    return max(GiB, min(8 * GiB, total // 4))


class QuotaExceededError(Exception):
    """A token reached one of its quotas: 403 for what it stores (nothing frees it but the
    server's operator), 429 for its unfinished trainings (one ending frees a place)."""

    def __init__(self, status: int, field: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.fix = fix


@dataclass(frozen=True)
class Quotas:
    """Per token: what it may keep stored, how many of its trainings may be unfinished, and
    how many may run at once (None: as many as the server has training slots)."""

    max_datasets: int = 1000
    max_dataset_bytes: int = 4 * GiB
    max_models: int = 1000
    max_active_trainings: int = 4
    max_running_trainings: int | None = None


@dataclass(frozen=True)
class ServerLimits:
    """Every bound of the server; the defaults suit a classroom server on a small machine."""

    # the largest body of any route (S3 objects included); each route below may take less
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # control routes: training parameters, models, searches, Braket tasks and jobs
    max_json_bytes: int = 4 * MiB
    # a federated update or initial artifact (JSON numbers)
    max_federated_bytes: int = 16 * MiB
    dataset: DatasetLimits = field(default_factory=DatasetLimits)
    max_model_memory: int = field(default_factory=default_model_memory)
    quotas: Quotas = field(default_factory=Quotas)
    # seconds a connection may take to send its request headers (and stay idle between
    # requests); slow-header sockets are closed after it
    header_timeout: float = 20.0
    # wrong tokens from one address within a minute before it is refused with 429
    auth_failures: int = 20

    def __post_init__(self) -> None:
        values = {"max_body_bytes": self.max_body_bytes, "max_json_bytes": self.max_json_bytes,
                  "max_federated_bytes": self.max_federated_bytes,
                  "max_model_memory": self.max_model_memory,
                  "auth_failures": self.auth_failures, "max_columns": self.dataset.max_columns,
                  "max_cells": self.dataset.max_cells,
                  "max_dataset_bytes": self.dataset.max_bytes,
                  "max_datasets": self.quotas.max_datasets,
                  "max_models": self.quotas.max_models,
                  "max_active_trainings": self.quotas.max_active_trainings}
        if self.quotas.max_running_trainings is not None:
            values["max_running_trainings"] = self.quotas.max_running_trainings
        for name, value in values.items():
            if value < 1:
                raise ValueError(f"{name} must be positive, not {value}")
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be positive, not {self.header_timeout}")

    @property
    def datasets(self) -> DatasetLimits:
        """The dataset limits in force: a CSV never larger than the general body limit."""
        if self.dataset.max_bytes <= self.max_body_bytes:
            return self.dataset
        return dataclasses.replace(self.dataset, max_bytes=self.max_body_bytes)

    def body_limit(self, method: str, path: str) -> tuple[int, str]:
        """The largest body ``method path`` takes, and the option that raises it."""
        kind = next((k for pattern, k in _ROUTES if pattern.fullmatch(path)), "any")
        if method in ("GET", "HEAD", "DELETE", "OPTIONS") and kind != "any":
            kind = "json"
        limit, option = {
            "dataset": (self.datasets.encoded_bytes() + 64 * 1024, "--max-dataset-mb"),
            "upload": (self.datasets.max_bytes + MiB, "--max-dataset-mb"),
            "federated": (self.max_federated_bytes, "--max-federated-mb"),
            "json": (self.max_json_bytes, "--max-json-mb"),
            "any": (self.max_body_bytes, "--max-body-mb"),
        }[kind]
        if limit >= self.max_body_bytes:
            return self.max_body_bytes, "--max-body-mb"
        return limit, option


_ROUTES = (
    (re.compile(r"/api/v1/dataset/upload/?"), "upload"),
    (re.compile(r"/api/v1/dataset/?|/api/v1/model/[^/]+/inference/?"), "dataset"),
    (re.compile(r"(/fl/[^/]+/api/v1|/api/v1/federated)/(model_updates|models)/?"), "federated"),
    (re.compile(r"/api/.*|/fl/.*"), "json"),
    # Braket's REST routes; S3 objects (/s3/) and anything else take the general limit
    (re.compile(r"/(quantum-tasks?|devices?|jobs?)(/.*)?"), "json"),
)


# ---------------------------------------------------------------- command line

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": MiB, "mb": MiB,
          "mib": MiB, "g": GiB, "gb": GiB, "gib": GiB}


def parse_size(text: str) -> int:
    """``"512M"``, ``"4G"``, ``"1.5GiB"`` or plain bytes."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: use e.g. 512M or 4G")
    return int(float(found.group(1)) * _UNITS[unit])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The CLI options of every limit, with the defaults shown."""
    d, q = ServerLimits(max_model_memory=GiB), Quotas()
    group = parser.add_argument_group("limits (per request and per token)")
    group.add_argument("--max-json-mb", default=d.max_json_bytes // MiB, type=int,
                       metavar="MB",
                       help="largest body of a control route (default %(default)s)")
    group.add_argument("--max-federated-mb", default=d.max_federated_bytes // MiB, type=int,
                       metavar="MB",
                       help="largest federated update or artifact (default %(default)s)")
    group.add_argument("--max-dataset-mb", default=d.dataset.max_bytes // MiB, type=int,
                       metavar="MB",
                       help="largest dataset, as CSV once decoded (default %(default)s)")
    group.add_argument("--max-columns", type=int, default=d.dataset.max_columns,
                       help="most columns of a dataset (default %(default)s)")
    group.add_argument("--max-cells", type=int, default=d.dataset.max_cells,
                       help="most rows x columns of a dataset (default %(default)s)")
    group.add_argument("--max-model-memory", type=parse_size, default=None, metavar="SIZE",
                       help="largest memory estimate of a training, e.g. 4G (default: a "
                       "quarter of this machine's memory, 1G to 8G)")
    group.add_argument("--max-datasets", type=int, default=q.max_datasets,
                       help="datasets stored per token (default %(default)s)")
    group.add_argument("--max-dataset-storage-mb", default=q.max_dataset_bytes // MiB, type=int,
                       metavar="MB",
                       help="dataset bytes stored per token (default %(default)s)")
    group.add_argument("--max-models", type=int, default=q.max_models,
                       help="models stored per token (default %(default)s)")
    group.add_argument("--max-active-trainings", type=int, default=q.max_active_trainings,
                       help="unfinished trainings per token (default %(default)s)")
    group.add_argument("--max-running-trainings", type=int, default=q.max_running_trainings,
                       metavar="N", help="trainings of one token running at once (default: "
                       "every training slot; other tokens' trainings still go first in turn)")
    group.add_argument("--header-timeout", type=float, default=d.header_timeout,
                       metavar="S", help="seconds to send request headers, and to stay idle "
                       "between requests (default %(default)s)")
    group.add_argument("--auth-failures", type=int, default=d.auth_failures,
                       help="wrong tokens per address and minute before it is refused for a "
                       "while (default %(default)s)")


def from_arguments(args: argparse.Namespace, max_body_bytes: int) -> ServerLimits:
    memory = args.max_model_memory if args.max_model_memory else default_model_memory()
    return ServerLimits(
        max_body_bytes=max_body_bytes, max_json_bytes=args.max_json_mb * MiB,
        max_federated_bytes=args.max_federated_mb * MiB,
        dataset=DatasetLimits(args.max_dataset_mb * MiB, args.max_columns, args.max_cells),
        max_model_memory=memory,
        quotas=Quotas(args.max_datasets, args.max_dataset_storage_mb * MiB, args.max_models,
                      args.max_active_trainings, args.max_running_trainings),
        header_timeout=args.header_timeout, auth_failures=args.auth_failures)
