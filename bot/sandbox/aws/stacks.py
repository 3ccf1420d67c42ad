"""A CloudFormation stand-in for what a stack *did*: its resources, events, templates and change sets.

moto creates a stack's resources from its template itself, keeps no resource-level events for updates and
lists no property-level detail in a change set. Our stacks are built through the other services' APIs, so moto
holds each stack's status and parameters (``DescribeStacks``) while this registry answers, for the stacks it
knows, ``ListStackResources`` / ``DescribeStackResources`` / ``DescribeStackResource``, ``DescribeStackEvents``,
``GetTemplate``, ``ListChangeSets`` and ``DescribeChangeSet`` (with ``IncludePropertyValues``) as AWS does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.sandbox.aws.protocol import Reply, Request, error_reply, xml_reply, xml_text

_CFN_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
#: DescribeStackEvents pages hold this many events.
_EVENTS_PAGE = 100


@dataclass(frozen=True)
class StackResource:
    """One resource a stack lists."""

    stack_name: str
    stack_id: str
    logical_id: str
    physical_id: str
    type: str
    updated: datetime
    status: str = "CREATE_COMPLETE"


@dataclass(frozen=True)
class StackEvent:
    """One row of a stack's event log."""

    stack_name: str
    stack_id: str
    event_id: str
    logical_id: str
    physical_id: str
    type: str
    time: datetime
    status: str
    reason: str = ""
    properties: str | None = None


@dataclass
class ChangeSet:
    """An executed (or pending) change set with the resource changes it listed."""

    name: str
    arn: str
    stack_name: str
    stack_id: str
    created: datetime
    description: str
    changes: list[dict[str, Any]]  # ResourceChange structures, as DescribeChangeSet returns them
    parameters: list[tuple[str, str]]
    template: str  # the template the change set applies
    kind: str = "UPDATE"
    execution: str = "EXECUTE_COMPLETE"
    status: str = "CREATE_COMPLETE"


