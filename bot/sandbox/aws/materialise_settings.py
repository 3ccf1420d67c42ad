"""A resource's settings changed through its own API, so the change shows where AWS shows it.

A stack update, a person in the console and a pipeline all change a Lambda function's memory or reserved
concurrency, an ECS service's desired count, a task definition's limits, a queue's attributes, a launch
template's image or a DB instance's class the same way: through that service's API. :func:`apply_settings` makes
the change in moto (so ``GetFunctionConfiguration``, ``GetFunctionConcurrency``, ``DescribeServices``,
``DescribeTaskDefinition``... answer the new value) and returns the calls that made it, named and shaped as
CloudTrail records them (``PutFunctionConcurrency20171031`` with its ``requestParameters``), for the caller to
record under whoever made the change.

:func:`detail_settings` reads a console change's free-text ``detail`` (``MemorySize 3008 -> 512``,
``desired count: 6 -> 2``, ``LOG_LEVEL=debug``) into those settings, by the API the change's ``action`` names.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from bot.sandbox.aws.fillins import RdsEvent
from bot.sandbox.aws.materialise_services import register_task
from bot.sandbox.aws.materialise_state import Build, handler_zip
from bot.sandbox.aws.materialise_wiring import user_data
from bot.sandbox.aws.stack_changes import PropertyEdit, typed
from bot.sandbox.scenario import ServiceSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiCall:
    """One API call as CloudTrail records it."""

    name: str  # eventName
    source: str  # eventSource
    request: dict[str, Any]
    resources: list[tuple[str, str]]
    response: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: Resource type -> the service kind whose own resource it is.
KIND_OF_TYPE = {
    "AWS::Lambda::Function": "lambda",
    "AWS::ECS::Service": "ecs",
    "AWS::ECS::TaskDefinition": "ecs",
    "AWS::AutoScaling::AutoScalingGroup": "asg",
    "AWS::EC2::LaunchTemplate": "asg",
    "AWS::SQS::Queue": "sqs",
    "AWS::RDS::DBInstance": "rds",
}

#: The API action a console change names -> the resource type whose settings it writes.
TYPE_OF_ACTION = {
    "UpdateFunctionConfiguration": "AWS::Lambda::Function",
    "PutFunctionConcurrency": "AWS::Lambda::Function",
    "DeleteFunctionConcurrency": "AWS::Lambda::Function",
    "UpdateService": "AWS::ECS::Service",
    "RegisterTaskDefinition": "AWS::ECS::TaskDefinition",
    "UpdateAutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup",
    "SetDesiredCapacity": "AWS::AutoScaling::AutoScalingGroup",
    "SetQueueAttributes": "AWS::SQS::Queue",
    "ModifyDBInstance": "AWS::RDS::DBInstance",
    "CreateLaunchTemplateVersion": "AWS::EC2::LaunchTemplate",
}

#: Words people use for a setting (lower-case, letters and digits only) -> the property, per resource type.
ALIASES: dict[str, dict[str, str]] = {
    "AWS::Lambda::Function": {
        "memorysize": "MemorySize",
        "memory": "MemorySize",
        "memorymb": "MemorySize",
        "timeout": "Timeout",
        "timeoutseconds": "Timeout",
        "reservedconcurrentexecutions": "ReservedConcurrentExecutions",
        "reservedconcurrency": "ReservedConcurrentExecutions",
        "concurrency": "ReservedConcurrentExecutions",
        "handler": "Handler",
        "runtime": "Runtime",
    },
    "AWS::ECS::Service": {"desiredcount": "DesiredCount", "desired": "DesiredCount", "count": "DesiredCount"},
    "AWS::ECS::TaskDefinition": {"cpu": "Cpu", "memory": "Memory", "memorymib": "Memory"},
    "AWS::AutoScaling::AutoScalingGroup": {
        "desiredcapacity": "DesiredCapacity",
        "desired": "DesiredCapacity",
        "minsize": "MinSize",
        "min": "MinSize",
        "maxsize": "MaxSize",
        "max": "MaxSize",
    },
    "AWS::SQS::Queue": {
        "visibilitytimeout": "VisibilityTimeout",
        "messageretentionperiod": "MessageRetentionPeriod",
        "delayseconds": "DelaySeconds",
        "receivemessagewaittimeseconds": "ReceiveMessageWaitTimeSeconds",
        "maximummessagesize": "MaximumMessageSize",
    },
    "AWS::RDS::DBInstance": {
        "dbinstanceclass": "DBInstanceClass",
        "instanceclass": "DBInstanceClass",
        "class": "DBInstanceClass",
        "allocatedstorage": "AllocatedStorage",
        "storage": "AllocatedStorage",
    },
    "AWS::EC2::LaunchTemplate": {
        "imageid": "LaunchTemplateData.ImageId",
        "ami": "LaunchTemplateData.ImageId",
        "instancetype": "LaunchTemplateData.InstanceType",
        "userdata": "LaunchTemplateData.UserData",
    },
}

_ARROW = r"\s*(?:->|→|=>)\s*"
#: ``<name> <old> -> <new>``: the old value is the last word before the arrow (with its unit, if any).
_EDIT = re.compile(
    rf"^\s*([A-Za-z][\w .\[\]/-]*?)\s*[:=]?\s+(\S+(?:\s+{{units}})?){_ARROW}(.+?)\s*$".replace(
        "{units}", r"(?:[KMG]i?B|ms|s|sec|seconds?|minutes?|vCPUs?|%)"
    ),
    re.IGNORECASE,
)
_FROM_TO = re.compile(
    r"^\s*([A-Za-z][\w .\[\]/-]*?)\s+from\s+(\S+(?:\s+\S+)?)\s+to\s+(.+?)\s*$", re.IGNORECASE
)
_SET = re.compile(r"^\s*([A-Za-z][\w.\[\]/-]*)\s*[:=]\s*(.+?)\s*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def detail_edits(detail: str) -> list[PropertyEdit]:
    """``Name old -> new`` / ``Name: value`` clauses of a free-text detail (a JSON detail says no values)."""
    text = detail.strip()
    if text.startswith(("{", "[")):
        return []
    out: list[PropertyEdit] = []
    for clause in re.split(r"[;,\n]+", text):
        clause = re.sub(r"\([^)]*\)", "", clause).strip()
        m = _EDIT.match(clause) or _FROM_TO.match(clause)
        if m:
            out.append(PropertyEdit(m.group(1).strip(), m.group(2).strip(), m.group(3).strip()))
            continue
        m = _SET.match(clause)
        if m:
            out.append(PropertyEdit(m.group(1).strip(), None, m.group(2).strip()))
    return out


def number(value: Any) -> int:
    """A setting's value as an integer (``3008``, ``"3008 MB"``, ``"1,024"``); ValueError when it has none."""
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, int):
        return value
    found = re.search(r"-?\d+", str(value).replace(",", ""))
    if not found:
        raise ValueError(f"not a number: {value!r}")
    return int(found.group(0))


