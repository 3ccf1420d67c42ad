"""What a change changed, property by property, and whether it put new code in place.

From the change's own CloudTrail record where that says it (an ``UpdateFunctionConfiguration``'s
``memorySize``, a ``PutFunctionConcurrency``'s ``reservedConcurrentExecutions``, an ``UpdateService`` that only
sets ``desiredCount``); otherwise from what AWS kept of it, read-only: a stack update's change set
(``ListChangeSets`` + ``DescribeChangeSet``, else its stack events), a task definition revision against the one
before it (``DescribeTaskDefinition``), a parameter's versions (``GetParameterHistory``). A read that fails is a
gap (a failed :class:`ToolResult`), and the change keeps what its record said.

Ships code: an image, a code bundle, an AMI or launch template, or a ``Version``-like stack parameter changed.
Settings only: a pure configuration API (``UpdateFunctionConfiguration``, ``PutFunctionConcurrency``,
``ModifyDBParameterGroup``, ``PutParameter``...), or a change set whose every property is another setting.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bot.domain import Change
from bot.sources.aws.clients import AwsClients, classify
from bot.sources.result import Outcome, ToolResult, guarded

#: CloudTrail's API-version suffixes on some event names (``UpdateFunctionConfiguration20150331v2``).
_VERSION_SUFFIX = re.compile(r"(?<=[a-z])\d{8}(v\d+)?$")
#: Property names (anywhere in a property's path) that carry code: an image, a bundle, an AMI, a boot script.
CODE_PROPERTIES = frozenset(
    {
        "code",
        "codeuri",
        "zipfile",
        "s3key",
        "s3objectversion",
        "imageuri",
        "image",
        "imageid",
        "userdata",
        "launchtemplatedata",
        "launchtemplate",
        "layers",
        "sourceversion",
    }
)
#: Resources whose very creation is new code.
CODE_RESOURCES = frozenset({"AWS::Lambda::Version", "AWS::Lambda::LayerVersion", "AWS::ImageBuilder::Image"})
_VERSION_WORDS = re.compile(
    r"version|image|\bami|ami\b|amiid|tag|release|build|commit|sha|artifact|digest", re.IGNORECASE
)
#: API actions that only change settings, whatever their request says.
CONFIG_ACTIONS = frozenset(
    {
        "UpdateFunctionConfiguration",
        "PutFunctionConcurrency",
        "DeleteFunctionConcurrency",
        "PutProvisionedConcurrencyConfig",
        "DeleteProvisionedConcurrencyConfig",
        "PutFunctionEventInvokeConfig",
        "UpdateEventSourceMapping",
        "ModifyDBParameterGroup",
        "ModifyDBClusterParameterGroup",
        "ModifyDBInstance",
        "ModifyDBCluster",
        "PutParameter",
        "DeleteParameter",
        "SetDesiredCapacity",
        "SetQueueAttributes",
        "UpdateTable",
        "UpdateTimeToLive",
        "UpdateContinuousBackups",
        "ChangeResourceRecordSets",
        "ModifyLoadBalancerAttributes",
        "ModifyTargetGroup",
        "ModifyTargetGroupAttributes",
        "ModifyListener",
        "ModifyRule",
        "PutScalingPolicy",
        "PutRule",
        "PutSecretValue",
        "UpdateSecret",
    }
)
#: Prefixes of configuration writes (permissions, rules, attributes) when the action is not listed above.
CONFIG_PREFIXES = (
    "Put",
    "Modify",
    "Set",
    "Authorize",
    "Revoke",
    "Attach",
    "Detach",
    "Change",
    "Enable",
    "Disable",
)
#: API actions that put new code in place.
CODE_ACTIONS = frozenset({"UpdateFunctionCode", "PublishLayerVersion", "CreateDeployment"})
_IDENTIFIERS = frozenset(
    {
        "functionName",
        "cluster",
        "service",
        "autoScalingGroupName",
        "dBInstanceIdentifier",
        "dBClusterIdentifier",
        "queueUrl",
        "tableName",
        "applyImmediately",
        "qualifier",
        "honorCooldown",
    }
)


def api_action(event_name: str) -> str:
    """The API action a CloudTrail event name records (``PutFunctionConcurrency20171031`` -> its action)."""
    return _VERSION_SUFFIX.sub("", event_name)


def arrow(before: object, after: object) -> str:
    """``before → after``, or ``→ after`` when the value before is unknown."""
    if before is None or before == "":
        return f"→ {_text(after)}"
    return f"{_text(before)} → {_text(after)}"


def _text(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)[:120]
    return str(value)


# ---- from the record alone -----------------------------------------------------------------------------
def from_request(
    action: str, request: Mapping[str, Any], resource: str | None
) -> tuple[tuple[str, ...], bool | None]:
    """What a direct API call changed and whether it shipped code, from its ``requestParameters``."""
    target = str(_target(request) or resource or "")
    reader = _REQUEST_READERS.get(action)
    if reader is not None:
        return reader(target, request)
    if action in CODE_ACTIONS:
        return (f"{target} new code".strip(),), True
    settings = tuple(
        f"{target} {k} {arrow(None, v)}".strip()
        for k, v in sorted(request.items())
        if k not in _IDENTIFIERS and not isinstance(v, dict | list) and action in CONFIG_ACTIONS
    )
    if action in CONFIG_ACTIONS or action.startswith(CONFIG_PREFIXES):
        return settings, False
    return (), None


def _target(request: Mapping[str, Any]) -> object:
    for key in ("functionName", "service", "autoScalingGroupName", "dBInstanceIdentifier", "name", "groupId"):
        if request.get(key):
            return request[key]
    return None


def _update_service(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    if "taskDefinition" in request:
        return (f"{target} task definition {arrow(None, request['taskDefinition'])}",), None
    keys = sorted(k for k in request if k not in _IDENTIFIERS)
    out = tuple(f"{target} {k} {arrow(None, request[k])}" for k in keys)
    return out, False


def _function_configuration(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    keys = sorted(k for k in request if k not in _IDENTIFIERS)
    out = []
    for k in keys:
        value = request[k]
        out.append(f"{target} {k} changed" if k == "environment" else f"{target} {k} {arrow(None, value)}")
    code = any(k in ("layers", "imageConfig") for k in keys)
    return tuple(out), code


def _parameter_group(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    group = request.get("dBParameterGroupName") or request.get("dBClusterParameterGroupName") or target
    params = request.get("parameters") or []
    out = tuple(
        f"{group} {p.get('parameterName')} {arrow(None, p.get('parameterValue'))}"
        for p in params
        if isinstance(p, dict)
    )
    return out, False


def _stack_update(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    params = [
        p for p in request.get("parameters") or [] if isinstance(p, dict) and not p.get("usePreviousValue")
    ]
    out = tuple(f"parameter {p.get('parameterKey')} {arrow(None, p.get('parameterValue'))}" for p in params)
    code = any(_VERSION_WORDS.search(str(p.get("parameterKey", ""))) for p in params)
    return out, (True if code else None)


def _launch_template_version(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    body = request.get("CreateLaunchTemplateVersionRequest") or request
    data = body.get("LaunchTemplateData") or {}
    keys = sorted(data) if isinstance(data, dict) else []
    out = tuple(f"{body.get('LaunchTemplateId') or target} {k} {arrow(None, data[k])}" for k in keys)
    return out, any(k.lower() in ("imageid", "userdata") for k in keys)


def _scaling_group(target: str, request: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    keys = sorted(k for k in request if k not in _IDENTIFIERS)
    out = tuple(f"{target} {k} {arrow(None, request[k])}" for k in keys)
    return out, any("launchTemplate" in k or "launchConfiguration" in k for k in keys)


_REQUEST_READERS = {
    "UpdateService": _update_service,
    "UpdateFunctionConfiguration": _function_configuration,
    "ModifyDBParameterGroup": _parameter_group,
    "ModifyDBClusterParameterGroup": _parameter_group,
    "UpdateStack": _stack_update,
    "CreateLaunchTemplateVersion": _launch_template_version,
    "UpdateAutoScalingGroup": _scaling_group,
}


# ---- from a change set ---------------------------------------------------------------------------------
def read_change_set(described: Mapping[str, Any]) -> tuple[tuple[str, ...], bool | None]:
    """What a change set's resource changes changed, and whether any of them is code."""
    out: list[str] = []
    code: bool | None = None
    for change in described.get("Changes") or []:
        rc = change.get("ResourceChange") or {}
        rtype, logical, action = (
            rc.get("ResourceType", ""),
            rc.get("LogicalResourceId", ""),
            rc.get("Action", ""),
        )
        code = bool(code)
        if action in ("Add", "Remove"):
            out.append(f"{rtype} {logical} {'added' if action == 'Add' else 'removed'}")
            code = code or (action == "Add" and rtype in CODE_RESOURCES)
            continue
        for d in rc.get("Details") or []:
            line, ships = _detail_line(rtype, logical, d)
            if line and line not in out:
                out.append(line)
            code = code or ships
        if not rc.get("Details"):
            out.append(f"{rtype} {logical} {', '.join(rc.get('Scope') or []) or 'modified'}".strip())
    return tuple(out), code


