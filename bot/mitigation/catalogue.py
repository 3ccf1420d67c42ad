"""The action catalogue: the only production changes the bot makes, each with its risk and exact parameters.

Every catalogue action sets one thing (a service's task definition, an alias's version, a function's settings, a
parameter's value, a policy's document, the deploy run that ran last, a desired count) from what it is now to a
value bound when the plan was made, or (a forced ECS deployment, an instance replacement) replaces what runs
without changing any setting. Its parameters come from the stored plan step -- never from a
person or a model later -- and `bind` refuses a step that names no catalogue action or lacks a parameter,
with the manual steps instead. Nothing in the catalogue deletes anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.analysis.plan import config_text
from bot.domain import Action, Phase, Plan, PlanStep
from bot.mitigation.writers import Writers
from bot.sources.aws.writes import ApiCall, WriteFailed

Params = Mapping[str, str]
Calls = tuple[ApiCall, ...]


class Risk(StrEnum):
    """How much an action can hurt when it is the wrong one."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class ActionSpec:
    """One catalogue action: what it needs, how to read what it sets, the calls that set it."""

    action: Action
    risk: Risk
    title: str
    needs: tuple[str, ...]
    #: The parameter holding the value apply sets (None: the action changes no setting).
    target: str | None
    read: Callable[[Writers, Params], str]
    calls: Callable[[Params, str], Calls]
    #: What `read` calls, for the dry run.
    reads: Callable[[Params], str]
    #: Whether rollback sets the value read before apply back (False: there is nothing to undo).
    reversible: bool = True
    #: Only raises a number (desired counts): a target at or below the current value is refused.
    raise_only: bool = False
    #: A read that must hold before apply (the target exists), what it checks, and the call it makes.
    precheck: Callable[[Writers, Params], bool] | None = None
    precheck_text: str = ""
    precheck_call: Callable[[Params], str] = lambda p: ""


def _ecs_td(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "ecs",
            "UpdateService",
            {"cluster": p["cluster"], "service": p["service"], "taskDefinition": value},
        ),
    )


def _ecs_force(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "ecs",
            "UpdateService",
            {"cluster": p["cluster"], "service": p["service"], "forceNewDeployment": "true"},
        ),
    )


def _alias(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "lambda",
            "UpdateAlias",
            {"FunctionName": p["function"], "Name": p["alias"], "FunctionVersion": value},
        ),
    )


def _ssm(p: Params, value: str) -> Calls:
    return (ApiCall("ssm", "PutParameter", {"Name": p["name"], "Value": value, "Overwrite": "true"}),)


def _asg(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "autoscaling", "SetDesiredCapacity", {"AutoScalingGroupName": p["asg"], "DesiredCapacity": value}
        ),
    )


def _replace(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "autoscaling",
            "TerminateInstanceInAutoScalingGroup",
            {"InstanceId": p["instance_id"], "ShouldDecrementDesiredCapacity": "false"},
        ),
    )


def _ecs_count(p: Params, value: str) -> Calls:
    return (
        ApiCall(
            "ecs", "UpdateService", {"cluster": p["cluster"], "service": p["service"], "desiredCount": value}
        ),
    )


#: The Lambda settings the configuration restore sets, by API name (`Environment`: the variables).
LAMBDA_SETTINGS = ("MemorySize", "Timeout", "Environment", "ReservedConcurrentExecutions")


def _lambda_read(w: Writers, p: Params) -> str:
    return config_text(w.aws.lambda_config(p["function"], json.loads(p["config"])))


def _lambda_config(p: Params, value: str) -> Calls:
    """UpdateFunctionConfiguration for memory, timeout and environment; PutFunctionConcurrency for the
    reservation (a reservation that was absent is not removed: nothing deletes)."""
    values = json.loads(value)
    update: dict[str, str] = {"FunctionName": p["function"]}
    for key in ("MemorySize", "Timeout"):
        if values.get(key) is not None:
            update[key] = str(values[key])
    if values.get("Environment") is not None:
        update["Environment"] = json.dumps({"Variables": values["Environment"]}, sort_keys=True)
    out: list[ApiCall] = []
    if len(update) > 1:
        out.append(ApiCall("lambda", "UpdateFunctionConfiguration", update))
    if values.get("ReservedConcurrentExecutions") is not None:
        reserved = str(values["ReservedConcurrentExecutions"])
        out.append(
            ApiCall(
                "lambda",
                "PutFunctionConcurrency",
                {"FunctionName": p["function"], "ReservedConcurrentExecutions": reserved},
            )
        )
    return tuple(out)


