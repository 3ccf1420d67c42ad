"""From facts to a diagnosis: which service is the origin, which change explains it, what kind of fault
it is, what to do first, and what looked suspicious but is explained.

Every decision is taken from evidence — onsets down the dependency graph, the timing and place of changes,
stack-trace files and names in the errors, saturation and load — never from scenario or service names.
Ties are broken by name so the same facts always give the same answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.analysis.category import categorise
from bot.analysis.checks import settling_check
from bot.analysis.expected import expected_load
from bot.analysis.facts import Facts, LogFact, SignalState
from bot.analysis.logs import mentions
from bot.analysis.origins import origins
from bot.analysis.quiet import false_alarm
from bot.analysis.ruling import rule_out
from bot.analysis.suspects import CHANGE_THRESHOLD, ChangeVerdict, score_change
from bot.analysis.symptoms import (
    affected_services,
    anomalous_instances,
    failing_zone,
    is_boot_cpu,
    key_of,
    platform_events,
    symptoms,
)
from bot.domain import (
    Category,
    Change,
    Hypothesis,
    Mitigation,
    RuledOut,
    ServiceKind,
    epoch,
)

#: A diagnosis with no guilty change and at most this confidence points two ways (another service began
#: failing no later than the one named): it is reported as inconclusive, with the check that settles each.
INCONCLUSIVE_AT = 0.5
#: The platform's own record of acting on the origin (a failover, a reboot) as the failure began is direct
#: evidence: at least this sure.
PLATFORM_CONFIDENCE = 0.7


@dataclass
class Diagnosis:
    """What the analysis concluded."""

    root_service: str | None
    category: Category
    mitigation: Mitigation
    confidence: float
    summary: str
    guilty: Change | None = None
    hypotheses: list[Hypothesis] = field(default_factory=list)
    ruled_out: list[RuledOut] = field(default_factory=list)
    affected: dict[str, int] = field(default_factory=dict)
    key_signals: list[SignalState] = field(default_factory=list)
    key_logs: list[LogFact] = field(default_factory=list)
    change_verdicts: list[ChangeVerdict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    instance: str | None = None
    #: The availability zone to move away from, when the failure is that zone's.
    zone: str | None = None
    inconclusive: bool = False


def diagnose(facts: Facts, metric_ranking: Sequence[str]) -> Diagnosis:
    """Diagnose the incident from its facts and the metric ranking of origins (best first)."""
    affected = affected_services(facts)
    candidates = [c for c in facts.changes if c.id not in facts.cleared_changes]
    if facts.window_start is not None:
        candidates = [c for c in candidates if epoch(c.at) >= facts.window_start]
    quiet = false_alarm(facts, affected) or expected_load(facts)
    if quiet is not None:
        return _nothing_wrong(facts, affected, candidates, quiet)
    order = origins(facts, metric_ranking, affected)
    origin = order[0] if order else None
    cleared = [
        ChangeVerdict(c, 0.0, ("you said this change is fine",), c.service)
        for c in facts.changes
        if c.id in facts.cleared_changes
    ]
    verdicts = sorted(
        [*(score_change(c, facts, affected, origin) for c in candidates), *cleared],
        key=lambda v: (-v.score, -epoch(v.change.at), v.change.id),
    )
    guilty_v = verdicts[0] if verdicts and verdicts[0].score >= CHANGE_THRESHOLD else None
    if guilty_v is not None and (guilty_v.target is None or guilty_v.target in facts.ignored_services):
        guilty_v = None
    root = guilty_v.target if guilty_v is not None else origin
    guilty = guilty_v.change if guilty_v is not None else None
    category, mitigation, why = categorise(root, guilty, facts, affected)
    confidence = _confidence(guilty_v, root, order, affected)
    if guilty_v is None and root in platform_events(facts):
        confidence = max(confidence, PLATFORM_CONFIDENCE)
    ruled = rule_out(facts, verdicts, guilty, root, category)
    key_signals, key_logs = _key_signals_and_logs(facts, root, ruled, affected)
    reasons = [*(guilty_v.reasons if guilty_v else ()), *why]
    summary = _summary(root, category, guilty, key_signals, key_logs, reasons)
    return Diagnosis(
        root_service=root,
        category=category,
        mitigation=mitigation,
        confidence=round(confidence, 2),
        summary=summary,
        guilty=guilty,
        hypotheses=_hypotheses(facts, root, order, category, confidence, summary, guilty, reasons),
        ruled_out=ruled,
        affected=affected,
        key_signals=key_signals,
        key_logs=key_logs,
        change_verdicts=verdicts,
        reasons=reasons,
        instance=_instance(facts, guilty, category, root),
        zone=failing_zone(facts, root) if root and mitigation is Mitigation.FAILOVER else None,
        inconclusive=guilty is None
        and category is not Category.FALSE_ALARM
        and confidence <= INCONCLUSIVE_AT,
    )


def _nothing_wrong(
    facts: Facts, affected: dict[str, int], candidates: Sequence[Change], why: str
) -> Diagnosis:
    """A false alarm: every change ruled out because nothing is failing."""
    verdicts = [ChangeVerdict(c, 0.0, ("nothing is failing",), c.service) for c in candidates]
    return Diagnosis(
        root_service=None,
        category=Category.FALSE_ALARM,
        mitigation=Mitigation.NONE,
        confidence=0.7,
        summary=f"Nothing is wrong: {why}.",
        ruled_out=rule_out(facts, verdicts, None, None, Category.FALSE_ALARM),
        affected=affected,
        change_verdicts=verdicts,
        reasons=[why],
    )


def _confidence(
    guilty_v: ChangeVerdict | None, root: str | None, order: Sequence[str], affected: dict[str, int]
) -> float:
    """How sure: a strong change verdict on the first origin is surest; an origin alone, less."""
    first = order[0] if order else None
    if guilty_v is not None:
        return min(0.95, 0.55 + 0.3 * min(guilty_v.score, 1.5) / 1.5 + (0.1 if root == first else 0.0))
    if root is not None and root == first:
        alone_or_first = len(order) == 1 or affected.get(order[0], 0) < affected.get(order[1], 0)
        return 0.6 if alone_or_first else 0.5
    return 0.55


def _key_signals_and_logs(
    facts: Facts, root: str | None, ruled: Sequence[RuledOut], affected: dict[str, int]
) -> tuple[list[SignalState], list[LogFact]]:
    """The root's symptoms not ruled out, strongest first; its most telling log templates."""
    dismissed = {r.signal for r in ruled if r.signal is not None}
    key_signals = sorted(
        (
            s
            for s in symptoms(facts)
            if s.service == root and not is_boot_cpu(s, facts) and key_of(s) not in dismissed
        ),
        key=lambda s: (-s.score, s.signal, s.instance or ""),
    )
    own_logs = sorted(
        (lg for lg in facts.logs if lg.service == root), key=lambda lg: (-lg.count, lg.template)
    )
    fresh = [lg for lg in own_logs if lg.is_new or lg.count > 3 * max(lg.baseline_count, 1)]
    key_logs = (fresh + [lg for lg in own_logs if lg not in fresh])[:5]
    if fresh and root is not None:  # what its callers' errors say of it, beside what it says itself
        naming = sorted(
            (
                lg
                for lg in facts.logs
                if lg.service in facts.callers(root)
                and lg.is_error
                and lg.is_new
                and mentions(lg.sample, root)
            ),
            key=lambda lg: (-lg.count, lg.template),
        )
        key_logs = (fresh[:2] + naming[:1] + [lg for lg in key_logs if lg not in fresh[:2]])[:5]
    if not fresh and root is not None and root not in affected:  # a change here broke others: their errors
        victims = sorted(
            (lg for lg in facts.logs if lg.service in affected and lg.is_error and lg.is_new),
            key=lambda lg: (affected[lg.service], -lg.count, lg.template),
        )
        key_logs = victims[:3] or key_logs
    if not key_logs and root is not None:
        callers = facts.callers(root)
        key_logs = [lg for lg in facts.logs if lg.service in callers and lg.is_error and lg.is_new][:3]
    return key_signals, key_logs


