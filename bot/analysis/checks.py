"""The check that would settle a hypothesis: what a senior engineer would look at next to confirm it or rule
it out, when the evidence is thin or points two ways."""

from __future__ import annotations

from bot.analysis.facts import Facts
from bot.domain import Category, Change, ServiceKind


def settling_check(service: str | None, category: Category, change: Change | None, facts: Facts) -> str:
    """One sentence: the check that confirms or rules out `service` failing for `category` reasons."""
    if service is None:
        return (
            "Confirm no user-facing errors or latency moved while the alarm fired (the alarm's own metric)."
        )
    if change is not None:
        return (
            f"Compare {service} before and after {change.summary[:120]}: "
            "does the failure follow the change (new tasks or versions only, or every one)?"
        )
    callers = ", ".join(facts.callers(service)[:3])
    by_category = {
        Category.DEPENDENCY_FAILURE: (
            f"Check {service}'s status page and whether every caller of it fails alike"
            + (f" ({callers})" if callers else "")
            + "; if only one caller fails, look at that caller instead."
        ),
        Category.CAPACITY: (
            f"Compare {service}'s load with the same hour last week and its saturation per instance: "
            "if load did not rise, it is not capacity."
        ),
        Category.RESOURCE_EXHAUSTION: (
            f"Look at {service}'s memory, disk and connection use per instance over the last day: "
            "a steady climb confirms exhaustion, a step points at a change."
        ),
        Category.INFRASTRUCTURE_FAILURE: (
            f"Compare {service}'s instances (and availability zones): one failing alone confirms a host "
            "problem; all failing alike rules it out."
        ),
        Category.PERMISSION_CHANGE: (
            f"Find the AccessDenied events for {service}'s role in CloudTrail and the policy version "
            "in force before the onset."
        ),
    }
    if category in by_category:
        return by_category[category]
    if facts.kind(service) in (ServiceKind.RDS, ServiceKind.DYNAMODB):
        return (
            f"Check {service}'s events, storage and connections, and who writes to it most since the onset."
        )
    return (
        f"Look for a change to {service} not recorded here (a console edit, a setting read at start-up) "
        "and whether its errors began before its callers' did."
    )