def canonical(rtype: str, name: str) -> str | None:
    """The property a person's word for a setting names on a `rtype` (the whole phrase, else its last word or
    two: ``Reduced memory``), or None when it names none."""
    words = name.split()
    for phrase in (name, " ".join(words[-2:]), words[-1] if words else ""):
        hit = ALIASES.get(rtype, {}).get(re.sub(r"[^a-z0-9]", "", phrase.lower()))
        if hit:
            return hit
    if rtype == "AWS::Lambda::Function" and _ENV_NAME.match(name.strip()):
        return f"Environment.Variables.{name.strip()}"
    if name.split(".", 1)[0] in {p.split(".", 1)[0] for p in ALIASES.get(rtype, {}).values()}:
        return name
    return None


def detail_settings(rtype: str, detail: str | None) -> list[PropertyEdit]:
    """The settings a console change's detail names, as `rtype`'s properties."""
    out = []
    for edit in detail_edits(detail or ""):
        prop = canonical(rtype, edit.name)
        if prop:
            out.append(PropertyEdit(prop, edit.old, edit.new))
    return out


def json_detail(detail: str | None) -> dict[str, Any] | None:
    """A detail written as the call's JSON request, if it is one."""
    if not detail or not detail.strip().startswith("{"):
        return None
    try:
        value = json.loads(detail)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def owns(spec: ServiceSpec, rtype: str) -> bool:
    """Whether a `rtype` resource of `spec`'s stack is the service's own (built) resource."""
    return KIND_OF_TYPE.get(rtype) == spec.kind


def apply_settings(b: Build, spec: ServiceSpec, rtype: str, values: dict[str, Any]) -> list[ApiCall]:
    """Set `values` (top-level properties -> typed values) on the service's own `rtype` resource; nothing (and
    a warning) when the values are not ones the API takes, so that the change is still recorded as written."""
    setter = _SETTERS.get(rtype)
    if setter is None or not owns(spec, rtype) or not values:
        return []
    try:
        return setter(b, spec, dict(values))
    except (ClientError, ValueError, TypeError, KeyError) as exc:
        log.warning("sandbox: could not set %s on %s %s: %s", values, rtype, spec.name, exc)
        return []


