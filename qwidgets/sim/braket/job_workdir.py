"""A hybrid job's own working directory, laid out like the Braket container's ``/opt/braket``
and ``/opt/ml`` but under ``<data dir>/job-runs/<run id>/`` (mode 0700), and what goes in and
out of it through the caller's S3:

    code/                     the source archive, extracted (tarfile's ``data`` filter)
    input/config/hyperparameters.json
    input/data/<channel>/     each input channel's objects (or a simulator dataset as CSV)
    checkpoints/              checkpointConfig.s3Uri's objects, uploaded back after the run
    model/                    the results directory: tarred to <s3Path>/output/model.tar.gz
    tmp/, home/               TMPDIR and HOME

``sandbox_read_paths`` lists what the job may read besides it (``job_process`` enforces it).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import site
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwidgets.protocol.hybrid_jobs import dataset_guid
from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.braket.s3_store import S3Store
from qwidgets.sim.server.store import Store

MAX_SOURCE_BYTES = 256 << 20  # the extracted source
MAX_SOURCE_FILES = 10_000
MAX_INPUT_BYTES = 1 << 30
RESULTS_FILE = "model.tar.gz"

# What Python, numpy and botocore read outside their installation; nothing of the server's.
SYSTEM_READ_PATHS = (
    "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ssl", "/etc/pki",
    "/etc/ca-certificates", "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
    "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/ld.so.cache", "/etc/passwd",
    "/etc/group", "/etc/mime.types", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random",
    "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/sys/devices/system/cpu",
)


class JobSetupError(Exception):
    """The job cannot start (its source, its data, the sandbox): the reason it fails with."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` as amazon-braket-sdk's ``AwsSession.parse_s3_uri`` splits them."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise JobSetupError(f"{uri!r} is not an S3 URI s3://bucket/key")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def results_location(spec: dict[str, Any]) -> tuple[str, str]:
    """Where ``AwsQuantumJob.result()`` reads: ``{outputDataConfig.s3Path}/output/model.tar.gz``."""
    return parse_s3_uri(f"{spec['outputDataConfig']['s3Path']}/output/{RESULTS_FILE}")


