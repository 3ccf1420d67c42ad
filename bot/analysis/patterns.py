"""Mining remembered incidents for patterns worth preventing. Pure: memories in, proposals out.

Each pattern names where it applies in its key (`recurring:pricing:bad-deployment`), so the same pattern
found again on a later night is the same recommendation, gaining the new incidents as evidence. A memory whose
root cause the responders said was wrong counts only through the cause they wrote, never through the bot's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from bot.domain.changes import ActorKind, Change, ChangeVia
from bot.domain.prevention import IncidentMemory, Priority, Proposal, RecommendationKind
from bot.domain.report import Category

#: Changes made by hand, and what they touched.
_MANUAL_VIA: dict[ChangeVia, str] = {
    ChangeVia.IAM: "permissions",
    ChangeVia.CONSOLE: "settings",
    ChangeVia.PARAMETER: "parameters",
    ChangeVia.SCALING: "capacity",
    ChangeVia.SSM_SESSION: "instances",
}
#: Changes that ship through a pipeline.
_DEPLOY_VIA = frozenset({ChangeVia.GITHUB_ACTIONS, ChangeVia.DEPLOY, ChangeVia.CLOUDFORMATION})
#: Where a recurring category's fix is made.
_KIND_OF: dict[Category, RecommendationKind] = {
    Category.BAD_DEPLOYMENT: RecommendationKind.PIPELINE,
    Category.CONFIG_CHANGE: RecommendationKind.GOVERNANCE,
    Category.MANUAL_CHANGE: RecommendationKind.GOVERNANCE,
    Category.PERMISSION_CHANGE: RecommendationKind.GOVERNANCE,
    Category.RESOURCE_EXHAUSTION: RecommendationKind.INFRASTRUCTURE,
    Category.CAPACITY: RecommendationKind.INFRASTRUCTURE,
    Category.DEPENDENCY_FAILURE: RecommendationKind.INFRASTRUCTURE,
    Category.INFRASTRUCTURE_FAILURE: RecommendationKind.INFRASTRUCTURE,
    Category.FALSE_ALARM: RecommendationKind.OBSERVABILITY,
}


def _priority(count: int, floor: Priority = Priority.LOW) -> Priority:
    """More incidents behind a pattern, higher priority; never below `floor`."""
    by_count = Priority.HIGH if count >= 3 else Priority.MEDIUM if count == 2 else Priority.LOW
    order = [Priority.LOW, Priority.MEDIUM, Priority.HIGH]
    return max(by_count, floor, key=order.index)


def _trusted(memories: Iterable[IncidentMemory]) -> list[IncidentMemory]:
    """Memories whose root cause nobody said was wrong."""
    return [m for m in memories if m.confirmed is not False and m.category is not None]


def _line(m: IncidentMemory) -> str:
    cause = m.confirmed_cause or m.root_cause or "no root cause named"
    return f"incident {m.incident_id} ({m.opened_at:%Y-%m-%d}): {m.title} — {cause}"


def _spec(goal: str, where: str, steps: Sequence[str], done: Sequence[str], behind: Sequence[str]) -> str:
    """A specification a coding agent can implement: goal, where, steps, acceptance, the incidents behind it."""
    parts = [
        f"## Goal\n{goal}",
        f"## Where\n{where}",
        "## Steps",
        *(f"{i}. {s}" for i, s in enumerate(steps, 1)),
    ]
    parts += [
        "## Done when",
        *(f"- {d}" for d in done),
        "## Incidents behind it",
        *(f"- {b}" for b in behind),
    ]
    return "\n".join(parts)


def _proposal(
    key: str,
    kind: RecommendationKind,
    ms: Sequence[IncidentMemory],
    title: str,
    where: str,
    steps: Sequence[str],
    done: Sequence[str],
    floor: Priority = Priority.LOW,
) -> Proposal:
    behind = [_line(m) for m in ms]
    return Proposal(
        key=key,
        kind=kind,
        priority=_priority(len(ms), floor),
        title=title,
        change=steps[0],
        where=where,
        spec=_spec(title, where, steps, done, behind),
        incident_ids=tuple(sorted(m.incident_id for m in ms)),
        evidence=tuple(behind),
    )


def _group(
    ms: Iterable[IncidentMemory], key: Callable[[IncidentMemory], str | None]
) -> dict[str, list[IncidentMemory]]:
    out: dict[str, list[IncidentMemory]] = defaultdict(list)
    for m in ms:
        k = key(m)
        if k is not None:
            out[k].append(m)
    return out


def recurring(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """The same category of cause, twice or more on one service."""
    out: list[Proposal] = []

    def key(m: IncidentMemory) -> str | None:
        service = m.root_cause_service or m.service
        if m.category in (None, Category.FALSE_ALARM) or service is None:
            return None
        return f"{service}|{m.category}"

    for k, ms in sorted(_group(_trusted(memories), key).items()):
        if len(ms) < 2:
            continue
        service, category = k.split("|", 1)
        out.append(
            _proposal(
                f"recurring:{service}:{category}",
                _KIND_OF[Category(category)],
                ms,
                f"{service} keeps failing the same way ({category}, {len(ms)} incidents)",
                f"{service}: its deploy pipeline, configuration and runbook",
                [
                    f"Find what the {len(ms)} {category} incidents of {service} share and remove that cause",
                    f"Add a check that fails before production when a change would cause {category} on {service}",
                ],
                [f"no {category} incident on {service} for six weeks", "the check runs in the pipeline"],
                Priority.MEDIUM,
            )
        )
    return out


def unguarded_deploys(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """Deploys that reached production and paged before anything stopped them: no canary, no auto-rollback."""
    out: list[Proposal] = []

    def key(m: IncidentMemory) -> str | None:
        ch = m.guilty_change
        if m.category is not Category.BAD_DEPLOYMENT or ch is None or ch.via not in _DEPLOY_VIA:
            return None
        return ch.service or m.root_cause_service or m.service

    for service, ms in sorted(_group(_trusted(memories), key).items()):
        repo = next((m.guilty_change.repo for m in ms if m.guilty_change and m.guilty_change.repo), None)
        where = f"the deploy workflow of {repo}" if repo else f"the deploy pipeline of {service}"
        out.append(
            _proposal(
                f"pipeline-guard:{service}",
                RecommendationKind.PIPELINE,
                ms,
                f"Deploys of {service} reach all of production unguarded",
                where,
                [
                    f"Deploy {service} to a canary (5% of traffic) first and hold it 10 minutes",
                    "Watch the service's error-rate and latency alarms during the hold",
                    "Roll back automatically when an alarm fires during the hold (ECS deployment circuit breaker "
                    "with rollback, CodeDeploy alarms, or the pipeline's own step)",
                ],
                [
                    "a deploy that breaks the canary is rolled back with no page",
                    "the hold is in the pipeline",
                ],
                Priority.HIGH,
            )
        )
    return out


def health_check_churn(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """A broken build or setting that failed its health checks while Auto Scaling kept replacing instances."""
    out: list[Proposal] = []
    broken = (Category.BAD_DEPLOYMENT, Category.CONFIG_CHANGE)

    def key(m: IncidentMemory) -> str | None:
        churned = m.replaced_instances > 0 and m.category in broken
        return (m.root_cause_service or m.service) if churned else None

    for service, ms in sorted(_group(_trusted(memories), key).items()):
        out.append(
            _proposal(
                f"healthcheck-churn:{service}",
                RecommendationKind.INFRASTRUCTURE,
                ms,
                f"Health checks let broken builds of {service} churn instances",
                f"the Auto Scaling group / ECS service of {service} and its deploy",
                [
                    f"Make a deploy of {service} fail when its new instances fail health checks (instance refresh "
                    "with checkpoints and auto-rollback, or the ECS deployment circuit breaker) instead of "
                    "replacing them in a loop",
                    "Give instances a health-check grace period that covers boot, and alarm on replacements",
                ],
                ["a build that fails its health check stops the deploy and rolls back", "churn pages once"],
                Priority.MEDIUM,
            )
        )
    return out


def _manual(ch: Change | None) -> str | None:
    if ch is None or ch.via not in _MANUAL_VIA:
        return None
    if ch.actor is not None and ch.actor.kind not in (ActorKind.PERSON, ActorKind.UNKNOWN):
        return None
    return _MANUAL_VIA[ch.via]


def manual_edits(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """People editing permissions, capacity, parameters or instances by hand, and causing an incident."""
    out: list[Proposal] = []

    def key(m: IncidentMemory) -> str | None:
        what = _manual(m.guilty_change)
        service = (m.guilty_change.service if m.guilty_change else None) or m.root_cause_service or m.service
        return f"{what}|{service}" if what and service else None

    for k, ms in sorted(_group(_trusted(memories), key).items()):
        what, service = k.split("|", 1)
        resources = sorted(
            {m.guilty_change.resource for m in ms if m.guilty_change and m.guilty_change.resource}
        )
        where = ", ".join(resources[:5]) or f"the {what} of {service}"
        out.append(
            _proposal(
                f"manual:{what}:{service}",
                RecommendationKind.GOVERNANCE,
                ms,
                f"Hand edits of {what} on {service} caused incidents",
                where,
                [
                    f"Move the {what} of {service} into infrastructure as code and review changes to it",
                    f"Deny direct edits of {what} outside the pipeline (an SCP or IAM boundary) except break-glass",
                    "Alert on a CloudTrail event that edits them outside the pipeline",
                ],
                ["a console edit of them is refused or alerted on", "they are defined in the repository"],
                Priority.MEDIUM,
            )
        )
    return out


def noisy_alarms(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """Alarms that paged without a real problem."""
    out: list[Proposal] = []

    def key(m: IncidentMemory) -> str | None:
        false = m.category is Category.FALSE_ALARM and m.confirmed is not False
        return (m.alarm_name or m.title) if false else None

    for alarm, ms in sorted(_group(memories, key).items()):
        out.append(
            _proposal(
                f"noisy-alarm:{alarm}",
                RecommendationKind.OBSERVABILITY,
                ms,
                f"Alarm {alarm} paged without a real problem",
                f"the CloudWatch alarm {alarm}",
                [
                    f"Make {alarm} fire on 3 of 5 datapoints instead of one",
                    "Alarm on a rate or percentage rather than a count where traffic is low",
                ],
                [
                    "the alarm does not fire on the recorded false pages",
                    "it still fires on the real incidents",
                ],
            )
        )
    return out


def silent_dependencies(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """Services that caused incidents elsewhere but were never paged themselves."""
    paged = {m.service for m in memories if m.service}
    out: list[Proposal] = []

    def key(m: IncidentMemory) -> str | None:
        origin = m.root_cause_service
        return origin if origin and origin != m.service and origin not in paged else None

    for dep, ms in sorted(_group(_trusted(memories), key).items()):
        out.append(
            _proposal(
                f"dependency-alarm:{dep}",
                RecommendationKind.OBSERVABILITY,
                ms,
                f"{dep} caused incidents but has no alarm of its own",
                f"the alarms of {dep} (CloudWatch)",
                [
                    f"Add error-rate and latency alarms on {dep}, paging the team that owns it",
                    f"Link {dep}'s alarms to its callers' dashboards",
                ],
                [f"a failure of {dep} pages on {dep} before its callers page"],
                Priority.MEDIUM,
            )
        )
    return out


def investigation_gaps(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """The same missing data slowing two or more investigations down."""
    out: list[Proposal] = []
    by_gap: dict[str, list[IncidentMemory]] = defaultdict(list)
    for m in memories:
        for gap in sorted(set(m.gaps)):
            by_gap[gap].append(m)
    for gap, ms in sorted(by_gap.items()):
        if len(ms) < 2:
            continue
        out.append(
            _proposal(
                f"gap:{gap}",
                RecommendationKind.OBSERVABILITY,
                ms,
                f"Investigations could not read {gap}",
                f"the bot's read-only role, and {gap}",
                [f"Give the investigation role read access to {gap}, or turn it on where it is off"],
                [f"the next investigation reads {gap}"],
            )
        )
    return out


#: Every pattern the nightly job looks for.
PATTERNS: tuple[Callable[[Sequence[IncidentMemory]], list[Proposal]], ...] = (
    recurring,
    unguarded_deploys,
    health_check_churn,
    manual_edits,
    noisy_alarms,
    silent_dependencies,
    investigation_gaps,
)


def mine(memories: Sequence[IncidentMemory]) -> list[Proposal]:
    """Every proposal the memories support, one per key."""
    seen: dict[str, Proposal] = {}
    for pattern in PATTERNS:
        for p in pattern(memories):
            seen.setdefault(p.key, p)
    return list(seen.values())
