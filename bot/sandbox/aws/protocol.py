"""Wire formats of the AWS protocols the gateway speaks: recognising a request, encoding answers and errors.

botocore picks the protocol per service: ``smithy-rpc-v2-cbor`` (CloudWatch), ``json`` 1.1 with
``X-Amz-Target`` (Logs, CloudTrail, ECS, SSM, DynamoDB, SQS), ``query`` (Auto Scaling, CloudFormation, ELBv2,
RDS, SNS), ``ec2`` and ``rest-json`` (X-Ray, Lambda). The service is the SigV4 credential scope's service.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import cbor2

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)")

#: rest-json paths we care about -> operation (X-Ray).
_REST_OPS = {
    ("POST", "/ServiceGraph"): "GetServiceGraph",
    ("POST", "/TraceSummaries"): "GetTraceSummaries",
    ("POST", "/Traces"): "BatchGetTraces",
    ("POST", "/TraceGraph"): "GetTraceGraph",
    ("POST", "/TraceSegments"): "PutTraceSegments",
    ("POST", "/TimeSeriesServiceStatistics"): "GetTimeSeriesServiceStatistics",
}


@dataclass
class Request:
    """One request as the gateway sees it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    service: str = ""  # SigV4 signing name: monitoring, logs, cloudtrail, ecs, autoscaling ...
    protocol: str = ""  # cbor | json | query | ec2 | rest-json | other
    operation: str = ""
    _params: dict[str, Any] | None = field(default=None, repr=False)

    def params(self) -> dict[str, Any]:
        """The decoded request body (a dict; query forms give ``{key: first value}``)."""
        if self._params is None:
            self._params = _decode(self)
        return self._params


def _decode(req: Request) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        if req.protocol == "cbor":
            data = cbor2.loads(req.body)
        elif req.protocol in ("json", "rest-json"):
            data = json.loads(req.body)
        elif req.protocol in ("query", "ec2"):
            data = {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}
        else:
            return {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def classify(method: str, path: str, headers: dict[str, str], body: bytes) -> Request:
    """Name the service, protocol and operation of a request."""
    req = Request(method, path, headers, body)
    m = _SCOPE.search(headers.get("authorization", ""))
    if m:
        req.service = m.group(2)
    cbor = _CBOR_PATH.match(path)
    target = headers.get("x-amz-target")
    if cbor and headers.get("smithy-protocol") == "rpc-v2-cbor":
        req.protocol, req.operation = "cbor", cbor.group(2)
    elif target:
        req.protocol, req.operation = "json", target.rsplit(".", 1)[-1]
    elif method == "POST" and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        req.protocol = "ec2" if req.service == "ec2" else "query"
        req.operation = req.params().get("Action", "")
    else:
        req.protocol = "rest-json"
        req.operation = _REST_OPS.get((method, path.split("?", 1)[0]), "")
    return req


@dataclass
class Reply:
    """An answer: status, headers and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


def request_id() -> str:
    """A request id (random: ids of requests are not part of the world)."""
    return str(uuid.uuid4())


def _to_cbor(value: Any) -> Any:
    if isinstance(value, datetime):
        return cbor2.CBORTag(1, value.timestamp())
    if isinstance(value, dict):
        return {k: _to_cbor(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_cbor(v) for v in value]
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


def cbor_reply(data: dict[str, Any], status: int = 200, extra: dict[str, str] | None = None) -> Reply:
    """An rpc-v2-cbor answer (datetimes become tag-1 epoch seconds)."""
    headers = {
        "Content-Type": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "x-amzn-RequestId": request_id(),
        **(extra or {}),
    }
    return Reply(status, headers, cbor2.dumps(_to_cbor(data)))


def json_reply(
    data: dict[str, Any], status: int = 200, content_type: str = "application/x-amz-json-1.1"
) -> Reply:
    """A json-1.1 (or rest-json) answer (datetimes become epoch seconds)."""
    headers = {"Content-Type": content_type, "x-amzn-RequestId": request_id()}
    return Reply(status, headers, json.dumps(_to_json(data)).encode())


def xml_reply(operation: str, inner: str, namespace: str) -> Reply:
    """A query-protocol answer: ``<OpResponse><OpResult>inner</OpResult>...``."""
    rid = request_id()
    body = (
        f'<{operation}Response xmlns="{namespace}"><{operation}Result>{inner}</{operation}Result>'
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{operation}Response>"
    )
    return Reply(200, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())


def xml_text(value: object) -> str:
    """Escape a value for XML text (datetimes as ISO 8601 with milliseconds and Z)."""
    if isinstance(value, datetime):
        return iso(value)
    return escape(str(value))


def iso(value: datetime) -> str:
    """``2026-11-22T10:00:00.000Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def error_reply(req: Request, code: str, message: str, status: int = 400) -> Reply:
    """An error in the request's own protocol."""
    rid = request_id()
    if req.protocol == "cbor":
        query_code = code.removesuffix("Exception")
        return cbor_reply(
            {"__type": code, "message": message},
            status,
            {"x-amzn-query-error": f"{query_code};Sender"},
        )
    if req.protocol == "json":
        headers = {
            "Content-Type": req.headers.get("content-type", "application/x-amz-json-1.1"),
            "x-amzn-RequestId": rid,
        }
        if req.service == "monitoring":  # awsQueryCompatible: the query-protocol code rides in a header
            headers["x-amzn-query-error"] = f"{code.removesuffix('Exception')};Sender"
        return Reply(status, headers, json.dumps({"__type": code, "message": message}).encode())
    if req.protocol == "rest-json":
        return Reply(
            status,
            {"Content-Type": "application/json", "x-amzn-ErrorType": code, "x-amzn-RequestId": rid},
            json.dumps({"Message": message, "message": message}).encode(),
        )
    if req.protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        )
        return Reply(status, {"Content-Type": "text/xml"}, body.encode())
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return Reply(status, {"Content-Type": "text/xml", "x-amzn-RequestId": rid}, body.encode())


#: IAM action prefix per SigV4 signing name (where they differ).
IAM_PREFIX = {"monitoring": "cloudwatch", "elasticloadbalancing": "elasticloadbalancing", "tagging": "tag"}


def access_denied(req: Request, account_id: str, resource: str | None = None) -> Reply:
    """Exactly what AWS answers when the caller's role lacks the permission, per protocol."""
    action = f"{IAM_PREFIX.get(req.service, req.service)}:{req.operation or 'Unknown'}"
    who = f"arn:aws:sts::{account_id}:assumed-role/sre-bot/sre-bot"
    on = f" on resource: {resource}" if resource else ""
    message = (
        f"User: {who} is not authorized to perform: {action}{on} "
        f"because no identity-based policy allows the {action} action"
    )
    if req.protocol in ("json", "rest-json"):
        return error_reply(req, "AccessDeniedException", message, 400 if req.protocol == "json" else 403)
    if req.protocol == "cbor":
        return error_reply(req, "AccessDeniedException", message, 403)
    if req.protocol == "ec2":
        return error_reply(
            req, "UnauthorizedOperation", f"You are not authorized to perform this operation. {message}", 403
        )
    return error_reply(req, "AccessDenied", message, 403)
