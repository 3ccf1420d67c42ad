"""The plan's context: the exact resources a mitigation names, read from AWS (read-only), never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.analysis.diagnose import Diagnosis
from bot.analysis.plan import PlanContext, config_text
from bot.domain import Change, ChangeSource, ChangeVia, Gap, Mitigation, Page
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.plan_reads import PlanReads
from bot.sources.aws.topology import ServiceInfo
from bot.sources.github import GithubSource

#: A Lambda setting the change moved, with its value before and after (`... MemorySize 1024 → 512`).
_SETTING = re.compile(
    r"\b(MemorySize|Timeout|ReservedConcurrentExecutions|memorySize|timeout|reservedConcurrentExecutions)"
    r"\s+(\S+)\s+→\s+(\S+)"
)
#: An environment variable the change moved (`... env LOG_LEVEL info → debug`).
_ENV = re.compile(r"\b(?:env|Environment(?:\.Variables)?\.?)\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\S+)\s+→\s+(\S+)")
_POLICY_WRITES = frozenset({"PutRolePolicy", "CreatePolicyVersion", "PutBucketPolicy"})


@dataclass(frozen=True)
class TaskDefinitions:
    """The running task definition and the one before it, as ECS lists them."""

    current: str | None = None
    previous: str | None = None


def _short(arn: str) -> str:
    """`family:revision` from a task definition ARN."""
    return arn.rsplit("/", 1)[-1]


def task_definitions(changes: AwsChanges, info: ServiceInfo, gaps: list[Gap]) -> TaskDefinitions:
    """The service's running task definition (its PRIMARY deployment) and the ACTIVE revision registered
    before it in the same family; a read that fails becomes a gap."""
    res = info.res()
    if not (res.cluster and res.ecs_service):
        return TaskDefinitions()
    dep = changes.ecs_deployments(res.cluster, res.ecs_service)
    _note(dep.gap(), gaps)
    deployments = dep.data or []
    primary = next(
        (d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else None
    )
    current = str(primary.get("taskDefinition")) if primary and primary.get("taskDefinition") else None
    if current is None:
        return TaskDefinitions()
    others = [str(d["taskDefinition"]) for d in deployments if d is not primary and d.get("taskDefinition")]
    if others:  # a rollout still in progress: the deployment it replaces is the previous release
        return TaskDefinitions(_short(current), _short(others[0]))
    family = _short(current).rsplit(":", 1)[0]
    listed = changes.task_definitions(family)
    _note(listed.gap(), gaps)
    arns = [_short(a) for a in listed.data or []]
    older = arns[arns.index(_short(current)) + 1 :] if _short(current) in arns else []
    return TaskDefinitions(_short(current), older[0] if older else None)


def _note(gap: Gap | None, gaps: list[Gap]) -> None:
    if gap is not None and gap not in gaps:
        gaps.append(gap)


def plan_context(
    changes: AwsChanges,
    diag: Diagnosis,
    info: ServiceInfo | None,
    page: Page,
    gaps: list[Gap],
    reads: PlanReads | None = None,
    github: GithubSource | None = None,
) -> PlanContext:
    """What the plan must name, read for the diagnosed service and change; failed reads are added to `gaps`.
    With `reads` (and `github`), also the values its apply steps set: desired counts, a function's or a
    policy's state before the guilty change, the deploy run to re-run."""
    g = diag.guilty
    res = info.res() if info else None
    tds = task_definitions(changes, info, gaps) if info else TaskDefinitions()
    param = param_old = param_new = None
    if g is not None and g.via is ChangeVia.PARAMETER:
        param = g.parameter_name()
        if param:
            hist = changes.parameter_history(param)
            _note(hist.gap(), gaps)
            versions = hist.data or []
            if len(versions) >= 2:
                param_old, param_new = versions[-2].get("Value"), versions[-1].get("Value")
    instance = diag.instance
    bound = _Bound()
    if reads is not None:
        _bind_writes(bound, reads, diag, info, gaps)
    redeploy = diag.mitigation is Mitigation.ROLLBACK and not (res and res.ecs_service)
    from_github = g is not None and g.source is ChangeSource.GITHUB and bool(g.repo and g.source_id)
    if redeploy and from_github and github is not None and g is not None:
        got = github.last_good_run(g.repo or "", g.source_id)
        _note(got.gap(), gaps)
        good = got.data or {}
        bound.workflow, bound.good_run, bound.bad_run = good.get("workflow"), good.get("run_id"), g.source_id
    return PlanContext(
        service=diag.root_service,
        kind=info.kind if info else "",
        alarm=page.alarm_name,
        cluster=res.cluster if res else None,
        ecs_service=res.ecs_service if res else None,
        current_task_definition=tds.current,
        previous_task_definition=tds.previous,
        asg=res.asg if res else None,
        stack=info.stack if info else None,
        function=res.function if res else None,
        parameter=param,
        parameter_old=param_old,
        parameter_new=param_new,
        instance=instance,
        zone=diag.zone,
        instance_id=(info.instances.get(instance) if info and instance else None),
        resource=g.resource if g else None,
        change_action=g.action if g and g.source is ChangeSource.CLOUDTRAIL else None,
        actor=g.who if g else None,
        repo=info.repo if info else None,
        commit=g.commit if g else None,
        parent_commit=g.parent_commit if g else None,
        desired=bound.desired,
        function_config_old=bound.config_old,
        function_config_new=bound.config_new,
        policy_kind=bound.policy_kind,
        policy=bound.policy,
        policy_old=bound.policy_old,
        policy_new=bound.policy_new,
        workflow=bound.workflow,
        good_run=bound.good_run,
        bad_run=bound.bad_run,
    )


