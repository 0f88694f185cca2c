"""Hybrid jobs, the one definition of their rules: job states and event types, the checks of a
CreateJob request (amazon-braket-sdk's ``prepare_quantum_job``, ``docs/braket-sdk-calls.md``),
the SDK's defaults, and which sources the simulator runs how. No I/O: the server answers 4xx
from these checks, the client runs the same checks before sending, and the runner runs what
they accepted.

- The built-in source ``s3://qwidgets-builtin/qwidgets-jobs.tar.gz`` (the package
  ``qwidgets.sim.braket.programs``) with an entry point of ``BUILTIN_ENTRY_POINTS``, e.g.
  ``qwidgets.sim.braket.programs.train:main``, which trains an engine model with the job's
  hyperparameters; input data: channels ``s3://qwidgets-datasets/<dataset guid>`` (datasets
  uploaded through the qcog routes with the same credentials).
- Any other source is a ``.tar.gz`` the caller uploaded to the simulator's S3, run for real in
  a sandboxed process, and only by a server started with ``RUN_CODE_FLAG``
  (``runs_uploaded_code``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwidgets.errors import ValidationError
from qwidgets.protocol import train_job

JOB_NAME_PATTERN = re.compile(r"^(?!-)[A-Za-z0-9-]{1,50}(?<!-)$")


# ``importable.module`` or ``importable.module:callable``
ENTRY_POINT_PATTERN = re.compile(
    r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$", re.ASCII)


ROLE_ARN_PATTERN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")


S3_PATH_PATTERN = re.compile(r"^(https|s3)://([^/]+)/?(.*)$")


QUEUED, RUNNING, COMPLETED, FAILED, CANCELLING, CANCELLED = (
    "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED")


JOB_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLING, CANCELLED)


TERMINAL_STATES = frozenset({COMPLETED, FAILED, CANCELLED})


EVENT_TYPES = (
    "WAITING_FOR_PRIORITY", "QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA",
    "RUNNING", "DEPRIORITIZED_DUE_TO_INACTIVITY", "UPLOADING_RESULTS", "COMPLETED", "FAILED",
    "MAX_RUNTIME_EXCEEDED", "CANCELLED")


MAX_EVENTS = 20  # GetJob returns at most this many events (the latest ones)


DEFAULT_INSTANCE_TYPE = "ml.m5.large"


DEFAULT_VOLUME_GB = 30


DEFAULT_INSTANCE_COUNT = 1


DEFAULT_MAX_RUNTIME_S = 5 * 24 * 60 * 60  # 432000, also the largest the service accepts


INSTANCE_TYPES = frozenset(
    [f"ml.m4.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge")]
    + [f"ml.g4dn.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")]
    + [f"ml.m5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")]
    + [f"ml.c4.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge")]
    + [f"ml.p2.{s}" for s in ("xlarge", "8xlarge", "16xlarge")]
    + [f"ml.p3.{s}" for s in ("2xlarge", "8xlarge", "16xlarge")]
    + ["ml.p3dn.24xlarge", "ml.p4d.24xlarge"]
    + [f"ml.c5.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")]
    + [f"ml.c5n.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")])


MAX_HYPERPARAMETERS = 100


MAX_HYPERPARAMETER_KEY = 256


MAX_HYPERPARAMETER_VALUE = 2500


MAX_INPUT_CHANNELS = 20


BUILTIN_SOURCE = "s3://qwidgets-builtin/qwidgets-jobs.tar.gz"


BUILTIN_PACKAGE = "qwidgets.sim.braket.programs"


DATASET_BUCKET = "qwidgets-datasets"


# entry point -> what it does
BUILTIN_ENTRY_POINTS = {
    "qwidgets.sim.braket.programs.train:main":
        "train an engine model (qwidgets.sim.engine) with the hyperparameters, on the 'input' "
        "channel's dataset or on a generated linear dataset",
}


# entry point -> the check of its hyperparameters, run by client and server alike
BUILTIN_CHECKS = {"qwidgets.sim.braket.programs.train:main": train_job.check_hyperparameters}
ENTRY_FIX = f"use one of {sorted(BUILTIN_ENTRY_POINTS)}"


def check_job_name(name: Any, field: str = "jobName") -> str:
    if not isinstance(name, str) or not JOB_NAME_PATTERN.match(name):
        raise ValidationError(
            field, name, "must be 1 to 50 letters, digits or hyphens, not starting or ending "
            "with a hyphen (pattern ^(?!-)[A-Za-z0-9-]{1,50}(?<!-)$)",
            "e.g. 'qcml-train-1'; replace spaces and underscores with hyphens")
    return name


def check_entry_point(entry_point: Any, field: str = "entryPoint") -> str:
    if not isinstance(entry_point, str) or not ENTRY_POINT_PATTERN.match(entry_point):
        raise ValidationError(
            field, entry_point, "must have the form 'importable.module' or "
            "'importable.module:callable'", "e.g. 'qwidgets.sim.braket.programs.train:main'")
    return entry_point


def check_source(s3_uri: Any, entry_point: str | None, field: str = "s3Uri",
                 entry_field: str = "entryPoint") -> str:
    """An S3 source must point at a ``.tar.gz`` archive and needs an explicit entry point."""
    if not isinstance(s3_uri, str) or not S3_PATH_PATTERN.match(s3_uri) \
            or not s3_uri.startswith("s3://"):
        raise ValidationError(field, s3_uri, "must be an S3 URI 's3://bucket/key.tar.gz'",
                              f"e.g. the simulator's built-in source {BUILTIN_SOURCE!r}")
    if not s3_uri.endswith(".tar.gz"):
        raise ValidationError(field, s3_uri, "an S3 source must point to a tar.gz file",
                              "upload the source as a .tar.gz archive")
    if entry_point is None:
        raise ValidationError(entry_field, None, "is required when the source is an S3 URI",
                              "name the module (and callable) to run, e.g. "
                              "'qwidgets.sim.braket.programs.train:main'")
    check_entry_point(entry_point, entry_field)
    return s3_uri


def hyperparameters_as_strings(values: Mapping[Any, Any] | None,
                               field: str = "hyperParameters") -> dict[str, str]:
    """``str()`` of every key and value, as the SDK does; the wire carries strings only."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ValidationError(field, values, "must be a mapping {name: value}",
                              "pass e.g. {'num_passes': 3}")
    return {str(k): str(v) for k, v in values.items()}


