"""S3's wire details shared by ``s3_routes`` and ``s3_multipart``: XML answers, timestamps,
user metadata and the checksums a PUT carries."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from xml.etree import ElementTree

from aiohttp import web

from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.braket.s3_store import S3Object


def xml(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, body=('<?xml version="1.0" encoding="UTF-8"?>\n'
                                             + body).encode(), content_type="application/xml")


def iso(value: float) -> str:
    when = datetime.fromtimestamp(value, timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def user_metadata(request: web.Request) -> dict[str, str]:
    return {name[len("x-amz-meta-"):].lower(): value for name, value in request.headers.items()
            if name.lower().startswith("x-amz-meta-")}


_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda b: zlib.crc32(b).to_bytes(4, "big"),
    "sha1": lambda b: hashlib.sha1(b).digest(),
    "sha256": lambda b: hashlib.sha256(b).digest(),
}


def verify_checksums(request: web.Request, body: bytes) -> dict[str, str]:
    """Check Content-MD5 and every ``x-amz-checksum-*`` the stdlib can compute (CRC32C and
    CRC64NVME are kept as sent), as S3 does: a mismatch is 400 BadDigest."""
    md5 = request.headers.get("Content-MD5")
    if md5 is not None and base64.b64encode(hashlib.md5(
            body, usedforsecurity=False).digest()).decode() != md5.strip():
        raise AwsError(400, "BadDigest", "The Content-MD5 you specified did not match what we "
                       "received.")
    out: dict[str, str] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if not lowered.startswith("x-amz-checksum-") or lowered == "x-amz-checksum-mode" \
                or lowered == "x-amz-checksum-type":
            continue
        algorithm = lowered[len("x-amz-checksum-"):]
        digest = _DIGESTS.get(algorithm)
        if digest is not None and base64.b64encode(digest(body)).decode() != value.strip():
            raise AwsError(400, "BadDigest", f"The {algorithm.upper()} you specified did not "
                           "match the calculated checksum.")
        out[algorithm] = value.strip()
    return out


def checksum_headers(obj: S3Object) -> dict[str, str]:
    return {f"x-amz-checksum-{name}": value for name, value in obj.checksums.items()}


MAX_XML_BYTES = 1 << 20  # a DeleteObjects of 1000 long keys fits; S3's own bound is similar


def read_xml(body: bytes, what: str) -> ElementTree.Element:
    """An XML request document (CreateBucketConfiguration, Delete, CompleteMultipartUpload),
    bounded before it is parsed."""
    if len(body) > MAX_XML_BYTES:
        raise AwsError(400, "MalformedXML", f"the {what} document is over {MAX_XML_BYTES} bytes")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise AwsError(400, "MalformedXML", f"The XML you provided was not well-formed ({what})"
                       ) from None

