"""The simulated estate answers a fix: the right one ends the scenario's effects, a wrong one does not.

After every successful write call through the gateway, `Reactions.react` asks whether it undid what the
scenario broke, judged from the scenario's truth (its root-cause service and mitigation, the parameter its
guilty change set) against what was in place when the estate was built:

* rollback: the root service's ECS task definition or Lambda alias moved off the broken release;
* revert-config: a parameter the scenario changed was put back to its old value;
* restart: a forced new deployment of the root ECS service;
* scale-out: the root service's ECS desired count or Auto Scaling desired capacity raised.

The page's alarm then returns to OK `recovery_s` seconds later (recorded in its history, as CloudWatch
would); anything else leaves it in ALARM, so post-validation is a real check.
"""

from __future__ import annotations

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


@dataclass
class Broken:
    """What was in place on the root service when the estate was built."""

    task_definition: str | None = None
    alias_version: str | None = None
    ecs_desired: int | None = None
    asg_desired: int | None = None


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
        why = self._fix(req)
        if why is None:
            return
        with self._lock:
            self.fixed_by.append(why)
        if self.alarm in self.cw.alarms and self.cw.alarms[self.alarm]["StateValue"] != "OK":
            timer = threading.Timer(self.recovery_s, self._recover, args=(why,))
            timer.daemon = True
            timer.start()

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
    if res.asg:
        groups = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[res.asg])
        found = groups.get("AutoScalingGroups") or []
        out.asg_desired = int(found[0]["DesiredCapacity"]) if found else None
    return out
