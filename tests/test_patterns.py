"""The pattern mining on its own: memories in, proposals out (the scenario-backed cases are in
test_prevention.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analysis.patterns import health_check_churn, investigation_gaps, mine
from bot.domain import Category
from bot.domain.prevention import IncidentMemory, Priority, RecommendationKind

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def memory(n: int, **fields: object) -> IncidentMemory:
    base: dict[str, object] = {
        "incident_id": n,
        "title": f"ALARM: forge-unhealthy-hosts #{n}",
        "opened_at": AT,
        "fingerprint": f"fp{n}",
        "service": "forge",
        "root_cause_service": "forge",
        "category": Category.BAD_DEPLOYMENT,
        "root_cause": "forge deploy a11ce55 broke /ping",
    }
    return IncidentMemory.model_validate(base | fields)


def test_a_build_failing_health_checks_while_instances_churn_is_one_proposal() -> None:
    churned = [memory(1, replaced_instances=3), memory(2, replaced_instances=1)]
    quiet = memory(3)  # a bad deploy with no replaced instance is not churn
    wrong = memory(4, replaced_instances=2, confirmed=False)  # a cause people said was wrong does not count
    (p,) = health_check_churn([*churned, quiet, wrong])
    assert p.key == "healthcheck-churn:forge" and p.incident_ids == (1, 2)
    assert p.kind is RecommendationKind.INFRASTRUCTURE and p.priority is Priority.MEDIUM
    assert "circuit breaker" in p.change and "## Done when" in p.spec
    assert health_check_churn([memory(5, replaced_instances=2, category=Category.CAPACITY)]) == []


def test_the_same_gap_twice_is_a_proposal_and_keys_are_unique() -> None:
    gaps = [memory(1, gaps=("cloudtrail",)), memory(2, gaps=("cloudtrail", "xray")), memory(3)]
    (p,) = investigation_gaps(gaps)
    assert p.key == "gap:cloudtrail" and p.incident_ids == (1, 2)
    keys = [x.key for x in mine(gaps)]
    assert len(keys) == len(set(keys)) and "gap:xray" not in keys
