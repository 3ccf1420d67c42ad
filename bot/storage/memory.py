"""Incident memory: each incident read back as what its investigation found, how fast, and what people said.

Nothing here is stored twice: a memory is assembled from the incident, its latest investigation, that
investigation's reports, findings, actions and feedback. The responders' latest word is the confirmed cause:
a thumbs up confirms the reported root cause; a thumbs down says it was wrong, and its note (when given) is the
real cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.domain import ChangeVia, Report
from bot.domain.prevention import IncidentMemory
from bot.storage.store import Store
from bot.storage.tables import (
    ActionRecord,
    Feedback,
    Finding,
    Incident,
    Investigation,
    ReportVersion,
    Verdict,
)


def _first(s: Session, model: type[Finding] | type[ReportVersion], inv_id: int, order: Any) -> object:
    stmt = select(model).where(col(model.investigation_id) == inv_id).order_by(order).limit(1)
    return s.exec(stmt).first()


def _report_parts(s: Session, inv: Investigation) -> tuple[Report | None, float | None, float | None]:
    """The latest report, seconds to the first finding and to the first report (the root cause)."""
    assert inv.id is not None
    first_finding = _first(s, Finding, inv.id, col(Finding.seq))
    first_report = _first(s, ReportVersion, inv.id, col(ReportVersion.version))
    latest = _first(s, ReportVersion, inv.id, col(ReportVersion.version).desc())
    started = inv.started_at
    ff = (first_finding.found_at - started).total_seconds() if isinstance(first_finding, Finding) else None
    rc = (
        (first_report.created_at - started).total_seconds()
        if isinstance(first_report, ReportVersion)
        else None
    )
    report = Report.model_validate(latest.body) if isinstance(latest, ReportVersion) else None
    return report, ff, rc


#: How AWS words a scaling activity that replaces an instance rather than adding capacity on purpose.
_REPLACED = ("health check", "difference between desired and actual capacity")


def _replaced(report: Report | None) -> int:
    """Instances replaced by Auto Scaling in the report's evidence (churn, when a build fails its checks)."""
    if report is None:
        return 0
    causes = [
        (e.change.cause or "").lower()
        for e in report.evidence
        if e.change and e.change.via is ChangeVia.SCALING
    ]
    return sum(any(words in cause for words in _REPLACED) for cause in causes)


def _confirmation(feedback: Sequence[Feedback], report: Report | None) -> tuple[bool | None, str | None]:
    """The responders' latest word: (right?, the confirmed or corrected cause)."""
    if not feedback:
        return None, None
    last = feedback[-1]
    if last.verdict == Verdict.UP.value:
        rc = report.root_cause if report else None
        return True, (rc.summary if rc else None)
    return False, (last.note.strip() or None)


def _memory(s: Session, inc: Incident) -> IncidentMemory:
    assert inc.id is not None
    inv = s.exec(
        select(Investigation)
        .where(Investigation.incident_id == inc.id)
        .order_by(col(Investigation.id).desc())
    ).first()
    report, ff, rc_s = _report_parts(s, inv) if inv is not None else (None, None, None)
    feedback: list[Feedback] = []
    outcome = None
    if inv is not None:
        feedback = list(
            s.exec(select(Feedback).where(Feedback.investigation_id == inv.id).order_by(col(Feedback.id)))
        )
        action = s.exec(
            select(ActionRecord)
            .where(ActionRecord.investigation_id == inv.id)
            .order_by(col(ActionRecord.id).desc())
        ).first()
        outcome = action.status if action is not None else None
    rc = report.root_cause if report else None
    confirmed, cause = _confirmation(feedback, report)
    page = inc.page or {}
    return IncidentMemory(
        incident_id=inc.id,
        investigation_id=inv.id if inv is not None else None,
        title=inc.title,
        opened_at=inc.opened_at,
        resolved_at=inc.resolved_at,
        alarm_key=inc.alarm_key,
        fingerprint=inc.fingerprint,
        alarm_name=page.get("alarm_name") if isinstance(page.get("alarm_name"), str) else None,
        service=inc.service
        or (page.get("service_hint") if isinstance(page.get("service_hint"), str) else None),
        services=tuple(report.ranking()) if report else (),
        category=rc.category if rc else None,
        root_cause=rc.summary if rc else None,
        root_cause_service=rc.service if rc else None,
        confidence=rc.confidence if rc else None,
        guilty_change=report.guilty_change if report else None,
        evidence=tuple(e.summary for e in report.evidence[:10]) if report else (),
        gaps=tuple(sorted({g.source for g in report.gaps})) if report else (),
        replaced_instances=_replaced(report),
        mitigation=report.plan.mitigation.value if report and report.plan else None,
        mitigation_outcome=outcome,
        first_finding_s=ff,
        root_cause_s=rc_s,
        feedback_up=sum(f.verdict == Verdict.UP.value for f in feedback),
        feedback_down=sum(f.verdict == Verdict.DOWN.value for f in feedback),
        confirmed=confirmed,
        confirmed_cause=cause,
        channel=inc.channel,
        thread_ts=inc.thread_ts,
    )


def memories(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    service: str | None = None,
    limit: int = 2000,
) -> list[IncidentMemory]:
    """Incidents opened in [since, until), oldest first, as memories; `service`: paged on or caused by it."""
    with Session(store.engine, expire_on_commit=False) as s:
        stmt = select(Incident).order_by(col(Incident.opened_at), col(Incident.id)).limit(limit)
        if since is not None:
            stmt = stmt.where(col(Incident.opened_at) >= since)
        if until is not None:
            stmt = stmt.where(col(Incident.opened_at) < until)
        out = [_memory(s, inc) for inc in s.exec(stmt).all()]
    if service is not None:
        out = [m for m in out if service in (m.service, m.root_cause_service)]
    return out


def seen_before(store: Store, incident_id: int, limit: int = 3) -> list[IncidentMemory]:
    """Earlier incidents of the same alarm, else of the same service, newest first, that named a cause."""
    with Session(store.engine, expire_on_commit=False) as s:
        inc = s.get(Incident, incident_id)
        if inc is None:
            return []
        same = col(Incident.alarm_key) == inc.alarm_key if inc.alarm_key else sa.false()
        if inc.service:
            same = sa.or_(same, col(Incident.service) == inc.service)
        stmt = (
            select(Incident)
            .where(same, col(Incident.id) != incident_id, col(Incident.opened_at) <= inc.opened_at)
            .order_by(col(Incident.opened_at).desc())
            .limit(limit * 4)
        )
        found = [_memory(s, row) for row in s.exec(stmt).all()]
    same_alarm = [m for m in found if m.alarm_key == inc.alarm_key]
    ordered = same_alarm + [m for m in found if m not in same_alarm]
    return [m for m in ordered if m.confirmed_cause or m.root_cause][:limit]


def note_service(store: Store, incident_id: int, service: str) -> None:
    """Record the service an incident's alarm belongs to, when the page did not say (scoping found it)."""
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(Incident)
            .where(col(Incident.id) == incident_id, col(Incident.service).is_(None))
            .values(service=service)
        )