def _lambda_reads(p: Params) -> str:
    keys = json.loads(p.get("config") or "{}")
    out = ["lambda:GetFunctionConfiguration"]
    if "ReservedConcurrentExecutions" in keys:
        out.append("lambda:GetFunctionConcurrency")
    return ", ".join(out) + f" FunctionName={p.get('function')}"


#: Where a policy lives: an IAM role's inline policy (`role/policy-name`), a managed policy (its ARN), or an S3
#: bucket's policy (the bucket's name).
POLICY_KINDS = ("role-inline", "managed", "bucket")


def _policy_read(w: Writers, p: Params) -> str:
    kind, where = p["policy_kind"], p["policy"]
    if kind == "role-inline":
        role, name = where.split("/", 1)
        return w.aws.role_policy(role, name)
    if kind == "managed":
        return w.aws.managed_policy(where)
    if kind == "bucket":
        return w.aws.bucket_policy(where)
    raise WriteFailed(f"unknown policy kind {kind!r}")


def _policy(p: Params, value: str) -> Calls:
    kind, where = p["policy_kind"], p["policy"]
    if kind == "role-inline":
        role, name = where.split("/", 1)
        return (
            ApiCall("iam", "PutRolePolicy", {"RoleName": role, "PolicyName": name, "PolicyDocument": value}),
        )
    if kind == "managed":
        return (
            ApiCall(
                "iam",
                "CreatePolicyVersion",
                {"PolicyArn": where, "PolicyDocument": value, "SetAsDefault": "true"},
            ),
        )
    return (ApiCall("s3", "PutBucketPolicy", {"Bucket": where, "Policy": value}),)


def _policy_reads(p: Params) -> str:
    kind, where = p.get("policy_kind"), p.get("policy", "")
    if kind == "role-inline":
        role, _, name = where.partition("/")
        return f"iam:GetRolePolicy RoleName={role}, PolicyName={name}"
    if kind == "managed":
        return f"iam:GetPolicy, iam:GetPolicyVersion PolicyArn={where}"
    return f"s3:GetBucketPolicy Bucket={where}"


def _rerun(p: Params, value: str) -> Calls:
    return (ApiCall("github", "ReRunWorkflowRun", {"repo": p["repo"], "run_id": value}),)