def check_hyperparameters(values: Any, field: str = "hyperParameters") -> dict[str, str]:
    """The wire's rule: up to 100 string keys (1-256 chars) with string values (1-2500)."""
    if not isinstance(values, Mapping):
        raise ValidationError(field, values, "must be a JSON object of strings",
                              "send e.g. {'num_passes': '3'}")
    if len(values) > MAX_HYPERPARAMETERS:
        raise ValidationError(field, f"{len(values)} entries",
                              f"must have at most {MAX_HYPERPARAMETERS} entries")
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_HYPERPARAMETER_KEY:
            raise ValidationError(f"{field} key", key, "must be a string of 1 to "
                                  f"{MAX_HYPERPARAMETER_KEY} characters")
        if not isinstance(value, str):
            raise ValidationError(f"{field}.{key}", value, "must be a string (hyperparameters "
                                  "travel as strings)", f"send {str(value)!r}")
        if not 1 <= len(value) <= MAX_HYPERPARAMETER_VALUE:
            raise ValidationError(f"{field}.{key}", value, "must be 1 to "
                                  f"{MAX_HYPERPARAMETER_VALUE} characters")
        out[key] = value
    return out


def _positive_int(value: Any, field: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 \
            or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum is not None else ""
        raise ValidationError(field, value, f"must be a whole number of at least 1{bound}")
    return value


def check_instance_config(config: Any, field: str = "instanceConfig") -> dict[str, Any]:
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ValidationError(field, config, "must be an object {instanceType, volumeSizeInGb, "
                              "instanceCount}")
    _refuse_unknown(config, ("instanceType", "volumeSizeInGb", "instanceCount"), field)
    kind = config.get("instanceType", DEFAULT_INSTANCE_TYPE)
    if not isinstance(kind, str) or kind not in INSTANCE_TYPES:  # a list is unhashable
        raise ValidationError(f"{field}.instanceType", kind, "is not an instance type of "
                              "Braket hybrid jobs", f"use e.g. {DEFAULT_INSTANCE_TYPE!r}")
    return {
        "instanceType": kind,
        "volumeSizeInGb": _positive_int(config.get("volumeSizeInGb", DEFAULT_VOLUME_GB),
                                        f"{field}.volumeSizeInGb"),
        "instanceCount": _positive_int(config.get("instanceCount", DEFAULT_INSTANCE_COUNT),
                                       f"{field}.instanceCount"),
    }


def check_stopping_condition(condition: Any, field: str = "stoppingCondition") -> dict[str, int]:
    if condition is None:
        condition = {}
    if not isinstance(condition, Mapping):
        raise ValidationError(field, condition, "must be an object {maxRuntimeInSeconds}")
    _refuse_unknown(condition, ("maxRuntimeInSeconds",), field)
    seconds = condition.get("maxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_S)
    return {"maxRuntimeInSeconds": _positive_int(
        seconds, f"{field}.maxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_S)}


def check_device(device: Any, field: str = "deviceConfig.device") -> str:
    if not isinstance(device, str) or not 1 <= len(device) <= 256 or device != device.strip():
        raise ValidationError(field, device, "must be a device ARN (1 to 256 characters)",
                              "e.g. 'arn:aws:braket:::device/quantum-simulator/amazon/sv1'")
    return device


def _refuse_unknown(body: Mapping[str, Any], known: tuple[str, ...], field: str) -> None:
    unknown = sorted(str(k) for k in body if k not in known)
    if unknown:
        raise ValidationError(f"{field}.{unknown[0]}", body[unknown[0]], "is not a field here",
                              f"use only {list(known)}")


def _s3_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not S3_PATH_PATTERN.match(value) or len(value) > 1024:
        raise ValidationError(field, value, "must be an S3 URI such as 's3://bucket/prefix'")
    return value


@dataclass(frozen=True)
class JobSpec:
    """A CreateJob request that passed every check, in the wire's field names."""

    name: str
    device: str
    role_arn: str
    entry_point: str
    source: str
    compression: str
    hyperparameters: dict[str, str]
    instance_config: dict[str, Any]
    stopping_condition: dict[str, int]
    output_data_config: dict[str, Any]
    checkpoint_config: dict[str, Any] | None
    input_data_config: list[dict[str, Any]]
    tags: dict[str, str]

    def to_wire(self) -> dict[str, Any]:
        """The request's fields as GetJob echoes them."""
        out: dict[str, Any] = {
            "jobName": self.name,
            "roleArn": self.role_arn,
            "algorithmSpecification": {"scriptModeConfig": {
                "entryPoint": self.entry_point, "s3Uri": self.source,
                "compressionType": self.compression}},
            "instanceConfig": dict(self.instance_config),
            "stoppingCondition": dict(self.stopping_condition),
            "outputDataConfig": dict(self.output_data_config),
            "hyperParameters": dict(self.hyperparameters),
            "deviceConfig": {"device": self.device},
            "inputDataConfig": [dict(c) for c in self.input_data_config],
            "tags": dict(self.tags),
        }
        if self.checkpoint_config is not None:
            out["checkpointConfig"] = dict(self.checkpoint_config)
        return out

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> JobSpec:
        return validate_create_job(body)


_CREATE_FIELDS = ("clientToken", "algorithmSpecification", "inputDataConfig", "outputDataConfig",
                  "checkpointConfig", "jobName", "roleArn", "stoppingCondition",
                  "instanceConfig", "hyperParameters", "deviceConfig", "tags", "associations")


def validate_create_job(body: Mapping[str, Any]) -> JobSpec:
    """Check a CreateJob body (JSON, wire names) with the service's rules."""
    if not isinstance(body, Mapping):
        raise ValidationError("body", body, "must be a JSON object")
    _refuse_unknown(body, _CREATE_FIELDS, "CreateJob")
    for required in ("jobName", "roleArn", "algorithmSpecification", "instanceConfig",
                     "outputDataConfig", "deviceConfig"):
        if required not in body:
            raise ValidationError(required, None, "is required")
    name = check_job_name(body["jobName"])
    role = body["roleArn"]
    if not isinstance(role, str) or not ROLE_ARN_PATTERN.match(role):
        raise ValidationError("roleArn", role, "must be an IAM role ARN "
                              "'arn:aws:iam::<12 digits>:role/<name>'",
                              "e.g. 'arn:aws:iam::000000000000:role/service-role/"
                              "AmazonBraketJobsExecutionRole'")
    algorithm = body["algorithmSpecification"]
    if not isinstance(algorithm, Mapping) or "scriptModeConfig" not in algorithm:
        raise ValidationError("algorithmSpecification", algorithm,
                              "must hold scriptModeConfig {entryPoint, s3Uri, compressionType}",
                              "container images are not run by the simulator")
    _refuse_unknown(algorithm, ("scriptModeConfig", "containerImage"), "algorithmSpecification")
    script = algorithm["scriptModeConfig"]
    prefix = "algorithmSpecification.scriptModeConfig"
    if not isinstance(script, Mapping):
        raise ValidationError(prefix, script, "must be an object {entryPoint, s3Uri}")
    _refuse_unknown(script, ("entryPoint", "s3Uri", "compressionType"), prefix)
    entry = script.get("entryPoint")
    source = check_source(script.get("s3Uri"), entry, f"{prefix}.s3Uri", f"{prefix}.entryPoint")
    compression = script.get("compressionType", "GZIP")
    if compression not in ("NONE", "GZIP"):
        raise ValidationError(f"{prefix}.compressionType", compression,
                              "must be 'GZIP' or 'NONE'", "a .tar.gz source is 'GZIP'")
    device = body["deviceConfig"]
    if not isinstance(device, Mapping):
        raise ValidationError("deviceConfig", device, "must be an object {device}")
    output = body["outputDataConfig"]
    if not isinstance(output, Mapping) or "s3Path" not in output:
        raise ValidationError("outputDataConfig", output, "must be an object {s3Path, kmsKeyId?}")
    _refuse_unknown(output, ("s3Path", "kmsKeyId"), "outputDataConfig")
    _s3_path(output["s3Path"], "outputDataConfig.s3Path")
    checkpoint = body.get("checkpointConfig")
    if checkpoint is not None:
        if not isinstance(checkpoint, Mapping) or "s3Uri" not in checkpoint:
            raise ValidationError("checkpointConfig", checkpoint,
                                  "must be an object {s3Uri, localPath?}")
        _refuse_unknown(checkpoint, ("s3Uri", "localPath"), "checkpointConfig")
        _s3_path(checkpoint["s3Uri"], "checkpointConfig.s3Uri")
    tags = body.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValidationError("tags", tags, "must be an object of strings")
    return JobSpec(
        name=name, device=check_device(device.get("device")), role_arn=role,
        entry_point=str(entry), source=source, compression=compression,
        hyperparameters=check_hyperparameters(body.get("hyperParameters") or {}),
        instance_config=check_instance_config(body["instanceConfig"]),
        stopping_condition=check_stopping_condition(body.get("stoppingCondition")),
        output_data_config=dict(output), checkpoint_config=dict(checkpoint) if checkpoint else None,
        input_data_config=_check_channels(body.get("inputDataConfig") or []), tags=dict(tags))


def _check_channels(channels: Any) -> list[dict[str, Any]]:
    field = "inputDataConfig"
    if not isinstance(channels, list) or len(channels) > MAX_INPUT_CHANNELS:
        raise ValidationError(field, channels, f"must be a list of at most {MAX_INPUT_CHANNELS} "
                              "channels {channelName, dataSource: {s3DataSource: {s3Uri}}}")
    out, seen = [], set()
    for i, channel in enumerate(channels):
        where = f"{field}[{i}]"
        try:
            name = channel["channelName"]
            uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
        except (KeyError, TypeError) as exc:
            raise ValidationError(where, channel, "must be {channelName, dataSource: "
                                  "{s3DataSource: {s3Uri}}}") from exc
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9.\-_]{1,64}", name) \
                or name in seen:
            raise ValidationError(f"{where}.channelName", name, "must be a unique name of 1 to "
                                  "64 letters, digits, '.', '-' or '_'")
        seen.add(name)
        _s3_path(uri, f"{where}.dataSource.s3DataSource.s3Uri")
        out.append(dict(channel))
    return out


def prepare_create_job(
    *, device: str, source_module: str = BUILTIN_SOURCE, entry_point: str | None = None,
    job_name: str | None = None, hyperparameters: Mapping[str, Any] | None = None,
    input_data: str | Mapping[str, str] | None = None,
    instance_config: Mapping[str, Any] | None = None,
    stopping_condition: Mapping[str, Any] | int | None = None,
    role_arn: str | None = None, output_s3_path: str | None = None,
    checkpoint_s3_uri: str | None = None, tags: Mapping[str, str] | None = None,
    account: str = "000000000000", region: str = "us-east-1", bucket: str | None = None,
) -> dict[str, Any]:
    """The CreateJob body for SDK-style arguments (``prepare_quantum_job``'s names), checked.

    Errors name the argument: ``job_name``, ``entry_point``, ``source_module``... Defaults are
    the SDK's: ``InstanceConfig(ml.m5.large, 30 GB, 1)``, a 5-day stopping condition, and S3
    locations under ``s3://<bucket>/jobs/<job_name>/`` (default bucket
    ``amazon-braket-<region>-<account>``). ``input_data`` is an S3 URI (channel 'input') or
    ``{channel: S3 URI}``.
    """
    check_device(device, "device")
    if not isinstance(source_module, str) or not source_module.startswith("s3://"):
        raise ValidationError(
            "source_module", source_module, "must be an S3 URI of a tar.gz archive (local "
            "sources must be uploaded to S3 first)",
            f"on the simulator use source_module={BUILTIN_SOURCE!r}")
    check_source(source_module, entry_point, "source_module", "entry_point")
    assert entry_point is not None
    name = check_job_name(job_name, "job_name") if job_name is not None \
        else default_job_name(entry_point)
    hyper = check_hyperparameters(hyperparameters_as_strings(hyperparameters, "hyperparameters"),
                                  "hyperparameters")
    if isinstance(stopping_condition, int) and not isinstance(stopping_condition, bool):
        stopping_condition = {"maxRuntimeInSeconds": stopping_condition}
    bucket = bucket or f"amazon-braket-{region}-{account}"
    base = f"s3://{bucket}/jobs/{name}"
    channels: dict[str, str] = {}
    if isinstance(input_data, str):
        channels = {"input": input_data}
    elif isinstance(input_data, Mapping):
        channels = {str(k): v for k, v in input_data.items()}
    elif input_data is not None:
        raise ValidationError("input_data", input_data, "must be an S3 URI or {channel: S3 URI}",
                              f"e.g. 's3://{DATASET_BUCKET}/<dataset guid>'")
    body: dict[str, Any] = {
        "jobName": name,
        "roleArn": role_arn or f"arn:aws:iam::{account}:role/service-role/"
                               "AmazonBraketJobsExecutionRole",
        "algorithmSpecification": {"scriptModeConfig": {
            "entryPoint": entry_point, "s3Uri": source_module, "compressionType": "GZIP"}},
        "instanceConfig": check_instance_config(instance_config, "instance_config"),
        "stoppingCondition": check_stopping_condition(stopping_condition, "stopping_condition"),
        "outputDataConfig": {"s3Path": output_s3_path or f"{base}/data"},
        "checkpointConfig": {"s3Uri": checkpoint_s3_uri or f"{base}/checkpoints",
                             "localPath": "/opt/jobs/checkpoints"},
        "hyperParameters": hyper,
        "deviceConfig": {"device": device},
        "inputDataConfig": [
            {"channelName": ch, "dataSource": {"s3DataSource": {"s3Uri": uri}}}
            for ch, uri in channels.items()],
        "tags": dict(tags or {}),
    }
    validate_create_job(body)
    return body


def default_job_name(entry_point: str) -> str:
    """``<module>-<milliseconds>``, like the SDK's ``<image>-<timestamp>``."""
    module = entry_point.split(":")[0].rsplit(".", 1)[-1]
    stem = re.sub(r"[^A-Za-z0-9]+", "-", module).strip("-")[:30] or "job"
    return f"{stem}-{int(time.time() * 1000)}"


RUN_CODE_FLAG = "--run-job-code"


def runs_uploaded_code(spec: JobSpec) -> bool:
    """Any source but the built-in one is code the caller uploaded."""
    return spec.source != BUILTIN_SOURCE


def check_runnable(spec: JobSpec) -> None:
    """The built-in source runs its entry points with hyperparameters that suit them, on
    datasets of the simulator; raises ValidationError otherwise (the server's 400). An uploaded
    source decides itself what its hyperparameters and input data mean."""
    if runs_uploaded_code(spec):
        return
    prefix = "algorithmSpecification.scriptModeConfig"
    entry = normalise_entry_point(spec.entry_point)
    if entry not in BUILTIN_ENTRY_POINTS:
        raise ValidationError(f"{prefix}.entryPoint", spec.entry_point,
                              f"is not importable from the source module {BUILTIN_PACKAGE}",
                              ENTRY_FIX)
    for i, channel in enumerate(spec.input_data_config):
        uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
        if dataset_guid(uri) is None:
            raise ValidationError(f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri", uri,
                                  "is not data the simulator holds",
                                  f"upload a dataset through the qcog routes and use "
                                  f"'s3://{DATASET_BUCKET}/<dataset guid>'")
    BUILTIN_CHECKS[entry](spec.hyperparameters)


def normalise_entry_point(entry_point: str) -> str:
    """``module`` means ``module:main``."""
    return entry_point if ":" in entry_point else f"{entry_point}:main"


def dataset_guid(s3_uri: str) -> str | None:
    prefix = f"s3://{DATASET_BUCKET}/"
    if not s3_uri.startswith(prefix):
        return None
    guid = s3_uri[len(prefix):].strip("/")
    return guid if re.fullmatch(r"[0-9a-fA-F-]{8,64}", guid) else None