def _detail_line(rtype: str, logical: str, d: Mapping[str, Any]) -> tuple[str, bool]:
    """One property change of a change set, and whether it is code."""
    target = d.get("Target") or {}
    name = str(target.get("Name") or target.get("Attribute") or "")
    path = str(target.get("Path") or name)
    source, entity = d.get("ChangeSource"), str(d.get("CausingEntity") or "")
    if source == "ResourceAttribute":  # follows another resource's change, which says itself what it is
        return "", False
    parts = [p.lower() for p in re.split(r"[./\[\]]+", path) if p and not p.isdigit()]
    ships = rtype in CODE_RESOURCES or any(p in CODE_PROPERTIES for p in parts[1:] or parts)
    if parts and parts[-1] == "containerdefinitions":  # the whole list: code only when an image moved
        ships = ships or _images(target.get("BeforeValue")) != _images(target.get("AfterValue"))
    if source == "ParameterReference" and entity:  # what moved is the parameter's value: code only if it is
        ships = bool(_VERSION_WORDS.search(entity))  # a version, an image, an AMI
    below = [p for p in re.split(r"/+", path) if p]
    deeper = below[1:] if below[:1] == ["Properties"] else below
    shown = ".".join(deeper) if len(deeper) > 1 and deeper[0] == name else name  # which variable, which key
    line = f"{rtype} {logical} {shown}".strip()
    if "BeforeValue" in target or "AfterValue" in target:
        line += f" {arrow(target.get('BeforeValue'), target.get('AfterValue'))}"
    if source == "ParameterReference" and entity:
        line += f" (parameter {entity})"
    return line, ships


