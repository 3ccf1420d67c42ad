"""Read-only lookups a mitigation plan needs to bind its parameters: current capacities, a function's settings,
and the document a policy had before the change that rewrote it.

A policy's previous document comes from what AWS kept of it: a managed policy's versions (``ListPolicyVersions``:
the version created before the one the change made), else the same policy's previous write in CloudTrail
(``PutRolePolicy`` / ``PutBucketPolicy`` in the 90 days before). Nothing is guessed: when neither says, the
result has no old document and the plan's step stays a manual one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.domain import Change
from bot.sources.aws.clients import AwsClients, classify
from bot.sources.aws.writes import canonical
from bot.sources.result import Outcome, ToolResult, guarded

_ROLE = re.compile(r":role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")
_INLINE = re.compile(r"inline policy ([\w+=,.@-]+)")


@dataclass(frozen=True)
class PolicyChange:
    """The policy a change rewrote: its kind, where it is, and its document before and after (canonical)."""

    kind: str  # role-inline / managed / bucket
    where: str  # `role/policy-name`, the policy ARN, the bucket
    old: str | None
    new: str | None


def _doc(value: object) -> str | None:
    try:
        return canonical(value) or None
    except ValueError:
        return None


def policy_target(change: Change) -> tuple[str, str] | None:
    """(kind, where) of the policy a ``PutRolePolicy``, ``CreatePolicyVersion`` or ``PutBucketPolicy`` wrote."""
    req, resource = change.request, change.resource or ""
    if change.action == "PutRolePolicy":
        role = req.get("roleName") or (m.group(1) if (m := _ROLE.search(resource)) else None)
        name = req.get("policyName") or (m.group(1) if (m := _INLINE.search(resource)) else None)
        return ("role-inline", f"{role}/{name}") if role and name else None
    if change.action == "CreatePolicyVersion":
        arn = req.get("policyArn") or next((r for r in resource.split(", ") if ":policy/" in r), None)
        return ("managed", str(arn)) if arn else None
    if change.action == "PutBucketPolicy":
        bucket = req.get("bucketName") or (resource.rsplit(":::", 1)[-1] if ":::" in resource else None)
        return ("bucket", str(bucket)) if bucket else None
    return None


def _written(change: Change) -> str | None:
    req = change.request
    return _doc(req.get("policyDocument") or req.get("bucketPolicy") or req.get("policy"))


class PlanReads:
    """Reads for binding a plan's parameters (the read-only role)."""

    def __init__(self, clients: AwsClients) -> None:
        self._c = clients

    def ecs_desired(self, cluster: str, service: str) -> ToolResult[int]:
        """An ECS service's desired count now."""

        def fetch() -> int:
            svcs = self._c.get("ecs").describe_services(cluster=cluster, services=[service]).get("services")
            return int((svcs or [{}])[0]["desiredCount"])

        return guarded("ecs:DescribeServices", fetch, classify)

    def asg_desired(self, asg: str) -> ToolResult[int]:
        """An Auto Scaling group's desired capacity now."""

        def fetch() -> int:
            out = self._c.get("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[asg])
            return int((out.get("AutoScalingGroups") or [{}])[0]["DesiredCapacity"])

        return guarded("autoscaling:DescribeAutoScalingGroups", fetch, classify)

    def function_environment(self, function: str) -> ToolResult[dict[str, str]]:
        """A Lambda function's environment variables now."""

        def fetch() -> dict[str, str]:
            conf = self._c.get("lambda").get_function_configuration(FunctionName=function)
            return {
                str(k): str(v) for k, v in ((conf.get("Environment") or {}).get("Variables") or {}).items()
            }

        return guarded("lambda:GetFunctionConfiguration", fetch, classify)

    def policy_before(self, change: Change) -> ToolResult[PolicyChange]:
        """The policy `change` rewrote with its document before and after (no data: not a policy write)."""
        target = policy_target(change)
        if target is None:
            return ToolResult(Outcome.NO_DATA, "iam:GetPolicyVersion", None, "the change names no policy")
        kind, where = target
        if kind == "managed":
            return guarded("iam:ListPolicyVersions", lambda: self._managed(change, where), classify)
        return guarded("cloudtrail:LookupEvents", lambda: self._previous_write(change, kind, where), classify)

    def _managed(self, change: Change, arn: str) -> PolicyChange:
        iam = self._c.get("iam")
        versions = sorted(
            iam.list_policy_versions(PolicyArn=arn).get("Versions", []), key=lambda v: v["CreateDate"]
        )
        new = _written(change)
        docs = []
        for v in versions:
            got = iam.get_policy_version(PolicyArn=arn, VersionId=v["VersionId"])["PolicyVersion"]
            docs.append(_doc(got.get("Document")))
        at = next((i for i, d in enumerate(docs) if d == new), len(docs) - 1) if new else len(docs) - 1
        old = docs[at - 1] if at >= 1 else None
        return PolicyChange("managed", arn, old, new or (docs[at] if docs else None))

    def _previous_write(self, change: Change, kind: str, where: str) -> PolicyChange:
        """The same policy's write before `change` in CloudTrail (its request's document)."""
        ct = self._c.get("cloudtrail")
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": change.action or ""}],
            "StartTime": change.at - timedelta(days=90),
            "EndTime": change.at - timedelta(seconds=1),
            "MaxResults": 50,
        }
        old = None
        for _ in range(20):
            page = ct.lookup_events(**kwargs)
            for ev in page.get("Events", []):  # newest first
                detail = json.loads(ev.get("CloudTrailEvent") or "{}")
                earlier = change.model_copy(
                    update={
                        "request": detail.get("requestParameters") or {},
                        "resource": ", ".join(
                            r.get("ResourceName", "")
                            for r in ev.get("Resources", [])
                            if r.get("ResourceName")
                        ),
                    }
                )
                if ev.get("EventId") != change.source_id and policy_target(earlier) == (kind, where):
                    old = _written(earlier)
                    break
            if old is not None or not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return PolicyChange(kind, where, old, _written(change))
