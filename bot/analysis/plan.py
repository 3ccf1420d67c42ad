"""Mitigation plans: prepare / pre-validate / apply / post-validate, and rollback, naming exact resources.

`build_plan` picks one builder per mitigation from `_BUILDERS`; where a mitigation takes a different shape per
resource (an ECS task-definition rollback, a Lambda alias rollback, a redeploy through GitHub; an SSM
parameter revert or a generic CloudTrail change revert) that builder picks the variant.

Steps that change production are marked `mutating`; they run only after a human approves them. A step names a
catalogue `Action` only when it carries every parameter that action needs (`ACTION_PARAMS`). The plan never
guesses a resource name or a value: when one is missing, the step says where to look it up and stays a manual
step (no action). Everything here is pure: the resources come in a `PlanContext` the investigation fills.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from bot.domain import Action, Mitigation, Phase, Plan, PlanStep

ACTION_PARAMS: Mapping[Action, tuple[str, ...]] = {
    Action.CHECK_ALARM: ("alarm",),
    Action.WAIT_ALARM_OK: ("alarm",),
    Action.DESCRIBE_TASK_DEFINITION: ("task_definition",),
    Action.ECS_UPDATE_SERVICE: ("cluster", "service", "task_definition"),
    Action.ECS_FORCE_NEW_DEPLOYMENT: ("cluster", "service"),
    Action.LAMBDA_UPDATE_ALIAS: ("function", "alias", "version"),
    Action.LAMBDA_RESTORE_CONFIG: ("function", "config"),
    Action.GITHUB_REDEPLOY: ("repo", "workflow", "run_id"),
    Action.SSM_PUT_PARAMETER: ("name", "value"),
    Action.AWS_REVERT_CHANGE: ("resource", "change"),
    Action.IAM_SIMULATE: ("role", "resource"),
    Action.IAM_RESTORE_POLICY: ("policy_kind", "policy", "document"),
    Action.ASG_CHECK_HEALTHY: ("asg",),
    Action.ASG_REPLACE_INSTANCE: ("asg", "instance_id"),
    Action.ASG_SET_DESIRED: ("asg", "desired"),
    Action.SCALE_OUT: ("target", "kind"),
    Action.SCALE_IN: ("target", "kind", "desired"),
}
"""The parameters each catalogue action needs; a step carrying an action always carries all of them."""


@dataclass(frozen=True)
class PlanContext:
    """What the plan needs to name: the failing service's resources and the guilty change's details.

    Every field is something read from the estate, never derived by guessing; None means "not known", and the
    plan then tells the responder where to look instead of naming anything.
    """

    service: str | None
    kind: str = ""
    alarm: str | None = None
    cluster: str | None = None
    ecs_service: str | None = None
    current_task_definition: str | None = None
    previous_task_definition: str | None = None  # only as read from AWS, never `rev - 1`
    asg: str | None = None
    stack: str | None = None
    function: str | None = None
    alias: str | None = None  # the Lambda alias that serves traffic
    current_version: str | None = None  # the version that alias points at now
    previous_version: str | None = None  # the version it pointed at before the incident
    parameter: str | None = None
    parameter_old: str | None = None
    parameter_new: str | None = None
    zone: str | None = None  # the availability zone to move away from
    instance: str | None = None  # the bad instance's Name tag
    instance_id: str | None = None
    resource: str | None = None
    change_action: str | None = None
    actor: str | None = None
    role: str | None = None  # the service's IAM role (task role / instance profile), for policy simulation
    repo: str | None = None
    commit: str | None = None
    parent_commit: str | None = None
    desired: int | None = None  # current desired count of the ECS service / Auto Scaling group
    # the Lambda settings the guilty change changed, before and after it (`config_text`)
    function_config_old: str | None = None
    function_config_new: str | None = None
    # the policy the guilty change rewrote: its kind (role-inline / managed / bucket), where it is
    # (`role/policy-name`, the policy ARN, the bucket), its document before and after the change
    policy_kind: str | None = None
    policy: str | None = None
    policy_old: str | None = None
    policy_new: str | None = None
    # the deploy workflow (its file name) and its runs: the last good one, and the one that shipped the change
    workflow: str | None = None
    good_run: str | None = None
    bad_run: str | None = None


#: The Lambda settings that are numbers.
_INT_SETTINGS = frozenset({"MemorySize", "Timeout", "ReservedConcurrentExecutions"})


def config_text(values: Mapping[str, object]) -> str:
    """Lambda settings (`MemorySize`, `Timeout`, `ReservedConcurrentExecutions`, `Environment` -- the variables)
    as one canonical JSON text, so the plan's value and the one read from AWS compare equal."""
    out: dict[str, object] = {}
    for key, value in values.items():
        if key in _INT_SETTINGS and value is not None:
            out[key] = int(str(value))
        elif key == "Environment" and isinstance(value, Mapping):
            out[key] = {str(k): str(v) for k, v in value.items()}
        else:
            out[key] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def scaled_out(current: int) -> int:
    """The desired count a scale-out asks for: half as much again, rounded up, and at least one more."""
    return max(math.ceil(current * 1.5), current + 1)


