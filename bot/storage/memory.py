"""Incident memory: each incident read back as what its investigation found, how fast, and what people said.

Nothing here is stored twice: a memory is assembled from the incident, its latest investigation, that
investigation's reports, findings, actions and feedback. The responders' latest word is the confirmed cause:
a thumbs up confirms the reported root cause; a thumbs down says it was wrong, and its note (when given) is the
real cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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

#: Ids per IN (...) list when loading in batches.
_CHUNK = 500


@dataclass
class _Parts:
    """What an incident's latest investigation stored, loaded in batches."""

    inv: Investigation | None = None
    latest: ReportVersion | None = None
    first_report_at: datetime | None = None
    first_finding_at: datetime | None = None
    feedback: list[Feedback] = field(default_factory=list)
    outcome: str | None = None


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _parts(s: Session, incidents: Sequence[Incident]) -> dict[int, _Parts]:
    """Each incident's latest investigation, its reports, first finding, feedback and last action: a few
    queries per 500 incidents, not a few per incident."""
    parts = {inc.id: _Parts() for inc in incidents if inc.id is not None}
    for chunk in _chunks(list(parts)):
        stmt = (
            select(Investigation)
            .where(col(Investigation.incident_id).in_(chunk))
            .order_by(col(Investigation.id))
        )
        for inv in s.exec(stmt):
            parts[inv.incident_id].inv = inv  # the last one read is the latest
    by_inv = {p.inv.id: p for p in parts.values() if p.inv is not None and p.inv.id is not None}
    for chunk in _chunks(list(by_inv)):
        for rv in s.exec(
            select(ReportVersion)
            .where(col(ReportVersion.investigation_id).in_(chunk))
            .order_by(col(ReportVersion.version))
        ):
            p = by_inv[rv.investigation_id]
            p.first_report_at = p.first_report_at or rv.created_at
            p.latest = rv
        for f in s.exec(select(Finding).where(col(Finding.investigation_id).in_(chunk), Finding.seq == 1)):
            by_inv[f.investigation_id].first_finding_at = f.found_at
        for fb in s.exec(
            select(Feedback).where(col(Feedback.investigation_id).in_(chunk)).order_by(col(Feedback.id))
        ):
            by_inv[fb.investigation_id].feedback.append(fb)
        for act in s.exec(
            select(ActionRecord)
            .where(col(ActionRecord.investigation_id).in_(chunk))
            .order_by(col(ActionRecord.id))
        ):
            by_inv[act.investigation_id].outcome = act.status
    return parts


def _seconds(at: datetime | None, since: datetime) -> float | None:
    return (at - since).total_seconds() if at is not None else None


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


def _memory(inc: Incident, p: _Parts) -> IncidentMemory:
    assert inc.id is not None
    inv, feedback = p.inv, p.feedback
    report = Report.model_validate(p.latest.body) if p.latest is not None else None
    ff = _seconds(p.first_finding_at, inv.started_at) if inv is not None else None
    rc_s = _seconds(p.first_report_at, inv.started_at) if inv is not None else None
    outcome = p.outcome
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
        rows = list(s.exec(stmt).all())
        parts = _parts(s, rows)
        out = [_memory(inc, parts[inc.id or 0]) for inc in rows]
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
        rows = list(s.exec(stmt).all())
        parts = _parts(s, rows)
        found = [_memory(row, parts[row.id or 0]) for row in rows]
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
