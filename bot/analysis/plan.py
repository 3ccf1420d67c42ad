"""Mitigation plans: prepare / pre-validate / apply / post-validate, and rollback, naming exact resources.

Steps that change production name a catalogue action and are marked `mutating`; they run only after a
human approves them. Everything here is pure: the resources come in a `PlanContext` the investigation fills.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Mitigation, Phase, Plan, PlanStep


@dataclass(frozen=True)
class PlanContext:
    """What the plan needs to name: the failing service's resources and the guilty change's details."""

    service: str | None
    kind: str = ""
    alarm: str | None = None
    cluster: str | None = None
    ecs_service: str | None = None
    current_task_definition: str | None = None
    previous_task_definition: str | None = None
    asg: str | None = None
    stack: str | None = None
    function: str | None = None
    previous_version: str | None = None
    parameter: str | None = None
    parameter_old: str | None = None
    parameter_new: str | None = None
    instance: str | None = None
    instance_id: str | None = None
    resource: str | None = None
    change_action: str | None = None
    actor: str | None = None
    repo: str | None = None
    commit: str | None = None
    parent_commit: str | None = None
    desired: int | None = None


def _s(
    phase: Phase, text: str, action: str | None = None, mutating: bool = False, **params: str | None
) -> PlanStep:
    clean = {k: v for k, v in params.items() if v is not None}
    return PlanStep(phase=phase, description=text, action=action, params=clean, mutating=mutating)


def _checks(ctx: PlanContext) -> tuple[PlanStep, PlanStep]:
    """The usual pre-check (still broken) and post-check (alarm back to OK)."""
    alarm = ctx.alarm or f"{ctx.service} alarms"
    pre = _s(
        Phase.PRE_VALIDATE,
        f"Confirm `{alarm}` is still in ALARM and the error rate has not recovered on its own",
        "cloudwatch.check_alarm",
        alarm=ctx.alarm,
    )
    post = _s(
        Phase.POST_VALIDATE,
        f"Watch `{alarm}` return to OK and {ctx.service}'s error rate fall to its baseline within 10 minutes",
        "cloudwatch.wait_ok",
        alarm=ctx.alarm,
        service=ctx.service,
    )
    return pre, post


def build_plan(mitigation: Mitigation, ctx: PlanContext, cause: str = "") -> Plan:
    """The plan for a mitigation, specific to the resources in `ctx`."""
    pre, post = _checks(ctx)
    svc = ctx.service or "the service"
    steps: list[PlanStep]
    fix = ""
    if mitigation is Mitigation.ROLLBACK:
        if ctx.ecs_service and ctx.previous_task_definition:
            steps = [
                _s(
                    Phase.PREPARE,
                    f"Note the running task definition `{ctx.current_task_definition}` of ECS service `{ctx.ecs_service}`",
                ),
                pre,
                _s(
                    Phase.PRE_VALIDATE,
                    f"Check that `{ctx.previous_task_definition}` is ACTIVE and was healthy before the deploy",
                    "ecs.describe_task_definition",
                    task_definition=ctx.previous_task_definition,
                ),
                _s(
                    Phase.APPLY,
                    f"Roll `{ctx.ecs_service}` (cluster `{ctx.cluster}`) back to `{ctx.previous_task_definition}`",
                    "ecs.update_service",
                    mutating=True,
                    cluster=ctx.cluster,
                    service=ctx.ecs_service,
                    task_definition=ctx.previous_task_definition,
                ),
                post,
                _s(
                    Phase.ROLLBACK,
                    f"If it gets worse, return `{ctx.ecs_service}` to `{ctx.current_task_definition}`",
                    "ecs.update_service",
                    mutating=True,
                    cluster=ctx.cluster,
                    service=ctx.ecs_service,
                    task_definition=ctx.current_task_definition,
                ),
            ]
        elif ctx.function and ctx.previous_version:
            steps = [
                _s(Phase.PREPARE, f"Note the version the `live` alias of Lambda `{ctx.function}` points at"),
                pre,
                _s(
                    Phase.APPLY,
                    f"Point alias `live` of `{ctx.function}` back to version {ctx.previous_version}",
                    "lambda.update_alias",
                    mutating=True,
                    function=ctx.function,
                    version=ctx.previous_version,
                ),
                post,
                _s(
                    Phase.ROLLBACK,
                    f"Point `live` back to the current version of `{ctx.function}`",
                    "lambda.update_alias",
                    mutating=True,
                    function=ctx.function,
                ),
            ]
        else:
            target = f"{ctx.parent_commit[:7]}" if ctx.parent_commit else "the previous release"
            steps = [
                _s(
                    Phase.PREPARE,
                    f"Find the last good release of {svc}: commit {target} in `{ctx.repo}`"
                    if ctx.repo
                    else f"Find the last good release of {svc}",
                ),
                pre,
                _s(
                    Phase.APPLY,
                    f"Redeploy {svc} at {target} (revert {ctx.commit[:7] if ctx.commit else 'the bad commit'})"
                    + (f" — stack `{ctx.stack}`" if ctx.stack else "")
                    + (f", Auto Scaling group `{ctx.asg}` instance refresh" if ctx.asg else ""),
                    "github.redeploy",
                    mutating=True,
                    repo=ctx.repo,
                    ref=ctx.parent_commit,
                    revert=ctx.commit,
                ),
                post,
                _s(
                    Phase.ROLLBACK,
                    f"Redeploy {ctx.commit[:7] if ctx.commit else 'the current release'} if the old release misbehaves",
                    "github.redeploy",
                    mutating=True,
                    repo=ctx.repo,
                    ref=ctx.commit,
                ),
            ]
        fix = f"Fix the change in {ctx.commit[:7] if ctx.commit else 'the release'} with a test that reproduces {cause or 'the failure'}; deploy progressively with automatic rollback on the error-rate alarm."
    elif mitigation is Mitigation.REVERT_CONFIG:
        if ctx.parameter:
            steps = [
                _s(
                    Phase.PREPARE,
                    f"Read the history of SSM parameter `{ctx.parameter}`: now `{ctx.parameter_new}`, before `{ctx.parameter_old}`",
                ),
                pre,
                _s(
                    Phase.APPLY,
                    f"Set `{ctx.parameter}` back to `{ctx.parameter_old}`",
                    "ssm.put_parameter",
                    mutating=True,
                    name=ctx.parameter,
                    value=ctx.parameter_old,
                ),
                _s(
                    Phase.APPLY,
                    f"Restart {svc} so it reads the value again (ECS force new deployment / instance refresh)",
                    "ecs.force_new_deployment",
                    mutating=True,
                    cluster=ctx.cluster,
                    service=ctx.ecs_service,
                ),
                post,
                _s(
                    Phase.ROLLBACK,
                    f"Set `{ctx.parameter}` to `{ctx.parameter_new}` again",
                    "ssm.put_parameter",
                    mutating=True,
                    name=ctx.parameter,
                    value=ctx.parameter_new,
                ),
            ]
        else:
            steps = [
                _s(
                    Phase.PREPARE,
                    f"Open the CloudTrail record of `{ctx.change_action}` on `{ctx.resource}` by {ctx.actor} and note the previous settings",
                ),
                pre,
                _s(
                    Phase.APPLY,
                    f"Undo `{ctx.change_action}` on `{ctx.resource}` (restore the previous settings)",
                    "aws.revert_change",
                    mutating=True,
                    resource=ctx.resource,
                    change=ctx.change_action,
                ),
                post,
                _s(
                    Phase.ROLLBACK,
                    f"Re-apply `{ctx.change_action}` on `{ctx.resource}` as {ctx.actor} made it",
                    "aws.revert_change",
                    mutating=True,
                    resource=ctx.resource,
                ),
            ]
        fix = "Manage this setting as code with review, and alarm on its value; validate risky values before they ship."
    elif mitigation is Mitigation.REVERT_PERMISSION:
        steps = [
            _s(
                Phase.PREPARE,
                f"Save the current policy of `{ctx.resource}` and the CloudTrail record of `{ctx.change_action}` by {ctx.actor}",
            ),
            pre,
            _s(
                Phase.PRE_VALIDATE,
                f"Confirm with IAM policy simulation that {svc}'s role is denied on `{ctx.resource}`",
                "iam.simulate",
                resource=ctx.resource,
            ),
            _s(
                Phase.APPLY,
                f"Restore the policy of `{ctx.resource}` to its state before `{ctx.change_action}`",
                "iam.restore_policy",
                mutating=True,
                resource=ctx.resource,
                change=ctx.change_action,
            ),
            post,
            _s(
                Phase.ROLLBACK,
                f"Re-apply the saved policy of `{ctx.resource}`",
                "iam.restore_policy",
                mutating=True,
                resource=ctx.resource,
            ),
        ]
        fix = "Review policy changes before they apply (IAM Access Analyzer policy checks in CI) and alarm on AccessDenied rates."
    elif mitigation is Mitigation.REPLACE_INSTANCE:
        who = ctx.instance_id or ctx.instance or "the bad instance"
        steps = [
            _s(
                Phase.PREPARE,
                f"Capture logs and a snapshot of `{ctx.instance}` ({ctx.instance_id}) for the post-mortem"
                if ctx.instance
                else "Capture the bad instance's logs",
            ),
            pre,
            _s(
                Phase.PRE_VALIDATE,
                f"Check that the rest of `{ctx.asg}` is healthy and can carry the load",
                "autoscaling.check_healthy",
                asg=ctx.asg,
            ),
            _s(
                Phase.APPLY,
                f"Terminate `{who}` in `{ctx.asg}` without lowering desired capacity, so a fresh one replaces it",
                "autoscaling.replace_instance",
                mutating=True,
                asg=ctx.asg,
                instance_id=ctx.instance_id or ctx.instance,
            ),
            post,
            _s(
                Phase.ROLLBACK,
                f"If the new instance fails too, raise `{ctx.asg}` desired capacity by one and investigate the launch template",
                "autoscaling.set_desired",
                mutating=True,
                asg=ctx.asg,
            ),
        ]
        fix = "Make instances disposable: no manual sessions on production hosts (SSM session logging, break-glass approvals), health checks that catch a broken host."
    elif mitigation is Mitigation.RESTART:
        steps = [
            _s(Phase.PREPARE, f"Capture a heap/thread dump of one {svc} task for the post-mortem"),
            pre,
            _s(
                Phase.APPLY,
                f"Restart {svc} one task at a time (ECS force new deployment / instance refresh)",
                "ecs.force_new_deployment",
                mutating=True,
                cluster=ctx.cluster,
                service=ctx.ecs_service,
                asg=ctx.asg,
            ),
            post,
            _s(Phase.ROLLBACK, "Nothing to undo; if it fails again soon, scale out and escalate"),
        ]
        fix = f"Find why {svc} degrades over time (memory/connection leak) and alarm on the trend before it pages."
    elif mitigation is Mitigation.SCALE_OUT:
        target = ctx.ecs_service or ctx.asg or svc
        steps = [
            _s(Phase.PREPARE, f"Check quotas and headroom for `{target}`"),
            pre,
            _s(
                Phase.APPLY,
                f"Scale out `{target}` (at least 50% more capacity{'' if ctx.desired is None else f', desired {ctx.desired}'})",
                "scale.out",
                mutating=True,
                target=target,
                kind=ctx.kind,
            ),
            post,
            _s(
                Phase.ROLLBACK,
                f"Scale `{target}` back in once traffic returns to normal",
                "scale.in",
                mutating=True,
                target=target,
            ),
        ]
        fix = f"Autoscale {svc} on saturation, load-test for the traffic peaks you expect, and add caching or query limits where load concentrates."
    elif mitigation is Mitigation.FAILOVER:
        steps = [
            _s(Phase.PREPARE, f"Confirm the standby of {svc} is in sync"),
            pre,
            _s(Phase.APPLY, f"Fail {svc} over to its standby", "failover", mutating=True, target=svc),
            post,
            _s(
                Phase.ROLLBACK,
                f"Fail back to the primary of {svc} once it is healthy",
                "failback",
                mutating=True,
                target=svc,
            ),
        ]
        fix = f"Practise failover of {svc} regularly and automate it behind health checks."
    elif mitigation is Mitigation.WAIT:
        steps = [
            _s(Phase.PREPARE, f"Subscribe to {svc}'s status page and open a ticket with the provider"),
            _s(
                Phase.PRE_VALIDATE,
                f"Check that callers of {svc} degrade gracefully (timeouts, circuit breakers, cached responses)",
            ),
            _s(Phase.APPLY, "Tell customers about the degradation; shed or queue work that depends on it"),
            _s(
                Phase.POST_VALIDATE,
                f"Watch callers' errors to {svc} fall back to baseline after the provider recovers",
            ),
            _s(Phase.ROLLBACK, "Undo any load shedding once the provider is healthy"),
        ]
        fix = (
            f"Add a fallback or second provider for {svc}, with circuit breakers and timeouts on every call."
        )
    else:
        steps = [
            _s(Phase.PREPARE, "Nothing to mitigate"),
            _s(Phase.POST_VALIDATE, f"Confirm `{ctx.alarm or 'the alarm'}` returns to OK"),
            _s(Phase.ROLLBACK, "Nothing to undo"),
        ]
        fix = "Tune the alarm (longer evaluation period or a percentile threshold) so a brief blip does not page."
    return Plan(
        mitigation=mitigation, summary=_summary(mitigation, svc), steps=tuple(steps), long_term_fix=fix
    )


def _summary(m: Mitigation, svc: str) -> str:
    return {
        Mitigation.ROLLBACK: f"Roll {svc} back to its last good release",
        Mitigation.REVERT_CONFIG: f"Revert the configuration change on {svc}",
        Mitigation.REVERT_PERMISSION: f"Restore the permission {svc}'s callers need",
        Mitigation.REPLACE_INSTANCE: f"Replace the broken instance of {svc}",
        Mitigation.RESTART: f"Restart {svc}",
        Mitigation.SCALE_OUT: f"Scale {svc} out",
        Mitigation.FAILOVER: f"Fail {svc} over",
        Mitigation.WAIT: f"Wait for {svc} to recover and limit the damage meanwhile",
        Mitigation.NONE: "No action needed",
    }[m]