def _images(value: object) -> set[str]:
    """The container images named in a container-definitions value (JSON text or a list of mappings)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return set()
    items = value if isinstance(value, list) else [value]
    return {
        str(c.get("Image") or c.get("image"))
        for c in items
        if isinstance(c, dict) and (c.get("Image") or c.get("image"))
    }


def read_stack_events(
    events: Sequence[Mapping[str, Any]], stack: str, at: datetime
) -> tuple[tuple[str, ...], bool | None]:
    """The resources a direct stack update touched (its events in the half hour after it); code when one of
    them is a launch template, a task definition or a function version."""
    until = at + timedelta(minutes=30)
    touched: list[tuple[str, str, str]] = []
    for e in sorted(events, key=lambda e: e.get("Timestamp") or at):
        when, status = e.get("Timestamp"), str(e.get("ResourceStatus", ""))
        if when is None or not (at - timedelta(seconds=5) <= when <= until):
            continue
        if e.get("LogicalResourceId") == stack or not status.endswith("_COMPLETE"):
            continue
        row = (
            str(e.get("ResourceType", "")),
            str(e.get("LogicalResourceId", "")),
            status.split("_", 1)[0].lower(),
        )
        if row not in touched:
            touched.append(row)
    code = {"AWS::EC2::LaunchTemplate", "AWS::ECS::TaskDefinition", *CODE_RESOURCES}
    ships = True if any(t in code for t, _, _ in touched) else None
    return tuple(f"{t} {lg} {verb}d" for t, lg, verb in touched), ships


# ---- task definitions ----------------------------------------------------------------------------------
def diff_task_definitions(
    old: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> tuple[tuple[str, ...], bool | None]:
    """What one task definition revision changed from the one before: images, environment, limits."""
    family = f"{new.get('family', '')}:{new.get('revision', '')}"
    if old is None:
        return (f"{family} registered",), None
    out: list[str] = []
    for key in ("cpu", "memory"):
        if old.get(key) != new.get(key):
            out.append(f"{family} {key} {arrow(old.get(key), new.get(key))}")
    before = {c.get("name"): c for c in old.get("containerDefinitions") or []}
    ships = False
    for c in new.get("containerDefinitions") or []:
        prev = before.get(c.get("name")) or {}
        if prev.get("image") != c.get("image"):
            ships = True
            out.append(f"{family} {c.get('name')} image {arrow(prev.get('image'), c.get('image'))}")
        for key in ("cpu", "memory", "memoryReservation", "command", "entryPoint"):
            if prev.get(key) != c.get(key):
                out.append(f"{family} {c.get('name')} {key} {arrow(prev.get(key), c.get(key))}")
        old_env = {e.get("name"): e.get("value") for e in prev.get("environment") or []}
        new_env = {e.get("name"): e.get("value") for e in c.get("environment") or []}
        for k in sorted(set(old_env) | set(new_env)):
            if old_env.get(k) != new_env.get(k):
                out.append(f"{family} {c.get('name')} env {k} {arrow(old_env.get(k), new_env.get(k))}")
    return tuple(out), ships


# ---- the reader ----------------------------------------------------------------------------------------
class _Slot:
    """One task definition revision's difference from the one before, read once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: tuple[tuple[str, ...], bool | None] | None = None


