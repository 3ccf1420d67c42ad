"""What changed in AWS: CloudTrail management events, Auto Scaling activities, ECS deployments,
CloudFormation stack events, SSM parameter history and Lambda versions — each as domain `Change`s."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.domain import Change
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


def _is_write(name: str) -> bool:
    return not name.startswith(READ_PREFIXES) and name not in (
        "ConsoleLogin",
        "AssumeRole",
        "Decrypt",
        "GenerateDataKey",
    )


def _via(event: dict[str, Any], detail: dict[str, Any]) -> str:
    """How a CloudTrail event changed things: console, iam, ssm-session, parameter, scaling, deploy, api."""
    name = event.get("EventName", "")
    source = detail.get("eventSource", "")
    agent = str(detail.get("userAgent", ""))
    if name in ("StartSession", "ResumeSession") and "ssm" in source:
        return "ssm-session"
    if name == "PutParameter":
        return "parameter"
    if "Policy" in name or source.startswith("iam.") or "Permission" in name:
        return "iam"
    if name in ("SetDesiredCapacity", "UpdateAutoScalingGroup"):
        return "scaling"
    if "console" in agent.lower() or detail.get("sessionCredentialFromConsole") in (True, "true"):
        return "console"
    return "api"


class AwsChanges:
    """Reads changes from AWS's own records."""

    def __init__(self, clients: AwsClients) -> None:
        self._c = clients

    def cloudtrail(self, since: datetime, until: datetime, limit: int = 500) -> ToolResult[list[Change]]:
        """Write (management) events in [since, until] from CloudTrail, newest first."""
        return guarded("cloudtrail:LookupEvents", lambda: self._cloudtrail(since, until, limit), classify)

    def _cloudtrail(self, since: datetime, until: datetime, limit: int) -> list[Change]:
        ct = self._c.get("cloudtrail")
        out: list[Change] = []
        kwargs: dict[str, Any] = {"StartTime": since, "EndTime": until, "MaxResults": 50}
        seen = 0
        while seen < limit:
            page = ct.lookup_events(**kwargs)
            for ev in page.get("Events", []):
                seen += 1
                name = ev.get("EventName", "")
                if not _is_write(name):
                    continue
                detail = json.loads(ev.get("CloudTrailEvent") or "{}")
                resources = [
                    r.get("ResourceName", "") for r in ev.get("Resources", []) if r.get("ResourceName")
                ]
                params = detail.get("requestParameters") or {}
                user = ev.get("Username") or detail.get("userIdentity", {}).get("arn")
                summary = f"{name} on {', '.join(resources) or 'a resource'} by {user or 'unknown'}"
                out.append(
                    Change(
                        id=f"cloudtrail:{ev.get('EventId', seen)}",
                        service=None,
                        at=ev["EventTime"],
                        via=_via(ev, detail),
                        summary=summary,
                        actor=user,
                        resource=", ".join(resources) or None,
                        revert_hint=json.dumps(params, sort_keys=True)[:1000] if params else None,
                    )
                )
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        return out

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
                    service=None,
                    at=a["StartTime"],
                    via="scaling",
                    summary=a.get("Description", ""),
                    resource=group,
                    revert_hint=a.get("Cause"),
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

    def parameter_history(self, name: str) -> ToolResult[list[dict[str, Any]]]:
        """Every version of an SSM parameter, oldest first."""

        def fetch() -> list[dict[str, Any]]:
            ssm = self._c.get("ssm")
            return list(ssm.get_parameter_history(Name=name, WithDecryption=False).get("Parameters", []))

        return guarded("ssm:GetParameterHistory", fetch, classify)
