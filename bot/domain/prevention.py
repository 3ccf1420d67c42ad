"""Learning from incidents: what each investigation is remembered as, and the prevention work proposed from them.

An :class:`IncidentMemory` is read back from what an investigation stored (its report, findings, actions and
the responders' feedback); a :class:`Proposal` is what the nightly mining makes of many memories, before it
becomes a tracked recommendation with a lifecycle (:class:`RecommendationStatus`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.domain.base import Model
from bot.domain.changes import Change
from bot.domain.report import Category


class RecommendationKind(StrEnum):
    """Where a recommendation's change is made."""

    OBSERVABILITY = "observability"
    INFRASTRUCTURE = "infrastructure"
    GOVERNANCE = "governance"
    PIPELINE = "pipeline"


class Priority(StrEnum):
    """How soon a recommendation is worth doing."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class RecommendationStatus(StrEnum):
    """A recommendation's place in its lifecycle (open = new or kept)."""

    NEW = "new"
    KEPT = "kept"
    DISCARDED = "discarded"
    IMPLEMENTED = "implemented"
    EXPIRED = "expired"


#: Statuses still waiting for work (shown in the digest and App Home).
OPEN_STATUSES = frozenset({RecommendationStatus.NEW, RecommendationStatus.KEPT})


class IncidentMemory(Model):
    """One incident as the team learnt it: what was found, how fast, what it turned out to be.

    `confirmed` is the responders' word on the root cause (True: it was right; False: it was not; None: nobody
    said); `confirmed_cause` is the cause they confirmed or wrote instead.
    """

    incident_id: int
    investigation_id: int | None = None
    title: str
    opened_at: datetime
    resolved_at: datetime | None = None
    alarm_key: str | None = None
    fingerprint: str
    alarm_name: str | None = None
    service: str | None = None
    services: tuple[str, ...] = ()
    category: Category | None = None
    root_cause: str | None = None
    root_cause_service: str | None = None
    confidence: float | None = None
    guilty_change: Change | None = None
    evidence: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()
    #: Instances Auto Scaling replaced during the incident (health-check failures, lost capacity).
    replaced_instances: int = 0
    mitigation: str | None = None
    mitigation_outcome: str | None = None
    first_finding_s: float | None = None
    root_cause_s: float | None = None
    feedback_up: int = 0
    feedback_down: int = 0
    confirmed: bool | None = None
    confirmed_cause: str | None = None
    channel: str | None = None
    thread_ts: str | None = None


class Proposal(Model):
    """A recommendation as the mining proposes it tonight. `key` names the pattern and where it applies, so
    the same pattern found again on another night is the same recommendation."""

    key: str
    kind: RecommendationKind
    priority: Priority
    title: str
    change: str
    where: str
    spec: str
    incident_ids: tuple[int, ...]
    evidence: tuple[str, ...] = ()
