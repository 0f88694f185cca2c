"""S3 multipart uploads, which boto3's ``upload_file`` uses for files over 8 MB:
CreateMultipartUpload (``POST ?uploads``), UploadPart (``PUT ?partNumber&uploadId``),
CompleteMultipartUpload (``POST ?uploadId``), AbortMultipartUpload (``DELETE ?uploadId``).

Parts wait as files next to the objects; the completed object is one file, with S3's multipart
ETag: the MD5 of the parts' binary MD5s, then ``-<number of parts>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

from qwidgets.sim.braket.aws_wire import S3_XMLNS, AwsError
from qwidgets.sim.braket.s3_store import DEFAULT_CONTENT_TYPE, S3Store, etag_of
from qwidgets.sim.braket.s3_wire import read_xml, user_metadata, verify_checksums, xml

MIN_PART_BYTES = 5 << 20  # every part but the last, as S3 requires
MAX_PARTS = 10_000


async def handle(request: web.Request, store: S3Store, ns: str, bucket: str,
                 key: str) -> web.Response:
    method, query = request.method, request.query
    if method == "POST" and "uploads" in query:
        return _create(request, store, ns, bucket, key)
    upload = _upload(store, ns, bucket, key, query.get("uploadId", ""))
    if method == "PUT" and "partNumber" in query:
        if "x-amz-copy-source" in request.headers:
            raise AwsError(501, "NotImplemented", "UploadPartCopy is not served by this "
                           "simulator: copy objects up to the object size limit with CopyObject")
        return await _upload_part(request, store, upload, query["partNumber"])
    if method == "POST":
        return await _complete(request, store, ns, upload)
    if method == "DELETE":
        _drop(store, upload)
        return web.Response(status=204)
    raise AwsError(501, "NotImplemented", f"{method} with ?uploadId (ListParts) is not served "
                   "by this simulator")


def _create(request: web.Request, store: S3Store, ns: str, bucket: str,
            key: str) -> web.Response:
    store.require_bucket(ns, bucket)
    upload_id = uuid.uuid4().hex
    with store.store.transaction() as conn:
        conn.execute("INSERT INTO s3_uploads (ns, upload_id, bucket, key, content_type, metadata,"
                     " created) VALUES (?,?,?,?,?,?,?)",
                     (ns, upload_id, bucket, key,
                      request.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
                      json.dumps(user_metadata(request)), time.time()))
    return xml(f'<InitiateMultipartUploadResult xmlns="{S3_XMLNS}"><Bucket>{escape(bucket)}'
               f"</Bucket><Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
               "</InitiateMultipartUploadResult>")


def _upload(store: S3Store, ns: str, bucket: str, key: str, upload_id: str) -> dict[str, str]:
    row = store.store.first("SELECT upload_id, bucket, key, content_type, metadata FROM "
                            "s3_uploads WHERE ns=? AND upload_id=?", (ns, upload_id))
    if row is None or (row["bucket"], row["key"]) != (bucket, key):
        raise AwsError(404, "NoSuchUpload", "The specified multipart upload does not exist: it "
                       "was never created, or it was completed or aborted")
    return dict(row)


async def _upload_part(request: web.Request, store: S3Store, upload: dict[str, str],
                       number_text: str) -> web.Response:
    try:
        number = int(number_text)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PARTS:
        raise AwsError(400, "InvalidArgument", f"partNumber must be 1 to {MAX_PARTS}")
    body = await request.read()
    verify_checksums(request, body)
    held = store.store.first("SELECT COALESCE(SUM(size), 0) AS held FROM s3_parts WHERE "
                             "upload_id=? AND part<>?", (upload["upload_id"], number))
    if (int(held["held"]) if held else 0) + len(body) > store.limits.max_object_bytes:
        raise AwsError(400, "EntityTooLarge", "the parts of this upload exceed the maximum object "
                       f"size of this simulator ({store.limits.max_object_bytes} bytes)")
    path = await asyncio.to_thread(store.new_file, upload["upload_id"], body)
    etag = etag_of(body)
    with store.store.transaction() as conn:
        old = conn.execute("SELECT file FROM s3_parts WHERE upload_id=? AND part=?",
                           (upload["upload_id"], number)).fetchone()
        conn.execute("INSERT OR REPLACE INTO s3_parts (upload_id, part, size, etag, file) "
                     "VALUES (?,?,?,?,?)", (upload["upload_id"], number, len(body), etag,
                                            str(path.relative_to(store.root))))
    if old is not None:
        (store.root / old["file"]).unlink(missing_ok=True)
    return web.Response(headers={"ETag": etag})


async def _complete(request: web.Request, store: S3Store, ns: str,
                    upload: dict[str, str]) -> web.Response:
    root = read_xml(await request.read(), "CompleteMultipartUpload")
    wanted: list[tuple[int, str]] = []
    for element in (el for el in root.iter() if el.tag.rpartition("}")[2] == "Part"):
        fields = {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in element}
        wanted.append((int(fields.get("PartNumber", "0")), fields.get("ETag", "")))
    if not wanted or [n for n, _ in wanted] != sorted({n for n, _ in wanted}):
        raise AwsError(400, "InvalidPartOrder", "The list of parts was not in ascending order "
                       "(or named a part twice, or none)")
    stored = {r["part"]: dict(r) for r in store.store.fetch(
        "SELECT part, size, etag, file FROM s3_parts WHERE upload_id=?", (upload["upload_id"],))}
    chunks: list[bytes] = []
    digests = b""
    for i, (number, etag) in enumerate(wanted):
        part = stored.get(number)
        if part is None or part["etag"].strip('"') != etag.strip('"'):
            raise AwsError(400, "InvalidPart", f"part {number} was not uploaded or its ETag "
                           "does not match")
        if i < len(wanted) - 1 and part["size"] < MIN_PART_BYTES:
            raise AwsError(400, "EntityTooSmall", f"part {number} is {part['size']} bytes; every "
                           f"part but the last must be at least {MIN_PART_BYTES} bytes")
        body = (store.root / part["file"]).read_bytes()
        chunks.append(body)
        digests += hashlib.md5(body, usedforsecurity=False).digest()
    etag = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(wanted)}"'
    obj = await asyncio.to_thread(
        store.put, ns, upload["bucket"], upload["key"], b"".join(chunks),
        content_type=upload["content_type"], metadata=json.loads(upload["metadata"]), etag=etag)
    _drop(store, upload)
    return xml(f'<CompleteMultipartUploadResult xmlns="{S3_XMLNS}"><Location>/{escape(obj.bucket)}'
               f"/{escape(obj.key)}</Location><Bucket>{escape(obj.bucket)}</Bucket><Key>"
               f"{escape(obj.key)}</Key><ETag>{escape(obj.etag)}</ETag>"
               "</CompleteMultipartUploadResult>")


def _drop(store: S3Store, upload: dict[str, str]) -> None:
    with store.store.transaction() as conn:
        files = [r["file"] for r in conn.execute("SELECT file FROM s3_parts WHERE upload_id=?",
                                                 (upload["upload_id"],))]
        conn.execute("DELETE FROM s3_parts WHERE upload_id=?", (upload["upload_id"],))
        conn.execute("DELETE FROM s3_uploads WHERE upload_id=?", (upload["upload_id"],))
    for name in files:
        (store.root / name).unlink(missing_ok=True)