CATALOGUE: Mapping[Action, ActionSpec] = {
    Action.ECS_UPDATE_SERVICE: ActionSpec(
        Action.ECS_UPDATE_SERVICE,
        Risk.HIGH,
        "roll an ECS service back to its previous task definition",
        ("cluster", "service", "task_definition"),
        "task_definition",
        lambda w, p: w.aws.ecs_task_definition(p["cluster"], p["service"]),
        _ecs_td,
        lambda p: "ecs:DescribeServices",
        precheck=lambda w, p: w.aws.task_definition_active(p["task_definition"]),
        precheck_text="the task definition to return to is ACTIVE",
        precheck_call=lambda p: f"ecs:DescribeTaskDefinition {p.get('task_definition')}",
    ),
    Action.ECS_FORCE_NEW_DEPLOYMENT: ActionSpec(
        Action.ECS_FORCE_NEW_DEPLOYMENT,
        Risk.LOW,
        "force a new deployment of an ECS service (fresh tasks, same task definition)",
        ("cluster", "service"),
        None,
        lambda w, p: w.aws.ecs_task_definition(p["cluster"], p["service"]),
        _ecs_force,
        lambda p: "ecs:DescribeServices",
        reversible=False,
    ),
    Action.LAMBDA_UPDATE_ALIAS: ActionSpec(
        Action.LAMBDA_UPDATE_ALIAS,
        Risk.HIGH,
        "point a Lambda alias at its previous version",
        ("function", "alias", "version"),
        "version",
        lambda w, p: w.aws.lambda_alias_version(p["function"], p["alias"]),
        _alias,
        lambda p: "lambda:GetAlias",
    ),
    Action.LAMBDA_RESTORE_CONFIG: ActionSpec(
        Action.LAMBDA_RESTORE_CONFIG,
        Risk.MEDIUM,
        "restore a Lambda function's previous configuration (memory, timeout, environment, reserved concurrency)",
        ("function", "config"),
        "config",
        _lambda_read,
        _lambda_config,
        _lambda_reads,
    ),
    Action.SSM_PUT_PARAMETER: ActionSpec(
        Action.SSM_PUT_PARAMETER,
        Risk.MEDIUM,
        "restore an SSM parameter's previous value",
        ("name", "value"),
        "value",
        lambda w, p: w.aws.ssm_value(p["name"]),
        _ssm,
        lambda p: "ssm:GetParameter",
    ),
    Action.IAM_RESTORE_POLICY: ActionSpec(
        Action.IAM_RESTORE_POLICY,
        Risk.HIGH,
        "restore an IAM or S3 bucket policy's previous document",
        ("policy_kind", "policy", "document"),
        "document",
        _policy_read,
        _policy,
        _policy_reads,
    ),
    Action.GITHUB_REDEPLOY: ActionSpec(
        Action.GITHUB_REDEPLOY,
        Risk.HIGH,
        "re-run the last good run of the service's deploy workflow in GitHub Actions",
        ("repo", "workflow", "run_id"),
        "run_id",
        lambda w, p: w.latest_run(p["repo"], p["workflow"]),
        _rerun,
        lambda p: f"github:ListWorkflowRuns repo={p.get('repo')}, workflow={p.get('workflow')}",
        precheck=lambda w, p: w.run_succeeded(p["repo"], p["run_id"]),
        precheck_text="the run to re-run is a deploy that succeeded",
        precheck_call=lambda p: f"github:GetWorkflowRun repo={p.get('repo')}, run_id={p.get('run_id')}",
    ),
    Action.ASG_SET_DESIRED: ActionSpec(
        Action.ASG_SET_DESIRED,
        Risk.LOW,
        "raise an Auto Scaling group's desired capacity",
        ("asg", "desired"),
        "desired",
        lambda w, p: w.aws.asg_desired(p["asg"]),
        _asg,
        lambda p: "autoscaling:DescribeAutoScalingGroups",
        raise_only=True,
    ),
    Action.ASG_REPLACE_INSTANCE: ActionSpec(
        Action.ASG_REPLACE_INSTANCE,
        Risk.MEDIUM,
        "replace an instance of an Auto Scaling group (a fresh one is launched; desired capacity is kept)",
        ("asg", "instance_id"),
        None,
        lambda w, p: w.aws.asg_instance_state(p["asg"], p["instance_id"]),
        _replace,
        lambda p: "autoscaling:DescribeAutoScalingGroups",
        reversible=False,
    ),
    Action.SCALE_OUT: ActionSpec(
        Action.SCALE_OUT,
        Risk.LOW,
        "raise an ECS service's desired count",
        ("cluster", "service", "desired"),
        "desired",
        lambda w, p: w.aws.ecs_desired(p["cluster"], p["service"]),
        _ecs_count,
        lambda p: "ecs:DescribeServices",
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
    if spec.action is Action.IAM_RESTORE_POLICY and step.params.get("policy_kind") not in POLICY_KINDS:
        return Refusal(
            "restoring this kind of policy is not in the bot's action catalogue; do it by hand", _manual(step)
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
    reads = [f"read what is set now ({spec.reads(p)})"]
    if spec.precheck is not None:
        reads.append(f"check that {spec.precheck_text} ({spec.precheck_call(p)})")
    if bound.alarm:
        reads.append(f"cloudwatch:DescribeAlarms AlarmNames={bound.alarm} (still in ALARM)")
    lines = [f"pre-validate: {r}" for r in reads]
    lines += [f"apply: {call.text()}" for call in spec.calls(p, bound.target())]
    if bound.alarm:
        lines.append(
            f"post-validate: cloudwatch:DescribeAlarms AlarmNames={bound.alarm} until OK, "
            f"for at most {recovery_minutes:g} min"
        )
    else:
        lines.append("post-validate: no alarm named in the plan; check recovery by hand")
    if spec.reversible and bound.expect:
        back = [call.text() for call in spec.calls(p, bound.expect)]
        lines += [f"rollback (only if post-validation fails): {text}" for text in back]
    elif spec.reversible:
        lines.append(
            "rollback (only if post-validation fails): the same call"
            + ("s" if len(spec.calls(p, bound.target())) > 1 else "")
            + " with the value read at pre-validation"
        )
    else:
        lines.append("rollback: nothing to undo")
    return lines
