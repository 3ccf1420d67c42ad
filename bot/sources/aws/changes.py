"""What changed in AWS: CloudTrail management events, Auto Scaling activities, ECS deployments,
CloudFormation stack events, SSM parameter history and Lambda versions — each as domain `Change`s."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.analysis.changes import actor_of, door_of
from bot.domain import Actor, ActorKind, Change, ChangeSource, ChangeVia
from bot.sources.aws.change_detail import ChangeDetails, api_action, from_request
from bot.sources.aws.clients import AwsClients, classify
from bot.sources.result import ToolResult, guarded

#: CloudTrail events that never change anything, skipped outright.
READ_PREFIXES = (
    "Get",
    "Describe",
    "List",
    "Lookup",
    "BatchGet",
    "Head",
    "Search",
    "Query",
    "Scan",
    "Select",
    "Filter",
)


#: Writes that change nothing in the estate by themselves: a change set is only a proposal until executed.
NOT_CHANGES = frozenset(
    {"ConsoleLogin", "AssumeRole", "Decrypt", "GenerateDataKey", "CreateChangeSet", "DeleteChangeSet"}
)
#: A call one of these services made while carrying out another recorded call (a stack update's resource
#: updates): that call is the change.
ON_BEHALF = frozenset({"cloudformation.amazonaws.com"})


def _is_write(name: str) -> bool:
    return not name.startswith(READ_PREFIXES) and name not in NOT_CHANGES


def _from_console(detail: dict[str, Any]) -> bool:
    return (
        detail.get("sessionCredentialFromConsole") in (True, "true")
        or "console" in str(detail.get("userAgent", "")).lower()
    )


def change_of_event(ev: dict[str, Any]) -> Change | None:
    """A CloudTrail `LookupEvents` record as a `Change` (None for a read, for what changes nothing by itself,
    and for a call a service made on behalf of another recorded call)."""
    name = api_action(ev.get("EventName", ""))
    if not _is_write(name):
        return None
    detail = json.loads(ev.get("CloudTrailEvent") or "{}")
    identity = detail.get("userIdentity") or {}
    if identity.get("invokedBy") in ON_BEHALF:
        return None
    resources = [r.get("ResourceName", "") for r in ev.get("Resources", []) if r.get("ResourceName")]
    raw = detail.get("requestParameters") or {}
    request = raw if isinstance(raw, dict) else {}
    actor = actor_of(identity, str(detail.get("userAgent", "")), ev.get("Username"))
    via = door_of(name, str(detail.get("eventSource", "")), actor, request, _from_console(detail))
    event_id = str(ev.get("EventId", ""))
    resource = ", ".join(resources) or None
    changed, ships = from_request(name, request, resource)
    summary = f"{name} on {resource or 'a resource'} by {actor.name}"
    return Change(
        id=f"cloudtrail:{event_id}",
        at=ev["EventTime"],
        via=via,
        summary=summary + (": " + "; ".join(changed[:3]) if changed else ""),
        source=ChangeSource.CLOUDTRAIL,
        source_id=event_id,
        action=name,
        actor=actor,
        resource=resource,
        request=request,
        changed=changed,
        ships_code=ships,
    )


class AwsChanges:
    """Reads changes from AWS's own records."""

    def __init__(self, clients: AwsClients) -> None:
        self._c = clients
        self._details = ChangeDetails(clients)

    def detail(self, change: Change) -> ToolResult[Change]:
        """`change` with what it changed read from what AWS kept of it (a stack's change set, the task
        definition before it, the parameter's versions); a failed result when that cannot be read."""
        return self._details.of(change)

    def cloudtrail(self, since: datetime, until: datetime, limit: int = 2000) -> ToolResult[list[Change]]:
        """Write (management) events in [since, until] from CloudTrail, newest first (reads are left out by
        CloudTrail itself: `ReadOnly=false`)."""
        return guarded("cloudtrail:LookupEvents", lambda: self._cloudtrail(since, until, limit), classify)

    def _cloudtrail(self, since: datetime, until: datetime, limit: int) -> list[Change]:
        ct = self._c.get("cloudtrail")
        out: list[Change] = []
        kwargs: dict[str, Any] = {
            "StartTime": since,
            "EndTime": until,
            "MaxResults": 50,
            "LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        }
        seen = 0
        while seen < limit:
            page = ct.lookup_events(**kwargs)
            for ev in page.get("Events", []):
                seen += 1
                change = change_of_event(ev)
                if change is not None:
                    out.append(change)
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return out

    def stack_updates(self, stack: str, since: datetime, until: datetime) -> ToolResult[list[Change]]:
        """A stack's updates in [since, until] from its own events, for when CloudTrail cannot be read: one
        change per update begun (the change set it ran is read by `detail`; who ran it is not kept there)."""

        def fetch() -> list[Change]:
            cfn = self._c.get("cloudformation")
            out: list[Change] = []
            for page in cfn.get_paginator("describe_stack_events").paginate(
                StackName=stack, PaginationConfig={"MaxItems": 500}
            ):
                for ev in page.get("StackEvents", []):
                    at = ev.get("Timestamp")
                    begun = ev.get("ResourceType") == "AWS::CloudFormation::Stack" and ev.get(
                        "ResourceStatus"
                    ) in ("UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS")
                    if begun and at is not None and since <= at <= until:
                        out.append(
                            Change(
                                id=f"stack-event:{ev.get('EventId')}",
                                at=at,
                                via=ChangeVia.CLOUDFORMATION,
                                action="ExecuteChangeSet",
                                summary=f"stack {stack} update ({ev.get('ResourceStatusReason') or 'no reason kept'})",
                                source=ChangeSource.CLOUDFORMATION,
                                source_id=str(ev.get("EventId", "")),
                                resource=str(ev.get("StackId") or stack),
                                request={"stackName": stack},
                            )
                        )
            return out

        return guarded("cloudformation:DescribeStackEvents", fetch, classify)

    def scaling_activities(self, group: str, since: datetime) -> ToolResult[list[Change]]:
        """Auto Scaling activities of one group since `since` (launches, terminations, their causes)."""

        def fetch() -> list[Change]:
            asg = self._c.get("autoscaling")
            rows = asg.describe_scaling_activities(AutoScalingGroupName=group, MaxRecords=100).get(
                "Activities", []
            )
            return [
                Change(
                    id=f"scaling:{a.get('ActivityId')}",
                    at=a["StartTime"],
                    via=ChangeVia.SCALING,
                    summary=a.get("Description", ""),
                    source=ChangeSource.AUTOSCALING,
                    source_id=str(a.get("ActivityId", "")),
                    actor=Actor(name="autoscaling.amazonaws.com", kind=ActorKind.AWS_SERVICE),
                    resource=group,
                    cause=a.get("Cause"),
                )
                for a in rows
                if a["StartTime"] >= since
            ]

        return guarded("autoscaling:DescribeScalingActivities", fetch, classify)

    def ecs_deployments(self, cluster: str, service: str) -> ToolResult[list[dict[str, Any]]]:
        """The ECS service's deployments (task definition, status, createdAt), newest first."""

        def fetch() -> list[dict[str, Any]]:
            ecs = self._c.get("ecs")
            svcs = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
            deps = [d for s in svcs for d in s.get("deployments", [])]
            return sorted(deps, key=lambda d: d.get("createdAt"), reverse=True)

        return guarded("ecs:DescribeServices", fetch, classify)

    def task_definitions(self, family: str) -> ToolResult[list[str]]:
        """The ACTIVE task definition ARNs of one family, newest first."""

        def fetch() -> list[str]:
            ecs = self._c.get("ecs")
            out: list[str] = []
            kwargs: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
            while True:
                page = ecs.list_task_definitions(**kwargs)
                out += page.get("taskDefinitionArns", [])
                if not page.get("nextToken") or len(out) >= 100:
                    return out
                kwargs["nextToken"] = page["nextToken"]

        return guarded("ecs:ListTaskDefinitions", fetch, classify)

    def parameter_history(self, name: str) -> ToolResult[list[dict[str, Any]]]:
        """Every version of an SSM parameter, oldest first."""

        def fetch() -> list[dict[str, Any]]:
            ssm = self._c.get("ssm")
            return list(ssm.get_parameter_history(Name=name, WithDecryption=False).get("Parameters", []))

        return guarded("ssm:GetParameterHistory", fetch, classify)