@dataclass
class Stacks:
    """Every stack we built: its resources, its current template, its events and its change sets."""

    resources: dict[str, list[StackResource]] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[StackEvent]] = field(default_factory=dict)
    change_sets: list[ChangeSet] = field(default_factory=list)

    def add(self, res: StackResource) -> None:
        """List `res` in its stack (replacing the row with its logical id)."""
        self.ids.setdefault(res.stack_name, res.stack_id)
        rows = [r for r in self.resources.get(res.stack_name, []) if r.logical_id != res.logical_id]
        rows.append(res)
        rows.sort(key=lambda r: r.logical_id)
        self.resources[res.stack_name] = rows

    def remove(self, stack: str, logical_id: str) -> None:
        """The stack no longer lists `logical_id`."""
        self.resources[stack] = [r for r in self.resources.get(stack, []) if r.logical_id != logical_id]

    def row(self, stack: str, logical_id: str) -> StackResource | None:
        """The stack's resource with this logical id."""
        return next((r for r in self.resources.get(stack, []) if r.logical_id == logical_id), None)

    def event(self, ev: StackEvent) -> None:
        """Record an event (kept newest first)."""
        rows = self.events.setdefault(ev.stack_name, [])
        rows.append(ev)
        rows.sort(key=lambda e: (e.time, e.event_id), reverse=True)

    def _stack(self, name_or_id: str) -> str | None:
        if name_or_id in self.ids:
            return name_or_id
        return next((n for n, i in self.ids.items() if i == name_or_id), None)

    def _change_set(self, name_or_arn: str, stack: str | None) -> ChangeSet | None:
        for cs in self.change_sets:
            if cs.arn == name_or_arn or (cs.name == name_or_arn and stack in (None, cs.stack_name)):
                return cs
        return None

    def handle(self, req: Request) -> Reply | None:
        """The answer, or None to let moto answer (stacks we do not know, operations we leave to it)."""
        op = req.operation
        p = req.params()
        if op in ("ListStackResources", "DescribeStackResources", "DescribeStackResource"):
            return self._resources(req, op, p)
        if op == "DescribeChangeSet":
            stack = self._stack(p.get("StackName", "")) if p.get("StackName") else None
            cs = self._change_set(p.get("ChangeSetName", ""), stack)
            if cs is None:
                return error_reply(
                    req, "ChangeSetNotFound", f"ChangeSet [{p.get('ChangeSetName')}] does not exist"
                )
            return xml_reply(op, _describe_change_set(cs, _flag(p.get("IncludePropertyValues"))), _CFN_NS)
        stack = self._stack(p.get("StackName", ""))
        if stack is None:
            return None
        if op == "ListChangeSets":
            rows = sorted((c for c in self.change_sets if c.stack_name == stack), key=lambda c: c.created)
            return xml_reply(op, "<Summaries>" + "".join(_summary(c) for c in rows) + "</Summaries>", _CFN_NS)
        if op == "DescribeStackEvents":
            return self._events(op, stack, p)
        if op == "GetTemplate":
            body = self.templates.get(stack, "{}")
            if p.get("ChangeSetName"):
                cs = self._change_set(p["ChangeSetName"], stack)
                if cs is None:
                    return error_reply(
                        req, "ChangeSetNotFound", f"ChangeSet [{p['ChangeSetName']}] does not exist"
                    )
                body = cs.template
            inner = f"<TemplateBody>{xml_text(body)}</TemplateBody><StagesAvailable><member>Original</member><member>Processed</member></StagesAvailable>"
            return xml_reply(op, inner, _CFN_NS)
        return None

    def _events(self, op: str, stack: str, p: dict[str, Any]) -> Reply:
        rows = self.events.get(stack, [])
        offset = int(base64.b64decode(p["NextToken"]).decode()) if p.get("NextToken") else 0
        page = rows[offset : offset + _EVENTS_PAGE]
        body = "".join(_event(e) for e in page)
        token = ""
        if offset + _EVENTS_PAGE < len(rows):
            token = f"<NextToken>{base64.b64encode(str(offset + _EVENTS_PAGE).encode()).decode()}</NextToken>"
        return xml_reply(op, f"<StackEvents>{body}</StackEvents>{token}", _CFN_NS)

    def _resources(self, req: Request, op: str, p: dict[str, Any]) -> Reply | None:
        name = p.get("StackName")
        if not name and op == "DescribeStackResources" and p.get("PhysicalResourceId"):
            rows = [
                r for rs in self.resources.values() for r in rs if r.physical_id == p["PhysicalResourceId"]
            ]
            if not rows:
                return None
            name = rows[0].stack_name
        stack = self._stack(name or "")
        if stack is None:
            return None  # moto knows the stack (or says it does not exist)
        rows = self.resources.get(stack, [])
        if op == "ListStackResources":
            body = "".join(_summary_row(r) for r in rows)
            return xml_reply(op, f"<StackResourceSummaries>{body}</StackResourceSummaries>", _CFN_NS)
        if p.get("LogicalResourceId"):
            rows = [r for r in rows if r.logical_id == p["LogicalResourceId"]]
            if not rows and op == "DescribeStackResource":
                return error_reply(
                    req,
                    "ValidationError",
                    f"Resource {p['LogicalResourceId']} does not exist for stack {name}",
                )
        if op == "DescribeStackResource":
            return xml_reply(op, _resource_row(rows[0], "StackResourceDetail"), _CFN_NS)
        body = "".join(_resource_row(r, "member") for r in rows)
        return xml_reply(op, f"<StackResources>{body}</StackResources>", _CFN_NS)


def _flag(value: Any) -> bool:
    return str(value).lower() == "true"


def _summary_row(r: StackResource) -> str:
    return (
        "<member>"
        f"<LogicalResourceId>{xml_text(r.logical_id)}</LogicalResourceId>"
        f"<PhysicalResourceId>{xml_text(r.physical_id)}</PhysicalResourceId>"
        f"<ResourceType>{xml_text(r.type)}</ResourceType>"
        f"<LastUpdatedTimestamp>{xml_text(r.updated)}</LastUpdatedTimestamp>"
        f"<ResourceStatus>{r.status}</ResourceStatus>"
        "<DriftInformation><StackResourceDriftStatus>NOT_CHECKED</StackResourceDriftStatus></DriftInformation>"
        "</member>"
    )


