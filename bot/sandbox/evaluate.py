"""Score investigations against scenario truth, as ../shared/scenarios/FORMAT.md says.

The engine never sees scenario ids, so its answers are matched to the scenario by what they name: a guilty
change by its service and time (and commit, resource or instance when it has them), a ruled-out item by the
change or signal it refers to, a gap by the API it names.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.domain import Change, epoch
from bot.investigation.engine import Outcome
from bot.investigation.render import report_text
from bot.sandbox.scenario import Event, Scenario, find_scenarios, load_scenario

#: A guilty change matches a scenario change within this many seconds.
TIME_TOLERANCE = 180
GAP_APIS = {
    "cloudtrail": ("cloudtrail",),
    "logs": ("logs",),
    "metrics": ("cloudwatch",),
    "xray": ("xray",),
    "github": ("github",),
    "ecs": ("ecs",),
    "cloudformation": ("cloudformation",),
    "autoscaling": ("autoscaling",),
    "ssm": ("ssm",),
    "lambda": ("lambda",),
    "status": ("status",),
}


def change_matches(fact: Change | None, event: Event, scenario: Scenario, page_time: int) -> bool:
    """Whether the engine's change is the scenario's change event."""
    if fact is None or event.change is None:
        return False
    spec = event.change
    at = page_time + int(event.at * 60)
    if abs(epoch(fact.at) - at) > TIME_TOLERANCE:
        return False
    if fact.service == spec.service:
        return True
    names = [x for x in (spec.resource, spec.instance, spec.parameter.name if spec.parameter else None) if x]
    text = f"{fact.summary} {fact.resource or ''} {fact.instance or ''}"
    return any(n in text for n in names) or (
        spec.commit is not None and (fact.commit or "").startswith(spec.commit.sha)
    )


def _noise_ruled_out(event: Event, outcome: Outcome, scenario: Scenario) -> bool:
    """Whether the report names this noise event as looked at and dismissed."""
    ruled = outcome.report.ruled_out
    if event.change is not None:
        by_id = {c.id: c for c in outcome.facts.changes}
        return any(
            r.change_id is not None
            and change_matches(by_id.get(r.change_id), event, scenario, outcome.facts.page_time)
            for r in ruled
        )
    signals = [r.signal for r in ruled if r.signal is not None]
    if event.effect is not None:
        eff = event.effect
        return any(
            k.service == eff.service
            and k.signal in eff.levels
            and (eff.instance is None or k.instance in (None, eff.instance))
            for k in signals
        )
    if event.traffic is not None:
        return any(k.service == event.traffic.service and k.signal == "requests_per_min" for k in signals)
    return any(k.service == event.service for k in signals)


@dataclass
class Score:
    """One scenario's score."""

    id: str
    solved: bool
    top1: bool
    top3: bool
    category_ok: bool
    change_ok: bool
    mitigation_ok: bool
    evidence_ok: bool
    ruled_out_ok: bool
    gaps_ok: bool
    first_finding_s: float | None
    report_s: float
    missing_evidence: list[str]
    answer: str

    def to_json(self) -> dict[str, Any]:
        """The fields `sre-bot eval --json` prints for a scenario."""
        return {
            "id": self.id,
            "solved": self.solved,
            "top1": self.top1,
            "top3": self.top3,
            "category_ok": self.category_ok,
            "change_ok": self.change_ok,
            "mitigation_ok": self.mitigation_ok,
            "evidence_ok": self.evidence_ok,
            "ruled_out_ok": self.ruled_out_ok,
            "gaps_ok": self.gaps_ok,
            "first_finding_s": None if self.first_finding_s is None else round(self.first_finding_s, 3),
            "report_s": round(self.report_s, 3),
        }


