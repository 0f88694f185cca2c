"""The simulator's minimal S3 through boto3's own S3 client (path-style, ``<server>/s3``): objects
with S3's ETags, ranges and conditions, listings with prefixes, delimiters and pages, copies,
multipart uploads, checksums, its limits, its error shapes, and one namespace per token."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from qwidgets.protocol.sigv4 import access_key_id
from qwidgets.sim import SimServer
from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.braket.s3_store import S3Limits, S3Store
from qwidgets.sim.server.store import Store
from tests.fixtures import StartSim

REGION = "eu-west-2"


def s3_client(url: str, token: str, secret: str | None = None) -> Any:
    return boto3.Session(aws_access_key_id=access_key_id(token),
                         aws_secret_access_key=secret or token, region_name=REGION).client(
        "s3", endpoint_url=f"{url}/s3")


@pytest.fixture
def s3(server: SimServer) -> Any:
    return s3_client(server.url, server.token)


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def make_bucket(s3: Any, name: str) -> str:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def test_objects_round_trip_with_s3s_etags(s3: Any) -> None:
    bucket = make_bucket(s3, "round-trip")
    body = b"0123456789" * 100
    put = s3.put_object(Bucket=bucket, Key="dir/a file+plus é.txt", Body=body,
                        ContentType="text/plain", Metadata={"owner": "alice"})
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    head = s3.head_object(Bucket=bucket, Key="dir/a file+plus é.txt")
    assert (head["ETag"], head["ContentLength"], head["ContentType"], head["Metadata"]) == (
        etag, 1000, "text/plain", {"owner": "alice"})
    got = s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt")
    assert got["Body"].read() == body
    part = s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt", Range="bytes=10-19")
    assert (part["Body"].read(), part["ContentRange"]) == (b"0123456789", "bytes 10-19/1000")
    tail = s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt", Range="bytes=-5")
    assert tail["Body"].read() == b"56789"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt", Range="bytes=5000-")
    assert code(info) == "InvalidRange"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt", IfMatch='"other"')
    assert code(info) == "PreconditionFailed"
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="dir/a file+plus é.txt", Body=b"x", IfNoneMatch="*")
    assert code(info) == "PreconditionFailed"
    s3.delete_object(Bucket=bucket, Key="dir/a file+plus é.txt")
    s3.delete_object(Bucket=bucket, Key="dir/a file+plus é.txt")  # S3 answers 204 again
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="dir/a file+plus é.txt")
    assert code(info) == "NoSuchKey"
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="gone")
    assert code(info) == "404"  # a HEAD error has no body: botocore takes the status
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="never-made", Key="k", Body=b"x")
    assert code(info) == "NoSuchBucket"


def test_listings_with_prefixes_delimiters_and_pages(s3: Any) -> None:
    bucket = make_bucket(s3, "listing")
    keys = ["a/1", "a/2", "a/b/3", "b/4", "c", "c%d", "c d", "c+e"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                         PaginationConfig={"PageSize": 3})
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "c d", "c%d", "c+e"]
    under = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["a/b/"]
    assert under["KeyCount"] == 3
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="zzz")  # as S3: absent
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/4")
    assert [o["Key"] for o in after["Contents"]] == ["c", "c d", "c%d", "c+e"]
    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket, Delimiter="/",
                                                   PaginationConfig={"PageSize": 2})
    found = [(o.get("Key"), o.get("Prefix")) for p in v1
             for o in p.get("Contents", []) + p.get("CommonPrefixes", [])]
    assert sorted(k or pre for k, pre in found) == ["a/", "b/", "c", "c d", "c%d", "c+e"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == sorted(
        b["Name"] for b in s3.list_buckets()["Buckets"])


def test_copies_and_batch_deletes(s3: Any) -> None:
    bucket = make_bucket(s3, "copies")
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"v": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=bucket, Key="src")["ETag"]
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"v": "1"}
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"v": "2"}
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "none"})
    assert code(info) == "NoSuchKey"
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"},
                                                                   {"Key": "dst"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["dst", "src"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=bucket)
    assert code(info) == "404"


def test_multipart_uploads_and_ranged_downloads(s3: Any, tmp_path: Path) -> None:
    bucket = make_bucket(s3, "multipart")
    data = bytes(range(256)) * (11 * 4096)  # 11 MiB: three 5 MiB parts, the last smaller
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20,
                            max_concurrency=2)
    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    parts = [data[i:i + (5 << 20)] for i in range(0, len(data), 5 << 20)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"] == f'"{digest}-3"'
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target), Config=config)  # ranged GETs
    assert target.read_bytes() == data
    upload = s3.create_multipart_upload(Bucket=bucket, Key="small-parts")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="small-parts", UploadId=upload, PartNumber=n,
                            Body=b"tiny")["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(Bucket=bucket, Key="small-parts", UploadId=upload,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": n, "ETag": e}
                                         for n, e in zip((1, 2), etags, strict=True)]})
    assert code(info) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small-parts", UploadId=upload)
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key="small-parts", UploadId=upload, PartNumber=3, Body=b"x")
    assert code(info) == "NoSuchUpload"


def test_checksums_and_signatures_are_checked(s3: Any, server: SimServer) -> None:
    bucket = make_bucket(s3, "checks")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert code(info) == "BadDigest"
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert code(info) == "BadDigest"
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")  # botocore verifies
    assert got["Body"].read() == b"data"
    with pytest.raises(ClientError) as info:
        s3_client(server.url, server.token, secret="not-the-token").list_buckets()
    assert code(info) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as info:
        s3_client(server.url, "unknown-token").list_buckets()
    assert code(info) == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket="Not_A_Bucket")
    assert code(info) == "InvalidBucketName"
    with pytest.raises(ClientError) as info:
        make_bucket(s3, bucket)  # outside us-east-1 the owner gets 409
    assert code(info) == "BucketAlreadyOwnedByYou"


def test_an_oversized_upload_is_refused_before_its_body(server: SimServer) -> None:
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(f"PUT /s3/any/key HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: "
                    f"{(64 << 20) + 1}\r\n\r\n".encode())  # and never the body
        answer = raw.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 400")
    assert "<Code>EntityTooLarge</Code>" in answer


def test_the_stores_limits(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        s3 = S3Store(store, S3Limits(max_object_bytes=100, max_namespace_bytes=150,
                                     max_buckets=2))
        s3.create_bucket("ns", "one", REGION)
        assert s3.create_bucket("ns", "one", REGION) is False
        s3.create_bucket("ns", "two", REGION)
        with pytest.raises(AwsError) as info:
            s3.create_bucket("ns", "three", REGION)
        assert info.value.code == "TooManyBuckets"
        assert s3.create_bucket("other", "three", REGION)  # another namespace, its own count
        with pytest.raises(AwsError) as info:
            s3.put("ns", "one", "big", b"x" * 101)
        assert (info.value.status, info.value.code) == (400, "EntityTooLarge")
        s3.put("ns", "one", "a", b"x" * 100)
        with pytest.raises(AwsError) as info:
            s3.put("ns", "two", "b", b"x" * 60)
        assert (info.value.status, info.value.code) == (403, "QuotaExceeded")
        s3.put("other", "three", "b", b"x" * 60)  # the quota is per namespace
        assert s3.delete("ns", "one", "a")
        s3.put("ns", "two", "b", b"x" * 60)
        assert [o.key for o in s3.list("ns", "two")] == ["b"]
        s3.put("ns", "two", "b", b"y" * 60)  # a replaced body's file is removed
        assert len(list((s3.root / "ns").iterdir())) == 1
    finally:
        store.close()


async def test_each_token_has_its_own_buckets(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from qwidgets.sim.server.app import make_app

    app = make_app(tmp_path, {"alice-token-1", "bob-token-2"})
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        url = str(client.make_url("")).rstrip("/")
        alice, bob = s3_client(url, "alice-token-1"), s3_client(url, "bob-token-2")

        def scenario() -> None:
            make_bucket(alice, "shared-name")
            alice.put_object(Bucket="shared-name", Key="secret", Body=b"alice's")
            with pytest.raises(ClientError) as info:
                bob.get_object(Bucket="shared-name", Key="secret")
            assert code(info) == "NoSuchBucket"
            make_bucket(bob, "shared-name")  # the name is free in bob's namespace
            with pytest.raises(ClientError) as info:
                bob.get_object(Bucket="shared-name", Key="secret")
            assert code(info) == "NoSuchKey"
            with pytest.raises(ClientError) as info:
                bob.copy_object(Bucket="shared-name", Key="stolen",
                                CopySource={"Bucket": "shared-name", "Key": "secret"})
            assert code(info) == "NoSuchKey"
            assert [b["Name"] for b in bob.list_buckets()["Buckets"]] == ["shared-name"]
            assert alice.get_object(Bucket="shared-name", Key="secret")["Body"].read() == \
                b"alice's"

        await asyncio.to_thread(scenario)


def test_a_body_over_the_servers_limit_gets_each_services_shape(start_sim: StartSim) -> None:
    server = start_sim(max_body_bytes=1 << 20)
    s3 = s3_client(server.url, server.token)
    make_bucket(s3, "limited")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="limited", Key="big", Body=b"x" * (2 << 20))
    assert code(info) == "EntityTooLarge"
    braket = boto3.Session(aws_access_key_id=access_key_id(server.token),
                           aws_secret_access_key=server.token, region_name=REGION).client(
        "braket", endpoint_url=server.url)
    with pytest.raises(ClientError) as info:
        braket.search_devices(filters=[{"name": "deviceName", "values": ["x" * 256] * 9000}])
    assert code(info) == "RequestEntityTooLargeException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
