"""The error shapes of the AWS services other than Braket that amazon-braket-sdk calls on the same
port (S3, STS, IAM, CloudWatch Logs), and the answer to a signed request for a route we do not
serve. botocore parses errors per protocol, so each service must get its own shape or the SDK
raises a ``ResponseParserError`` instead of a ``ClientError``:

- S3 (rest-xml): ``<Error><Code>..</Code><Message>..</Message></Error>``; a HEAD error has no
  body (botocore then takes the HTTP status, e.g. ``"404"``, as the code).
- STS, IAM (query): ``<ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>``.
- CloudWatch Logs, ECR (json) and Braket (rest-json): header ``x-amzn-ErrorType`` and a JSON
  body ``{"__type", "message"}``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from qwidgets.sim.braket.wire import BraketError
from qwidgets.sim.server.middleware import ApiError, log_unexpected

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
QUERY_XMLNS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
               "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
QUERY_SERVICES = frozenset(QUERY_XMLNS)
log = logging.getLogger("qwidgets.sim.braket")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AwsError(Exception):
    """An error answer of an AWS service, rendered in that service's shape by ``error``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# How each service names the refusals of ``auth.authenticate`` (whose codes are Braket's).
_AUTH_CODES = {
    "s3": {"MissingAuthenticationTokenException": "AccessDenied",
           "IncompleteSignatureException": "AuthorizationHeaderMalformed",
           "UnrecognizedClientException": "InvalidAccessKeyId",
           "InvalidSignatureException": "SignatureDoesNotMatch",
           "XAmzContentSHA256Mismatch": "XAmzContentSHA256Mismatch",
           "InvalidClientTokenId": "InvalidToken", "ExpiredTokenException": "ExpiredToken"},
    "query": {"MissingAuthenticationTokenException": "MissingAuthenticationToken",
              "IncompleteSignatureException": "IncompleteSignature",
              "UnrecognizedClientException": "InvalidClientTokenId",
              "InvalidSignatureException": "SignatureDoesNotMatch",
              "XAmzContentSHA256Mismatch": "SignatureDoesNotMatch",
              "InvalidClientTokenId": "InvalidClientTokenId",
              "ExpiredTokenException": "ExpiredToken"},
}


def auth_error(exc: BraketError, service: str) -> AwsError:
    """A refused signature in the words of ``service``."""
    family = "s3" if service == "s3" else "query" if service in QUERY_SERVICES else ""
    code = _AUTH_CODES.get(family, {}).get(exc.code, exc.code)
    return AwsError(exc.status, code, exc.message)


def signed_service(request: web.Request) -> str | None:
    """The service named in a SigV4 ``Authorization`` header's scope (None if unsigned)."""
    found = _SCOPE.search(request.headers.get("Authorization", ""))
    return found.group(1) if found else None


def error(service: str, exc: AwsError, *, head: bool = False) -> web.Response:
    """``exc`` as ``service`` answers it."""
    request_id = uuid.uuid4().hex
    if service == "s3":
        if head:  # HEAD answers carry no body, S3's errors included
            return web.Response(status=exc.status, headers={"x-amz-request-id": request_id})
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(exc.code)}</Code>'
                f"<Message>{escape(exc.message)}</Message><RequestId>{request_id}</RequestId>"
                "</Error>")
        return web.Response(status=exc.status, body=body.encode(), content_type="application/xml",
                            headers={"x-amz-request-id": request_id})
    if service in QUERY_SERVICES:
        kind = "Receiver" if exc.status >= 500 else "Sender"
        body = (f'<ErrorResponse xmlns="{QUERY_XMLNS[service]}"><Error><Type>{kind}</Type>'
                f"<Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return web.Response(status=exc.status, body=body.encode(), content_type="text/xml",
                            headers={"x-amzn-RequestId": request_id})
    payload: dict[str, Any] = {"__type": exc.code, "message": exc.message}
    return web.Response(status=exc.status, body=json.dumps(payload).encode(),
                        content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-ErrorType": exc.code, "x-amzn-RequestId": request_id})


@web.middleware
async def unserved_aws_routes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A SigV4-signed request (outside ``/api/``) that no route serves, whose body is over the
    server's limit, or that meets an unexpected error gets the signing service's error shape;
    everything else (the qcog routes, unsigned requests) goes on to the qcog error middleware.
    Installed right after the bearer auth, so it sees the router's 404/405 and the body limit's
    413 (an ``ApiError``) before the qcog error middleware does."""
    service = signed_service(request)
    if service is None or request.path.startswith("/api/"):
        return await handler(request)
    head = request.method == "HEAD"
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return error(service, _unserved(service, request), head=head)
    except (web.HTTPRequestEntityTooLarge, ApiError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 413
        if status != 413:
            return error(service, AwsError(status, "ValidationException", str(exc)), head=head)
        detail = exc.text if isinstance(exc, web.HTTPException) else \
            f"{exc}. Fix: {exc.fix}" if exc.fix else str(exc)
        code = "EntityTooLarge" if service == "s3" else "RequestEntityTooLargeException"
        return error(service, AwsError(400 if service == "s3" else 413, code,
                                       f"the request body is larger than this server accepts "
                                       f"({detail})"), head=head)
    except web.HTTPException:
        raise
    except Exception as exc:
        log_unexpected(log, request, exc)  # a repeat of the same bug logs one line
        code = "InternalError" if service == "s3" else "InternalFailure"
        return error(service, AwsError(500, code, "internal error in the simulator; it is "
                                       "logged on the server"), head=head)


def _unserved(service: str, request: web.Request) -> AwsError:
    what = f"{request.method} {request.path}"
    if service == "s3":
        return AwsError(400, "InvalidRequest",
                        f"S3 is served under /s3 on this server, not at {what}: set "
                        "AWS_ENDPOINT_URL_S3=<server url>/s3")
    if service in QUERY_SERVICES:
        return AwsError(400, "InvalidAction",
                        f"{service.upper()} is served as POST / (form Action=...); {what} is not "
                        "an operation of this server")
    return AwsError(404, "UnknownOperationException",
                    f"{what} ({service}) is not an operation this server serves")
