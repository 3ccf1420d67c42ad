"""Query-protocol fill-ins for what moto leaves empty: Auto Scaling activities and CloudFormation stack resources.

moto answers ``DescribeScalingActivities`` with nothing, and a stack's resources in moto are whatever moto
itself created from the template; our stacks only *list* resources created through the other APIs, so
``ListStackResources`` / ``DescribeStackResources`` / ``DescribeStackResource`` are served from our registry.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from bot.sandbox.aws.protocol import Reply, Request, error_reply, xml_reply, xml_text

_AS_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
_CFN_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


@dataclass(frozen=True)
class Activity:
    """One scaling activity."""

    activity_id: str
    group: str
    group_arn: str
    description: str
    cause: str
    start: datetime
    end: datetime
    details: str


class ScalingActivities:
    """``DescribeScalingActivities``, newest first."""

    def __init__(self) -> None:
        self.activities: list[Activity] = []

    def handle(self, req: Request) -> Reply | None:
        if req.operation != "DescribeScalingActivities":
            return None
        p = req.params()
        acts = sorted(self.activities, key=lambda a: (a.start, a.activity_id), reverse=True)
        if p.get("AutoScalingGroupName"):
            acts = [a for a in acts if a.group == p["AutoScalingGroupName"]]
        ids = [v for k, v in sorted(p.items()) if k.startswith("ActivityIds.member.")]
        if ids:
            acts = [a for a in acts if a.activity_id in ids]
        size = min(int(p.get("MaxRecords") or 100), 100)
        offset = int(base64.b64decode(p["NextToken"]).decode()) if p.get("NextToken") else 0
        page = acts[offset : offset + size]
        members = "".join(
            "<member>"
            f"<ActivityId>{a.activity_id}</ActivityId>"
            f"<AutoScalingGroupName>{xml_text(a.group)}</AutoScalingGroupName>"
            f"<AutoScalingGroupARN>{xml_text(a.group_arn)}</AutoScalingGroupARN>"
            f"<Description>{xml_text(a.description)}</Description>"
            f"<Cause>{xml_text(a.cause)}</Cause>"
            f"<StartTime>{xml_text(a.start)}</StartTime>"
            f"<EndTime>{xml_text(a.end)}</EndTime>"
            "<StatusCode>Successful</StatusCode>"
            "<Progress>100</Progress>"
            f"<Details>{xml_text(a.details)}</Details>"
            "</member>"
            for a in page
        )
        token = ""
        if offset + size < len(acts):
            token = f"<NextToken>{base64.b64encode(str(offset + size).encode()).decode()}</NextToken>"
        return xml_reply("DescribeScalingActivities", f"<Activities>{members}</Activities>{token}", _AS_NS)


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


class StackResources:
    """ListStackResources / DescribeStackResources / DescribeStackResource from our registry."""

    def __init__(self) -> None:
        self.resources: dict[str, list[StackResource]] = {}

    def add(self, res: StackResource) -> None:
        rows = [r for r in self.resources.get(res.stack_name, []) if r.logical_id != res.logical_id]
        rows.append(res)
        rows.sort(key=lambda r: r.logical_id)
        self.resources[res.stack_name] = rows

    def _find(self, name: str) -> list[StackResource] | None:
        if name in self.resources:
            return self.resources[name]
        return next((rows for rows in self.resources.values() if rows and rows[0].stack_id == name), None)

    def handle(self, req: Request) -> Reply | None:
        op = req.operation
        if op not in ("ListStackResources", "DescribeStackResources", "DescribeStackResource"):
            return None
        p = req.params()
        name = p.get("StackName")
        if not name and op == "DescribeStackResources" and p.get("PhysicalResourceId"):
            rows = [
                r for rs in self.resources.values() for r in rs if r.physical_id == p["PhysicalResourceId"]
            ]
            if not rows:
                return None
            name = rows[0].stack_name
        rows_found = self._find(name or "")
        if rows_found is None:
            return None  # moto knows the stack (or says it does not exist)
        rows = rows_found
        if op == "ListStackResources":
            body = "".join(
                "<member>"
                f"<LogicalResourceId>{xml_text(r.logical_id)}</LogicalResourceId>"
                f"<PhysicalResourceId>{xml_text(r.physical_id)}</PhysicalResourceId>"
                f"<ResourceType>{xml_text(r.type)}</ResourceType>"
                f"<LastUpdatedTimestamp>{xml_text(r.updated)}</LastUpdatedTimestamp>"
                f"<ResourceStatus>{r.status}</ResourceStatus>"
                "<DriftInformation><StackResourceDriftStatus>NOT_CHECKED</StackResourceDriftStatus></DriftInformation>"
                "</member>"
                for r in rows
            )
            return xml_reply(op, f"<StackResourceSummaries>{body}</StackResourceSummaries>", _CFN_NS)
        if p.get("LogicalResourceId"):
            rows = [r for r in rows if r.logical_id == p["LogicalResourceId"]]
            if not rows and op == "DescribeStackResource":
                return error_reply(
                    req,
                    "ValidationError",
                    f"Resource {p['LogicalResourceId']} does not exist for stack {name}",
                )

        def one(r: StackResource, tag: str) -> str:
            return (
                f"<{tag}><StackName>{xml_text(r.stack_name)}</StackName><StackId>{xml_text(r.stack_id)}</StackId>"
                f"<LogicalResourceId>{xml_text(r.logical_id)}</LogicalResourceId>"
                f"<PhysicalResourceId>{xml_text(r.physical_id)}</PhysicalResourceId>"
                f"<ResourceType>{xml_text(r.type)}</ResourceType><Timestamp>{xml_text(r.updated)}</Timestamp>"
                f"<LastUpdatedTimestamp>{xml_text(r.updated)}</LastUpdatedTimestamp>"
                f"<ResourceStatus>{r.status}</ResourceStatus></{tag}>"
            )

        if op == "DescribeStackResource":
            return xml_reply(op, one(rows[0], "StackResourceDetail"), _CFN_NS)
        return xml_reply(
            op, "<StackResources>" + "".join(one(r, "member") for r in rows) + "</StackResources>", _CFN_NS
        )
