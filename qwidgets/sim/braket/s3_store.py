"""The simulator's S3 objects: buckets and objects per token namespace (a bucket name is unique
within a namespace, invisible to the others), metadata in the store's SQLite file, bodies as
files under ``<data dir>/s3/``. Bodies stay out of SQLite because one connection serves every
request: a 60 MB blob written through it would stall every status poll meanwhile.

Limits (``S3Limits``): the largest object, the bytes a namespace may hold, buckets per
namespace. ETags are S3's: the MD5 of the body in hex, in double quotes, for a single-part PUT.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.server.store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_buckets (
    ns TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (ns, name)
);
CREATE TABLE IF NOT EXISTS s3_objects (
    ns TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL,
    checksums TEXT NOT NULL, modified REAL NOT NULL, file TEXT NOT NULL,
    PRIMARY KEY (ns, bucket, key)
);
CREATE TABLE IF NOT EXISTS s3_uploads (
    ns TEXT NOT NULL, upload_id TEXT NOT NULL PRIMARY KEY, bucket TEXT NOT NULL,
    key TEXT NOT NULL, content_type TEXT NOT NULL, metadata TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id TEXT NOT NULL, part INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    file TEXT NOT NULL, PRIMARY KEY (upload_id, part)
);
"""

BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 answers for an object stored without one


@dataclass(frozen=True)
class S3Limits:
    max_object_bytes: int = 64 << 20
    max_namespace_bytes: int = 1 << 30
    max_buckets: int = 100  # AWS's default bucket quota per account


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str
    content_type: str
    modified: float
    metadata: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    file: str = ""


def etag_of(body: bytes) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket} (buckets "
                    "belong to the credentials that created them; CreateBucket first)")


def no_such_key(key: str) -> AwsError:
    return AwsError(404, "NoSuchKey", f"The specified key does not exist: {key}")


def check_bucket_name(name: str) -> str:
    if not BUCKET_NAME.match(name) or ".." in name:
        raise AwsError(400, "InvalidBucketName",
                       f"The specified bucket is not valid: {name!r} (3 to 63 lowercase letters, "
                       "digits, '.' or '-', starting and ending with a letter or digit)")
    return name


def check_key(key: str) -> str:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise AwsError(400, "KeyTooLongError" if key else "InvalidArgument",
                       f"object keys are 1 to {MAX_KEY_BYTES} bytes of UTF-8")
    return key


