"""Amazon Braket's hybrid jobs through boto3, with the methods of ``AsyncJobsClient``, so that
``JobTimeline`` and notebooks work unchanged against the real service. Needs the extra::

    pip install "qwidgets[braket]"

    jobs = BraketJobsProvider(region="us-west-2")     # boto3's usual credential chain
    arn = await jobs.create_job(device=SV1, source_module="s3://my-bucket/code.tar.gz",
                                entry_point="algo.main:start", role_arn=MY_ROLE)
    JobTimeline(arn, client=jobs)

CreateJob requests are checked locally with the same rules as the simulator's
(``qwidgets.protocol.hybrid_jobs``), minus what only the simulator needs (its built-in sources).
boto3 blocks, so every call runs in a worker thread, never on the kernel's loop; its errors
come back as the exceptions of ``qwidgets.client.errors``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from qwidgets.client import activity
from qwidgets.client.braket.hybrid_jobs import JobEvent, JobInfo, QueuePosition, Update, wait_for_job
from qwidgets.client.braket.provider import INSTALL_HINT, import_boto3
from qwidgets.client.braket.records import SV1
from qwidgets.client.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ServerValidationError,
    ServiceUnavailableError,
    ValidationError,
)
from qwidgets.protocol.hybrid_jobs import ROLE_ARN_PATTERN, prepare_create_job

__all__ = ["INSTALL_HINT", "BraketJobsProvider"]

_AUTH = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
         "ExpiredTokenException", "MissingAuthenticationTokenException"}
_TRANSIENT = {"ThrottlingException", "InternalServiceException", "ServiceUnavailable"}


class BraketJobsProvider:
    """Hybrid jobs of Amazon Braket (or any endpoint speaking its API)."""

    # the SDK polls jobs every 5 s; a timeline backs off from there while nothing changes
    poll_intervals = (5.0, 30.0)

    def __init__(self, *, session: Any = None, region: str | None = None,
                 endpoint_url: str | None = None, braket_client: Any = None) -> None:
        boto3 = import_boto3()
        self._session = session or boto3.Session(region_name=region)
        self._braket = braket_client or self._session.client(
            "braket", region_name=region, endpoint_url=endpoint_url)

    def __repr__(self) -> str:
        return f"BraketJobsProvider(region={self.region!r})"

    @property
    def region(self) -> str:
        return str(self._braket.meta.region_name)

    async def _call(self, name: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._braket, name), **kwargs)
        except Exception as exc:
            mapped = _error(name, exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._braket.close)

    # ------------------------------------------------------------ operations

    async def create_job(
        self, *, source_module: str, entry_point: str, role_arn: str, device: str = SV1,
        job_name: str | None = None, hyperparameters: Mapping[str, Any] | None = None,
        input_data: str | Mapping[str, str] | None = None,
        instance_config: Mapping[str, Any] | None = None,
        stopping_condition: Mapping[str, Any] | int | None = None,
        output_s3_path: str | None = None, checkpoint_s3_uri: str | None = None,
        bucket: str | None = None, tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create a hybrid job from code already in S3 (a ``.tar.gz``); return its ARN. The
        default S3 locations are the SDK's, in ``amazon-braket-<region>-<account>`` (the
        account read from ``role_arn``)."""
        if not isinstance(role_arn, str) or not ROLE_ARN_PATTERN.match(role_arn):
            raise ValidationError("role_arn", role_arn, "must be an IAM role ARN "
                                  "'arn:aws:iam::<12 digits>:role/<name>'",
                                  "use the role made by the Braket console, e.g. 'arn:aws:iam::"
                                  "123456789012:role/service-role/AmazonBraketJobsExecutionRole'")
        body = prepare_create_job(
            device=device, source_module=source_module, entry_point=entry_point,
            job_name=job_name, hyperparameters=hyperparameters, input_data=input_data,
            instance_config=instance_config, stopping_condition=stopping_condition,
            role_arn=role_arn, output_s3_path=output_s3_path,
            checkpoint_s3_uri=checkpoint_s3_uri, tags=tags, account=role_arn.split(":")[4],
            region=self.region, bucket=bucket)
        if not body["inputDataConfig"]:
            del body["inputDataConfig"]
        answer = await self._call("create_job", clientToken=str(uuid.uuid4()), **body)
        arn = str(answer["jobArn"])
        activity.started("job", arn, self)  # a %qw_jobs watcher shows it
        return arn

    async def get_job(self, arn: str) -> JobInfo:
        return JobInfo.from_wire(await self._call("get_job", jobArn=arn,
                                                  additionalAttributeNames=["QueueInfo"]))

    async def events(self, arn: str) -> list[JobEvent]:
        return list((await self.get_job(arn)).events)

    async def queue_position(self, arn: str) -> QueuePosition:
        info = await self.get_job(arn)
        return info.queue or QueuePosition(None, "the service gave no queue information")

    async def cancel_job(self, arn: str) -> str:
        answer = await self._call("cancel_job", jobArn=arn)
        return str(answer["cancellationStatus"])

    async def search_jobs(self, *, status: str | None = None, name_contains: str | None = None,
                          max_results: int = 100) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = []
        if status is not None:
            filters.append({"name": "status", "values": [status], "operator": "EQUAL"})
        if name_contains is not None:
            filters.append({"name": "jobName", "values": [name_contains], "operator": "CONTAINS"})

        def pages() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for page in self._braket.get_paginator("search_jobs").paginate(filters=filters):
                found.extend(page["jobs"])
                if len(found) >= max_results:
                    break
            return found[:max_results]

        try:
            return await asyncio.to_thread(pages)
        except Exception as exc:
            mapped = _error("search_jobs", exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def wait(self, arn: str, *, timeout: float | None = None,
                   min_interval: float = poll_intervals[0], max_interval: float = poll_intervals[1],
                   on_update: Update | None = None) -> JobInfo:
        """Poll until the job ends (every 5 s at first, as the SDK does, backing off to 30)."""
        return await wait_for_job(self, arn, timeout=timeout, min_interval=min_interval,
                                  max_interval=max_interval, on_update=on_update)


def _error(operation: str, exc: BaseException) -> Exception | None:
    """Our exception for a botocore error, None for anything else."""
    try:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            ParamValidationError,
        )
    except ImportError:  # pragma: no cover - boto3 brings botocore
        return None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or None
        details = {"error": code, "message": message}
        makers: dict[str, Callable[[], Exception]] = {
            "ResourceNotFoundException": lambda: NotFoundError(status or 404, message, details),
            "ConflictException": lambda: ConflictError(status or 409, message, details),
            "ValidationException": lambda: ServerValidationError(
                status or 400, {"error": code, "field": operation, "allowed": message}),
        }
        if code in makers:
            return makers[code]()
        if code in _AUTH:
            return AuthenticationError(status or 403, f"{code}: {message}", details)
        if code in _TRANSIENT or (status or 0) >= 500:
            return ServiceUnavailableError(operation, "braket", 1, f"{code}: {message}")
        return ApiError(status, f"{code}: {message}", details)
    if isinstance(exc, ParamValidationError):
        return ValidationError(operation, None, str(exc).strip(), "see the CreateJob fields")
    if isinstance(exc, NoCredentialsError):
        return AuthenticationError(None, f"{exc}: configure AWS credentials for boto3")
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return ServiceUnavailableError(operation, "braket", 1, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, BotoCoreError):
        return ApiError(None, f"{type(exc).__name__}: {exc}")
    return None