class _Draft(NamedTuple):
    steps: list[PlanStep]
    fix: str


# Small helpers shared by the builders.


def _svc(ctx: PlanContext) -> str:
    return ctx.service or "the service"


def _tick(value: str | None, otherwise: str) -> str:
    """`value` as code, or `otherwise` (what to look up) when it is not known."""
    return f"`{value}`" if value else otherwise


def _sha(commit: str | None, otherwise: str) -> str:
    return commit[:7] if commit else otherwise


def _step(
    phase: Phase, text: str, action: Action | None = None, mutating: bool = False, **params: str | None
) -> PlanStep:
    """A step with its known params; it names `action` only when every parameter the action needs is known."""
    clean = {k: v for k, v in params.items() if v}
    if action is not None and not all(k in clean for k in ACTION_PARAMS[action]):
        action = None
    return PlanStep(phase=phase, description=text, action=action, params=clean, mutating=mutating)


def _checks(ctx: PlanContext) -> tuple[PlanStep, PlanStep]:
    """The usual pre-check (still broken) and post-check (alarm back to OK)."""
    svc = _svc(ctx)
    if ctx.alarm:
        pre_text = f"Confirm `{ctx.alarm}` is still in ALARM and the error rate has not recovered on its own"
        post_text = (
            f"Watch `{ctx.alarm}` return to OK and {svc}'s error rate fall to its baseline within 10 minutes"
        )
    else:
        pre_text = (
            f"Find {svc}'s alarms (`aws cloudwatch describe-alarms`) and confirm they are still in ALARM "
            "and the error rate has not recovered on its own"
        )
        post_text = (
            f"Watch {svc}'s alarms return to OK and its error rate fall to its baseline within 10 minutes"
        )
    pre = _step(Phase.PRE_VALIDATE, pre_text, Action.CHECK_ALARM, alarm=ctx.alarm)
    post = _step(Phase.POST_VALIDATE, post_text, Action.WAIT_ALARM_OK, alarm=ctx.alarm, service=ctx.service)
    return pre, post


def _restart(ctx: PlanContext, text: str, **extra: str | None) -> PlanStep:
    """Restart the service: executable (ECS force new deployment) when its cluster and service are known."""
    return _step(
        Phase.APPLY,
        text,
        Action.ECS_FORCE_NEW_DEPLOYMENT,
        mutating=True,
        cluster=ctx.cluster,
        service=ctx.ecs_service,
        **extra,
    )


# Rollback: to the previous ECS task definition, the previous Lambda version, or the previous commit.


def _rollback(ctx: PlanContext, cause: str) -> _Draft:
    if ctx.ecs_service:
        steps = _rollback_ecs(ctx)
    elif ctx.function and ctx.previous_version:
        steps = _rollback_lambda(ctx)
    else:
        steps = _rollback_redeploy(ctx)
    fix = (
        f"Fix the change in {_sha(ctx.commit, 'the release')} with a test that reproduces "
        f"{cause or 'the failure'}; deploy progressively with automatic rollback on the error-rate alarm."
    )
    return _Draft(steps, fix)


