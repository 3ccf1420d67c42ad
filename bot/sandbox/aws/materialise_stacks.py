"""Each service's CloudFormation stack as AWS shows it: its template, resources, events and change sets.

A stack is created (by a ``CREATE`` change set, as ``aws cloudformation deploy`` does) when the estate is built,
with a template whose resources carry their properties. A ``via: cloudformation`` change is a change set that
lists each resource change (Modify/Add/Remove, Scope, the properties in Details with their before and after
values), writes one event per resource and leaves the template differing in exactly those properties; the
resources the service owns change through their own APIs too (:mod:`materialise_settings`), with the calls
CloudFormation made recorded in CloudTrail as invoked by ``cloudformation.amazonaws.com``. A stack update
whose text names no resource is a code release: a new value of the ``Version`` parameter.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.aws.materialise_calls import live_settings
from bot.sandbox.aws.materialise_services import image_uri, stack_template
from bot.sandbox.aws.materialise_settings import ApiCall, apply_settings, nested, release_code, settings_of
from bot.sandbox.aws.materialise_state import AMI, Build, Principal
from bot.sandbox.aws.stack_changes import PropertyEdit, ResourceEdit, StackChange, parse_stack_change, typed
from bot.sandbox.aws.stacks import ChangeSet, StackEvent, StackResource, template_json
from bot.sandbox.scenario import ServiceSpec

VERSION = "Version"
_CFN = "cloudformation.amazonaws.com"


# ---- the stack as built --------------------------------------------------------------------------------
def stack_changes(b: Build, spec: ServiceSpec) -> list[StackChange]:
    """The service's ``via: cloudformation`` changes, parsed, in time order."""
    events = sorted((e for e in b.world.changes() if e.change is not None), key=lambda e: e.at)
    return [
        parse_stack_change(e.change.stack_change or "", spec.kind)
        for e in events
        if e.change is not None and e.change.service == spec.name and e.change.via == "cloudformation"
    ]


def open_stack(b: Build, spec: ServiceSpec) -> None:
    """Register the service's stack as built: resources (named as its updates name them), template, events
    and the change set that created it; and set what its updates say was there before them."""
    name = spec.name
    if name not in b.stack_ids:
        return
    built = b.built
    updates = stack_changes(b, spec)
    rows = _named_rows(b, name, updates)
    b.logicals[name] = {rtype: logical for logical, _, rtype in rows}
    resources: dict[str, dict[str, Any]] = {
        logical: {"Type": rtype, "Properties": _properties(b, spec, rtype, rows)}
        for logical, _, rtype in rows
    }
    before = _initial_values(updates)
    for logical, props in before.items():
        if logical in resources:
            for prop, value in props.items():
                nested(resources[logical]["Properties"], prop, typed(value))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{name} ({spec.kind})",
        "Parameters": {VERSION: {"Type": "String", "Default": "initial"}},
        "Resources": resources,
    }
    b.templates[name] = template
    b.stack_versions[name] = "initial"
    b.stacks.templates[name] = template_json(template)
    stack_id = b.stack_ids[name]
    for logical, physical, rtype in rows:
        b.stacks.add(StackResource(name, stack_id, logical, physical, rtype, built))
    _creation_record(b, name, rows, built)
    b.at(b.settled)
    for logical, props in before.items():
        rtype = str(resources.get(logical, {}).get("Type", ""))
        edits = [PropertyEdit(p, v, None) for p, v in props.items()]
        apply_settings(b, spec, rtype, settings_of(edits, live_settings(b, spec, rtype), new=False))


