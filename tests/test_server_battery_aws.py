"""The hardening battery, part six: the other AWS services amazon-braket-sdk calls on the same
port (S3 under ``/s3``, STS and IAM as query forms on ``POST /``, CloudWatch Logs and ECR as JSON
targets on ``POST /``): hostile bodies, keys and forms are a 4xx in the service's own shape,
never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwidgets.sim import SimServer, start
from qwidgets.sim.server.limits import ServerLimits
from tests.battery_support import (
    HOSTILE,
    Wire,
    battery_report,  # noqa: F401
    count,
    dumps,
    tapped,
)

TOKEN = "aws-battery-token-e4f1"
SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
TARGETS = ("Logs_20140328.GetLogEvents", "Logs_20140328.DescribeLogStreams",
           "AmazonEC2ContainerRegistry_V20150921.BatchGetImage")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with tapped() as tap, start(token=TOKEN, data_dir=tmp_path_factory.mktemp("aws"),
                                limits=ServerLimits(auth_failures=10**6)) as running:
        yield running
        assert tap.tracebacks() == 0, tap.text[-3000:]
        assert "unexpected error" not in tap.text
        assert TOKEN not in tap.text


@pytest.fixture(scope="module")
def wire(server: SimServer) -> Wire:
    wire = Wire(server.url, TOKEN)
    assert wire.signed("PUT", "/s3/battery-bucket", service="s3").status == 200
    return wire


def _no_5xx(reply: object) -> None:
    status = reply.status  # type: ignore[attr-defined]
    assert status < 500, (status, reply.body[:400])  # type: ignore[attr-defined]


@SETTINGS
@given(target=st.sampled_from(TARGETS), value=st.sampled_from(HOSTILE),
       key=st.sampled_from(["logGroupName", "logStreamName", "repositoryName", "imageIds",
                            "nextToken", "limit", "startFromHead", "logStreamNamePrefix"]))
def test_json_targets_refuse_hostile_members(wire: Wire, target: str, value: object,
                                             key: str) -> None:
    body = dumps({"logGroupName": "/aws/braket/jobs", key: value})
    reply = wire.signed("POST", "/", body, service="logs" if "Logs" in target else "ecr",
                        headers={"X-Amz-Target": target,
                                 "Content-Type": "application/x-amz-json-1.1"})
    count("aws")
    _no_5xx(reply)


@pytest.mark.parametrize("body", [b"[" * 10_000 + b"]" * 10_000, b'{"a": ' + b"9" * 5000 + b"}",
                                  b'{"a": "\\ud800"}', b'{"a": "\xff"}', b"NaN"])
def test_json_targets_refuse_unparsable_bodies(wire: Wire, body: bytes) -> None:
    reply = wire.signed("POST", "/", body, service="logs",
                        headers={"X-Amz-Target": TARGETS[0],
                                 "Content-Type": "application/x-amz-json-1.1"})
    count("aws")
    assert reply.status == 400, reply.body
    assert reply.headers["x-amzn-errortype"] == "SerializationException"


@SETTINGS
@given(form=st.binary(max_size=300), service=st.sampled_from(["sts", "iam"]))
def test_query_forms_of_any_bytes_are_a_4xx(wire: Wire, form: bytes, service: str) -> None:
    reply = wire.signed("POST", "/", form, service=service,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    count("aws")
    _no_5xx(reply)


@SETTINGS
@given(key=st.binary(min_size=1, max_size=40), body=st.binary(max_size=200),
       method=st.sampled_from(["PUT", "GET", "HEAD", "DELETE"]))
def test_s3_keys_of_any_bytes_are_a_4xx(wire: Wire, key: bytes, body: bytes,
                                        method: str) -> None:
    escaped = "".join(f"%{b:02X}" for b in key)
    reply = wire.signed(method, f"/s3/battery-bucket/k/{escaped}",
                        body if method == "PUT" else b"", service="s3")
    count("aws")
    _no_5xx(reply)


@SETTINGS
@given(query=st.binary(max_size=60))
def test_s3_listing_queries_of_any_bytes_are_a_4xx(wire: Wire, query: bytes) -> None:
    escaped = "".join(f"%{b:02X}" for b in query)
    for name in ("prefix", "max-keys", "continuation-token", "delimiter"):
        reply = wire.signed("GET", f"/s3/battery-bucket?list-type=2&{name}={escaped}",
                            service="s3")
        count("aws")
        _no_5xx(reply)
