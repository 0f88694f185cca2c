"""A minimal S3 under ``/s3/`` (point botocore's S3 endpoint at ``<server>/s3``; it then uses
path-style ``/s3/{bucket}/{key}``), enough for amazon-braket-sdk's hybrid-job path and for
boto3 users: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, ListObjects(V2), PutObject,
CopyObject, HeadObject, GetObject (with Range and If-Match), DeleteObject, DeleteObjects, and
multipart uploads (``s3_multipart``). Objects live in ``s3_store``, per token namespace.

A GET of a quantum task's ``results.json`` that no upload wrote is answered from the task's
stored outcome, in braket-schemas' GateModelTaskResult shape (``task_result``, what
``task.result()`` reads).
Errors are S3's XML; an operation not listed here answers 501 NotImplemented naming it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from urllib.parse import quote_plus, unquote
from xml.sax.saxutils import escape

from aiohttp import web

from qwidgets.sim.braket import s3_multipart, task_result
from qwidgets.sim.braket.auth import CALLER, braket_namespace
from qwidgets.sim.braket.aws_wire import S3_XMLNS, AwsError, auth_error, error
from qwidgets.sim.braket.runtime import RUNTIME
from qwidgets.sim.braket.s3_store import (
    S3Object,
    S3Store,
    check_bucket_name,
    check_key,
    etag_of,
    no_such_key,
)
from qwidgets.sim.braket.s3_wire import (
    checksum_headers,
    iso,
    read_xml,
    user_metadata,
    verify_checksums,
    xml,
)
from qwidgets.sim.braket.wire import BraketError

RESULTS_FILE = "results.json"
S3 = web.AppKey("qwidgets_s3_store", S3Store)
MAX_KEYS = 1000
# sub-resources of S3 this server does not serve: answered 501 with their name
_UNSUPPORTED = ("acl", "tagging", "versioning", "versions", "policy", "cors", "lifecycle",
                "website", "logging", "notification", "replication", "encryption", "torrent",
                "retention", "legal-hold", "object-lock", "restore", "select", "attributes",
                "accelerate", "analytics", "inventory", "metrics", "ownershipControls",
                "publicAccessBlock", "requestPayment", "intelligent-tiering")

S3Handler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    """The S3 routes; they read ``app[S3]``, which ``job_routes.setup`` installs."""
    for path in ("/s3", "/s3/"):
        app.router.add_route("*", path, _s3(_service_root))
    for path in ("/s3/{bucket}", "/s3/{bucket}/"):
        app.router.add_route("*", path, _s3(_bucket_route))
    app.router.add_route("*", "/s3/{bucket}/{key:.+}", _s3(_object_route))


def _s3(handler: S3Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate (SigV4, service s3), then answer every error in S3's shape."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        head = request.method == "HEAD"
        try:
            try:
                _check_declared_size(request)
                ns = await braket_namespace(request)
            except BraketError as exc:
                raise auth_error(exc, "s3") from None
            if request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
                raise AwsError(501, "NotImplemented", "aws-chunked (streaming) uploads are not "
                               "supported here; send the body whole (http endpoints do)")
            for name in _UNSUPPORTED:
                if name in request.query:
                    raise AwsError(501, "NotImplemented", f"the S3 sub-resource ?{name} is not "
                                   "served by this simulator")
            return await handler(request, ns)
        except AwsError as exc:
            return error("s3", exc, head=head)
        except web.HTTPRequestEntityTooLarge as exc:
            return error("s3", AwsError(400, "EntityTooLarge", exc.text or "too large"), head=head)

    return wrapped


def _check_declared_size(request: web.Request) -> None:
    """An oversized PUT is refused before its body is read (the namespace's quota is checked
    once the caller is known)."""
    limit = request.app[S3].limits.max_object_bytes
    if request.method == "PUT" and (request.content_length or 0) > limit:
        raise AwsError(400, "EntityTooLarge", f"Your proposed upload ({request.content_length} "
                       f"bytes) exceeds the maximum allowed object size of this simulator "
                       f"({limit} bytes)")


def _not_implemented(request: web.Request) -> AwsError:
    return AwsError(501, "NotImplemented", f"{request.method} {request.path_qs} is not an S3 "
                    "operation this simulator serves")


# ---------------------------------------------------------------- service and buckets


async def _service_root(request: web.Request, ns: str) -> web.StreamResponse:
    if request.method != "GET":
        raise _not_implemented(request)
    rows = "".join(f"<Bucket><Name>{escape(b['name'])}</Name><CreationDate>{iso(b['created'])}"
                   f"</CreationDate><BucketRegion>{b['region']}</BucketRegion></Bucket>"
                   for b in request.app[S3].buckets(ns))
    return xml(f'<ListAllMyBucketsResult xmlns="{S3_XMLNS}"><Owner><ID>{ns[:32]}</ID></Owner>'
               f"<Buckets>{rows}</Buckets></ListAllMyBucketsResult>")


async def _bucket_route(request: web.Request, ns: str) -> web.StreamResponse:
    store = request.app[S3]
    bucket = request.match_info["bucket"]
    method = request.method
    if method == "PUT" and not request.query.keys() - {"x-id"}:
        return await _create_bucket(request, ns, bucket)
    if method == "HEAD":
        found = store.bucket(ns, bucket)
        if found is None:
            store.require_bucket(ns, bucket)
        return web.Response(headers={"x-amz-bucket-region": str((found or {}).get("region"))})
    if method == "DELETE":
        store.delete_bucket(ns, bucket)
        return web.Response(status=204)
    if method == "GET" and "location" in request.query:
        found = store.bucket(ns, bucket)
        if found is None:
            store.require_bucket(ns, bucket)
        region = "" if not found or found["region"] == "us-east-1" else found["region"]
        return xml(f'<LocationConstraint xmlns="{S3_XMLNS}">{region}</LocationConstraint>')
    if method == "GET":
        return await _list_objects(request, ns, bucket)
    if method == "POST" and "delete" in request.query:
        return await _delete_objects(request, ns, bucket)
    raise _not_implemented(request)


async def _create_bucket(request: web.Request, ns: str, bucket: str) -> web.Response:
    check_bucket_name(bucket)
    region = request[CALLER].region
    body = await request.read()
    if body.strip():
        constraint = _xml_text(body, "LocationConstraint")
        if constraint:
            region = constraint
    created = request.app[S3].create_bucket(ns, bucket, region)
    # us-east-1 answers 200 to its owner again (S3's legacy behaviour); the others 409
    if not created and request[CALLER].region != "us-east-1":
        raise AwsError(409, "BucketAlreadyOwnedByYou", "Your previous request to create the "
                           "named bucket succeeded and you already own it.")
    return web.Response(headers={"Location": f"/{bucket}"})


async def _list_objects(request: web.Request, ns: str, bucket: str) -> web.Response:
    query = request.query
    v2 = query.get("list-type") == "2"
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    try:
        max_keys = max(0, min(MAX_KEYS, int(query.get("max-keys", MAX_KEYS))))
    except ValueError:
        raise AwsError(400, "InvalidArgument", "max-keys must be a whole number") from None
    token = query.get("continuation-token")
    if v2:
        start = _decode_token(token) if token else query.get("start-after", "")
    else:
        start = query.get("marker", "")
    store: S3Store = request.app[S3]
    contents: list[S3Object] = []
    prefixes: list[str] = []
    after, truncated = start, False
    while len(contents) + len(prefixes) < max_keys or max_keys == 0:
        page = store.list(ns, bucket, prefix, after, 1000)
        if not page:
            break
        if max_keys == 0:
            truncated = True
            break
        for obj in page:
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            rest = obj.key[len(prefix):]
            if delimiter and delimiter in rest:
                common = prefix + rest[:rest.index(delimiter) + len(delimiter)]
                # a page that ended on this common prefix names it as its marker: S3 does not
                # answer it again
                if common > start and common not in prefixes:
                    prefixes.append(common)
                after = common + "\U0010ffff"  # skip the rest of this common prefix
                break
            contents.append(obj)
            after = obj.key
        if truncated:
            break
    if not truncated and max_keys and len(contents) + len(prefixes) >= max_keys:
        # full on the last entry: anything left after it makes one more entry
        truncated = bool(store.list(ns, bucket, prefix, after, 1))
    last = max([o.key for o in contents] + prefixes, default="")
    encode = query.get("encoding-type") == "url"

    def enc(text: str) -> str:
        return escape(quote_plus(text, safe="/") if encode else text)

    parts = [f'<ListBucketResult xmlns="{S3_XMLNS}"><Name>{escape(bucket)}</Name>',
             f"<Prefix>{enc(prefix)}</Prefix><MaxKeys>{max_keys}</MaxKeys>",
             f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    if delimiter:
        parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
    if encode:
        parts.append("<EncodingType>url</EncodingType>")
    if v2:
        parts.append(f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if "start-after" in query:
            parts.append(f"<StartAfter>{enc(query['start-after'])}</StartAfter>")
        if truncated:
            parts.append(f"<NextContinuationToken>{_encode_token(last)}</NextContinuationToken>")
    else:
        parts.append(f"<Marker>{enc(start)}</Marker>")
        if truncated and delimiter:
            parts.append(f"<NextMarker>{enc(last)}</NextMarker>")
    for obj in contents:
        parts.append(f"<Contents><Key>{enc(obj.key)}</Key><LastModified>{iso(obj.modified)}"
                     f"</LastModified><ETag>{escape(obj.etag)}</ETag><Size>{obj.size}</Size>"
                     "<StorageClass>STANDARD</StorageClass></Contents>")
    for common in prefixes:
        parts.append(f"<CommonPrefixes><Prefix>{enc(common)}</Prefix></CommonPrefixes>")
    parts.append("</ListBucketResult>")
    return xml("".join(parts))


async def _delete_objects(request: web.Request, ns: str, bucket: str) -> web.Response:
    request.app[S3].require_bucket(ns, bucket)
    root = read_xml(await request.read(), "Delete")
    keys = [el.text or "" for el in root.iter() if _local(el.tag) == "Key"]
    if len(keys) > 1000:
        raise AwsError(400, "MalformedXML", "at most 1000 keys per DeleteObjects")
    quiet = any(_local(el.tag) == "Quiet" and (el.text or "").lower() == "true"
                for el in root.iter())
    for key in keys:
        request.app[S3].delete(ns, bucket, key)
    done = "" if quiet else "".join(f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in keys)
    return xml(f'<DeleteResult xmlns="{S3_XMLNS}">{done}</DeleteResult>')


# ---------------------------------------------------------------- objects


async def _object_route(request: web.Request, ns: str) -> web.StreamResponse:
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    check_key(key)
    method, query = request.method, request.query
    if "uploads" in query or "uploadId" in query:
        return await s3_multipart.handle(request, request.app[S3], ns, bucket, key)
    if method == "PUT" and "x-amz-copy-source" in request.headers:
        return await _copy_object(request, ns, bucket, key)
    if method == "PUT":
        return await _put_object(request, ns, bucket, key)
    if method in ("GET", "HEAD"):
        return await _get_object(request, ns, bucket, key)
    if method == "DELETE":
        request.app[S3].require_bucket(ns, bucket)
        request.app[S3].delete(ns, bucket, key)
        return web.Response(status=204)
    raise _not_implemented(request)


async def _put_object(request: web.Request, ns: str, bucket: str, key: str) -> web.Response:
    store: S3Store = request.app[S3]
    body = await request.read()
    checksums = verify_checksums(request, body)
    if request.headers.get("If-None-Match") == "*" and store.head(ns, bucket, key) is not None:
        raise AwsError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                       "specified did not hold (If-None-Match: * and the key exists)")
    obj = await asyncio.to_thread(
        store.put, ns, bucket, key, body, content_type=request.headers.get("Content-Type"),
        metadata=user_metadata(request), checksums=checksums)
    return web.Response(headers={"ETag": obj.etag, **checksum_headers(obj)})


async def _copy_object(request: web.Request, ns: str, bucket: str, key: str) -> web.Response:
    store: S3Store = request.app[S3]
    source = unquote(request.headers["x-amz-copy-source"]).lstrip("/")
    source, _, version = source.partition("?versionId=")
    src_bucket, _, src_key = source.partition("/")
    if not src_bucket or not src_key:
        raise AwsError(400, "InvalidArgument", "x-amz-copy-source must be 'bucket/key'")
    if version and version != "null":
        raise AwsError(501, "NotImplemented", "object versions are not kept by this simulator")
    obj, body = await asyncio.to_thread(store.read, ns, src_bucket, src_key)
    wanted = request.headers.get("x-amz-copy-source-if-match")
    if wanted and wanted.strip() != obj.etag:
        raise AwsError(412, "PreconditionFailed", "x-amz-copy-source-if-match does not hold")
    replace = request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
    if (src_bucket, src_key) == (bucket, key) and not replace:
        raise AwsError(400, "InvalidRequest", "This copy request is illegal because it is trying "
                       "to copy an object to itself without changing the object's metadata")
    copied = await asyncio.to_thread(
        store.put, ns, bucket, key, body,
        content_type=request.headers.get("Content-Type") if replace else obj.content_type,
        metadata=user_metadata(request) if replace else obj.metadata,
        checksums=obj.checksums, etag=obj.etag)
    return xml(f'<CopyObjectResult xmlns="{S3_XMLNS}"><LastModified>{iso(copied.modified)}'
               f"</LastModified><ETag>{escape(copied.etag)}</ETag></CopyObjectResult>")


async def _get_object(request: web.Request, ns: str, bucket: str, key: str) -> web.Response:
    store: S3Store = request.app[S3]
    obj: S3Object
    if store.head(ns, bucket, key) is not None:
        obj, body = await asyncio.to_thread(store.read, ns, bucket, key)
    else:
        document = _task_result(request, ns, bucket, key)
        if document is None:
            store.require_bucket(ns, bucket)
            raise no_such_key(key)
        obj = S3Object(bucket, key, len(document), etag_of(document), "application/json", 0.0)
        body = document
    match = request.headers.get("If-Match")
    if match and match.strip() not in (obj.etag, "*"):
        raise AwsError(412, "PreconditionFailed", "If-Match does not hold")
    none_match = request.headers.get("If-None-Match")
    if none_match and none_match.strip() in (obj.etag, "*"):
        return web.Response(status=304, headers={"ETag": obj.etag})
    headers = {"ETag": obj.etag, "Last-Modified": formatdate(obj.modified, usegmt=True),
               "Accept-Ranges": "bytes", "Content-Type": obj.content_type,
               **{f"x-amz-meta-{k}": v for k, v in obj.metadata.items()}}
    status, part = 200, body
    wanted = request.headers.get("Range")
    if wanted:
        first, last = _byte_range(wanted, len(body))
        part = body[first:last + 1]
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
    elif request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers.update(checksum_headers(obj))
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(part))
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, body=part, headers=headers)


def _byte_range(header: str, size: int) -> tuple[int, int]:
    unit, _, spec = header.partition("=")
    first_text, _, last_text = spec.partition("-")
    try:
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError
        if first_text == "":  # the last N bytes
            first, last = max(0, size - int(last_text)), size - 1
        else:
            first = int(first_text)
            last = min(int(last_text), size - 1) if last_text else size - 1
    except ValueError:
        raise AwsError(400, "InvalidArgument", f"Range {header!r} is not 'bytes=first-last' "
                       "(one range)") from None
    if first >= size or first > last:
        raise AwsError(416, "InvalidRange", "The requested range is not satisfiable")
    return first, last


# ---------------------------------------------------------------- quantum-task results


def _task_result(request: web.Request, ns: str, bucket: str, key: str) -> bytes | None:
    directory, _, name = key.rpartition("/")
    if name != RESULTS_FILE:
        return None
    row = request.app[RUNTIME].tasks.by_output(ns, bucket, directory)
    if row is None or row["result"] is None:
        return None
    return task_result.result_json(row)


# ---------------------------------------------------------------- helpers


def _xml_text(body: bytes, tag: str) -> str | None:
    for element in read_xml(body, "request").iter():
        if _local(element.tag) == tag:
            return (element.text or "").strip()
    return None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise AwsError(400, "InvalidArgument", "The continuation token provided is "
                       "incorrect") from None
