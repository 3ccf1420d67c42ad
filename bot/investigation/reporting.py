"""The report: impact, the evidence that carries the conclusion, the timeline, the chart, the plan."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.analysis.diagnose import Diagnosis
from bot.analysis.facts import Facts
from bot.analysis.plan import PlanContext, build_plan
from bot.analysis.ruling import WORTH_TELLING
from bot.domain import (
    Category,
    Change,
    ChangeSource,
    ChangeVia,
    ChartSeries,
    Evidence,
    EvidenceKind,
    Gap,
    Hypothesis,
    Page,
    Report,
    TimelineEntry,
    epoch,
    utc,
)

#: At most this many findings in a report.
MAX_EVIDENCE = 25
#: At most this many timeline lines (the latest).
MAX_TIMELINE = 30


def _hhmm(t: int) -> str:
    return utc(t).strftime("%H:%M")


def write_report(
    page: Page,
    facts: Facts,
    diag: Diagnosis,
    findings: Sequence[Evidence],
    gaps: Sequence[Gap],
    ctx: PlanContext,
    alarm_chart: ChartSeries | None,
) -> Report:
    """The report for a diagnosis, with everything a surface needs to show it."""
    cause = diag.key_logs[0].exception if diag.key_logs and diag.key_logs[0].exception else ""
    root_h = (
        diag.hypotheses[0]
        if diag.hypotheses
        else Hypothesis(
            service=None, category=Category.FALSE_ALARM, confidence=diag.confidence, summary=diag.summary
        )
    )
    return Report(
        page_title=page.title,
        impact=impact(facts, diag.affected, page),
        root_cause=root_h,
        hypotheses=tuple(diag.hypotheses) or (root_h,),
        evidence=tuple(key_evidence(findings, diag)),
        timeline=tuple(timeline(facts, diag, page)),
        ruled_out=tuple(diag.ruled_out),
        gaps=tuple(gaps),
        plan=build_plan(diag.mitigation, ctx, cause),
        guilty_change=diag.guilty,
        chart=chart(facts, diag, alarm_chart),
        inconclusive=diag.inconclusive,
    )


def impact(facts: Facts, affected: dict[str, int], page: Page) -> str:
    """Who is failing since when, and by how much."""
    alarmed = facts.alarm_service or "an unknown service"
    if not affected:
        return f"{page.title}: {alarmed} paged, but no service shows a sustained departure from its baseline."
    worst = sorted(affected.items(), key=lambda kv: (kv[1], kv[0]))
    since = min(t for _, t in worst)
    lines = [f"{page.title}: {alarmed} paged; {len(worst)} service(s) failing since {_hhmm(since)} UTC"]
    for name, _ in worst[:6]:
        sig = max(
            (s for s in facts.signals if s.service == name and s.anomalous and s.instance is None),
            key=lambda s: s.score,
            default=None,
        )
        if sig:
            lines.append(sig.describe())
    return "; ".join(lines) + "."


def key_evidence(findings: Sequence[Evidence], diag: Diagnosis) -> list[Evidence]:
    """The findings that carry the conclusion, most telling first, then the rest (bounded)."""
    root = diag.root_service
    ranked = sorted(
        findings,
        key=lambda e: (
            e.service != root,
            e.kind is not EvidenceKind.LOG,
            e.kind is not EvidenceKind.CHANGE,
            e.kind is EvidenceKind.NOTE,
            e.at or datetime.min.replace(tzinfo=UTC),
        ),
    )
    out: list[Evidence] = []
    g = diag.guilty
    if g is not None:
        out.append(
            Evidence(
                kind=EvidenceKind.CHANGE,
                service=g.service,
                summary=change_line(g),
                at=g.at,
                source=g.source.value,
                link=g.link,
                change=g,
            )
        )
    for lg in diag.key_logs[:3]:
        frames = ", ".join(f"{f.file}:{f.line}" for f in lg.frames[-3:])
        out.append(
            Evidence(
                kind=EvidenceKind.LOG,
                service=lg.service,
                summary=f"{lg.sample[:300]} (×{lg.count}{', new' if lg.is_new else ''}{'; ' + frames if frames else ''})",
                at=utc(lg.first_seen),
                source="logs",
                log_template=lg.template,
                exception=lg.exception,
            )
        )
    for e in ranked:
        if len(out) >= MAX_EVIDENCE:
            break
        if e not in out and e.kind is not EvidenceKind.TOPOLOGY:
            out.append(e)
    return out


#: How much of a change's request a report quotes.
REQUEST_QUOTE = 400


def change_line(c: Change) -> str:
    """The guilty change as a person would want it: what, when, by whom, the commit, the files, what it
    changed, and the request it sent (quoted, cut to a readable length)."""
    parts = [f"{c.summary} at {c.at.strftime('%H:%M')}"]
    if c.actor is not None:
        parts.append(f"by {c.actor.name} ({c.actor.kind.value})")
    if c.commit:
        parts.append(f"commit {c.commit}")
    if c.files:
        parts.append(f"files: {', '.join(c.files)}")
    if c.changed:
        parts.append("changed: " + "; ".join(c.changed))
    if c.request:
        quoted = json.dumps(c.request, sort_keys=True, default=str)
        parts.append("request: " + (quoted if len(quoted) <= REQUEST_QUOTE else quoted[:REQUEST_QUOTE] + "…"))
    return "; ".join(parts)


def timeline(facts: Facts, diag: Diagnosis, page: Page) -> list[TimelineEntry]:
    """Changes people made, services starting to fail, and the page, in order."""
    entries: list[TimelineEntry] = []
    for c in facts.changes:
        guilty = diag.guilty is not None and c.id == diag.guilty.id
        told = c.source in (ChangeSource.GITHUB, ChangeSource.CLOUDTRAIL) and c.via is not ChangeVia.API
        recent = facts.page_time - epoch(c.at) <= WORTH_TELLING
        if guilty or (told and recent):
            entries.append(TimelineEntry(at=c.at, text=c.summary, change_id=c.id))
    for name, t in sorted(diag.affected.items(), key=lambda kv: (kv[1], kv[0])):
        entries.append(TimelineEntry(at=utc(t), text=f"{name} starts failing"))
    entries.append(TimelineEntry(at=page.fired_at, text=f"page: {page.title}"))
    entries.sort(key=lambda e: (e.at, e.text))
    return entries[-MAX_TIMELINE:]


def chart(facts: Facts, diag: Diagnosis, alarm_chart: ChartSeries | None) -> ChartSeries | None:
    """The paging alarm's own metric when it could be read, else the root cause's leading symptom."""
    onset = _onset(facts, diag)
    if alarm_chart is not None and alarm_chart.points:
        return alarm_chart.model_copy(update={"onset": onset})
    lead = diag.key_signals[0] if diag.key_signals else None
    if lead is None:
        return None
    points = facts.series.get((lead.service, lead.signal))
    if not points:
        return None
    return ChartSeries(
        title=f"{lead.service} {lead.signal}",
        points=tuple((utc(t), v) for t, v in zip(*points, strict=False)),
        onset=onset,
    )


def _onset(facts: Facts, diag: Diagnosis) -> datetime | None:
    root = diag.root_service
    t = diag.affected.get(root) if root else None
    if t is None and diag.affected:
        t = min(diag.affected.values())
    return utc(t) if t is not None else None