def _instance(facts: Facts, guilty: Change | None, category: Category, root: str | None) -> str | None:
    """The one instance to act on: the one the guilty change touched, or the one failing alone."""
    if guilty is not None and guilty.instance:
        return guilty.instance
    if category in (Category.INFRASTRUCTURE_FAILURE, Category.RESOURCE_EXHAUSTION) and root is not None:
        bad = anomalous_instances(facts, root)
        return bad[0] if bad else None
    return None


def _hypotheses(
    facts: Facts,
    root: str | None,
    order: Sequence[str],
    category: Category,
    confidence: float,
    summary: str,
    guilty: Change | None,
    reasons: Sequence[str],
) -> list[Hypothesis]:
    """The leading hypothesis, then every other candidate origin, less likely in order."""
    out = [
        Hypothesis(
            service=root,
            category=category,
            confidence=round(confidence, 2),
            summary=summary,
            change_id=guilty.id if guilty else None,
            evidence=tuple(reasons),
            check=settling_check(root, category, guilty, facts),
        )
    ]
    for i, svc in enumerate(o for o in order if o != root):
        external = facts.kind(svc) is ServiceKind.EXTERNAL
        out.append(
            Hypothesis(
                service=svc,
                category=Category.DEPENDENCY_FAILURE if external else category,
                confidence=round(max(0.05, (1 - confidence) / (i + 2)), 2),
                summary=f"{svc} began failing at its own onset; less likely the origin",
                check=settling_check(svc, Category.DEPENDENCY_FAILURE if external else category, None, facts),
            )
        )
    return out


def _summary(
    root: str | None,
    category: Category,
    guilty: Change | None,
    signals: Sequence[SignalState],
    logs: Sequence[LogFact],
    reasons: Sequence[str],
) -> str:
    """One paragraph an engineer can act on."""
    parts = [f"{root} is where the failure starts ({category.value})."]
    if guilty is not None:
        parts.append(f"Cause: {guilty.summary}.")
    if signals:
        parts.append("Signals: " + "; ".join(s.describe() for s in signals[:3]) + ".")
    if logs:
        lead = logs[0]
        parts.append(f"Errors: “{lead.sample[:240]}” ({lead.count}×).")
    if reasons:
        parts.append("Why: " + "; ".join(reasons) + ".")
    return " ".join(parts)