def score(scenario: Scenario, outcome: Outcome) -> Score:
    """Score one investigation against its scenario's truth."""
    truth = scenario.truth
    report = outcome.report
    ranking = report.ranking()
    rc = report.root_cause
    if truth.root_cause_service is None:
        top1 = top3 = rc is None or rc.service is None
    else:
        top1 = bool(ranking) and ranking[0] == truth.root_cause_service
        top3 = truth.root_cause_service in ranking[:3]
    category_ok = rc is not None and rc.category.value == truth.category
    guilty = outcome.diagnosis.guilty
    if truth.change is None:
        change_ok = guilty is None
    else:
        event = scenario.event(truth.change)
        change_ok = event is not None and change_matches(guilty, event, scenario, outcome.facts.page_time)
    mitigation_ok = report.plan is not None and report.plan.mitigation.value == truth.mitigation
    text = report_text(report).lower()
    missing = [w for w in truth.evidence if w.lower() not in text]
    noise_ok = all(
        (ev := scenario.event(rid)) is not None and _noise_ruled_out(ev, outcome, scenario)
        for rid in truth.ruled_out
    )
    gap_sources = [g.source.lower() for g in report.gaps]
    gaps_ok = True
    for gap in scenario.gaps:
        api, _, target = gap.partition(":")
        prefixes = GAP_APIS.get(api, (api,))
        if not any(any(p in src for p in prefixes) and (not target or target in src) for src in gap_sources):
            gaps_ok = False
    answer = f"{rc.service if rc else None} / {rc.category.value if rc else '-'} / {report.plan.mitigation.value if report.plan else '-'}"
    return Score(
        id=scenario.id,
        solved=top1 and category_ok and change_ok and mitigation_ok,
        top1=top1,
        top3=top3,
        category_ok=category_ok,
        change_ok=change_ok,
        mitigation_ok=mitigation_ok,
        evidence_ok=not missing,
        ruled_out_ok=noise_ok,
        gaps_ok=gaps_ok,
        first_finding_s=outcome.first_finding_s,
        report_s=outcome.report_s,
        missing_evidence=missing,
        answer=answer,
    )


def evaluate_paths(paths: Sequence[Path]) -> dict[str, Any]:
    """Run every scenario under `paths` through the sandbox and the engine; the `--json` object."""
    from bot.sandbox.runner import run_scenario

    files = find_scenarios(list(paths))
    scenarios = [load_scenario(f) for f in files]  # every file validated before anything starts
    scores: list[Score] = []
    for sc in scenarios:
        try:
            outcome = run_scenario(sc)
        except Exception as exc:  # one broken scenario must not hide the others' scores
            scores.append(failed(sc, f"{type(exc).__name__}: {exc}"))
            continue
        scores.append(score(sc, outcome))
    return summarise(scores)


def failed(sc: Scenario, error: str) -> Score:
    """The score of a scenario that could not be run, with the error as its answer."""
    return Score(
        id=sc.id,
        solved=False,
        top1=False,
        top3=False,
        category_ok=False,
        change_ok=False,
        mitigation_ok=False,
        evidence_ok=False,
        ruled_out_ok=False,
        gaps_ok=False,
        first_finding_s=None,
        report_s=0.0,
        missing_evidence=[],
        answer=f"error: {error[:200]}",
    )


def summarise(scores: Sequence[Score]) -> dict[str, Any]:
    """Per-scenario rows and totals."""
    firsts = [s.first_finding_s for s in scores if s.first_finding_s is not None]
    return {
        "scenarios": [s.to_json() for s in scores],
        "totals": {
            "scenarios": len(scores),
            "solved": sum(s.solved for s in scores),
            "top1": sum(s.top1 for s in scores),
            "top3": sum(s.top3 for s in scores),
            "first_finding_s_median": round(statistics.median(firsts), 3) if firsts else None,
            "report_s_median": round(statistics.median([s.report_s for s in scores]), 3) if scores else None,
        },
        "_details": [
            {"id": s.id, "answer": s.answer, "missing_evidence": s.missing_evidence} for s in scores
        ],
    }


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a table for people."""
    cols = [
        "solved",
        "top1",
        "top3",
        "category_ok",
        "change_ok",
        "mitigation_ok",
        "evidence_ok",
        "ruled_out_ok",
        "gaps_ok",
    ]
    head = (
        f"{'scenario':38} "
        + " ".join(f"{c[:8]:>8}" for c in cols)
        + f" {'first_s':>8} {'report_s':>8}  answer"
    )
    lines = [head, "-" * len(head)]
    details = {d["id"]: d for d in result.get("_details", [])}
    for row in result["scenarios"]:
        marks = " ".join(f"{'yes' if row[c] else 'NO':>8}" for c in cols)
        first = "-" if row["first_finding_s"] is None else f"{row['first_finding_s']:.2f}"
        d = details.get(row["id"], {})
        extra = f"  missing: {', '.join(d['missing_evidence'])}" if d.get("missing_evidence") else ""
        lines.append(
            f"{row['id'][:38]:38} {marks} {first:>8} {row['report_s']:>8.2f}  {d.get('answer', '')}{extra}"
        )
    t = result["totals"]
    lines.append("-" * len(head))
    lines.append(
        f"solved {t['solved']}/{t['scenarios']}, top-1 {t['top1']}, top-3 {t['top3']}; "
        f"median first finding {t['first_finding_s_median']} s, median report {t['report_s_median']} s"
    )
    return "\n".join(lines)