class ChangeDetails:
    """Reads what AWS kept of a change, read-only, to say what it changed."""

    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._lock = threading.Lock()
        self._revisions: dict[str, _Slot] = {}

    def of(self, change: Change) -> ToolResult[Change]:
        """`change` with `changed` and `ships_code` filled from what AWS kept of it; the change as it was when
        there is nothing more to read; a failed result (a gap) when a read fails."""
        action = change.action or ""
        if action in ("ExecuteChangeSet", "UpdateStack"):
            return guarded("cloudformation:DescribeChangeSet", lambda: self._stack(change), classify)
        if action == "RegisterTaskDefinition" or (
            action == "UpdateService" and "taskDefinition" in change.request
        ):
            return guarded("ecs:DescribeTaskDefinition", lambda: self._task_definition(change), classify)
        if action == "PutParameter" and change.parameter_name():
            return guarded("ssm:GetParameterHistory", lambda: self._parameter(change), classify)
        return ToolResult.success("cloudtrail:LookupEvents", change)

    def _stack(self, change: Change) -> Change:
        stack = str(change.request.get("stackName") or "")
        wanted = str(change.request.get("changeSetName") or "")
        if not stack and not wanted.startswith("arn:"):
            return change
        cfn = self._c.get("cloudformation")
        described = None
        if wanted.startswith("arn:"):
            described = cfn.describe_change_set(ChangeSetName=wanted, IncludePropertyValues=True)
        else:
            chosen = _change_set_for(
                cfn.list_change_sets(StackName=stack).get("Summaries", []), wanted, change.at
            )
            if chosen is not None:
                described = cfn.describe_change_set(ChangeSetName=chosen, IncludePropertyValues=True)
        if described is not None:
            changed, ships = read_change_set(described)
            return _with(change, changed, ships, described.get("Description"), described.get("ChangeSetName"))
        events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
        changed, ships = read_stack_events(
            events, stack.rsplit("/", 2)[-2] if stack.startswith("arn:") else stack, change.at
        )
        return _with(change, changed or change.changed, ships if ships is not None else change.ships_code)

    def _task_definition(self, change: Change) -> Change:
        arn = str(change.request.get("taskDefinition") or "")
        if ":task-definition/" not in arn:
            arn = next((r for r in (change.resource or "").split(", ") if ":task-definition/" in r), arn)
        if not re.search(r":task-definition/([^:]+):(\d+)$", arn):
            return change
        with self._lock:
            if len(self._revisions) >= 512:
                self._revisions.clear()
            slot = self._revisions.setdefault(arn, _Slot())
        with (
            slot.lock
        ):  # a deploy's RegisterTaskDefinition and UpdateService name the same revision: read it once
            if slot.value is None:
                slot.value = self._diff_revision(arn)
            return _with(change, *slot.value)

    def _diff_revision(self, arn: str) -> tuple[tuple[str, ...], bool | None]:
        """A revision against the one before it (revisions never change, so each pair is read once)."""
        family, revision = arn.rsplit("/", 1)[-1].rsplit(":", 1)
        ecs = self._c.get("ecs")
        new = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        old = None
        if int(revision) > 1:
            try:
                old = ecs.describe_task_definition(taskDefinition=f"{family}:{int(revision) - 1}")[
                    "taskDefinition"
                ]
            except ClientError as exc:  # the one before is gone: say what this one is
                if classify(exc)[0] is Outcome.DENIED:
                    raise
        return diff_task_definitions(old, new)

    def _parameter(self, change: Change) -> Change:
        name = change.parameter_name() or ""
        ssm = self._c.get("ssm")
        history = ssm.get_parameter_history(Name=name, WithDecryption=False).get("Parameters", [])
        at = change.at + timedelta(seconds=1)
        upto = [h for h in history if h.get("LastModifiedDate") is None or h["LastModifiedDate"] <= at]
        if not upto:
            return change
        new = upto[-1]
        old = upto[-2] if len(upto) > 1 else None
        secret = new.get("Type") == "SecureString"
        if secret:
            line = f"{name} version {arrow(old.get('Version') if old else None, new.get('Version'))}"
        else:
            line = f"{name} {arrow(old.get('Value') if old else None, new.get('Value'))}"
        return _with(change, (line,), False)