def sandbox_read_paths() -> list[str]:
    """The Python installation (prefixes, site-packages, the qwidgets package itself for an
    editable install) and ``SYSTEM_READ_PATHS``."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(__file__).resolve().parents[2])}
    found.update(p for p in site.getsitepackages() if os.path.isdir(p))
    return sorted(found) + [p for p in SYSTEM_READ_PATHS if os.path.exists(p)]


def check_outside(data_dir: Path, readable: list[str]) -> None:
    """Refuse to run a job that could read the data directory (every namespace's objects, the
    store, the token file): Landlock cannot take back a subtree of a readable one."""
    data = data_dir.resolve()
    for path in readable:
        root = Path(path).resolve()
        if data == root or root in data.parents:
            raise JobSetupError(f"the simulator's data directory {data} lies inside {root}, "
                                "which job code may read; start the server with a data "
                                "directory elsewhere to run uploaded code")


@dataclass(frozen=True)
class Workdir:
    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def input_data(self) -> Path:
        return self.root / "input" / "data"

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @classmethod
    def create(cls, runs: Path) -> Workdir:
        runs.mkdir(parents=True, exist_ok=True, mode=0o700)
        root = runs / uuid.uuid4().hex
        root.mkdir(mode=0o700)
        made = cls(root)
        for sub in (made.code, made.model, made.checkpoints, made.input_data,
                    made.hyperparameters.parent, root / "tmp", root / "home"):
            sub.mkdir(parents=True, exist_ok=True)
        return made

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def fill(workdir: Workdir, s3: S3Store, store: Store, ns: str, spec: dict[str, Any]) -> str:
    """Put the source, hyperparameters, input channels and checkpoints in place; return a
    description of what was loaded (the DOWNLOADING_DATA event's message)."""
    script = spec["algorithmSpecification"]["scriptModeConfig"]
    _extract(_read(s3, ns, script["s3Uri"]), workdir.code)
    workdir.hyperparameters.write_text(json.dumps(spec.get("hyperParameters") or {}))
    loaded = [f"source {script['s3Uri']}"]
    budget = [MAX_INPUT_BYTES]
    for channel in spec.get("inputDataConfig") or []:
        name = channel["channelName"]
        uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
        target = workdir.input_data / name
        target.mkdir(parents=True, exist_ok=True)
        guid = dataset_guid(uri)
        if guid is not None:
            stored = store.dataset_csv(ns, guid)
            if stored is None:
                raise JobSetupError(f"input channel {name!r}: {uri} names no dataset of these "
                                    "credentials")
            (target / f"{guid}.csv").write_text(stored[0])
            count = 1
        else:
            count = _download_prefix(s3, ns, uri, target, budget, directory_only=False)
            if not count:
                raise JobSetupError(f"No data found for channel '{name}' ({uri})")
        loaded.append(f"channel '{name}' ({count} file(s) from {uri})")
    checkpoint = spec.get("checkpointConfig")
    if checkpoint:
        count = _download_prefix(s3, ns, checkpoint["s3Uri"], workdir.checkpoints, budget,
                                 directory_only=True)
        if count:
            loaded.append(f"{count} checkpoint file(s) from {checkpoint['s3Uri']}")
    return "Downloaded " + ", ".join(loaded)


def upload_outputs(workdir: Workdir, s3: S3Store, ns: str, spec: dict[str, Any],
                   region: str) -> tuple[str, dict[str, Any] | None]:
    """Tar the results directory to the output location and upload the checkpoints; return
    the results' S3 URI and ``results.json`` as ``save_job_result`` wrote it (if it did)."""
    limit = s3.limits.max_object_bytes
    files = _files(workdir.model)
    size = sum(path.stat().st_size for path in files)
    if size > limit:  # refused before the archive is built in the server's memory
        raise JobSetupError(f"the results directory holds {size} bytes; at most {limit} fit in "
                            "model.tar.gz here (save large data elsewhere)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(path.relative_to(workdir.model)))
    bucket, key = results_location(spec)
    try:
        s3.put(ns, bucket, key, buffer.getvalue(), content_type="application/x-tar",
               create_bucket=region)
    except AwsError as exc:
        raise JobSetupError(f"the results could not be saved to s3://{bucket}/{key}: "
                            f"{exc.message}") from None
    checkpoint = spec.get("checkpointConfig")
    if checkpoint:
        c_bucket, c_prefix = parse_s3_uri(checkpoint["s3Uri"])
        for path in _files(workdir.checkpoints):
            relative = path.relative_to(workdir.checkpoints).as_posix()
            if path.stat().st_size > limit:
                raise JobSetupError(f"checkpoint {relative} is larger than {limit} bytes")
            try:
                s3.put(ns, c_bucket, f"{c_prefix.rstrip('/')}/{relative}", path.read_bytes(),
                       create_bucket=region)
            except AwsError as exc:
                raise JobSetupError(f"checkpoint {relative} could not be saved: "
                                    f"{exc.message}") from None
    saved = workdir.model / "results.json"
    persisted = None
    if saved.is_file():
        try:
            persisted = json.loads(saved.read_text())
        except (OSError, ValueError):
            persisted = None
    data = persisted.get("dataDictionary") if isinstance(persisted, dict) else None
    if not isinstance(persisted, dict) or not isinstance(data, dict):
        return f"s3://{bucket}/{key}", None
    if persisted.get("dataFormat") == "plaintext":
        return f"s3://{bucket}/{key}", data
    # pickled values are for the SDK (allow_pickle=True) to read, not for this server
    return f"s3://{bucket}/{key}", {"dataFormat": persisted.get("dataFormat"),
                                   "keys": sorted(data)}


def save_result(s3: S3Store, ns: str, spec: dict[str, Any], result: Any, *, region: str) -> str:
    """A built-in program's result as ``save_job_result`` writes it (plaintext persisted job
    data, ``results.json`` at the root of ``model.tar.gz``); returns its S3 URI."""
    document = json.dumps({
        "braketSchemaHeader": {"name": "braket.jobs_data.persisted_job_data", "version": "1"},
        "dataDictionary": result if isinstance(result, dict) else {"result": result},
        "dataFormat": "plaintext"}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("results.json")
        info.size = len(document)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(document))
    bucket, key = results_location(spec)
    try:
        s3.put(ns, bucket, key, buffer.getvalue(), content_type="application/x-tar",
               create_bucket=region)
    except AwsError as exc:
        raise JobSetupError(f"the result could not be saved to s3://{bucket}/{key}: "
                            f"{exc.message}") from None
    return f"s3://{bucket}/{key}"


def _files(root: Path) -> list[Path]:
    """The regular files under ``root`` (what a job left as links is not followed)."""
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()]


def _read(s3: S3Store, ns: str, uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    try:
        return s3.read(ns, bucket, key)[1]
    except AwsError as exc:
        raise JobSetupError(f"the source {uri} could not be read: {exc.message}") from None


def _extract(archive: bytes, target: Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_SOURCE_FILES:
                raise JobSetupError(f"the source archive holds {len(members)} entries; at most "
                                    f"{MAX_SOURCE_FILES} are accepted")
            size = sum(m.size for m in members if m.isfile())
            if size > MAX_SOURCE_BYTES:
                raise JobSetupError(f"the source archive unpacks to {size} bytes; at most "
                                    f"{MAX_SOURCE_BYTES} are accepted")
            for member in members:
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (
                        member.isfile() or member.isdir()):
                    raise JobSetupError(f"the source archive's entry {member.name!r} is not a "
                                        "plain file or directory inside the archive")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: checked once more
                tar.extractall(target, filter="data")
            else:
                tar.extractall(target)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise JobSetupError(f"the source is not a readable tar.gz archive ({exc})") from None


def _download_prefix(s3: S3Store, ns: str, uri: str, target: Path, budget: list[int], *,
                     directory_only: bool) -> int:
    """The objects under ``uri``, laid out as the SDK's local jobs do: relative to the prefix
    if it names a directory, else to its parent. Returns how many files were written."""
    bucket, prefix = parse_s3_uri(uri)
    if s3.bucket(ns, bucket) is None:
        return 0
    keys: list[str] = []
    after = ""
    while True:
        page = s3.list(ns, bucket, prefix, after, 1000)
        if not page:
            break
        keys.extend(o.key for o in page)
        after = page[-1].key
    if directory_only and prefix and not prefix.endswith("/"):
        keys = [k for k in keys if k.startswith(prefix + "/")]
    is_dir = prefix.endswith("/") or all(k.startswith(f"{prefix}/") for k in keys)
    top = prefix.rstrip("/") if is_dir else prefix.rpartition("/")[0]
    count = 0
    for key in keys:
        if key.endswith("/"):
            continue
        relative = key[len(top):].lstrip("/") if top else key
        path = (target / relative).resolve()
        if target.resolve() not in path.parents:
            continue  # a key such as '../x' stays outside the job's files
        obj, body = s3.read(ns, bucket, key)
        budget[0] -= obj.size
        if budget[0] < 0:
            raise JobSetupError(f"the input data exceeds {MAX_INPUT_BYTES} bytes")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        count += 1
    return count
