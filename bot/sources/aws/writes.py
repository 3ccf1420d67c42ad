"""The few AWS write calls the mitigation catalogue needs, apart from the read-only tools.

Run it with the bot's *write* role (see the README): `AwsWriter` takes its own `AwsClients`, so production
gives it a session on a different role from the read-only one. Nothing here deletes anything. Every method
returns the exact API call it made (`ApiCall`), for the audit and the thread; the reads beside the writes
(what is set now) are what pre-validation and rollback need.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from bot.sources.aws.clients import AwsClients, classify


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call, as a person would read it in CloudTrail: service, operation and parameters."""

    service: str
    operation: str
    params: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """`ecs:UpdateService cluster=..., service=...`."""
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.service}:{self.operation} {args}".strip()


class WriteFailed(Exception):
    """An AWS call of a mitigation failed; the message says which call and why."""


class AwsWriter:
    """Reads what a mitigation changes and makes the change; every method raises `WriteFailed` on errors."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _call(self, aws_service: str, method: str, /, **kwargs: Any) -> Any:
        try:
            client = self.clients.get(aws_service)
            return getattr(client, method)(**kwargs)
        except WriteFailed:
            raise
        except Exception as exc:
            _, why = classify(exc)
            raise WriteFailed(f"{aws_service}.{method} failed: {why}") from exc

    # -- reads ------------------------------------------------------------------------------------------------------

    def ecs_service(self, cluster: str, service: str) -> dict[str, Any]:
        """The ECS service as DescribeServices shows it; WriteFailed when it does not exist."""
        out = self._call("ecs", "describe_services", cluster=cluster, services=[service])
        found = [s for s in out.get("services") or [] if s.get("status") != "INACTIVE"]
        if not found:
            raise WriteFailed(f"ECS service {service} not found in cluster {cluster}")
        return dict(found[0])

    def ecs_task_definition(self, cluster: str, service: str) -> str:
        """The task definition the service runs (`family:revision`)."""
        arn = str(self.ecs_service(cluster, service).get("taskDefinition") or "")
        return arn.rsplit("/", 1)[-1]

    def ecs_desired(self, cluster: str, service: str) -> str:
        """The service's desired count."""
        return str(self.ecs_service(cluster, service).get("desiredCount", ""))

    def task_definition_active(self, task_definition: str) -> bool:
        """Whether a task definition exists and is ACTIVE."""
        out = self._call("ecs", "describe_task_definition", taskDefinition=task_definition)
        return str((out.get("taskDefinition") or {}).get("status")) == "ACTIVE"

    def lambda_alias_version(self, function: str, alias: str) -> str:
        """The version a Lambda alias points at."""
        return str(
            self._call("lambda", "get_alias", FunctionName=function, Name=alias).get("FunctionVersion")
        )

    def ssm_value(self, name: str) -> str:
        """An SSM parameter's current value."""
        out = self._call("ssm", "get_parameter", Name=name, WithDecryption=False)
        return str((out.get("Parameter") or {}).get("Value", ""))

    def asg_desired(self, asg: str) -> str:
        """An Auto Scaling group's desired capacity."""
        out = self._call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[asg])
        groups = out.get("AutoScalingGroups") or []
        if not groups:
            raise WriteFailed(f"Auto Scaling group {asg} not found")
        return str(groups[0].get("DesiredCapacity", ""))

    def asg_instance_state(self, asg: str, instance_id: str) -> str:
        """An instance's lifecycle state in its Auto Scaling group; WriteFailed when it is not in the group."""
        out = self._call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[asg])
        for group in out.get("AutoScalingGroups") or []:
            for inst in group.get("Instances") or []:
                if inst.get("InstanceId") == instance_id:
                    return str(inst.get("LifecycleState"))
        raise WriteFailed(f"{instance_id} is not in Auto Scaling group {asg} (replaced already?)")

    def lambda_config(self, function: str, keys: Iterable[str]) -> dict[str, Any]:
        """The function's settings named by `keys` (`MemorySize`, `Timeout`, `Environment` -- its variables --,
        `ReservedConcurrentExecutions`, None when it has no reservation), as the API shows them now."""
        wanted = set(keys)
        out: dict[str, Any] = {}
        conf = self._call("lambda", "get_function_configuration", FunctionName=function)
        for key in wanted & {"MemorySize", "Timeout"}:
            out[key] = conf.get(key)
        if "Environment" in wanted:
            out["Environment"] = dict((conf.get("Environment") or {}).get("Variables") or {})
        if "ReservedConcurrentExecutions" in wanted:
            got = self._call("lambda", "get_function_concurrency", FunctionName=function)
            out["ReservedConcurrentExecutions"] = got.get("ReservedConcurrentExecutions")
        return out

    def role_policy(self, role: str, name: str) -> str:
        """An IAM role's inline policy document (canonical JSON)."""
        out = self._call("iam", "get_role_policy", RoleName=role, PolicyName=name)
        return canonical(out.get("PolicyDocument"))

    def managed_policy(self, arn: str) -> str:
        """A managed IAM policy's default version's document (canonical JSON)."""
        version = self._call("iam", "get_policy", PolicyArn=arn)["Policy"]["DefaultVersionId"]
        out = self._call("iam", "get_policy_version", PolicyArn=arn, VersionId=version)
        return canonical((out.get("PolicyVersion") or {}).get("Document"))

    def bucket_policy(self, bucket: str) -> str:
        """An S3 bucket's policy (canonical JSON)."""
        return canonical(self._call("s3", "get_bucket_policy", Bucket=bucket).get("Policy"))

    def alarm_state(self, alarm: str) -> str:
        """A CloudWatch alarm's state (OK / ALARM / INSUFFICIENT_DATA)."""
        out = self._call("cloudwatch", "describe_alarms", AlarmNames=[alarm])
        alarms = out.get("MetricAlarms") or out.get("CompositeAlarms") or []
        if not alarms:
            raise WriteFailed(f"CloudWatch alarm {alarm} not found")
        return str(alarms[0].get("StateValue"))

    # -- writes ------------------------------------------------------------------------------------------------------

    def perform(self, call: ApiCall) -> ApiCall:
        """Make one allowed write call (see `WRITE_CALLS`); anything else is refused before it reaches AWS."""
        method = WRITE_CALLS.get((call.service, call.operation))
        if method is None:
            raise WriteFailed(f"{call.service}:{call.operation} is not a write call the bot may make")
        kwargs: dict[str, Any] = {}
        for key, value in call.params.items():
            if key in _INTS:
                kwargs[key] = int(value)
            elif key in _BOOLS:
                kwargs[key] = value == "true"
            elif key in _JSONS:
                kwargs[key] = json.loads(value)
            else:
                kwargs[key] = value
        self._call(call.service, method, **kwargs)
        return call