def _rollback_ecs(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    ecs, cur, prev = ctx.ecs_service, ctx.current_task_definition, ctx.previous_task_definition
    where = (
        f"`{ecs}` (cluster `{ctx.cluster}`)"
        if ctx.cluster
        else f"`{ecs}` (find its cluster: `aws ecs list-clusters`)"
    )
    if prev:
        check = f"Check that `{prev}` is ACTIVE and was healthy before the deploy"
    else:
        check = (
            f"Find the last good task definition of `{ecs}`: the one its PRIMARY deployment ran before "
            "the incident (`aws ecs describe-services` lists it while the rollout is in progress; after "
            "that, the service's `UpdateService` calls in CloudTrail); check it is ACTIVE and was healthy "
            "before the deploy"
        )
    ecs_params = {"cluster": ctx.cluster, "service": ecs}
    return [
        _step(
            Phase.PREPARE,
            f"Note the running task definition `{cur}` of ECS service `{ecs}`"
            if cur
            else f"Note the running task definition of ECS service `{ecs}` (`aws ecs describe-services`)",
        ),
        pre,
        _step(Phase.PRE_VALIDATE, check, Action.DESCRIBE_TASK_DEFINITION, task_definition=prev),
        _step(
            Phase.APPLY,
            f"Roll {where} back to {_tick(prev, 'the last good task definition found above')}",
            Action.ECS_UPDATE_SERVICE,
            mutating=True,
            **ecs_params,
            task_definition=prev,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"If it gets worse, return `{ecs}` to {_tick(cur, 'the task definition noted first')}",
            Action.ECS_UPDATE_SERVICE,
            mutating=True,
            **ecs_params,
            task_definition=cur,
        ),
    ]


def _rollback_lambda(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    fn, alias, cur = ctx.function, ctx.alias, ctx.current_version
    named = f"alias `{alias}`" if alias else "that alias"
    lambda_params = {"function": fn, "alias": alias}
    return [
        _step(
            Phase.PREPARE,
            f"Note the version the `{alias}` alias of Lambda `{fn}` points at"
            if alias
            else f"Find the alias that serves traffic for Lambda `{fn}` (`aws lambda list-aliases`) "
            "and note the version it points at",
        ),
        pre,
        _step(
            Phase.APPLY,
            f"Point {named} of `{fn}` back to version {ctx.previous_version}",
            Action.LAMBDA_UPDATE_ALIAS,
            mutating=True,
            **lambda_params,
            version=ctx.previous_version,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"Point {_tick(alias, 'that alias')} back to "
            + (f"the current version of `{fn}`" if cur else f"the version of `{fn}` noted in the first step"),
            Action.LAMBDA_UPDATE_ALIAS,
            mutating=True,
            **lambda_params,
            version=cur,
        ),
    ]


def _rollback_redeploy(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    svc, good = _svc(ctx), _sha(ctx.parent_commit, "")
    if ctx.repo and good:
        find = f"Find the last good release of {svc}: commit {good} in `{ctx.repo}`"
    elif ctx.repo:
        find = (
            f"Find the last good release of {svc}: the commit deployed before "
            f"{_sha(ctx.commit, 'the incident')} in `{ctx.repo}` (its deployments or releases)"
        )
    else:
        find = f"Find the last good release of {svc}"
    apply = (
        f"Redeploy {svc} at {good or 'the last good release found above'} "
        f"(revert {_sha(ctx.commit, 'the bad commit')})"
        + (f" — stack `{ctx.stack}`" if ctx.stack else "")
        + (f", Auto Scaling group `{ctx.asg}` instance refresh" if ctx.asg else "")
    )
    return [
        _step(Phase.PREPARE, find),
        pre,
        _step(
            Phase.APPLY,
            apply
            + (f": re-run `{ctx.workflow}` run {ctx.good_run}" if ctx.workflow and ctx.good_run else ""),
            Action.GITHUB_REDEPLOY,
            mutating=True,
            repo=ctx.repo,
            workflow=ctx.workflow,
            run_id=ctx.good_run,
            ref=ctx.parent_commit,
            revert=ctx.commit,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"Redeploy {_sha(ctx.commit, 'the current release')} if the old release misbehaves"
            + (f" (re-run run {ctx.bad_run})" if ctx.bad_run else ""),
            Action.GITHUB_REDEPLOY,
            mutating=True,
            repo=ctx.repo,
            workflow=ctx.workflow,
            run_id=ctx.bad_run,
            ref=ctx.commit,
        ),
    ]


# Configuration: an SSM parameter back to its old value, or another change undone from its CloudTrail record.


def _revert_config(ctx: PlanContext, cause: str) -> _Draft:
    if ctx.parameter:
        steps = _revert_parameter(ctx)
    elif ctx.function and ctx.function_config_old:
        steps = _restore_function(ctx)
    else:
        steps = _revert_change(ctx)
    fix = (
        "Manage this setting as code with review, and alarm on its value; "
        "validate risky values before they ship."
    )
    return _Draft(steps, fix)


def _revert_parameter(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    name, old, new = ctx.parameter, ctx.parameter_old, ctx.parameter_new
    if old and new:
        history = f"Read the history of SSM parameter `{name}`: now `{new}`, before `{old}`"
    else:
        history = (
            f"Read the history of SSM parameter `{name}` (`aws ssm get-parameter-history --name {name}`) "
            "and note its value now and its value before the change"
        )
    return [
        _step(Phase.PREPARE, history),
        pre,
        _step(
            Phase.APPLY,
            f"Set `{name}` back to {_tick(old, 'its value before the change (from its history)')}",
            Action.SSM_PUT_PARAMETER,
            mutating=True,
            name=name,
            value=old,
        ),
        _restart(
            ctx,
            f"Restart {_svc(ctx)} so it reads the value again (ECS force new deployment / instance refresh)",
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"Set `{name}` to {_tick(new, 'its value now (from its history)')} again",
            Action.SSM_PUT_PARAMETER,
            mutating=True,
            name=name,
            value=new,
        ),
    ]


def _settings(text: str | None) -> str:
    """`MemorySize 512, Timeout 30` from a `config_text`."""
    values = json.loads(text or "{}")
    return ", ".join(
        f"{k} {json.dumps(v, sort_keys=True) if isinstance(v, dict) else v}"
        for k, v in sorted(values.items())
    )


def _restore_function(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    fn, old, new = ctx.function, ctx.function_config_old, ctx.function_config_new
    return [
        _step(
            Phase.PREPARE,
            f"Note the settings of Lambda `{fn}` the change set"
            + (f" (now {_settings(new)})" if new else " (`aws lambda get-function-configuration`)"),
        ),
        pre,
        _step(
            Phase.APPLY,
            f"Restore `{fn}`'s settings from before the change: {_settings(old)}",
            Action.LAMBDA_RESTORE_CONFIG,
            mutating=True,
            function=fn,
            config=old,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"Put `{fn}`'s settings back to "
            + (_settings(new) if new else "the values noted in the first step"),
            Action.LAMBDA_RESTORE_CONFIG,
            mutating=True,
            function=fn,
            config=new,
        ),
    ]


def _revert_change(ctx: PlanContext) -> list[PlanStep]:
    pre, post = _checks(ctx)
    change = _tick(ctx.change_action, "the change")
    on = f" on `{ctx.resource}`" if ctx.resource else ""
    by = f" by {ctx.actor}" if ctx.actor else ""
    if ctx.change_action:
        record = f"Open the CloudTrail record of {change}{on}{by} and note the previous settings"
    else:
        record = (
            f"Find the change{on}{by} in CloudTrail (`LookupEvents` around the onset) "
            "and note the previous settings"
        )
    return [
        _step(Phase.PREPARE, record),
        pre,
        _step(
            Phase.APPLY,
            f"Undo {change}{on} (restore the previous settings)",
            Action.AWS_REVERT_CHANGE,
            mutating=True,
            resource=ctx.resource,
            change=ctx.change_action,
        ),
        post,
        # No catalogue action re-applies a change: a human does it from the record noted first.
        _step(
            Phase.ROLLBACK,
            f"Re-apply {change}{on} as {ctx.actor} made it"
            if ctx.actor
            else f"Re-apply {change}{on} as it was made",
            mutating=True,
            resource=ctx.resource,
        ),
    ]


def _revert_permission(ctx: PlanContext, cause: str) -> _Draft:
    pre, post = _checks(ctx)
    svc, change = _svc(ctx), _tick(ctx.change_action, "the change")
    policy = _tick(ctx.resource, "that resource")
    by = f" by {ctx.actor}" if ctx.actor else ""
    role = f"role `{ctx.role}`" if ctx.role else "role (its task role or instance profile)"
    save = f"Save the current policy of {policy} and the CloudTrail record of {change}{by}"
    if not ctx.resource:
        save = (
            f"Find the resource {svc} is denied on (AccessDenied errors in its logs and CloudTrail). {save}"
        )
    if ctx.policy_old:
        save = f"Save the current document of {_tick(ctx.policy, 'the policy')} and the CloudTrail record of {change}{by}"
    where = {"policy_kind": ctx.policy_kind, "policy": ctx.policy}
    steps = [
        _step(Phase.PREPARE, save),
        pre,
        _step(
            Phase.PRE_VALIDATE,
            f"Confirm with IAM policy simulation that {svc}'s {role} is denied on {policy}",
            Action.IAM_SIMULATE,
            role=ctx.role,
            resource=ctx.resource,
        ),
        _step(
            Phase.APPLY,
            f"Restore the policy of {policy} to its state before {change}"
            + (f" (the document {ctx.policy} had before it)" if ctx.policy_old and ctx.policy else ""),
            Action.IAM_RESTORE_POLICY,
            mutating=True,
            **where,
            document=ctx.policy_old,
            resource=ctx.resource,
            change=ctx.change_action,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"Re-apply the policy {change} wrote"
            if ctx.policy_new
            else f"Re-apply the saved policy of {policy}",
            Action.IAM_RESTORE_POLICY,
            mutating=True,
            **where,
            document=ctx.policy_new,
            resource=ctx.resource,
        ),
    ]
    fix = (
        "Review policy changes before they apply (IAM Access Analyzer policy checks in CI) "
        "and alarm on AccessDenied rates."
    )
    return _Draft(steps, fix)


def _instance_texts(ctx: PlanContext) -> tuple[str, str, str]:
    """What to capture, what to check healthy and what to terminate, for the bad instance as far as known."""
    label, iid = ctx.instance or ctx.instance_id, ctx.instance_id
    who = _tick(label, "the bad instance")
    if label:
        also = f" ({iid})" if ctx.instance and iid else ""
        capture = f"Capture logs and a snapshot of `{label}`{also} for the post-mortem"
    else:
        capture = "Find the bad instance (its errors or failed health checks stand out) and capture its logs"
    if ctx.asg:
        healthy = f"Check that the rest of `{ctx.asg}` is healthy and can carry the load"
    else:
        healthy = (
            f"Find the Auto Scaling group of {who} (`aws autoscaling describe-auto-scaling-instances`) "
            "and check that the rest of it is healthy and can carry the load"
        )
    asg = _tick(ctx.asg, "its Auto Scaling group")
    if iid:
        terminate = f"Terminate `{iid}` in {asg}"
    else:
        terminate = (
            f"Look up the instance id of {who} (`aws ec2 describe-instances`, by its Name tag) "
            f"and terminate it in {asg}"
        )
    return capture, healthy, terminate


def _replace_instance(ctx: PlanContext, cause: str) -> _Draft:
    pre, post = _checks(ctx)
    capture, healthy, terminate = _instance_texts(ctx)
    asg = _tick(ctx.asg, "its Auto Scaling group")
    steps = [
        _step(Phase.PREPARE, capture),
        pre,
        _step(Phase.PRE_VALIDATE, healthy, Action.ASG_CHECK_HEALTHY, asg=ctx.asg),
        _step(
            Phase.APPLY,
            f"{terminate} without lowering desired capacity, so a fresh one replaces it",
            Action.ASG_REPLACE_INSTANCE,
            mutating=True,
            asg=ctx.asg,
            instance_id=ctx.instance_id,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"If the new instance fails too, raise {asg} desired capacity by one "
            "and investigate the launch template",
            Action.ASG_SET_DESIRED,
            mutating=True,
            asg=ctx.asg,
            desired=None if ctx.desired is None else str(ctx.desired + 1),
        ),
    ]
    fix = (
        "Make instances disposable: no manual sessions on production hosts (SSM session logging, "
        "break-glass approvals), health checks that catch a broken host."
    )
    return _Draft(steps, fix)


def _restart_service(ctx: PlanContext, cause: str) -> _Draft:
    pre, post = _checks(ctx)
    svc = _svc(ctx)
    task = f"one {ctx.service} task" if ctx.service else "one of its tasks"
    steps = [
        _step(Phase.PREPARE, f"Capture a heap/thread dump of {task} for the post-mortem"),
        pre,
        _restart(
            ctx,
            f"Restart {svc} one task at a time (ECS force new deployment / instance refresh)",
            asg=ctx.asg,
        ),
        post,
        _step(Phase.ROLLBACK, "Nothing to undo; if it fails again soon, scale out and escalate"),
    ]
    fix = (
        f"Find why {svc} degrades over time (memory/connection leak) and alarm on the trend before it pages."
    )
    return _Draft(steps, fix)


def _grow_database(ctx: PlanContext) -> _Draft:
    """A database that ran out of room: grow it in place (a database is not scaled out by adding tasks)."""
    pre, post = _checks(ctx)
    name = _tick(ctx.service, "the database")
    steps = [
        _step(Phase.PREPARE, f"Note {name}'s free storage, CPU and connections, and what grew"),
        pre,
        _step(
            Phase.APPLY,
            f"Grow {name}: add at least 50% allocated storage if its storage filled up (ModifyDBInstance "
            "AllocatedStorage, applied immediately, no restart), or move it to a larger instance class if CPU "
            "or connections are at their limit",
            Action.SCALE_OUT,
            mutating=True,
            target=ctx.service,
            kind="rds",
        ),
        post,
        _step(
            Phase.ROLLBACK,
            "Storage cannot be shrunk; a larger instance class can be moved back in a maintenance window once "
            "traffic returns to normal",
        ),
    ]
    fix = f"Alarm on {_svc(ctx)}'s FreeStorageSpace and connections trends, and prune data that grows unbounded."
    return _Draft(steps, fix)


def _scale_out(ctx: PlanContext, cause: str) -> _Draft:
    if ctx.kind == "rds":
        return _grow_database(ctx)
    pre, post = _checks(ctx)
    svc, d = _svc(ctx), ctx.desired
    target = ctx.ecs_service or ctx.asg or ctx.service
    name = _tick(target, svc)
    kind = ctx.kind or None
    more = None if d is None else str(scaled_out(d))
    how = "at least 50% more capacity" + ("" if d is None else f": desired {d} → {more}")
    if ctx.asg and not ctx.ecs_service:
        action, where = Action.ASG_SET_DESIRED, {"asg": ctx.asg, "desired": more}
    else:
        action, where = Action.SCALE_OUT, {"target": target, "kind": kind}
        if ctx.ecs_service:
            where |= {"cluster": ctx.cluster, "service": ctx.ecs_service, "desired": more}
    apply = _step(Phase.APPLY, f"Scale out {name} ({how})", action, mutating=True, **where)
    steps = [
        _step(
            Phase.PREPARE,
            f"Check quotas and headroom for {name}"
            + ("" if d is not None else " and note its current desired capacity"),
        ),
        pre,
        apply,
        post,
        _step(
            Phase.ROLLBACK,
            f"Scale {name} back in "
            + (f"to desired {d} " if d is not None else "to the capacity noted in the first step ")
            + "once traffic returns to normal",
            Action.SCALE_IN,
            mutating=True,
            target=target,
            kind=kind,
            desired=None if d is None else str(d),
        ),
    ]
    fix = (
        f"Autoscale {svc} on saturation, load-test for the traffic peaks you expect, "
        "and add caching or query limits where load concentrates."
    )
    return _Draft(steps, fix)


def _failover(ctx: PlanContext, cause: str) -> _Draft:
    if ctx.zone:
        return _leave_zone(ctx, ctx.zone)
    pre, post = _checks(ctx)
    svc = _svc(ctx)
    # The catalogue has no failover action: a human runs these, after approval.
    steps = [
        _step(Phase.PREPARE, f"Confirm the standby of {svc} is in sync"),
        pre,
        _step(Phase.APPLY, f"Fail {svc} over to its standby", mutating=True, target=ctx.service),
        post,
        _step(
            Phase.ROLLBACK,
            f"Fail back to the primary of {svc} once it is healthy",
            mutating=True,
            target=ctx.service,
        ),
    ]
    return _Draft(steps, f"Practise failover of {svc} regularly and automate it behind health checks.")


def _leave_zone(ctx: PlanContext, zone: str) -> _Draft:
    """One availability zone is failing: move the service's traffic and instances out of it."""
    pre, post = _checks(ctx)
    svc = _svc(ctx)
    where = f"`{ctx.asg}`" if ctx.asg else f"{svc}'s Auto Scaling group"
    steps = [
        _step(
            Phase.PREPARE,
            f"Check the AWS Health Dashboard for {zone}, and that the other zones have room for {svc}'s load",
        ),
        pre,
        _step(
            Phase.APPLY,
            f"Shift {svc}'s traffic away from {zone} (an ARC zonal shift on its load balancer), and take {zone} "
            f"out of {where}'s subnets so replacements start elsewhere",
            mutating=True,
            target=ctx.service,
        ),
        post,
        _step(
            Phase.ROLLBACK,
            f"End the zonal shift and give {where} back its {zone} subnet once {zone} is healthy",
            mutating=True,
            target=ctx.service,
        ),
    ]
    return _Draft(
        steps, f"Enable zonal autoshift for {svc}'s load balancer and keep a zone's worth of headroom."
    )


def _wait(ctx: PlanContext, cause: str) -> _Draft:
    if ctx.kind == "rds":
        return _wait_for_database(ctx)
    svc = _svc(ctx)
    steps = [
        _step(Phase.PREPARE, f"Subscribe to {svc}'s status page and open a ticket with the provider"),
        _step(
            Phase.PRE_VALIDATE,
            f"Check that callers of {svc} degrade gracefully (timeouts, circuit breakers, cached responses)",
        ),
        _step(Phase.APPLY, "Tell customers about the degradation; shed or queue work that depends on it"),
        _step(
            Phase.POST_VALIDATE,
            f"Watch callers' errors to {svc} fall back to baseline after the provider recovers",
        ),
        _step(Phase.ROLLBACK, "Undo any load shedding once the provider is healthy"),
    ]
    return _Draft(
        steps,
        f"Add a fallback or second provider for {svc}, with circuit breakers and timeouts on every call.",
    )


def _wait_for_database(ctx: PlanContext) -> _Draft:
    """AWS is already failing the database over or restarting it: watch it finish and the clients reconnect."""
    svc = _svc(ctx)
    pre, post = _checks(ctx)
    steps = [
        _step(
            Phase.PREPARE,
            f"Follow {svc}'s RDS events until the failover or restart completes "
            f"(`aws rds describe-events --source-type db-instance --source-identifier {svc} --duration 60`)",
        ),
        pre,
        _step(
            Phase.APPLY,
            f"Once {svc} is available, restart only the callers whose connection pools still hold dead "
            "connections (errors that persist after the event completed)",
        ),
        post,
        _step(Phase.ROLLBACK, "Nothing to undo: no setting was changed"),
    ]
    fix = (
        f"Make {svc}'s clients survive a failover: validate pooled connections, a short DNS TTL and "
        "connection lifetime, retries with backoff, or RDS Proxy in front of the database."
    )
    return _Draft(steps, fix)


def _nothing(ctx: PlanContext, cause: str) -> _Draft:
    steps = [
        _step(Phase.PREPARE, "Nothing to mitigate"),
        _step(Phase.POST_VALIDATE, f"Confirm {_tick(ctx.alarm, 'the alarm')} returns to OK"),
        _step(Phase.ROLLBACK, "Nothing to undo"),
    ]
    fix = "Tune the alarm (longer evaluation period or a percentile threshold) so a brief blip does not page."
    return _Draft(steps, fix)


_BUILDERS: Mapping[Mitigation, Callable[[PlanContext, str], _Draft]] = {
    Mitigation.ROLLBACK: _rollback,
    Mitigation.REVERT_CONFIG: _revert_config,
    Mitigation.REVERT_PERMISSION: _revert_permission,
    Mitigation.REPLACE_INSTANCE: _replace_instance,
    Mitigation.RESTART: _restart_service,
    Mitigation.SCALE_OUT: _scale_out,
    Mitigation.FAILOVER: _failover,
    Mitigation.WAIT: _wait,
    Mitigation.NONE: _nothing,
}

_SUMMARIES: Mapping[Mitigation, str] = {
    Mitigation.ROLLBACK: "Roll {svc} back to its last good release",
    Mitigation.REVERT_CONFIG: "Revert the configuration change on {svc}",
    Mitigation.REVERT_PERMISSION: "Restore the permission {svc}'s callers need",
    Mitigation.REPLACE_INSTANCE: "Replace the broken instance of {svc}",
    Mitigation.RESTART: "Restart {svc}",
    Mitigation.SCALE_OUT: "Scale {svc} out",
    Mitigation.FAILOVER: "Fail {svc} over",
    Mitigation.WAIT: "Wait for {svc} to recover and limit the damage meanwhile",
    Mitigation.NONE: "No action needed",
}


def build_plan(mitigation: Mitigation, ctx: PlanContext, cause: str = "") -> Plan:
    """The plan for a mitigation, specific to the resources in `ctx`."""
    draft = _BUILDERS[mitigation](ctx, cause)
    summary = _SUMMARIES[mitigation].format(svc=_svc(ctx))
    return Plan(mitigation=mitigation, summary=summary, steps=tuple(draft.steps), long_term_fix=draft.fix)
