"""The action catalogue: the only production changes the bot makes, each with its risk and exact parameters.

Every catalogue action sets one thing (a service's task definition, an alias's version, a parameter's value,
a desired count) from what it is now to a value bound when the plan was made, or (a forced ECS deployment)
replaces tasks without changing any setting. Its parameters come from the stored plan step -- never from a
person or a model later -- and `bind` refuses a step that names no catalogue action or lacks a parameter,
with the manual steps instead. Nothing in the catalogue deletes anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain import Action, Phase, Plan, PlanStep
from bot.sources.aws.writes import ApiCall, AwsWriter

Params = Mapping[str, str]


class Risk(StrEnum):
    """How much an action can hurt when it is the wrong one."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class ActionSpec:
    """One catalogue action: what it needs, how to read what it sets, the call that sets it."""

    action: Action
    risk: Risk
    title: str
    needs: tuple[str, ...]
    #: The parameter holding the value apply sets (None: the action changes no setting).
    target: str | None
    read: Callable[[AwsWriter, Params], str]
    call: Callable[[Params, str], ApiCall]
    #: Whether rollback sets the value read before apply back (False: there is nothing to undo).
    reversible: bool = True
    #: Only raises a number (desired counts): a target at or below the current value is refused.
    raise_only: bool = False
    #: A read that must hold before apply (the target exists), with what it checks.
    precheck: Callable[[AwsWriter, Params], bool] | None = None
    precheck_text: str = ""


def _ecs_td(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "ecs", "UpdateService", {"cluster": p["cluster"], "service": p["service"], "taskDefinition": value}
    )


def _ecs_force(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "ecs",
        "UpdateService",
        {"cluster": p["cluster"], "service": p["service"], "forceNewDeployment": "true"},
    )


def _alias(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "lambda", "UpdateAlias", {"FunctionName": p["function"], "Name": p["alias"], "FunctionVersion": value}
    )


def _ssm(p: Params, value: str) -> ApiCall:
    return ApiCall("ssm", "PutParameter", {"Name": p["name"], "Value": value, "Overwrite": "true"})


def _asg(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": p["asg"], "DesiredCapacity": value}
    )


def _replace(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        {"InstanceId": p["instance_id"], "ShouldDecrementDesiredCapacity": "false"},
    )


def _ecs_count(p: Params, value: str) -> ApiCall:
    return ApiCall(
        "ecs", "UpdateService", {"cluster": p["cluster"], "service": p["service"], "desiredCount": value}
    )


CATALOGUE: Mapping[Action, ActionSpec] = {
    Action.ECS_UPDATE_SERVICE: ActionSpec(
        Action.ECS_UPDATE_SERVICE,
        Risk.HIGH,
        "roll an ECS service back to its previous task definition",
        ("cluster", "service", "task_definition"),
        "task_definition",
        lambda w, p: w.ecs_task_definition(p["cluster"], p["service"]),
        _ecs_td,
        precheck=lambda w, p: w.task_definition_active(p["task_definition"]),
        precheck_text="the task definition to return to is ACTIVE",
    ),
    Action.ECS_FORCE_NEW_DEPLOYMENT: ActionSpec(
        Action.ECS_FORCE_NEW_DEPLOYMENT,
        Risk.LOW,
        "force a new deployment of an ECS service (fresh tasks, same task definition)",
        ("cluster", "service"),
        None,
        lambda w, p: w.ecs_task_definition(p["cluster"], p["service"]),
        _ecs_force,
        reversible=False,
    ),
    Action.LAMBDA_UPDATE_ALIAS: ActionSpec(
        Action.LAMBDA_UPDATE_ALIAS,
        Risk.HIGH,
        "point a Lambda alias at its previous version",
        ("function", "alias", "version"),
        "version",
        lambda w, p: w.lambda_alias_version(p["function"], p["alias"]),
        _alias,
    ),
    Action.SSM_PUT_PARAMETER: ActionSpec(
        Action.SSM_PUT_PARAMETER,
        Risk.MEDIUM,
        "restore an SSM parameter's previous value",
        ("name", "value"),
        "value",
        lambda w, p: w.ssm_value(p["name"]),
        _ssm,
    ),
    Action.ASG_SET_DESIRED: ActionSpec(
        Action.ASG_SET_DESIRED,
        Risk.LOW,
        "raise an Auto Scaling group's desired capacity",
        ("asg", "desired"),
        "desired",
        lambda w, p: w.asg_desired(p["asg"]),
        _asg,
        raise_only=True,
    ),
    Action.ASG_REPLACE_INSTANCE: ActionSpec(
        Action.ASG_REPLACE_INSTANCE,
        Risk.MEDIUM,
        "replace an instance of an Auto Scaling group (a fresh one is launched; desired capacity is kept)",
        ("asg", "instance_id"),
        None,
        lambda w, p: w.asg_instance_state(p["asg"], p["instance_id"]),
        _replace,
        reversible=False,
    ),
    Action.SCALE_OUT: ActionSpec(
        Action.SCALE_OUT,
        Risk.LOW,
        "raise an ECS service's desired count",
        ("cluster", "service", "desired"),
        "desired",
        lambda w, p: w.ecs_desired(p["cluster"], p["service"]),
        _ecs_count,
        raise_only=True,
    ),
}
"""What the bot can run. A plan step naming any other action is refused with its manual steps."""


