"""What kind of fault it is and the first thing to do: from the guilty change, or from the shape of the failure."""

from __future__ import annotations

from bot.analysis.changes import sets_a_limit, sets_capacity
from bot.analysis.errors import ErrorFamily, families
from bot.analysis.facts import SATURATION_SIGNALS, Facts
from bot.analysis.symptoms import (
    bad_status,
    failing_alone,
    failing_zone,
    is_boot_cpu,
    load_came_after,
    log_text,
    surges,
    symptoms,
)
from bot.domain import (
    ActorKind,
    Category,
    Change,
    ChangeVia,
    Mitigation,
    ServiceKind,
    epoch,
)

#: Resources that leak: a steady climb of one of these after a release is a leak, not load.
LEAKABLE_SIGNALS = frozenset({"memory_pct", "connections"})


#: Managed datastores: saturated with no more load than usual, they are degraded, not undersized.
DATASTORES = frozenset({ServiceKind.RDS, ServiceKind.DYNAMODB})


def _exhausted(root: str | None, guilty: Change | None, facts: Facts) -> bool:
    """Something ran out: memory climbing or full, a leakable resource climbing after the change, or the
    root's errors say it ran out of memory or disk space. A queue backlog climbing is a symptom, not a leak."""
    own = [s for s in symptoms(facts) if s.service == root]
    if any(s.signal == "memory_pct" and (s.ramp or s.peak_value >= 90) for s in own):
        return True
    if guilty is not None and _climbed_after(root, guilty, facts):
        return True
    return _says_it_ran_out(
        root, facts, {ErrorFamily.OUT_OF_MEMORY, ErrorFamily.OUT_OF_SPACE, ErrorFamily.OUT_OF_HANDLES}
    )


def _accumulated(root: str | None, guilty: Change, facts: Facts) -> bool:
    """Something built up after a change until it ran out: memory or a leakable resource climbing steadily,
    or a disk or the file handles running out (they only fill up). Memory running out in a step (a lower
    limit, more work per request) is the change's own fault, not a build-up."""
    if any(s.service == root and s.signal == "memory_pct" and s.ramp for s in symptoms(facts)):
        return True
    return _climbed_after(root, guilty, facts) or _says_it_ran_out(
        root, facts, {ErrorFamily.OUT_OF_SPACE, ErrorFamily.OUT_OF_HANDLES}
    )


def _climbed_after(root: str | None, guilty: Change, facts: Facts) -> bool:
    """A leakable resource of the root or what it calls climbing steadily from the change on."""
    if root is None:
        return False
    near = {root, *facts.callees(root)}
    return any(
        s.service in near
        and s.signal in LEAKABLE_SIGNALS
        and s.ramp
        and (s.start or 0) >= epoch(guilty.at) - 120
        for s in symptoms(facts)
    )


def _says_it_ran_out(root: str | None, facts: Facts, kinds: set[ErrorFamily]) -> bool:
    """The root's errors say it ran out of one of `kinds` (memory, disk, file handles)."""
    return any(
        kinds.intersection(families(f"{lg.exception or ''} {lg.sample}"))
        for lg in facts.logs
        if lg.service == root
    )


#: What AWS does to a resource on its own (maintenance, a hardware fault), recorded as the service's call.
_PLATFORM_ACTIONS = frozenset(
    {"RebootDBInstance", "FailoverDBCluster", "RebootDBCluster", "RebootInstances", "RebootCacheCluster"}
)


def _platform_acted(change: Change) -> bool:
    """A reboot or failover an AWS service made itself (not a person, not a pipeline)."""
    return (
        change.actor is not None
        and change.actor.kind is ActorKind.AWS_SERVICE
        and (change.action in _PLATFORM_ACTIONS or ErrorFamily.PLATFORM in families(change.summary))
    )


def categorise(
    root: str | None, guilty: Change | None, facts: Facts, affected: dict[str, int]
) -> tuple[Category, Mitigation, list[str]]:
    """The category and first mitigation, from the guilty change or the shape of the failure."""
    why: list[str] = []
    exhausted = _exhausted(root, guilty, facts)
    if guilty is not None:
        if (
            root is not None
            and root == guilty.service
            and sets_capacity(guilty)
            and not sets_a_limit(guilty)
            and load_came_after(epoch(guilty.at), facts, root) is not None
        ):
            why.append("the capacity it was left with held until the load came, then was too little")
            return Category.CAPACITY, Mitigation.SCALE_OUT, why
        if _platform_acted(guilty):
            who = guilty.actor.name if guilty.actor else "AWS"
            why.append(
                f"{who} did it itself (a reboot, a failover): the platform acting, not a person's change"
            )
            return Category.INFRASTRUCTURE_FAILURE, Mitigation.WAIT, why
        surged = any((s.start or s.onset or 0) >= epoch(guilty.at) for s in surges(facts))
        accumulated = _accumulated(root, guilty, facts)
        return (*_category_of_change(guilty, root, accumulated, surged, why), why)
    if root is None:
        return Category.FALSE_ALARM, Mitigation.NONE, why
    if facts.kind(root) is ServiceKind.EXTERNAL or root in bad_status(facts):
        return (*_third_party(root, facts, affected, why), why)
    if exhausted:
        if facts.kind(root) is ServiceKind.RDS and ErrorFamily.OUT_OF_SPACE in families(
            log_text(facts, [root, *facts.callers(root)])
        ):
            why.append(
                "its storage filled up: a database's storage is grown in place, and a restart frees none"
            )
            return Category.RESOURCE_EXHAUSTION, Mitigation.SCALE_OUT, why
        bad = failing_alone(facts, root)
        if bad:
            why.append(f"only {', '.join(bad)} ran out; the rest of the fleet is healthy")
            # A full disk is the host's: a fresh instance. Memory or file handles are the process's: a restart
            # frees them.
            if ErrorFamily.OUT_OF_SPACE in families(log_text(facts, [root])):
                return Category.RESOURCE_EXHAUSTION, Mitigation.REPLACE_INSTANCE, why
            why.append("what ran out belongs to the process, which a restart gives back")
        return Category.RESOURCE_EXHAUSTION, Mitigation.RESTART, why
    return (*_shape_of_failure(root, facts, why), why)