def nested(props: dict[str, Any], path: str, value: Any) -> None:
    """Set (or, for None, remove) the dotted `path` in `props`."""
    parts = [p for p in re.split(r"[./]", path) if p]
    here = props
    for part in parts[:-1]:
        nxt = here.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            here[part] = nxt
        here = nxt
    if value is None:
        here.pop(parts[-1], None)
    else:
        here[parts[-1]] = value


def settings_of(edits: list[PropertyEdit], base: dict[str, Any], new: bool = True) -> dict[str, Any]:
    """The top-level properties `edits` touch, with their whole values after (or before) the edits."""
    out: dict[str, Any] = {}
    for e in edits:
        top = re.split(r"[./]", e.name, maxsplit=1)[0]
        if top not in out:
            current = base.get(top)
            out[top] = json.loads(json.dumps(current)) if isinstance(current, dict | list) else current
        value = typed(e.new if new else e.old)
        if top == e.name:
            out[top] = value
        else:
            holder = {top: out[top] if isinstance(out[top], dict) else {}}
            nested(holder, e.name, value)
            out[top] = holder[top]
    return out


# ---- one setter per resource type ----------------------------------------------------------------------
def _lambda(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    name = spec.name
    lam = b.c("lambda")
    arn = f"arn:aws:lambda:{b.region}:{b.account}:function:{name}"
    res = [("AWS::Lambda::Function", arn)]
    calls: list[ApiCall] = []
    if "ReservedConcurrentExecutions" in values:
        n = values.pop("ReservedConcurrentExecutions")
        if n is None:
            lam.delete_function_concurrency(FunctionName=name)
            calls.append(ApiCall("DeleteFunctionConcurrency20171031", _LAMBDA, {"functionName": name}, res))
        else:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=number(n))
            calls.append(
                ApiCall(
                    "PutFunctionConcurrency20171031",
                    _LAMBDA,
                    {"functionName": name, "reservedConcurrentExecutions": number(n)},
                    res,
                    {"reservedConcurrentExecutions": number(n)},
                )
            )
    config: dict[str, Any] = {k: number(v) for k, v in values.items() if k in ("MemorySize", "Timeout")}
    config.update({k: str(v) for k, v in values.items() if k in ("Handler", "Runtime") and v is not None})
    request: dict[str, Any] = {"functionName": name, **{k[0].lower() + k[1:]: v for k, v in config.items()}}
    if "Environment" in values:
        env = values["Environment"] if isinstance(values["Environment"], dict) else {}
        config["Environment"] = {"Variables": {k: str(v) for k, v in (env.get("Variables") or {}).items()}}
        request["environment"] = {"variables": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    if config:
        out = lam.update_function_configuration(FunctionName=name, **config)
        response = {"functionName": name, "functionArn": arn, "memorySize": out.get("MemorySize")}
        response.update(timeout=out.get("Timeout"), runtime=out.get("Runtime"), handler=out.get("Handler"))
        calls.append(ApiCall("UpdateFunctionConfiguration20150331v2", _LAMBDA, request, res, response))
    return calls


def _ecs_service(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    if values.get("DesiredCount") is None:
        return []
    name, n = spec.name, number(values["DesiredCount"])
    b.c("ecs").update_service(cluster=b.cluster, service=name, desiredCount=n)
    resize_tasks(b, name, n)
    request = {"cluster": b.cluster, "service": name, "desiredCount": n}
    return [ApiCall("UpdateService", "ecs.amazonaws.com", request, [("AWS::ECS::Service", name)])]


def resize_tasks(b: Build, name: str, n: int) -> None:
    """Start or stop tasks until `n` run, with the service events ECS writes."""
    assert b.clock is not None
    when = b.clock_time()
    tasks = b.ecs_tasks[name]
    if n > len(tasks):
        new = [b.stable_hex(f"task:{name}:{when.isoformat()}:{i}", 32) for i in range(n - len(tasks))]
        started = " ".join(f"(task {t})" for t in new)
        b.ecs_events[name].append(
            (
                when + timedelta(seconds=15),
                b.stable_uuid(f"ev:{name}:{when}"),
                f"(service {name}) has started {len(new)} tasks: {started}.",
            )
        )
        b.ecs_tasks[name] = tasks + new
    elif n < len(tasks):
        gone = tasks[n:]
        stopped = " ".join(f"(task {t})" for t in gone)
        b.ecs_events[name].append(
            (
                when + timedelta(seconds=15),
                b.stable_uuid(f"ev:{name}:{when}"),
                f"(service {name}) has stopped {len(gone)} running tasks: {stopped}.",
            )
        )
        b.ecs_tasks[name] = tasks[:n]


def _replace_tasks(b: Build, name: str) -> None:
    """A new revision's tasks replace the old ones, with the events a rolling deployment writes."""
    when = b.clock_time()
    tasks = b.ecs_tasks[name]
    new = [b.stable_hex(f"task:{name}:{when.isoformat()}:{i}", 32) for i in range(len(tasks))]
    said = [
        (20, f"has started {len(new)} tasks: " + " ".join(f"(task {t})" for t in new) + "."),
        (120, f"has stopped {len(tasks)} running tasks: " + " ".join(f"(task {t})" for t in tasks) + "."),
        (240, "deployment completed."),
        (300, "has reached a steady state."),
    ]
    for seconds, text in said:
        at = when + timedelta(seconds=seconds)
        b.ecs_events[name].append(
            (at, b.stable_uuid(f"event:{name}:{at.isoformat()}"), f"(service {name}) {text}")
        )
    b.ecs_tasks[name] = new


def _task_definition(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    name = spec.name
    cpu, memory = b.task_limits.get(name, ("512", "1024"))
    cpu = str(values.get("Cpu") or cpu)
    memory = str(values.get("Memory") or memory)
    td = register_task(b, spec, b.ecs_images.get(name, "latest"), cpu=cpu, memory=memory)
    b.c("ecs").update_service(cluster=b.cluster, service=name, taskDefinition=td)
    _replace_tasks(b, name)
    register = {"family": name, "cpu": cpu, "memory": memory, "requiresCompatibilities": ["FARGATE"]}
    update = {"cluster": b.cluster, "service": name, "taskDefinition": td}
    return [
        ApiCall("RegisterTaskDefinition", "ecs.amazonaws.com", register, [("AWS::ECS::TaskDefinition", td)]),
        ApiCall("UpdateService", "ecs.amazonaws.com", update, [("AWS::ECS::Service", name)]),
    ]


def _asg(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    group = f"{spec.name}-asg"
    sizes = {k: number(v) for k, v in values.items() if k in ("MinSize", "MaxSize") and v is not None}
    res = [("AWS::AutoScaling::AutoScalingGroup", group)]
    calls = []
    if sizes:
        b.c("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, **sizes)
        request = {"autoScalingGroupName": group, **{k[0].lower() + k[1:]: v for k, v in sizes.items()}}
        calls.append(ApiCall("UpdateAutoScalingGroup", "autoscaling.amazonaws.com", request, res))
    if values.get("DesiredCapacity") is not None:  # the instances themselves are the world's (see world.py)
        request = {"autoScalingGroupName": group, "desiredCapacity": number(values["DesiredCapacity"])}
        calls.append(ApiCall("SetDesiredCapacity", "autoscaling.amazonaws.com", request, res))
    return calls


def _queue(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    attrs = {k: str(v) for k, v in values.items() if v is not None}
    if not attrs:
        return []
    sqs = b.c("sqs")
    url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
    arn = f"arn:aws:sqs:{b.region}:{b.account}:{spec.name}"
    return [
        ApiCall(
            "SetQueueAttributes",
            "sqs.amazonaws.com",
            {"queueUrl": url, "attributes": attrs},
            [("AWS::SQS::Queue", arn)],
        )
    ]


def _db_instance(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    kwargs: dict[str, Any] = {}
    if values.get("DBInstanceClass"):
        kwargs["DBInstanceClass"] = str(values["DBInstanceClass"])
    if values.get("AllocatedStorage"):
        kwargs["AllocatedStorage"] = number(values["AllocatedStorage"])
    if not kwargs:
        return []
    name = spec.name
    b.c("rds").modify_db_instance(DBInstanceIdentifier=name, ApplyImmediately=True, **kwargs)
    arn = f"arn:aws:rds:{b.region}:{b.account}:db:{name}"
    when = b.clock_time()
    for key, what in (
        ("DBInstanceClass", "database instance class"),
        ("AllocatedStorage", "allocated storage"),
    ):
        if key in kwargs:
            b.rds_events.events += [
                RdsEvent(
                    name,
                    "db-instance",
                    f"Applying modification to {what}",
                    ("configuration change",),
                    when + timedelta(seconds=30),
                    arn,
                ),
                RdsEvent(
                    name,
                    "db-instance",
                    f"Finished applying modification to {what}",
                    ("configuration change",),
                    when + timedelta(minutes=9),
                    arn,
                ),
            ]
    request = {
        "dBInstanceIdentifier": name,
        "applyImmediately": True,
        **{k[0].lower() + k[1:]: v for k, v in kwargs.items()},
    }
    return [ApiCall("ModifyDBInstance", "rds.amazonaws.com", request, [("AWS::RDS::DBInstance", arn)])]


def _launch_template(b: Build, spec: ServiceSpec, values: dict[str, Any]) -> list[ApiCall]:
    data = values.get("LaunchTemplateData")
    if not isinstance(data, dict) or spec.name not in b.lt_ids:
        return []
    lt = b.lt_ids[spec.name]
    body = {
        "ImageId": str(data.get("ImageId") or b.image),
        "InstanceType": str(data.get("InstanceType") or "m6i.large"),
    }
    body["UserData"] = data["UserData"] if isinstance(data.get("UserData"), str) else user_data(b, spec)
    version = b.c("ec2").create_launch_template_version(
        LaunchTemplateId=lt, SourceVersion="$Latest", LaunchTemplateData=body
    )["LaunchTemplateVersion"]["VersionNumber"]
    group = f"{spec.name}-asg"
    b.c("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group, LaunchTemplate={"LaunchTemplateId": lt, "Version": str(version)}
    )
    request = {
        "CreateLaunchTemplateVersionRequest": {
            "LaunchTemplateId": lt,
            "SourceVersion": "$Latest",
            "LaunchTemplateData": {
                "ImageId": body["ImageId"],
                "InstanceType": body["InstanceType"],
                "UserData": "<sensitiveDataRemoved>",
            },
        }
    }
    update = {
        "autoScalingGroupName": group,
        "launchTemplate": {"launchTemplateId": lt, "version": str(version)},
    }
    return [
        ApiCall(
            "CreateLaunchTemplateVersion", "ec2.amazonaws.com", request, [("AWS::EC2::LaunchTemplate", lt)]
        ),
        ApiCall(
            "UpdateAutoScalingGroup",
            "autoscaling.amazonaws.com",
            update,
            [("AWS::AutoScaling::AutoScalingGroup", group)],
        ),
    ]


# ---- a stack's new Version: the code it names ------------------------------------------------------------
def release_code(b: Build, spec: ServiceSpec, rtype: str, version: str) -> list[ApiCall]:
    """Put the code a stack's ``Version`` names in place on the service's own `rtype` resource (a function's
    bundle, a task definition's image; a launch template's version is made by the caller)."""
    if not owns(spec, rtype):
        return []
    name = spec.name
    if rtype == "AWS::Lambda::Function":
        arn = f"arn:aws:lambda:{b.region}:{b.account}:function:{name}"
        code = handler_zip(f"def main(event, context):\n    return {{'release': '{version}'}}\n")
        b.c("lambda").update_function_code(FunctionName=name, ZipFile=code)
        request = {
            "functionName": name,
            "s3Bucket": f"{b.org}-artifacts-{b.account}",
            "s3Key": f"{name}/{version}.zip",
        }
        return [ApiCall("UpdateFunctionCode20150331v2", _LAMBDA, request, [("AWS::Lambda::Function", arn)])]
    if rtype == "AWS::ECS::TaskDefinition":
        td = register_task(b, spec, version)
        b.c("ecs").update_service(cluster=b.cluster, service=name, taskDefinition=td)
        _replace_tasks(b, name)
        cpu, memory = b.task_limits[name]
        image = f"{b.account}.dkr.ecr.{b.region}.amazonaws.com/{name}:{version}"
        register = {
            "family": name,
            "cpu": cpu,
            "memory": memory,
            "containerDefinitions": [{"name": name, "image": image}],
        }
        update = {"cluster": b.cluster, "service": name, "taskDefinition": td}
        return [
            ApiCall(
                "RegisterTaskDefinition", "ecs.amazonaws.com", register, [("AWS::ECS::TaskDefinition", td)]
            ),
            ApiCall("UpdateService", "ecs.amazonaws.com", update, [("AWS::ECS::Service", name)]),
        ]
    return []


_LAMBDA = "lambda.amazonaws.com"
_SETTERS: dict[str, Callable[[Build, ServiceSpec, dict[str, Any]], list[ApiCall]]] = {
    "AWS::Lambda::Function": _lambda,
    "AWS::ECS::Service": _ecs_service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::AutoScaling::AutoScalingGroup": _asg,
    "AWS::SQS::Queue": _queue,
    "AWS::RDS::DBInstance": _db_instance,
    "AWS::EC2::LaunchTemplate": _launch_template,
}
