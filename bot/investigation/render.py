"""A report as plain text, for the terminal and for checks that read the whole report."""

from __future__ import annotations

from bot.domain import Phase, Report


def report_text(report: Report) -> str:
    """The report as readable text: impact, root cause, evidence, timeline, ruled out, gaps, plan."""
    out: list[str] = [f"# {report.page_title}", "", f"Impact: {report.impact}", ""]
    rc = report.root_cause
    if rc is not None:
        who = rc.service or "nothing is wrong"
        lead = "Inconclusive; leading hypothesis" if report.inconclusive else "Root cause"
        out += [
            f"{lead}: {who} — {rc.category.value} (confidence {rc.confidence:.0%})",
            f"  {rc.summary}",
        ]
        if report.inconclusive and rc.check:
            out.append(f"  to settle it: {rc.check}")
        change = report.guilty_change
        if change is not None:
            out.append(f"  change: {change.summary}" + (f" <{change.link}>" if change.link else ""))
        if report.runbook is not None:
            out.append(f"  runbook: {report.runbook.name} — {report.runbook.path}")
        if report.owners:
            out.append(f"  Owners: {', '.join(report.owners)}")
        out.append("")
    if len(report.hypotheses) > 1:
        out.append("Other hypotheses:")
        for h in report.hypotheses[1:5]:
            out.append(f"  - {h.service}: {h.summary} ({h.confidence:.0%})")
            if report.inconclusive and h.check:
                out.append(f"    to settle it: {h.check}")
        out.append("")
    if report.evidence:
        out.append("Evidence:")
        for e in report.evidence:
            when = e.at.strftime("%H:%M") if e.at else "--:--"
            out.append(
                f"  - [{when}] {e.kind.value} {e.service or ''}: {e.summary}"
                + (f" <{e.link}>" if e.link else "")
            )
        out.append("")
    if report.timeline:
        out.append("Timeline (UTC):")
        guilty = report.guilty_change.id if report.guilty_change else None
        out += [
            f"  {t.at.strftime('%H:%M')}  {'⚠ ' if guilty and t.change_id == guilty else ''}{t.text}"
            for t in report.timeline
        ]
        out.append("")
    if report.ruled_out:
        out.append("Ruled out:")
        out += [f"  - {r.subject}: {r.reason}" for r in report.ruled_out]
        out.append("")
    if report.gaps:
        out.append("Could not check:")
        out += [f"  - {g.source}: {g.reason}" for g in report.gaps]
        out.append("")
    plan = report.plan
    if plan is not None:
        out.append(f"Plan — {plan.mitigation.value}: {plan.summary}")
        for phase in Phase:
            steps = plan.phase(phase)
            if steps:
                out.append(f"  {phase.value}:")
                out += [f"    {'[needs approval] ' if s.mutating else ''}{s.description}" for s in steps]
        if plan.long_term_fix:
            out.append(f"  long-term fix: {plan.long_term_fix}")
    if report.model_note:
        out += ["", report.model_note]
    return "\n".join(out).rstrip() + "\n"
