"""``POST /``: where botocore sends, on one endpoint, the query-protocol services (STS, IAM: a
form body with ``Action=...``) and the json services (``X-Amz-Target`` header). Served:

- STS GetCallerIdentity: the caller's account (the one in its task and job ARNs), which
  ``AwsSession().default_bucket()`` needs to name ``amazon-braket-<region>-<account>``;
- IAM ListRoles and GetRole: the ``AmazonBraketJobsExecutionRole`` every account has here
  (``AwsQuantumJob.create`` looks it up unless given ``role_arn``);
- CloudWatch Logs (``logs_routes``) and ECR BatchGetImage (``ecr_routes``, for ``@hybrid_job``).

Anything else answers in its service's error shape (``InvalidAction`` in XML for STS/IAM,
``UnknownOperationException`` with ``x-amzn-ErrorType`` for json services).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

from aiohttp import web

from qwidgets.protocol import strict_json
from qwidgets.sim.braket import ecr_routes, logs_routes
from qwidgets.sim.braket.auth import CALLER, Caller, account_id, braket_namespace
from qwidgets.sim.braket.aws_wire import QUERY_XMLNS, AwsError, auth_error, error, signed_service
from qwidgets.sim.braket.wire import BraketError

ROLE_NAME = "AmazonBraketJobsExecutionRole"
ROLE_PATH = "/service-role/"
_ROLE_CREATED = datetime(2024, 1, 1, tzinfo=timezone.utc)
_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "braket.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/", root)


def role_arn(ns: str) -> str:
    return f"arn:aws:iam::{account_id(ns)}:role{ROLE_PATH}{ROLE_NAME}"


async def root(request: web.Request) -> web.StreamResponse:
    target = request.headers.get("X-Amz-Target")
    service = signed_service(request) or ("logs" if target else "sts")
    try:
        try:
            ns = await braket_namespace(request)
        except BraketError as exc:
            raise auth_error(exc, service) from None
        if target:
            return await _json_target(request, ns, target)
        return await _query(request, service)
    except AwsError as exc:
        return error(service, exc)


async def _json_target(request: web.Request, ns: str, target: str) -> web.Response:
    service, _, operation = target.partition(".")
    if f"{service}." not in (logs_routes.TARGET_PREFIX, ecr_routes.TARGET_PREFIX):
        raise AwsError(400, "UnknownOperationException",
                       f"{target} is not served by this simulator (it serves CloudWatch Logs' "
                       "DescribeLogStreams and GetLogEvents, and ECR's BatchGetImage)")
    try:
        # strict: not UTF-8, too deep, 5,000 digits or a lone surrogate is the caller's error
        body = strict_json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise AwsError(400, "SerializationException", f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise AwsError(400, "SerializationException", "the body must be a JSON object")
    if f"{service}." == ecr_routes.TARGET_PREFIX:
        answer = ecr_routes.handle(operation, body)
    else:
        answer = await logs_routes.handle(request, ns, operation, body)
    return web.Response(body=json.dumps(answer).encode(),
                        content_type="application/x-amz-json-1.1")


async def _query(request: web.Request, service: str) -> web.Response:
    form = {k: v[-1] for k, v in parse_qs((await request.read()).decode("utf-8", "replace"),
                                          keep_blank_values=True).items()}
    action = form.get("Action", "")
    caller: Caller = request[CALLER]
    if service == "sts" and action == "GetCallerIdentity":
        return _answer("sts", action, _caller_identity(caller))
    if service == "iam" and action == "ListRoles":
        prefix = form.get("PathPrefix", "/")
        roles = _role(caller.ns) if ROLE_PATH.startswith(prefix) else ""
        return _answer("iam", action, f"<IsTruncated>false</IsTruncated><Roles>{roles}</Roles>")
    if service == "iam" and action == "GetRole":
        if form.get("RoleName") != ROLE_NAME:
            raise AwsError(404, "NoSuchEntity", f"The role with name {form.get('RoleName')} "
                           f"cannot be found (this simulator has {ROLE_NAME} only)")
        return _answer("iam", action, _role(caller.ns, tag="Role"))
    family = service.upper() if service in QUERY_XMLNS else "this service"
    raise AwsError(400, "InvalidAction", f"The action {action or '(none)'} is not valid for "
                   f"{family} on this simulator (served: STS GetCallerIdentity, IAM ListRoles "
                   "and GetRole)")


def _caller_identity(caller: Caller) -> str:
    account = account_id(caller.ns)
    if caller.session is not None:  # a hybrid job's credentials: its execution role
        arn = f"arn:aws:sts::{account}:assumed-role/{ROLE_NAME}/{caller.session}"
        user = f"AROAQWIDGETSJOBROLE:{caller.session}"
    else:
        arn, user = f"arn:aws:iam::{account}:user/qwidgets", caller.access_key
    return (f"<Arn>{escape(arn)}</Arn><UserId>{escape(user)}</UserId>"
            f"<Account>{account}</Account>")


def _role(ns: str, tag: str = "member") -> str:
    return (f"<{tag}><Path>{ROLE_PATH}</Path><RoleName>{ROLE_NAME}</RoleName>"
            f"<RoleId>AROAQWIDGETSJOBROLE</RoleId><Arn>{role_arn(ns)}</Arn>"
            f"<CreateDate>{_ROLE_CREATED.strftime('%Y-%m-%dT%H:%M:%SZ')}</CreateDate>"
            f"<AssumeRolePolicyDocument>{quote(_TRUST)}</AssumeRolePolicyDocument>"
            f"<MaxSessionDuration>3600</MaxSessionDuration></{tag}>")


def _answer(service: str, action: str, result: str) -> web.Response:
    body = (f'<{action}Response xmlns="{QUERY_XMLNS[service]}"><{action}Result>{result}'
            f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            f"</ResponseMetadata></{action}Response>")
    return web.Response(body=body.encode(), content_type="text/xml")