def _change_set_for(summaries: list[Mapping[str, Any]], wanted: str, at: datetime) -> str | None:
    """The executed change set a stack update ran: the one named, else the last one created before it
    (within an hour)."""
    for s in summaries:
        if wanted and wanted in (s.get("ChangeSetName"), s.get("ChangeSetId")):
            return str(s["ChangeSetId"])
    done = [
        s
        for s in summaries
        if s.get("ExecutionStatus") == "EXECUTE_COMPLETE"
        and s.get("CreationTime") is not None
        and at - timedelta(hours=1) <= s["CreationTime"] <= at + timedelta(minutes=1)
    ]
    return str(max(done, key=lambda s: s["CreationTime"])["ChangeSetId"]) if done else None


def _with(
    change: Change,
    changed: tuple[str, ...],
    ships: bool | None,
    description: str | None = None,
    change_set: str | None = None,
) -> Change:
    """The change with what it changed, said in its summary too."""
    summary = change.summary.split(": ", 1)[0] if change.changed else change.summary
    if change_set:
        summary += f" (change set {change_set})"
    if changed:
        summary += ": " + "; ".join(changed[:3]) + (f"; +{len(changed) - 3} more" if len(changed) > 3 else "")
    if description:
        summary += f" — {description.strip()[:200]}"
    return change.model_copy(update={"changed": changed, "ships_code": ships, "summary": summary})