def _named_rows(b: Build, name: str, updates: list[StackChange]) -> list[tuple[str, str, str]]:
    """The stack's rows, each named as the scenario's updates name a resource of its type, plus the resources
    those updates modify or remove that the stack must already have held."""
    rows = list(b.stack_rows.get(name, []))
    for update in updates:
        for edit in update.resources:
            same = [i for i, (_, _, t) in enumerate(rows) if t == edit.type]
            if any(r[0] == edit.logical_id for r in rows):
                continue
            if len(same) == 1 and edit.action != "Add" and rows[same[0]][0] not in _named(updates):
                _, physical, rtype = rows[same[0]]
                rows[same[0]] = (edit.logical_id, physical, rtype)
            elif edit.action != "Add":
                rows.append((edit.logical_id, physical_id(b, name, edit.logical_id), edit.type))
    return rows


def _named(updates: list[StackChange]) -> set[str]:
    return {e.logical_id for u in updates for e in u.resources}


def physical_id(b: Build, stack: str, logical: str) -> str:
    """The name CloudFormation gives a resource it names itself: ``<stack>-<LogicalId>-<12 random>``."""
    suffix = b.stable_hex(f"physical:{stack}:{logical}", 12).upper()
    return f"{stack}-{logical}-{suffix}"[:64]


def _initial_values(updates: list[StackChange]) -> dict[str, dict[str, str]]:
    """Logical id -> property -> its value before the first update that changes it."""
    out: dict[str, dict[str, str]] = {}
    for update in updates:
        for edit in update.resources:
            if edit.action != "Modify":
                continue
            for prop in edit.properties:
                if prop.old is not None:
                    out.setdefault(edit.logical_id, {}).setdefault(prop.name, prop.old)
    return out


def _creation_record(b: Build, name: str, rows: list[tuple[str, str, str]], built: datetime) -> None:
    """The CREATE change set and the creation events."""
    stack_id = b.stack_ids[name]
    created = built - timedelta(minutes=2)
    cs_name = f"awscli-cloudformation-package-deploy-{int(created.timestamp())}"
    adds = [
        {
            "Type": "Resource",
            "ResourceChange": {
                "Action": "Add",
                "LogicalResourceId": logical,
                "ResourceType": rtype,
                "Scope": [],
                "Details": [],
            },
        }
        for logical, _, rtype in rows
    ]
    b.stacks.change_sets.append(
        ChangeSet(
            cs_name,
            _cs_arn(b, name, cs_name),
            name,
            stack_id,
            created,
            "",
            adds,
            [(VERSION, "initial")],
            b.stacks.templates[name],
            kind="CREATE",
        )
    )
    _event(
        b, name, name, stack_id, "AWS::CloudFormation::Stack", built, "CREATE_IN_PROGRESS", "User Initiated"
    )
    for i, (logical, physical, rtype) in enumerate(rows):
        at = built + timedelta(seconds=3 + 4 * i)
        _event(b, name, logical, "", rtype, at, "CREATE_IN_PROGRESS")
        _event(
            b,
            name,
            logical,
            physical,
            rtype,
            at + timedelta(seconds=1),
            "CREATE_IN_PROGRESS",
            "Resource creation Initiated",
        )
        _event(b, name, logical, physical, rtype, at + timedelta(seconds=3), "CREATE_COMPLETE")
    _event(
        b,
        name,
        name,
        stack_id,
        "AWS::CloudFormation::Stack",
        built + timedelta(seconds=8 + 4 * len(rows)),
        "CREATE_COMPLETE",
    )


def _cs_arn(b: Build, stack: str, cs_name: str) -> str:
    """A change set's ARN (its id is unique to the stack and the change set)."""
    uid = b.stable_uuid(f"cs:{stack}:{cs_name}")
    return f"arn:aws:cloudformation:{b.region}:{b.account}:changeSet/{cs_name}/{uid}"


def _event(
    b: Build, stack: str, logical: str, physical: str, rtype: str, at: datetime, status: str, reason: str = ""
) -> None:
    stack_id = b.stack_ids[stack]
    if rtype == "AWS::CloudFormation::Stack":
        event_id = b.stable_uuid(f"event:{stack}:{at.isoformat()}:{status}")
    else:
        event_id = f"{logical}-{status}-{at.strftime('%Y-%m-%dT%H:%M:%S.000Z')}"
    b.stacks.event(StackEvent(stack, stack_id, event_id, logical, physical, rtype, at, status, reason))