@dataclass(frozen=True)
class BoundAction:
    """A catalogue action with its parameters, bound from one step of a stored plan."""

    investigation_id: int
    step: int
    action: Action
    risk: Risk
    description: str
    params: dict[str, str]
    #: The value the plan saw in place when it was made (its rollback step's target), if it named one.
    expect: str | None = None
    #: The alarm whose recovery post-validation waits for, if the plan named one.
    alarm: str | None = None

    @property
    def spec(self) -> ActionSpec:
        """The catalogue entry."""
        return CATALOGUE[self.action]

    def target(self) -> str:
        """The value apply sets ("" for an action that sets none)."""
        return self.params[self.spec.target] if self.spec.target else ""

    def scope(self) -> str:
        """What an approval of this action covers: the investigation, the step, the action and every parameter."""
        body = json.dumps(
            [self.investigation_id, self.step, self.action.value, self.params, self.expect, self.alarm],
            sort_keys=True,
        )
        digest = hashlib.sha256(body.encode()).hexdigest()[:24]
        return f"action:{self.investigation_id}:{self.step}:{digest}"


@dataclass(frozen=True)
class Refusal:
    """A step the bot will not run, and what a person does instead."""

    reason: str
    manual_steps: list[str] = field(default_factory=list)


def _step_param(plan: Plan, phases: tuple[Phase, ...], action: Action | None, key: str) -> str | None:
    for step in plan.steps:
        if step.phase in phases and (action is None or step.action == action) and step.params.get(key):
            return step.params[key]
    return None


def _manual(step: PlanStep) -> list[str]:
    out = [step.description]
    if step.params:
        out.append("with " + ", ".join(f"{k}={v}" for k, v in step.params.items()))
    return out


def bind(plan: Plan, index: int, investigation_id: int) -> BoundAction | Refusal:
    """Bind step `index` of `plan` to its catalogue action, or refuse it with the manual steps."""
    if not 0 <= index < len(plan.steps):
        return Refusal(f"the plan has no step {index}")
    step = plan.steps[index]
    if not step.mutating or step.phase is not Phase.APPLY:
        return Refusal("only the plan's apply steps run from a button", _manual(step))
    spec = CATALOGUE.get(step.action) if step.action is not None else None
    if spec is None:
        what = step.action.value if step.action else "this step"
        return Refusal(f"{what} is not in the bot's action catalogue; do it by hand", _manual(step))
    kind = step.params.get("kind")
    if spec.action is Action.SCALE_OUT and kind and kind != "ecs":
        return Refusal(
            f"scaling out a {kind} service is not in the bot's action catalogue; do it by hand", _manual(step)
        )
    missing = [k for k in spec.needs if not step.params.get(k)]
    if missing:
        return Refusal(f"the plan does not name {', '.join(missing)}; do it by hand", _manual(step))
    expect = _step_param(plan, (Phase.ROLLBACK,), step.action, spec.target) if spec.target else None
    return BoundAction(
        investigation_id=investigation_id,
        step=index,
        action=spec.action,
        risk=spec.risk,
        description=step.description,
        params={k: step.params[k] for k in spec.needs},
        expect=expect,
        alarm=_step_param(plan, (Phase.PRE_VALIDATE, Phase.POST_VALIDATE), None, "alarm"),
    )


def dry_run(bound: BoundAction, recovery_minutes: float) -> list[str]:
    """Exactly the API calls running `bound` makes, phase by phase (the rollback's only if it fails)."""
    spec = bound.spec
    p = bound.params
    reads = [f"read what is set now ({_READS[spec.action]})"]
    if spec.precheck is not None:
        reads.append(
            f"check that {spec.precheck_text} (ecs:DescribeTaskDefinition {p.get('task_definition')})"
        )
    if bound.alarm:
        reads.append(f"cloudwatch:DescribeAlarms AlarmNames={bound.alarm} (still in ALARM)")
    lines = [f"pre-validate: {r}" for r in reads]
    lines.append(f"apply: {spec.call(p, bound.target()).text()}")
    if bound.alarm:
        lines.append(
            f"post-validate: cloudwatch:DescribeAlarms AlarmNames={bound.alarm} until OK, "
            f"for at most {recovery_minutes:g} min"
        )
    else:
        lines.append("post-validate: no alarm named in the plan; check recovery by hand")
    if spec.reversible:
        before = bound.expect or "<the value read at pre-validation>"
        lines.append(f"rollback (only if post-validation fails): {spec.call(p, before).text()}")
    else:
        lines.append("rollback: nothing to undo")
    return lines


_READS: Mapping[Action, str] = {
    Action.ECS_UPDATE_SERVICE: "ecs:DescribeServices",
    Action.ECS_FORCE_NEW_DEPLOYMENT: "ecs:DescribeServices",
    Action.LAMBDA_UPDATE_ALIAS: "lambda:GetAlias",
    Action.SSM_PUT_PARAMETER: "ssm:GetParameter",
    Action.ASG_SET_DESIRED: "autoscaling:DescribeAutoScalingGroups",
    Action.ASG_REPLACE_INSTANCE: "autoscaling:DescribeAutoScalingGroups",
    Action.SCALE_OUT: "ecs:DescribeServices",
}