class S3Store:
    def __init__(self, store: Store, limits: S3Limits | None = None) -> None:
        self.store = store
        self.limits = limits or S3Limits()
        self.root = store.directory / "s3"
        store.install(_SCHEMA)

    # ------------------------------------------------------------ buckets

    def create_bucket(self, ns: str, name: str, region: str) -> bool:
        """True if created, False if this namespace already had it."""
        check_bucket_name(name)
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM s3_buckets WHERE ns=? AND name=?",
                            (ns, name)).fetchone():
                return False
            count = conn.execute("SELECT COUNT(*) FROM s3_buckets WHERE ns=?", (ns,)).fetchone()[0]
            if count >= self.limits.max_buckets:
                raise AwsError(400, "TooManyBuckets",
                               f"You have attempted to create more buckets than allowed "
                               f"({self.limits.max_buckets}); delete an empty one first")
            conn.execute("INSERT INTO s3_buckets (ns, name, region, created) VALUES (?,?,?,?)",
                         (ns, name, region, time.time()))
        return True

    def bucket(self, ns: str, name: str) -> dict[str, Any] | None:
        row = self.store.first("SELECT name, region, created FROM s3_buckets WHERE ns=? AND "
                               "name=?", (ns, name))
        return None if row is None else dict(row)

    def buckets(self, ns: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.fetch(
            "SELECT name, region, created FROM s3_buckets WHERE ns=? ORDER BY name", (ns,))]

    def delete_bucket(self, ns: str, name: str) -> None:
        with self.store.transaction() as conn:
            if not conn.execute("SELECT 1 FROM s3_buckets WHERE ns=? AND name=?",
                                (ns, name)).fetchone():
                raise no_such_bucket(name)
            if conn.execute("SELECT 1 FROM s3_objects WHERE ns=? AND bucket=? LIMIT 1",
                            (ns, name)).fetchone():
                raise AwsError(409, "BucketNotEmpty",
                               f"The bucket you tried to delete is not empty: {name}")
            conn.execute("DELETE FROM s3_buckets WHERE ns=? AND name=?", (ns, name))

    def require_bucket(self, ns: str, name: str) -> None:
        if self.bucket(ns, name) is None:
            raise no_such_bucket(name)

    # ------------------------------------------------------------ objects

    def used_bytes(self, ns: str) -> int:
        row = self.store.first("SELECT COALESCE(SUM(size), 0) AS used FROM s3_objects WHERE ns=?",
                               (ns,))
        return int(row["used"]) if row else 0

    def check_size(self, ns: str, size: int) -> None:
        """Refuse an object over the limits before its body is read."""
        if size > self.limits.max_object_bytes:
            raise AwsError(400, "EntityTooLarge",
                           f"Your proposed upload ({size} bytes) exceeds the maximum allowed "
                           f"object size of this simulator ({self.limits.max_object_bytes} bytes)")
        used = self.used_bytes(ns)
        if used + size > self.limits.max_namespace_bytes:
            raise AwsError(403, "QuotaExceeded",
                           f"these credentials hold {used} of their {self.limits.max_namespace_bytes}"
                           f" bytes of objects; {size} more do not fit (DeleteObject first)")

    def put(self, ns: str, bucket: str, key: str, body: bytes, *,
            content_type: str | None = None, metadata: Mapping[str, str] | None = None,
            checksums: Mapping[str, str] | None = None, etag: str | None = None,
            create_bucket: str | None = None) -> S3Object:
        """Store an object (replacing one of that key). ``create_bucket``: the region in which
        to create a missing bucket (the service's own writes, such as job results)."""
        check_key(key)
        if create_bucket is not None and self.bucket(ns, bucket) is None:
            self.create_bucket(ns, bucket, create_bucket)
        self.require_bucket(ns, bucket)
        self.check_size(ns, len(body))
        path = self.new_file(ns, body)
        obj = S3Object(bucket, key, len(body), etag or etag_of(body),
                       content_type or DEFAULT_CONTENT_TYPE, time.time(), dict(metadata or {}),
                       dict(checksums or {}), str(path.relative_to(self.root)))
        old: str | None = None
        try:
            with self.store.transaction() as conn:
                if not conn.execute("SELECT 1 FROM s3_buckets WHERE ns=? AND name=?",
                                    (ns, bucket)).fetchone():
                    raise no_such_bucket(bucket)  # deleted meanwhile
                found = conn.execute("SELECT file FROM s3_objects WHERE ns=? AND bucket=? AND "
                                     "key=?", (ns, bucket, key)).fetchone()
                old = found["file"] if found else None
                conn.execute(
                    "INSERT OR REPLACE INTO s3_objects (ns, bucket, key, size, etag, "
                    "content_type, metadata, checksums, modified, file) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (ns, bucket, key, obj.size, obj.etag, obj.content_type,
                     json.dumps(obj.metadata), json.dumps(obj.checksums), obj.modified, obj.file))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if old:
            (self.root / old).unlink(missing_ok=True)
        return obj

    def head(self, ns: str, bucket: str, key: str) -> S3Object | None:
        row = self.store.first(
            "SELECT bucket, key, size, etag, content_type, metadata, checksums, modified, file "
            "FROM s3_objects WHERE ns=? AND bucket=? AND key=?", (ns, bucket, key))
        return None if row is None else _object(row)

    def read(self, ns: str, bucket: str, key: str) -> tuple[S3Object, bytes]:
        obj = self.head(ns, bucket, key)
        if obj is None:
            self.require_bucket(ns, bucket)
            raise no_such_key(key)
        try:
            return obj, (self.root / obj.file).read_bytes()
        except FileNotFoundError:  # replaced between the two reads: read the new one
            return self.read(ns, bucket, key)

    def delete(self, ns: str, bucket: str, key: str) -> bool:
        with self.store.transaction() as conn:
            found = conn.execute("SELECT file FROM s3_objects WHERE ns=? AND bucket=? AND key=?",
                                 (ns, bucket, key)).fetchone()
            if found is None:
                return False
            conn.execute("DELETE FROM s3_objects WHERE ns=? AND bucket=? AND key=?",
                         (ns, bucket, key))
        (self.root / found["file"]).unlink(missing_ok=True)
        return True

    def list(self, ns: str, bucket: str, prefix: str = "", after: str = "",
             limit: int = 1000) -> list[S3Object]:
        """Objects whose key starts with ``prefix`` and sorts after ``after``, in key order
        (SQLite compares UTF-8 bytes, S3's order)."""
        self.require_bucket(ns, bucket)
        # a range on the primary key instead of LIKE, which treats % and _ as wildcards
        low = max(prefix, after)
        args: tuple[Any, ...] = (ns, bucket, low)
        bound = ""
        if prefix:
            bound = " AND key < ?"
            args = (*args, prefix + "\U0010ffff")
        rows = self.store.fetch(
            "SELECT bucket, key, size, etag, content_type, metadata, checksums, modified, file "
            f"FROM s3_objects WHERE ns=? AND bucket=? AND key >= ?{bound} ORDER BY key LIMIT ?",
            (*args, limit + 1))
        out = [_object(r) for r in rows if r["key"] != after and r["key"].startswith(prefix)]
        return out[:limit]

    def new_file(self, owner: str, body: bytes) -> Path:
        """A new file holding ``body``, in ``owner``'s directory (a namespace, an upload)."""
        directory = self.root / owner[:32]
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / uuid.uuid4().hex
        temp = path.with_suffix(".part")
        with open(temp, "wb") as handle:
            handle.write(body)
        os.replace(temp, path)
        return path


def _object(row: Any) -> S3Object:
    return S3Object(row["bucket"], row["key"], int(row["size"]), row["etag"], row["content_type"],
                    float(row["modified"]), json.loads(row["metadata"]),
                    json.loads(row["checksums"]), row["file"])
