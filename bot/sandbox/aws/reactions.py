"""The simulated estate answers a fix: the right one ends the scenario's effects, a wrong one does not.

After every successful write call through the gateway, `Reactions.react` asks whether it undid what the
scenario broke, judged from the scenario's truth (its root-cause service and mitigation, the parameter its
guilty change set) against what was in place when the estate was built:

* rollback: the root service's ECS task definition or Lambda alias moved off the broken release, or a deploy
  workflow run of its repository that shipped another commit re-run (`redeployed`, told by the fake GitHub);
* revert-config: a parameter the scenario changed was put back to its old value, or a setting of the root
  Lambda function (memory, timeout, reserved concurrency) moved off the value the scenario left;
* revert-permission: the policy the guilty change wrote (an IAM role's inline policy, a managed policy, a
  bucket policy) given another document;
* restart: a forced new deployment of the root ECS service;
* scale-out: the root service's ECS desired count or Auto Scaling desired capacity raised.

The page's alarm then returns to OK `recovery_s` seconds later (recorded in its history, as CloudWatch
would); anything else leaves it in ALARM, so post-validation is a real check.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.aws.cloudwatch import CloudWatchStore
from bot.sandbox.aws.protocol import Reply, Request
from bot.sandbox.scenario import Scenario
from bot.sources.aws.catalog import ServiceResources

_ALIAS_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/aliases/([^/?]+)")
_CONFIG_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/configuration")
_CONCURRENCY_PATH = re.compile(r"^/2017-10-31/functions/([^/]+)/concurrency")
_BUCKET_POLICY_PATH = re.compile(r"^/([^/?]+)/?\?policy")


@dataclass
class Broken:
    """What was in place on the root service when the estate was built."""

    task_definition: str | None = None
    alias_version: str | None = None
    ecs_desired: int | None = None
    asg_desired: int | None = None
    #: The root function's MemorySize, Timeout and ReservedConcurrentExecutions.
    function_settings: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Reactions:
    """Judges write calls against the scenario's truth and moves the page's alarm to OK on the right fix."""

    scenario: Scenario
    resources: ServiceResources | None
    cw: CloudWatchStore
    alarm: str
    broken: Broken
    recovery_s: float = 1.0
    #: The EC2 ids of the instances the scenario breaks (replacing one of them is the fix).
    bad_instances: frozenset[str] = frozenset()
    fixed_by: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def react(self, req: Request, reply: Reply) -> None:
        """Called by the gateway after a write call succeeded."""
        if reply.status >= 300 or self.resources is None:
            return
        why = self._fix(req) or self._settings_fix(req) or self._policy_fix(req)
        if why is not None:
            self._fixed(why)

    def redeployed(self, repo: str, run: Any) -> None:
        """The fake GitHub re-ran a workflow run (`run.head_sha`) of `repo`: a rollback when it deploys the root
        service's repository at another commit than the guilty one."""
        truth = self.scenario.truth
        root = truth.root_cause_service
        spec = next((s for s in self.scenario.services if s.name == root), None)
        guilty = self._guilty()
        bad = guilty.commit.sha.lower() if guilty is not None and guilty.commit is not None else None
        if truth.mitigation != "rollback" or spec is None or spec.repo != repo:
            return
        if bad is not None and str(run.head_sha).lower().startswith(bad):
            return
        self._fixed(f"{repo} redeployed at {str(run.head_sha)[:7]}")

    def _fixed(self, why: str) -> None:
        with self._lock:
            self.fixed_by.append(why)
        if self.alarm in self.cw.alarms and self.cw.alarms[self.alarm]["StateValue"] != "OK":
            timer = threading.Timer(self.recovery_s, self._recover, args=(why,))
            timer.daemon = True
            timer.start()

    def _guilty(self) -> Any:
        event = self.scenario.event(self.scenario.truth.change) if self.scenario.truth.change else None
        return event.change if event is not None else None

    def _recover(self, why: str) -> None:
        reason = f"Threshold Crossed: datapoints were not breaching the threshold (after {why})."
        self.cw.set_state(self.alarm, "OK", reason, at=datetime.now(UTC))

    def _fix(self, req: Request) -> str | None:
        truth, res = self.scenario.truth, self.resources
        assert res is not None
        p = _params(req)
        if req.service == "ecs" and req.operation == "UpdateService" and p.get("service") == res.ecs_service:
            td = str(p.get("taskDefinition") or "").rsplit("/", 1)[-1]
            if truth.mitigation == "rollback" and td and td != self.broken.task_definition:
                return f"ECS rollback of {res.ecs_service} to {td}"
            if truth.mitigation == "restart" and p.get("forceNewDeployment"):
                return f"new deployment of {res.ecs_service}"
            count = p.get("desiredCount")
            if (
                truth.mitigation == "scale-out"
                and count is not None
                and int(count) > (self.broken.ecs_desired or 0)
            ):
                return f"{res.ecs_service} scaled to {count}"
        if req.service == "lambda" and truth.mitigation == "rollback":
            m = _ALIAS_PATH.match(req.path)
            version = str(p.get("FunctionVersion") or "")
            if m and m.group(1) == res.function and version and version != self.broken.alias_version:
                return f"alias {m.group(2)} of {res.function} back to {version}"
        if req.service == "ssm" and req.operation == "PutParameter" and truth.mitigation == "revert-config":
            for name, old in self._parameters().items():
                if p.get("Name") == name and str(p.get("Value")) == old:
                    return f"{name} restored to its old value"
        replaced = req.operation == "TerminateInstanceInAutoScalingGroup" and p.get("InstanceId")
        if (
            req.service == "autoscaling"
            and truth.mitigation == "replace-instance"
            and replaced in self.bad_instances
        ):
            return f"bad instance {replaced} replaced"
        if req.service == "autoscaling" and req.operation == "SetDesiredCapacity":
            desired = int(p.get("DesiredCapacity") or 0)
            raised = desired > (self.broken.asg_desired or 0)
            if truth.mitigation == "scale-out" and p.get("AutoScalingGroupName") == res.asg and raised:
                return f"{res.asg} scaled to {desired}"
        return None

    def _settings_fix(self, req: Request) -> str | None:
        """A setting of the root function moved off the value the scenario left (revert-config)."""
        res = self.resources
        if req.service != "lambda" or self.scenario.truth.mitigation != "revert-config" or res is None:
            return None
        m = _CONFIG_PATH.match(req.path) or _CONCURRENCY_PATH.match(req.path)
        if not m or m.group(1) not in (res.function, f"arn:aws:lambda:{res.function}"):
            return None
        p = _params(req)
        for key in ("MemorySize", "Timeout", "ReservedConcurrentExecutions"):
            if key in p and p[key] is not None and p[key] != self.broken.function_settings.get(key):
                return f"{res.function} {key} set to {p[key]}"
        return None

    def _policy_fix(self, req: Request) -> str | None:
        """The policy the guilty change wrote given another document (revert-permission)."""
        guilty = self._guilty()
        if self.scenario.truth.mitigation != "revert-permission" or guilty is None or not guilty.resource:
            return None
        p = _params(req)
        doc: object = None
        target = ""
        if req.service == "iam" and req.operation == "PutRolePolicy":
            target, doc = f":role/{p.get('RoleName')}", p.get("PolicyDocument")
        elif req.service == "iam" and req.operation == "CreatePolicyVersion":
            target, doc = str(p.get("PolicyArn")), p.get("PolicyDocument")
        elif req.service == "s3" and req.method == "PUT" and (m := _BUCKET_POLICY_PATH.match(req.path)):
            target, doc = f":::{m.group(1)}", req.body.decode(errors="replace")
        if not target or target not in guilty.resource or doc is None:
            return None
        if guilty.policy and _same_document(str(doc), guilty.policy):
            return None
        return f"the policy of {guilty.resource} restored"

    def _parameters(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for ev in self.scenario.events:
            ch = ev.change
            if ch is None or ch.parameter is None or ch.parameter.old is None:
                continue
            if ch.service == self.scenario.truth.root_cause_service:
                out[ch.parameter.name] = ch.parameter.old
        return out


def bad_instance_names(scenario: Scenario) -> set[str]:
    """The world instance names the scenario's events single out on its root-cause service."""
    root = scenario.truth.root_cause_service
    names: set[str] = set()
    for ev in scenario.events:
        data = ev.model_dump()
        for key in ("effect", "logs", "change"):
            part = data.get(key) or {}
            if isinstance(part, dict) and part.get("instance") and part.get("service") in (root, None):
                names.add(str(part["instance"]))
    return names


def _same_document(a: str, b: str) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a.strip() == b.strip()


def _params(req: Request) -> dict[str, Any]:
    try:
        return req.params()
    except Exception:
        return {}


def broken_state(client: Any, res: ServiceResources | None) -> Broken:
    """Read what is in place on the root service now (`client(service)` makes a boto3 client to moto)."""
    out = Broken()
    if res is None:
        return out
    if res.cluster and res.ecs_service:
        svc = client("ecs").describe_services(cluster=res.cluster, services=[res.ecs_service])["services"]
        if svc:
            out.task_definition = str(svc[0]["taskDefinition"]).rsplit("/", 1)[-1]
            out.ecs_desired = int(svc[0].get("desiredCount") or 0)
    if res.function:
        try:
            out.alias_version = str(
                client("lambda").get_alias(FunctionName=res.function, Name="live")["FunctionVersion"]
            )
        except Exception:
            out.alias_version = None
        conf = client("lambda").get_function_configuration(FunctionName=res.function)
        reserved = client("lambda").get_function_concurrency(FunctionName=res.function)
        out.function_settings = {
            "MemorySize": conf.get("MemorySize"),
            "Timeout": conf.get("Timeout"),
            "ReservedConcurrentExecutions": reserved.get("ReservedConcurrentExecutions"),
        }
    if res.asg:
        groups = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[res.asg])
        found = groups.get("AutoScalingGroups") or []
        out.asg_desired = int(found[0]["DesiredCapacity"]) if found else None
    return out