@dataclass
class _Bound:
    """What the reads beside the plan found (None: not known)."""

    desired: int | None = None
    config_old: str | None = None
    config_new: str | None = None
    policy_kind: str | None = None
    policy: str | None = None
    policy_old: str | None = None
    policy_new: str | None = None
    workflow: str | None = None
    good_run: str | None = None
    bad_run: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _bind_writes(
    bound: _Bound, reads: PlanReads, diag: Diagnosis, info: ServiceInfo | None, gaps: list[Gap]
) -> None:
    """The values the apply steps set: the desired count to scale out from, a function's settings before the
    guilty change, a policy's document before it."""
    res = info.res() if info else None
    g = diag.guilty
    if diag.mitigation in (Mitigation.SCALE_OUT, Mitigation.REPLACE_INSTANCE) and res is not None:
        if res.cluster and res.ecs_service:
            got = reads.ecs_desired(res.cluster, res.ecs_service)
            _note(got.gap(), gaps)
            bound.desired = got.data
        elif res.asg:
            got = reads.asg_desired(res.asg)
            _note(got.gap(), gaps)
            bound.desired = got.data
    if g is None:
        return
    if diag.mitigation is Mitigation.REVERT_CONFIG and res is not None and res.function:
        old, new = function_settings(g)
        env = _env_changes(g)
        if env:
            now = reads.function_environment(res.function)
            _note(now.gap(), gaps)
            if now.data is not None:
                old["Environment"] = {**now.data, **{k: v for k, (v, _) in env.items()}}
                new["Environment"] = {**now.data, **{k: v for k, (_, v) in env.items()}}
        if old:
            bound.config_old, bound.config_new = config_text(old), config_text(new)
    if g.action in _POLICY_WRITES:
        policy = reads.policy_before(g)
        _note(policy.gap(), gaps)
        if policy.data is not None:
            p = policy.data
            bound.policy_kind, bound.policy, bound.policy_old, bound.policy_new = (
                p.kind,
                p.where,
                p.old,
                p.new,
            )


def function_settings(change: Change) -> tuple[dict[str, object], dict[str, object]]:
    """The Lambda settings (API names) `change` moved, before and after, where its detail gives both."""
    old: dict[str, object] = {}
    new: dict[str, object] = {}
    for line in change.changed:
        for name, before, after in _SETTING.findall(line):
            key = name[0].upper() + name[1:]
            if before.lstrip("-").isdigit() and after.lstrip("-").isdigit():
                old[key], new[key] = int(before), int(after)
    return old, new


def _env_changes(change: Change) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for line in change.changed:
        for name, before, after in _ENV.findall(line):
            if before != "(none)" and after != "(none)":
                out[name] = (before, after)
    return out