def _resource_row(r: StackResource, tag: str) -> str:
    return (
        f"<{tag}><StackName>{xml_text(r.stack_name)}</StackName><StackId>{xml_text(r.stack_id)}</StackId>"
        f"<LogicalResourceId>{xml_text(r.logical_id)}</LogicalResourceId>"
        f"<PhysicalResourceId>{xml_text(r.physical_id)}</PhysicalResourceId>"
        f"<ResourceType>{xml_text(r.type)}</ResourceType><Timestamp>{xml_text(r.updated)}</Timestamp>"
        f"<LastUpdatedTimestamp>{xml_text(r.updated)}</LastUpdatedTimestamp>"
        f"<ResourceStatus>{r.status}</ResourceStatus></{tag}>"
    )


def _event(e: StackEvent) -> str:
    out = (
        f"<member><StackId>{xml_text(e.stack_id)}</StackId><EventId>{xml_text(e.event_id)}</EventId>"
        f"<StackName>{xml_text(e.stack_name)}</StackName><LogicalResourceId>{xml_text(e.logical_id)}</LogicalResourceId>"
        f"<PhysicalResourceId>{xml_text(e.physical_id)}</PhysicalResourceId>"
        f"<ResourceType>{xml_text(e.type)}</ResourceType><Timestamp>{xml_text(e.time)}</Timestamp>"
        f"<ResourceStatus>{e.status}</ResourceStatus>"
    )
    if e.reason:
        out += f"<ResourceStatusReason>{xml_text(e.reason)}</ResourceStatusReason>"
    if e.properties is not None:
        out += f"<ResourceProperties>{xml_text(e.properties)}</ResourceProperties>"
    return out + "</member>"


def _summary(c: ChangeSet) -> str:
    return (
        f"<member><StackId>{xml_text(c.stack_id)}</StackId><StackName>{xml_text(c.stack_name)}</StackName>"
        f"<ChangeSetId>{xml_text(c.arn)}</ChangeSetId><ChangeSetName>{xml_text(c.name)}</ChangeSetName>"
        f"<ExecutionStatus>{c.execution}</ExecutionStatus><Status>{c.status}</Status>"
        f"<CreationTime>{xml_text(c.created)}</CreationTime>"
        + (f"<Description>{xml_text(c.description)}</Description>" if c.description else "")
        + "<IncludeNestedStacks>false</IncludeNestedStacks></member>"
    )


def _describe_change_set(c: ChangeSet, values: bool) -> str:
    """The DescribeChangeSet result; property values and contexts only when asked for (as AWS does)."""
    changes = [_without_values(ch) if not values else ch for ch in c.changes]
    params = "".join(
        f"<member><ParameterKey>{xml_text(k)}</ParameterKey><ParameterValue>{xml_text(v)}</ParameterValue></member>"
        for k, v in c.parameters
    )
    return (
        f"<ChangeSetName>{xml_text(c.name)}</ChangeSetName><ChangeSetId>{xml_text(c.arn)}</ChangeSetId>"
        f"<StackId>{xml_text(c.stack_id)}</StackId><StackName>{xml_text(c.stack_name)}</StackName>"
        + (f"<Description>{xml_text(c.description)}</Description>" if c.description else "")
        + f"<Parameters>{params}</Parameters><CreationTime>{xml_text(c.created)}</CreationTime>"
        f"<ExecutionStatus>{c.execution}</ExecutionStatus><Status>{c.status}</Status>"
        "<NotificationARNs/><Capabilities><member>CAPABILITY_IAM</member></Capabilities>"
        f"<Changes>{xml_value(changes)}</Changes><IncludeNestedStacks>false</IncludeNestedStacks>"
    )


def _without_values(change: dict[str, Any]) -> dict[str, Any]:
    rc = {k: v for k, v in change["ResourceChange"].items() if k not in ("BeforeContext", "AfterContext")}
    rc["Details"] = [
        {
            **d,
            "Target": {
                k: v
                for k, v in d["Target"].items()
                if k not in ("BeforeValue", "AfterValue", "AttributeChangeType")
            },
        }
        for d in rc.get("Details", [])
    ]
    return {**change, "ResourceChange": rc}


def xml_value(value: Any) -> str:
    """A structure in the query protocol's XML: dict keys as elements, list items as ``<member>``."""
    if isinstance(value, dict):
        return "".join(f"<{k}>{xml_value(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list | tuple):
        return "".join(f"<member>{xml_value(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_text(value)


def template_json(template: dict[str, Any]) -> str:
    """A template as the text GetTemplate returns (stable key order)."""
    return json.dumps(template, indent=2, sort_keys=True)