# ---- default properties per type -----------------------------------------------------------------------
def _properties(b: Build, spec: ServiceSpec, rtype: str, rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A resource's properties in the template: what the sandbox built, the code it runs by ``Version``."""
    name = spec.name
    ref = {t: {"Ref": logical} for logical, _, t in rows}
    release = [{"Key": "release", "Value": {"Ref": VERSION}}]
    table: dict[str, dict[str, Any]] = {
        "AWS::Lambda::Function": {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Handler": "handler.main",
            "MemorySize": 512,
            "Timeout": 30,
            "Role": b.role_arns.get(name, ""),
            "Code": {
                "S3Bucket": f"{b.org}-artifacts-{b.account}",
                "S3Key": {"Fn::Sub": f"{name}/${{{VERSION}}}.zip"},
            },
        },
        "AWS::ECS::Service": {
            "Cluster": b.cluster,
            "ServiceName": name,
            "LaunchType": "FARGATE",
            "DesiredCount": len(b.ecs_tasks.get(name, [])) or 1,
            "TaskDefinition": ref.get("AWS::ECS::TaskDefinition", ""),
        },
        "AWS::ECS::TaskDefinition": {
            "Family": name,
            "Cpu": "512",
            "Memory": "1024",
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "ContainerDefinitions": [
                {"Name": name, "Essential": True, "Image": {"Fn::Sub": image_uri(b, name, f"${{{VERSION}}}")}}
            ],
        },
        "AWS::AutoScaling::AutoScalingGroup": {
            "AutoScalingGroupName": f"{name}-asg",
            "MinSize": "0",
            "MaxSize": str(max(spec.instances * 3, 6)),
            "LaunchTemplate": {
                "LaunchTemplateId": ref.get("AWS::EC2::LaunchTemplate", ""),
                "Version": {
                    "Fn::GetAtt": [
                        next((lg for lg, _, t in rows if t == "AWS::EC2::LaunchTemplate"), "LaunchTemplate"),
                        "LatestVersionNumber",
                    ]
                },
            },
            "TargetGroupARNs": [ref.get("AWS::ElasticLoadBalancingV2::TargetGroup", "")],
        },
        "AWS::EC2::LaunchTemplate": {
            "LaunchTemplateName": f"{name}-lt",
            "LaunchTemplateData": {
                "ImageId": AMI,
                "InstanceType": "m6i.large",
                "UserData": {
                    "Fn::Base64": {"Fn::Sub": f"#!/bin/bash\n/opt/{name}/install.sh ${{{VERSION}}}\n"}
                },
            },
        },
        "AWS::ElasticLoadBalancingV2::TargetGroup": {
            "Name": f"{name}-tg"[:32],
            "Port": 8080,
            "Protocol": "HTTP",
            "VpcId": b.vpc,
            "HealthCheckPath": "/ping",
        },
        "AWS::DynamoDB::Table": {"TableName": name, "BillingMode": "PAY_PER_REQUEST", "Tags": release},
        "AWS::RDS::DBInstance": {
            "DBInstanceIdentifier": name,
            "DBInstanceClass": "db.r6g.large",
            "Engine": "postgres",
            "EngineVersion": "16.3",
            "AllocatedStorage": "200",
            "Tags": release,
        },
        "AWS::SQS::Queue": {"QueueName": name, "VisibilityTimeout": 30, "Tags": release},
    }
    return copy.deepcopy(table.get(rtype, {}))


# ---- updates -------------------------------------------------------------------------------------------
@dataclass
class Update:
    """One stack update being made: the template before and after, and the change set's resource changes."""

    stack: str
    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[str, dict[str, Any]]  # logical id -> ResourceChange
    parameters: list[PropertyEdit]


def execute_change_set(
    b: Build, ch_text: str, spec: ServiceSpec, version: str, when: datetime, who: Principal
) -> None:
    """A ``via: cloudformation`` change: a change set created, then executed at `when` by `who`."""
    name = spec.name
    if name not in b.stack_ids:
        return
    parsed = parse_stack_change(ch_text, spec.kind)
    up = Update(name, b.templates[name], copy.deepcopy(b.templates[name]), {}, list(parsed.parameters))
    if not parsed.explicit:
        up.parameters.append(PropertyEdit(VERSION, b.stack_versions[name], version))
    tags = re.search(r"\btag(?:s|ging)?\b", parsed.text, re.IGNORECASE) is not None
    through = [p for p in parsed.parameters if p.old != p.new and p.name != VERSION]
    for edit in parsed.resources:
        _resource_edit(b, up, edit, tags, through)
    _parameter_edits(b, up)
    cs_name = parsed.change_set_name or f"{name}-{when.strftime('%Y%m%d%H%M%S')}"
    created = when - timedelta(seconds=75)
    params = [(VERSION, _parameter(up, VERSION, b.stack_versions[name]))]
    description = parsed.description[:1024]
    cs = ChangeSet(
        cs_name,
        _cs_arn(b, name, cs_name),
        name,
        b.stack_ids[name],
        created,
        description,
        [{"Type": "Resource", "ResourceChange": rc} for rc in up.changes.values()],
        params,
        template_json(up.after),
    )
    b.stacks.change_sets.append(cs)
    _trail_change_set(b, cs, when, who)
    _commit(b, spec, up, when, who, params[0][1])


def _parameter(up: Update, key: str, default: str) -> str:
    return next((p.new or "" for p in reversed(up.parameters) if p.name == key), default)


def _resource_edit(
    b: Build, up: Update, edit: ResourceEdit, tags: bool = False, through: Sequence[PropertyEdit] = ()
) -> None:
    """Apply one resource's edit to the template and list it in the change set (a resource modified with no
    property named changed through the parameters the update changed, else, in an update that speaks of
    tags, had its tags changed)."""
    resources = up.after["Resources"]
    rc: dict[str, Any] = {
        "Action": edit.action,
        "LogicalResourceId": edit.logical_id,
        "PhysicalResourceId": _physical(b, up.stack, edit),
        "ResourceType": edit.type,
    }
    before = copy.deepcopy(resources.get(edit.logical_id, {}).get("Properties", {}))
    if edit.action == "Remove":
        resources.pop(edit.logical_id, None)
        rc.update(PolicyAction="Delete", Scope=[], Details=[], BeforeContext=json.dumps(before))
        up.changes[edit.logical_id] = rc
        return
    props = before if edit.action == "Modify" else {}
    after = copy.deepcopy(props)
    for prop in edit.properties:
        nested(after, prop.name, typed(prop.new))
    resources[edit.logical_id] = {"Type": edit.type, "Properties": after}
    if edit.action == "Add":
        rc.update(Scope=[], Details=[], AfterContext=json.dumps(after))
        up.changes[edit.logical_id] = rc
        return
    details = [_detail(prop, edit.replacement) for prop in edit.properties]
    retagged = tags and not edit.properties and not through
    if not edit.properties and through:
        details = [_through_parameter(edit.type, par) for par in through]
    if retagged:
        details = [
            {
                "Target": {"Attribute": "Tags", "RequiresRecreation": "Never"},
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
        ]
    rc.update(
        Replacement="True" if edit.replacement else "False",
        Scope=["Tags"] if retagged else ["Properties"],
        Details=details,
        BeforeContext=json.dumps({"Properties": before}),
        AfterContext=json.dumps({"Properties": after}),
    )
    up.changes[edit.logical_id] = rc


def _physical(b: Build, stack: str, edit: ResourceEdit) -> str:
    row = b.stacks.row(stack, edit.logical_id)
    return (
        row.physical_id if row else ("" if edit.action == "Add" else physical_id(b, stack, edit.logical_id))
    )


def _detail(prop: PropertyEdit, replacement: bool) -> dict[str, Any]:
    path = "/Properties/" + "/".join(p for p in re.split(r"[./]", prop.name) if p)
    kind = "Add" if prop.old is None else ("Remove" if prop.new is None else "Modify")
    target: dict[str, Any] = {
        "Attribute": "Properties",
        "Name": re.split(r"[./]", prop.name, maxsplit=1)[0],
        "RequiresRecreation": "Always" if replacement else "Never",
        "Path": path,
        "BeforeValue": prop.old,
        "AfterValue": prop.new,
        "AttributeChangeType": kind,
    }
    return {"Target": target, "Evaluation": "Static", "ChangeSource": "DirectModification"}


#: The property of a resource that takes a stack parameter's value, by type, when the text does not say.
_TAKES_PARAMETERS = {
    "AWS::EC2::LaunchTemplate": "LaunchTemplateData",
    "AWS::Lambda::Function": "Environment",
    "AWS::ECS::TaskDefinition": "ContainerDefinitions",
}


def _through_parameter(rtype: str, par: PropertyEdit, name: str | None = None) -> dict[str, Any]:
    """A resource's change that a changed stack parameter caused, in property `name` (by default the one
    that takes parameters in a resource of that type)."""
    name = name or _TAKES_PARAMETERS.get(rtype, "Properties")
    target: dict[str, Any] = {
        "Attribute": "Properties",
        "Name": name,
        "RequiresRecreation": "Never",
        "Path": f"/Properties/{name}",
        "BeforeValue": par.old,
        "AfterValue": par.new,
        "AttributeChangeType": "Modify",
    }
    if name == "Tags":
        target = {"Attribute": "Tags", "RequiresRecreation": "Never"}
    return {
        "Target": target,
        "Evaluation": "Static",
        "ChangeSource": "ParameterReference",
        "CausingEntity": par.name,
    }


def _parameter_edits(b: Build, up: Update) -> None:
    """Every resource whose properties refer to a changed parameter changes through it."""
    for par in up.parameters:
        if par.old == par.new:
            continue
        for logical, res in sorted(up.after["Resources"].items()):
            props = res.get("Properties", {})
            tops = sorted(k for k, v in props.items() if _refers(v, par.name))
            if not tops:
                continue
            rc = up.changes.setdefault(
                logical,
                {
                    "Action": "Modify",
                    "LogicalResourceId": logical,
                    "PhysicalResourceId": (b.stacks.row(up.stack, logical) or _NO_ROW).physical_id,
                    "ResourceType": res["Type"],
                    "Replacement": "False",
                    "Scope": [],
                    "Details": [],
                },
            )
            scope = "Tags" if tops == ["Tags"] else "Properties"
            rc["Scope"] = sorted(set(rc["Scope"]) | {scope})
            rc["Details"] += [_through_parameter(res["Type"], par, top) for top in tops]

    _attribute_edits(b, up)


def _attribute_edits(b: Build, up: Update) -> None:
    """A resource that reads an attribute of a modified one (``Fn::GetAtt``) changes through it."""
    for logical, res in sorted(up.after["Resources"].items()):
        if logical in up.changes:
            continue
        for top, value in sorted(res.get("Properties", {}).items()):
            for source, attr in re.findall(
                r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "([A-Za-z0-9.]+)"\]', json.dumps(value)
            ):
                if up.changes.get(source, {}).get("Action") != "Modify":
                    continue
                rc = up.changes.setdefault(
                    logical,
                    {
                        "Action": "Modify",
                        "LogicalResourceId": logical,
                        "PhysicalResourceId": (b.stacks.row(up.stack, logical) or _NO_ROW).physical_id,
                        "ResourceType": res["Type"],
                        "Replacement": "False",
                        "Scope": ["Properties"],
                        "Details": [],
                    },
                )
                target = {
                    "Attribute": "Properties",
                    "Name": top,
                    "RequiresRecreation": "Never",
                    "Path": f"/Properties/{top}",
                }
                rc["Details"].append(
                    {
                        "Target": target,
                        "Evaluation": "Dynamic",
                        "ChangeSource": "ResourceAttribute",
                        "CausingEntity": f"{source}.{attr}",
                    }
                )


_NO_ROW = StackResource("", "", "", "", "", datetime.min)


def _refers(value: Any, parameter: str) -> bool:
    text = json.dumps(value)
    return f'"Ref": "{parameter}"' in text or f"${{{parameter}}}" in text


def _commit(b: Build, spec: ServiceSpec, up: Update, when: datetime, who: Principal, version: str) -> None:
    """Execute: moto's stack, our template and rows, the stack's events, and the owned resources' settings."""
    name = spec.name
    b.templates[name] = up.after
    b.stack_versions[name] = version
    b.stacks.templates[name] = template_json(up.after)
    b.c("cloudformation").update_stack(
        StackName=name,
        TemplateBody=stack_template(version, up.after.get("Description", name), when.isoformat()),
        Parameters=[{"ParameterKey": VERSION, "ParameterValue": version}],
    )
    stack_id = b.stack_ids[name]
    _event(
        b, name, name, stack_id, "AWS::CloudFormation::Stack", when, "UPDATE_IN_PROGRESS", "User Initiated"
    )
    step = when
    for logical, rc in sorted(up.changes.items()):
        step = _resource_events(b, name, logical, rc, step)
    calls: list[ApiCall] = []
    for logical, rc in sorted(up.changes.items()):
        direct = [
            d["Target"]["Name"]
            for d in rc["Details"]
            if d.get("ChangeSource") == "DirectModification" and d["Target"].get("Name")
        ]
        released = any(d.get("CausingEntity") == VERSION for d in rc["Details"])
        b.at(when + timedelta(seconds=5))
        props = up.after["Resources"].get(logical, {}).get("Properties", {})
        before = up.before["Resources"].get(logical, {}).get("Properties", {})
        shipped = _shipped(before, props, direct)
        settings = {n: props.get(n) for n in direct if not (shipped and _CODE.search(n))}
        if rc["Action"] == "Modify" and settings:
            calls += apply_settings(b, spec, rc["ResourceType"], settings)
        if rc["Action"] == "Modify" and (released or shipped):
            calls += release_code(b, spec, rc["ResourceType"], shipped or version)
    b.at(when)
    _event(
        b,
        name,
        name,
        stack_id,
        "AWS::CloudFormation::Stack",
        step + timedelta(seconds=2),
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    )
    _event(
        b, name, name, stack_id, "AWS::CloudFormation::Stack", step + timedelta(seconds=4), "UPDATE_COMPLETE"
    )
    for i, call in enumerate(calls):
        _trail_invoked(b, call, when + timedelta(seconds=6 + i), who)


#: Properties that carry code: an image, a bundle (a change to one is a release of that code).
_CODE = re.compile(r"^(?:Image|ImageUri|Code|CodeUri|ContainerDefinitions)\b", re.IGNORECASE)
_IMAGE = re.compile(r'"(?:Image|ImageUri|S3Key)"\s*:\s*"([^"]+)"')


def _shipped(before: dict[str, Any], after: dict[str, Any], direct: list[str]) -> str | None:
    """The version (the tag) of a directly modified image or bundle, when the update ships new code."""
    for name in direct:
        if not _CODE.search(name):
            continue
        new = _IMAGE.search(json.dumps({name: after.get(name)}))
        old = _IMAGE.search(json.dumps({name: before.get(name)}))
        if new and (old is None or old.group(1) != new.group(1)):
            return re.split(r"[:/@]", new.group(1).removesuffix(".zip"))[-1] or None
    return None


def _resource_events(b: Build, stack: str, logical: str, rc: dict[str, Any], at: datetime) -> datetime:
    """One resource's events in an update, and its row; returns when it finished."""
    rtype, physical = rc["ResourceType"], rc.get("PhysicalResourceId") or physical_id(b, stack, logical)
    stack_id = b.stack_ids[stack]
    verb = {"Modify": "UPDATE", "Add": "CREATE", "Remove": "DELETE"}[rc["Action"]]
    start, done = at + timedelta(seconds=3), at + timedelta(seconds=9)
    _event(b, stack, logical, physical, rtype, start, f"{verb}_IN_PROGRESS")
    _event(b, stack, logical, physical, rtype, done, f"{verb}_COMPLETE")
    if verb == "DELETE":
        b.stacks.remove(stack, logical)
    else:
        b.stacks.add(StackResource(stack, stack_id, logical, physical, rtype, done, f"{verb}_COMPLETE"))
    return done


def release_version(b: Build, spec: ServiceSpec, version: str, when: datetime) -> list[PropertyEdit]:
    """A direct ``UpdateStack`` to a new ``Version`` (no change set): the stack's events and template state;
    returns the parameter edit made."""
    name = spec.name
    par = PropertyEdit(VERSION, b.stack_versions[name], version)
    up = Update(name, b.templates[name], copy.deepcopy(b.templates[name]), {}, [par])
    _parameter_edits(b, up)
    b.templates[name] = up.after
    b.stack_versions[name] = version
    stack_id = b.stack_ids[name]
    _event(
        b, name, name, stack_id, "AWS::CloudFormation::Stack", when, "UPDATE_IN_PROGRESS", "User Initiated"
    )
    step = when
    for logical, rc in sorted(up.changes.items()):
        step = _resource_events(b, name, logical, rc, step)
    _event(
        b,
        name,
        name,
        stack_id,
        "AWS::CloudFormation::Stack",
        step + timedelta(seconds=2),
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    )
    _event(
        b, name, name, stack_id, "AWS::CloudFormation::Stack", step + timedelta(seconds=4), "UPDATE_COMPLETE"
    )
    return [par]


# ---- CloudTrail ----------------------------------------------------------------------------------------
def _trail_change_set(b: Build, cs: ChangeSet, when: datetime, who: Principal) -> None:
    stack_arn = [("AWS::CloudFormation::Stack", cs.stack_id)]
    create = {
        "stackName": cs.stack_name,
        "changeSetName": cs.name,
        "changeSetType": "UPDATE",
        "description": cs.description or None,
        "capabilities": ["CAPABILITY_IAM"],
        "parameters": [{"parameterKey": k, "parameterValue": v} for k, v in cs.parameters],
    }
    b.trail_event(
        "CreateChangeSet",
        cs.created,
        _CFN,
        None,
        create,
        stack_arn,
        principal=who,
        response={"id": cs.arn, "stackId": cs.stack_id},
    )
    execute = {"changeSetName": cs.arn, "stackName": cs.stack_name}
    b.trail_event("ExecuteChangeSet", when, _CFN, None, execute, stack_arn, principal=who)


def _trail_invoked(b: Build, call: ApiCall, at: datetime, who: Principal) -> None:
    """A call CloudFormation made for the change set's executor (``invokedBy``)."""
    identity = copy.deepcopy(who.identity)
    identity["invokedBy"] = _CFN
    principal = Principal(identity, who.username, {"user_agent": _CFN, "source_ip": _CFN})
    b.trail_event(
        call.name,
        at,
        call.source,
        None,
        call.request,
        call.resources,
        principal=principal,
        response=call.response,
    )