def _third_party(
    root: str, facts: Facts, affected: dict[str, int], why: list[str]
) -> tuple[Category, Mitigation]:
    """A dependency you cannot fix: fail over when its callers also use another, healthy one; else wait."""
    troubled = bad_status(facts)
    why.append(
        f"{root}'s own status page reports trouble" if root in troubled else f"{root} is a third party"
    )
    if facts.kind(root) is not ServiceKind.EXTERNAL:
        return Category.DEPENDENCY_FAILURE, Mitigation.FAILOVER
    alternatives = sorted(
        {
            other
            for caller in facts.callers(root)
            for other in facts.callees(caller)
            if other != root
            and facts.kind(other) is ServiceKind.EXTERNAL
            and other not in troubled
            and other not in affected
        }
    )
    if alternatives:
        why.append(f"{', '.join(alternatives)} serves the same callers and is healthy")
        return Category.DEPENDENCY_FAILURE, Mitigation.FAILOVER
    return Category.DEPENDENCY_FAILURE, Mitigation.WAIT


def _shape_of_failure(root: str, facts: Facts, why: list[str]) -> tuple[Category, Mitigation]:
    """No change explains it: load beyond headroom, one bad instance, or a degraded resource."""
    said = families(log_text(facts, [root]))
    if ErrorFamily.AUTHORIZATION in said:
        why.append(
            f"{root}'s errors are authorization failures: a permission changed, where no record showed it"
        )
        return Category.PERMISSION_CHANGE, Mitigation.REVERT_PERMISSION
    if ErrorFamily.PLATFORM in said and facts.kind(root) in DATASTORES:
        why.append(f"the platform failed {root} over or restarted it, and is already recovering it")
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.WAIT
    own = [s for s in symptoms(facts) if s.service == root]
    saturated = [s for s in own if s.signal in SATURATION_SIGNALS and not is_boot_cpu(s, facts)]
    surged = bool(surges(facts))
    if saturated and surged:
        why.append("load rose and the service ran out of headroom")
        return Category.CAPACITY, Mitigation.SCALE_OUT
    bad_instances = failing_alone(facts, root)
    zone = failing_zone(facts, root)
    if zone is not None:
        why.append(
            f"{', '.join(bad_instances)} are failing, all in {zone}, while every instance elsewhere is healthy: "
            "that zone, not the instances"
        )
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.FAILOVER
    if bad_instances:
        why.append(f"only {', '.join(bad_instances)} is failing; the rest of the fleet is healthy")
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.REPLACE_INSTANCE
    kind = facts.kind(root)
    if kind in DATASTORES:
        if saturated:
            why.append(f"{root} is saturated with no more load than usual: the database itself is degraded")
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.FAILOVER
    if saturated:
        return Category.CAPACITY, Mitigation.SCALE_OUT
    return Category.INFRASTRUCTURE_FAILURE, Mitigation.RESTART


def _category_of_change(
    guilty: Change, root: str | None, exhausted: bool, surged: bool, why: list[str]
) -> tuple[Category, Mitigation]:
    """The category and first mitigation when a change is the cause: what kind of change it was."""
    via = guilty.via
    if via.is_deploy and guilty.only_configuration:
        why.append(
            "the release changed settings, not code: " + ("; ".join(guilty.changed[:3]) or "no new code")
        )
        return Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG
    if via.is_deploy:
        if exhausted:
            why.append("a resource climbed steadily after the release until it ran out")
            return Category.RESOURCE_EXHAUSTION, Mitigation.ROLLBACK
        return Category.BAD_DEPLOYMENT, Mitigation.ROLLBACK
    if via is ChangeVia.PARAMETER:
        return Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG
    if via is ChangeVia.IAM:
        return Category.PERMISSION_CHANGE, Mitigation.REVERT_PERMISSION
    if via is ChangeVia.SCALING:
        if surged:  # the cut only hurt when load arrived: a capacity problem
            why.append("capacity was cut and the load that came next found too little")
            return Category.CAPACITY, Mitigation.SCALE_OUT
        why.append("the capacity cut itself broke it: no more load than before")
        return Category.MANUAL_CHANGE, Mitigation.SCALE_OUT
    if (
        guilty.actor is not None
        and guilty.actor.kind is ActorKind.PIPELINE
        and via is not ChangeVia.SSM_SESSION
    ):
        why.append(f"{guilty.actor.name}, a pipeline, made it: configuration, not a person's hand edit")
        return Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG
    if via is ChangeVia.SSM_SESSION:
        if root and guilty.instance:
            return Category.MANUAL_CHANGE, Mitigation.REPLACE_INSTANCE
        return Category.MANUAL_CHANGE, Mitigation.RESTART
    return Category.MANUAL_CHANGE, Mitigation.REVERT_CONFIG
