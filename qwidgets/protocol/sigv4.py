"""AWS Signature Version 4 as boto3 signs Braket and S3 requests: canonical requests, keys,
signatures and the Authorization header, stdlib only, so the simulator can verify what boto3
signs and the qwidgets client can sign without botocore (``docs/braket-and-federated-wire-formats.md``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"


AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


# botocore never signs these (they change in transit or are set by the HTTP layer)
UNSIGNED_HEADERS = frozenset({
    "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"})


def amz_date(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).strftime(AMZ_DATE_FORMAT)


def parse_amz_date(value: str) -> datetime:
    return datetime.strptime(value, AMZ_DATE_FORMAT).replace(tzinfo=timezone.utc)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, plus the collapsing of repeated slashes that AWS services expect."""
    if not path:
        return "/"
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def canonical_path(raw_path: str, *, s3: bool) -> str:
    """The path as signed: S3 signs the URL path as sent; every other service signs it
    normalised and percent-encoded once more (so ``arn%3A`` is signed as ``arn%253A``)."""
    if s3:
        return raw_path or "/"
    return quote(remove_dot_segments(raw_path), safe="/~")


def canonical_query(raw_query: str) -> str:
    """Query pairs re-encoded with AWS's safe characters and sorted by key, then value."""
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_request(method: str, raw_path: str, raw_query: str,
                      headers: Mapping[str, Sequence[str]], signed_headers: Sequence[str],
                      payload_hash: str, *, s3: bool = False) -> str:
    """``headers`` maps lower-case names to every value sent under that name."""
    lines = [f"{name}:{','.join(' '.join(v.split()) for v in headers.get(name, ()))}"
             for name in signed_headers]
    return "\n".join([method.upper(), canonical_path(raw_path, s3=s3), canonical_query(raw_query),
                      "\n".join(lines) + "\n", ";".join(signed_headers), payload_hash])


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, when: str, region: str, service: str, canonical: str) -> str:
    """The hex signature of a canonical request made at ``when`` (an X-Amz-Date)."""
    scope = f"{when[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, when, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(secret, when[:8], region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign_request(method: str, host: str, raw_path: str, raw_query: str, body: bytes, *,
                 access_key: str, secret: str, region: str, service: str = "braket",
                 when: datetime | None = None) -> dict[str, str]:
    """Headers that sign a request the way botocore does (``host`` as sent in ``Host``):
    ``X-Amz-Date``, ``X-Amz-Content-SHA256`` and ``Authorization``."""
    stamp = amz_date(when)
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": [host], "x-amz-date": [stamp], "x-amz-content-sha256": [payload]}
    names = sorted(headers)
    canonical = canonical_request(method, raw_path, raw_query, headers, names, payload,
                                  s3=service == "s3")
    sig = signature(secret, stamp, region, service, canonical)
    return {
        "X-Amz-Date": stamp, "X-Amz-Content-SHA256": payload,
        "Authorization": f"{ALGORITHM} Credential={access_key}/{stamp[:8]}/{region}/{service}/"
                         f"aws4_request, SignedHeaders={';'.join(names)}, Signature={sig}"}


def parse_authorization(header: str) -> dict[str, str] | None:
    """``{access_key, date, region, service, signed_headers, signature}`` of a SigV4
    Authorization header, None if it is not one."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        return None
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, _, value = item.strip().partition("=")
        parts[key] = value.strip()
    credential = parts.get("Credential", "").split("/")
    if (len(credential) != 5 or credential[4] != "aws4_request" or not parts.get("Signature")
            or not parts.get("SignedHeaders")):
        return None
    return {"access_key": credential[0], "date": credential[1], "region": credential[2],
            "service": credential[3], "signed_headers": parts["SignedHeaders"],
            "signature": parts["Signature"]}


def access_key_id(token: str) -> str:
    """The public access key id of a token (AWS-like: 20 upper-case characters)."""
    digest = hashlib.sha256(b"qwidgets-braket-akid\0" + token.encode()).digest()
    return "QW" + base64.b32encode(digest).decode()[:18]
