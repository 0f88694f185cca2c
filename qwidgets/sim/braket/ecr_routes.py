"""The ECR call amazon-braket-sdk's ``@hybrid_job`` makes when it decorates a function:
BatchGetImage of the Braket job images, by tag then by digest, to find the image's Python
version (``-py311-``) and refuse a local Python that differs. Here every Braket job image is
the server's own Python, which is what runs the job, so the answer names that version.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from qwidgets.sim.braket.aws_wire import AwsError

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
# the repositories of braket/jobs/image_uri_config/*.json
REPOSITORIES = ("amazon-braket-base-jobs", "amazon-braket-pytorch-jobs",
                "amazon-braket-tensorflow-jobs")


def image_tags() -> list[str]:
    major, minor = sys.version_info[:2]
    return ["latest", f"1.0-cpu-py{major}{minor}-ubuntu22.04"]


def handle(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    if operation != "BatchGetImage":
        raise AwsError(400, "UnknownOperationException",
                       f"ECR operation {operation!r} is not served here; this server answers "
                       "BatchGetImage for the Braket job images")
    repository = body.get("repositoryName")
    if repository not in REPOSITORIES:
        raise AwsError(400, "RepositoryNotFoundException",
                       f"The repository with name {repository!r} does not exist in the registry "
                       f"(this simulator has {', '.join(REPOSITORIES)})")
    digest = "sha256:" + hashlib.sha256(f"{repository}:{sys.version}".encode()).hexdigest()
    images: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    wanted_ids = body.get("imageIds")
    if not isinstance(wanted_ids, list) or not all(isinstance(w, dict) for w in wanted_ids):
        raise AwsError(400, "InvalidParameterException",
                       "imageIds must be a list of {imageTag} or {imageDigest} objects")
    for wanted in wanted_ids:
        tags = image_tags()
        if wanted.get("imageDigest") not in (None, digest) or (
                "imageTag" in wanted and wanted["imageTag"] not in tags):
            failures.append({"imageId": wanted, "failureCode": "ImageNotFound",
                             "failureReason": "Requested image not found"})
            continue
        chosen = [wanted["imageTag"]] if "imageTag" in wanted else tags
        images.extend({"registryId": str(body.get("registryId", "")),
                       "repositoryName": repository,
                       "imageId": {"imageDigest": digest, "imageTag": tag},
                       "imageManifest": "{}"} for tag in chosen)
    return {"images": images, "failures": failures}
