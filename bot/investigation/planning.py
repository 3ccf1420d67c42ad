"""The plan's context: the exact resources a mitigation names, read from AWS (read-only), never guessed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.analysis.diagnose import Diagnosis
from bot.analysis.plan import PlanContext
from bot.domain import ChangeSource, ChangeVia, Gap, Page
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.topology import ServiceInfo


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
    changes: AwsChanges, diag: Diagnosis, info: ServiceInfo | None, page: Page, gaps: list[Gap]
) -> PlanContext:
    """What the plan must name, read for the diagnosed service and change; failed reads are added to `gaps`."""
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
        instance_id=(info.instances.get(instance) if info and instance else None),
        resource=g.resource if g else None,
        change_action=g.action if g and g.source is ChangeSource.CLOUDTRAIL else None,
        actor=g.who if g else None,
        repo=info.repo if info else None,
        commit=g.commit if g else None,
        parent_commit=g.parent_commit if g else None,
    )
