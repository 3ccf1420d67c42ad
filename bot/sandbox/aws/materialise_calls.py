"""A console or CLI change the sandbox can make for real, through the API its ``action`` names.

:func:`direct_calls` makes a ``via: console`` / ``via: iam`` change whose action the sandbox models — a Lambda
function's configuration or concurrency, an ECS service's desired count, a task definition's limits, a queue's
attributes, a DB instance's class, a DB parameter group, a DB reboot or failover — and returns the calls as
CloudTrail records them (with their real ``requestParameters``), or nothing when it models no such call, so that
the caller records the change as written. A detail written as JSON is the call's own request.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.aws.fillins import RdsEvent
from bot.sandbox.aws.materialise_actors import event_source, resource_type
from bot.sandbox.aws.materialise_services import encryption_key
from bot.sandbox.aws.materialise_settings import (
    TYPE_OF_ACTION,
    ApiCall,
    apply_settings,
    detail_edits,
    detail_settings,
    json_detail,
    owns,
    settings_of,
)
from bot.sandbox.aws.materialise_state import Build
from bot.sandbox.aws.stack_changes import PropertyEdit
from bot.sandbox.scenario import ChangeSpec, ServiceSpec

#: CloudTrail's API-version suffixes (``UpdateFunctionConfiguration20150331v2``).
_VERSION_SUFFIX = re.compile(r"\d{8}(v\d+)?$")
#: Actions with one setting, for a detail that is only ``old -> new``.
_SOLE = {"PutFunctionConcurrency": "ReservedConcurrentExecutions", "SetDesiredCapacity": "DesiredCapacity"}
_BARE_EDIT = re.compile(r"^\s*(\S+)\s*(?:->|→|=>)\s*(\S+)\s*$")


def api_action(name: str) -> str:
    """The API action of a CloudTrail event name."""
    return _VERSION_SUFFIX.sub("", name)


def direct_calls(b: Build, ch: ChangeSpec, spec: ServiceSpec) -> list[ApiCall]:
    """Make the change through the modelled API and return its calls; [] when the sandbox models none."""
    action = api_action(ch.action or "")
    when = b.clock_time()
    if action in TYPE_OF_ACTION:
        return _settings(b, ch, spec, action)
    if action == "ModifyDBParameterGroup":
        return _parameter_group(b, ch, when)
    if action in ("RebootDBInstance", "FailoverDBCluster", "FailoverDBInstance", "RebootDBCluster"):
        return _reboot(b, ch, spec, action, when)
    if action in _POLICY_REQUESTS and ch.policy is not None:
        return _policy(b, ch, spec, action)
    request = json_detail(ch.detail)
    if request is None:
        return []
    resource = ch.resource or spec.name
    source = event_source(resource, action, spec.kind)
    return [ApiCall(ch.action or action, source, request, [(resource_type(resource, spec.kind), resource)])]


def _policy(b: Build, ch: ChangeSpec, spec: ServiceSpec, action: str) -> list[ApiCall]:
    """A resource or inline policy written, with the request its API takes (the document in it)."""
    resource = ch.resource or spec.name
    name = re.split(r"[/: ]", resource.split(":::", 1)[-1].split(":", 5)[-1])
    parts = [p for p in name if p]
    request = _POLICY_REQUESTS[action](resource, parts, ch.policy or "")
    source = event_source(resource, action, spec.kind)
    return [ApiCall(ch.action or action, source, request, [(resource_type(resource, spec.kind), resource)])]


_POLICY_REQUESTS = {
    "PutBucketPolicy": lambda res, parts, doc: {
        "bucketName": parts[0] if parts else res,
        "bucketPolicy": doc,
    },
    "PutKeyPolicy": lambda res, parts, doc: {
        "keyId": res.split(" ", 1)[0],
        "policyName": "default",
        "policy": doc,
    },
    "PutRolePolicy": lambda res, parts, doc: {
        "roleName": parts[1] if len(parts) > 1 and parts[0] == "role" else (parts[0] if parts else res),
        "policyName": _inline_name(res),
        "policyDocument": doc,
    },
    "PutResourcePolicy": lambda res, parts, doc: {"resourceArn": res.split(" ", 1)[0], "policy": doc},
    "PutQueuePolicy": lambda res, parts, doc: {"queueUrl": res, "attributes": {"Policy": doc}},
}


def _inline_name(resource: str) -> str:
    """The inline policy a resource text names (``... (inline policy statement-builder-access)``)."""
    m = re.search(r"inline policy ([\w+=,.@-]+)", resource)
    return m.group(1) if m else "inline"


def action_edits(action: str, detail: str | None) -> tuple[str, list[PropertyEdit]]:
    """The resource type a modelled action writes, and the settings its detail names."""
    rtype = TYPE_OF_ACTION[action]
    edits = detail_settings(rtype, detail)
    if not edits and action == "UpdateService":  # a task's limits change through a new revision
        rtype = "AWS::ECS::TaskDefinition"
        edits = detail_settings(rtype, detail)
    bare = _BARE_EDIT.match(detail or "")
    if not edits and bare and action in _SOLE:
        edits = [PropertyEdit(_SOLE[action], bare.group(1), bare.group(2))]
    if action == "DeleteFunctionConcurrency":
        edits = [PropertyEdit("ReservedConcurrentExecutions", None, None)]
    return rtype, edits


def _settings(b: Build, ch: ChangeSpec, spec: ServiceSpec, action: str) -> list[ApiCall]:
    rtype, edits = action_edits(action, ch.detail)
    if not edits or not owns(spec, rtype):
        return []
    return apply_settings(b, spec, rtype, settings_of(edits, live_settings(b, spec, rtype)))


def live_settings(b: Build, spec: ServiceSpec, rtype: str) -> dict[str, Any]:
    """What a setter needs of the resource's current properties (a function's environment)."""
    if rtype == "AWS::Lambda::Function" and owns(spec, rtype):
        env = b.c("lambda").get_function_configuration(FunctionName=spec.name).get("Environment") or {}
        return {"Environment": {"Variables": dict(env.get("Variables") or {})}}
    return {}


def initial_settings(b: Build, spec: ServiceSpec) -> None:
    """Set what the service's console changes say was there before them (``MemorySize 3008 -> 512``: 3008),
    as its last release left it."""
    b.at(b.settled)
    seen: set[tuple[str, str]] = set()
    for ev in sorted(b.world.changes(), key=lambda e: e.at):
        ch = ev.change
        if ch is None or ch.service != spec.name or ch.via not in ("console", "iam") or not ch.action:
            continue
        action = api_action(ch.action)
        if action not in TYPE_OF_ACTION:
            continue
        rtype, named = action_edits(action, ch.detail)
        if not owns(spec, rtype):
            continue
        edits = [e for e in named if e.old is not None and (rtype, e.name) not in seen]
        seen |= {(rtype, e.name) for e in edits}
        if edits:
            apply_settings(b, spec, rtype, settings_of(edits, live_settings(b, spec, rtype), new=False))


def initial_encryption(b: Build, spec: ServiceSpec) -> None:
    """A queue or function whose KMS key a change acts on was encrypted with that key all along, as AWS
    shows it: the queue's `KmsMasterKeyId`, the function's `KMSKeyArn` (its environment's key)."""
    key = encryption_key(b, spec)
    if key and spec.kind == "sqs":  # a function gets its key when it is created
        b.at(b.settled)
        url = b.c("sqs").get_queue_url(QueueName=spec.name)["QueueUrl"]
        b.c("sqs").set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": key})


def _name_in(resource: str | None, kind: str) -> str | None:
    """The name an RDS ARN gives (``arn:aws:rds:...:pg:shop-db-pg15`` -> ``shop-db-pg15``)."""
    if not resource:
        return None
    m = re.search(rf":{kind}:([A-Za-z0-9-]+)", resource)
    return m.group(1) if m else None


def _parameter_group(b: Build, ch: ChangeSpec, when: datetime) -> list[ApiCall]:
    """Parameters written to a DB parameter group, with the events RDS writes for each."""
    group = _name_in(ch.resource, "pg") or (ch.resource or "").split(" ", 1)[0] or f"{ch.service}-params"
    method = re.search(r"apply ?method\W+(immediate|pending-reboot)", ch.detail or "", re.IGNORECASE)
    apply = method.group(1).lower() if method else "immediate"
    edits = [
        e
        for e in detail_edits(ch.detail or "")
        if e.new is not None and not e.name.lower().startswith("apply")
    ]
    if not edits:
        return []
    named = ch.resource or ""
    arn = named if named.startswith("arn:") else f"arn:aws:rds:{b.region}:{b.account}:pg:{group}"
    params = [{"parameterName": e.name, "parameterValue": e.new, "applyMethod": apply} for e in edits]
    for i, e in enumerate(edits):
        b.rds_events.events.append(
            RdsEvent(
                group,
                "db-parameter-group",
                f"Updated parameter {e.name} to {e.new} with apply method {apply}",
                ("configuration change",),
                when + timedelta(seconds=2 + i),
                arn,
            )
        )
    request = {"dBParameterGroupName": group, "parameters": params}
    return [
        ApiCall(
            "ModifyDBParameterGroup",
            "rds.amazonaws.com",
            request,
            [("AWS::RDS::DBParameterGroup", named or arn)],
            {"dBParameterGroupName": group},
        )
    ]


#: (message, categories, seconds after the call) of the events each reboot or failover writes.
_REBOOT_EVENTS: dict[str, list[tuple[str, tuple[str, ...], int]]] = {
    "reboot": [
        ("DB instance shutdown", ("availability",), 20),
        ("DB instance restarted", ("availability",), 95),
    ],
    "instance-failover": [
        ("Multi-AZ instance failover started.", ("failover",), 8),
        ("DB instance restarted", ("availability",), 40),
        ("Multi-AZ instance failover completed.", ("failover",), 55),
    ],
    "cluster-failover": [
        ("Started cross AZ failover to DB instance: {target}", ("failover",), 5),
        ("Completed failover to DB instance: {target}", ("failover",), 38),
    ],
}


def _reboot(b: Build, ch: ChangeSpec, spec: ServiceSpec, action: str, when: datetime) -> list[ApiCall]:
    """A reboot or failover, with the events RDS writes for it."""
    cluster = "Cluster" in action
    kind = "cluster" if cluster else "db"
    name = _name_in(ch.resource, kind) or (spec.name if spec.kind == "rds" else (ch.resource or spec.name))
    failover = "Failover" in action or "failover" in (ch.detail or "").lower()
    arn = f"arn:aws:rds:{b.region}:{b.account}:{kind}:{name}"
    story = "cluster-failover" if cluster and failover else ("instance-failover" if failover else "reboot")
    target = _name_in(ch.detail, "db") or name
    for message, categories, seconds in _REBOOT_EVENTS[story]:
        b.rds_events.events.append(
            RdsEvent(
                name,
                "db-cluster" if cluster else "db-instance",
                message.format(target=target),
                categories,
                when + timedelta(seconds=seconds),
                arn,
            )
        )
    if cluster:
        request: dict[str, Any] = {"dBClusterIdentifier": name}
    else:
        request = {"dBInstanceIdentifier": name, "forceFailover": failover}
    rtype = "AWS::RDS::DBCluster" if cluster else "AWS::RDS::DBInstance"
    return [ApiCall(ch.action or action, "rds.amazonaws.com", request, [(rtype, arn)])]