#: The only write calls the bot makes (none deletes), by (service, operation), to boto3's method name.
WRITE_CALLS: dict[tuple[str, str], str] = {
    ("ecs", "UpdateService"): "update_service",
    ("lambda", "UpdateAlias"): "update_alias",
    ("ssm", "PutParameter"): "put_parameter",
    ("autoscaling", "SetDesiredCapacity"): "set_desired_capacity",
    # a replacement, not a deletion: the group launches a fresh instance (desired capacity is kept)
    ("autoscaling", "TerminateInstanceInAutoScalingGroup"): "terminate_instance_in_auto_scaling_group",
    ("lambda", "UpdateFunctionConfiguration"): "update_function_configuration",
    ("lambda", "PutFunctionConcurrency"): "put_function_concurrency",
    ("iam", "PutRolePolicy"): "put_role_policy",
    # a new default version with the old document; the versions before it are kept
    ("iam", "CreatePolicyVersion"): "create_policy_version",
    ("s3", "PutBucketPolicy"): "put_bucket_policy",
}
_INTS = frozenset(
    {"desiredCount", "DesiredCapacity", "MemorySize", "Timeout", "ReservedConcurrentExecutions"}
)
_BOOLS = frozenset({"forceNewDeployment", "Overwrite", "ShouldDecrementDesiredCapacity", "SetAsDefault"})
_JSONS = frozenset({"Environment"})


def canonical(document: object) -> str:
    """A policy document as compact JSON with sorted keys, so two spellings of one policy compare equal
    (IAM returns documents URL-encoded or decoded, S3 as text)."""
    if document is None or document == "":
        return ""
    if isinstance(document, str):
        text = document.strip()
        if not text.startswith("{"):
            text = urllib.parse.unquote(text)
        document = json.loads(text)
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


class AssumedRoleClients(AwsClients):
    """Clients on the bot's write role: credentials from STS ``AssumeRole`` (made with `base`'s credentials,
    the read-only ones) and refreshed before they expire. Only approved actions use them."""

    def __init__(self, base: AwsClients, role_arn: str, session_name: str = "sre-bot-write") -> None:
        super().__init__(base.region, max_attempts=3, endpoint_url=base.endpoint_url)
        sts = base.get("sts")

        def fetch() -> dict[str, str]:
            try:
                c = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
            except Exception as exc:
                raise WriteFailed(f"sts.AssumeRole {role_arn} failed: {classify(exc)[1]}") from exc
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat(),
            }

        self.role_arn = role_arn
        self._fetch = fetch
        self._assumed = False

    def get(self, service: str) -> Any:
        """The client for `service`, on the write role (assumed on first use, not at start-up)."""
        with self._lock:
            if not self._assumed:
                creds = RefreshableCredentials.create_from_metadata(
                    metadata=self._fetch(), refresh_using=self._fetch, method="sts-assume-role"
                )
                core = get_session()
                core._credentials = creds
                self._session = boto3.session.Session(botocore_session=core, region_name=self.region)
                self._assumed = True
        return super().get(service)
