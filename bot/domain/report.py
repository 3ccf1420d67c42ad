"""What an investigation concludes: hypotheses, what it ruled out, the timeline, the report."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.domain.base import Model
from bot.domain.changes import Change
from bot.domain.evidence import Evidence, Gap, SignalKey
from bot.domain.plan import Plan


class Category(StrEnum):
    """What kind of fault an incident was (the scenario format's categories)."""

    BAD_DEPLOYMENT = "bad-deployment"
    CONFIG_CHANGE = "config-change"
    MANUAL_CHANGE = "manual-change"
    PERMISSION_CHANGE = "permission-change"
    RESOURCE_EXHAUSTION = "resource-exhaustion"
    CAPACITY = "capacity"
    DEPENDENCY_FAILURE = "dependency-failure"
    INFRASTRUCTURE_FAILURE = "infrastructure-failure"
    FALSE_ALARM = "false-alarm"


class InvestigationStatus(StrEnum):
    """Where an investigation is; stored, and shown in the channel-level status message."""

    INVESTIGATING = "investigating"
    ROOT_CAUSE_FOUND = "root_cause_found"
    MITIGATION_PROPOSED = "mitigation_proposed"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"
    INCONCLUSIVE = "inconclusive"
    FAILED = "failed"


class Hypothesis(Model):
    """A candidate root cause with its confidence and the evidence for it."""

    service: str | None
    category: Category
    confidence: float
    summary: str
    change_id: str | None = None
    evidence: tuple[str, ...] = ()
    #: The check that would confirm or rule it out, when the evidence leaves it open.
    check: str | None = None


class RuledOut(Model):
    """Something that looked suspicious and why it is not the cause: a change, or a signal's departure."""

    subject: str
    reason: str
    change_id: str | None = None
    signal: SignalKey | None = None


class TimelineEntry(Model):
    """One dated line of the incident's story; `change_id` when the line is a change."""

    at: datetime
    text: str
    change_id: str | None = None


class ChartSeries(Model):
    """The series a report is best shown with: the paging alarm's metric (with its threshold), or the
    root-cause service's anomalous signal; the onset marked."""

    title: str
    points: tuple[tuple[datetime, float], ...]
    threshold: float | None = None
    onset: datetime | None = None


class Runbook(Model):
    """The skill that fits a report's category, linked for the people reading it."""

    name: str
    description: str
    path: str


class Report(Model):
    """What an investigation concluded, with everything a surface needs to show it."""

    page_title: str
    impact: str
    root_cause: Hypothesis | None
    hypotheses: tuple[Hypothesis, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    ruled_out: tuple[RuledOut, ...] = ()
    gaps: tuple[Gap, ...] = ()
    plan: Plan | None = None
    guilty_change: Change | None = None
    chart: ChartSeries | None = None
    runbook: Runbook | None = None
    #: Who owns the services concerned (the steering files' `owners`), e.g. `@payments-team`.
    owners: tuple[str, ...] = ()
    #: The evidence points two ways or is thin: the hypotheses and their checks lead, not one answer.
    inconclusive: bool = False
    #: Whether a model pass follows the report in its thread, or why none will.
    model_note: str | None = None
    version: int = 1

    def ranking(self) -> list[str]:
        """Services in the order the investigation suspects them."""
        out: list[str] = []
        for h in self.hypotheses:
            if h.service and h.service not in out:
                out.append(h.service)
        return out
