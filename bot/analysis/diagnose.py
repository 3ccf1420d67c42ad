"""From facts to a diagnosis: which service is the origin, which change explains it, what kind of fault
it is, what to do first, and what looked suspicious but is explained.

Every decision is taken from evidence — onsets down the dependency graph, the timing and place of changes,
stack-trace files and names in the errors, saturation and load — never from scenario or service names.
Ties are broken by name so the same facts always give the same answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.analysis.facts import (
    LOAD_SIGNALS,
    SATURATION_SIGNALS,
    SYMPTOM_SIGNALS,
    Facts,
    LogFact,
    SignalState,
)
from bot.analysis.logs import files_in, mentions
from bot.domain import (
    Category,
    Change,
    ChangeVia,
    Hypothesis,
    Mitigation,
    RuledOut,
    ServiceKind,
    SignalKey,
    epoch,
)

#: Error text that says a process ran out of memory (whole words, any runtime).
OUT_OF_MEMORY = re.compile(
    r"\b(out of memory|outofmemory\w*|memoryerror|oom[- ]?kill\w*|oom|killed process|heap out of memory)\b",
    re.IGNORECASE,
)

#: A change counts as the cause from this score on.
CHANGE_THRESHOLD = 0.55
#: Minutes over which a change's link to an onset fades (steps; ramps fade slower).
STEP_TAU_MIN = 12.0
RAMP_TAU_MIN = 60.0
#: A change more than this long before the onset is not considered (minutes; ramps allow longer).
STEP_LOOKBACK_MIN = 90.0
RAMP_LOOKBACK_MIN = 6 * 60.0
#: A change may land this long after the onset and still be its cause (clock skew, slow rollout), seconds.
AFTER_ONSET_GRACE = 120
#: Instances launched within this many seconds before a CPU spike explain it as boot work.
BOOT_WINDOW = 10 * 60
#: Traffic this many times its baseline is a surge.
SURGE_RATIO = 1.5


@dataclass(frozen=True)
class ChangeVerdict:
    """How well one change explains the incident."""

    change: Change
    score: float
    reasons: tuple[str, ...]
    target: str | None


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


def _symptoms(facts: Facts) -> list[SignalState]:
    """Anomalous symptom and saturation signals of services not ignored, within the steering window."""
    out = []
    for s in facts.signals:
        if not s.anomalous or s.service in facts.ignored_services:
            continue
        if s.signal not in SYMPTOM_SIGNALS | SATURATION_SIGNALS:
            continue
        if facts.window_start is not None and (s.onset or 0) < facts.window_start and not s.sustained:
            continue
        out.append(s)
    return out


def _is_boot_cpu(s: SignalState, facts: Facts) -> bool:
    """A CPU spike explained by instances that had just booted."""
    if s.signal != "cpu_pct" or s.onset is None:
        return False
    onset = s.onset
    launched = [
        i
        for i in facts.instances
        if i.service == s.service and i.launched is not None and 0 <= onset - i.launched <= BOOT_WINDOW
    ]
    if s.instance is not None:
        return any(i.name == s.instance for i in launched)
    return bool(launched)


def affected_services(facts: Facts) -> dict[str, int]:
    """Failing services and the start of their earliest symptom (boot CPU on fresh instances left out)."""
    onsets: dict[str, int] = {}
    for s in _symptoms(facts):
        if _is_boot_cpu(s, facts):
            continue
        t = s.start if s.start is not None else s.onset
        assert t is not None
        if s.service not in onsets or t < onsets[s.service]:
            onsets[s.service] = t
    return onsets


def _error_logs(facts: Facts, service: str) -> list[LogFact]:
    return [lg for lg in facts.logs if lg.service == service and lg.is_error]


def _log_text(facts: Facts, services: Sequence[str]) -> str:
    """All new error and warning text of the given services, as one lower-case blob."""
    parts = [
        f"{lg.sample}\n{lg.template}\n{lg.exception or ''}\n" + " ".join(f.file for f in lg.frames)
        for lg in facts.logs
        if lg.service in services and (lg.is_new or lg.count > 3 * max(lg.baseline_count, 1))
    ]
    return "\n".join(parts).lower()


def _anomalous_instances(facts: Facts, service: str) -> list[str]:
    return sorted(
        {
            s.instance
            for s in _symptoms(facts)
            if s.service == service and s.instance and not _is_boot_cpu(s, facts)
        }
    )


def _score_change(c: Change, facts: Facts, affected: dict[str, int], origin: str | None) -> ChangeVerdict:
    """Score one change: close before the onset, on the failing service, and tied to its errors."""
    reasons: list[str] = []
    target = c.service
    link = 0.0
    onset_ref: int | None = None
    ramp = False
    if target is not None and target in affected:
        onset_ref = affected[target]
        ramp = any(s.ramp for s in _symptoms(facts) if s.service == target)
    else:
        tie = _tie_from_outside(c, facts, affected, origin)
        if tie is not None:
            target = target or tie.failing
            onset_ref, link = affected[tie.failing], tie.link
            reasons.append(tie.reason)
    if onset_ref is None:
        return ChangeVerdict(c, 0.0, ("on a service that is not failing",), target)
    at = epoch(c.at)
    dt_min = (onset_ref - at) / 60.0
    if at > onset_ref + AFTER_ONSET_GRACE:
        return ChangeVerdict(c, 0.0, (f"it came {-dt_min:.0f} min after the errors began",), target)
    lookback = RAMP_LOOKBACK_MIN if ramp else STEP_LOOKBACK_MIN
    if dt_min > lookback:
        return ChangeVerdict(c, 0.0, (f"it landed {dt_min:.0f} min before anything went wrong",), target)
    tau = RAMP_TAU_MIN if ramp else STEP_TAU_MIN
    proximity = math.exp(-max(dt_min, 0.0) / tau)
    reasons.append(f"{max(dt_min, 0):.0f} min before {target} began failing")
    locality = 1.0 if target == origin else 0.8 if target in affected else 0.9
    if target in affected:
        # A service whose own dependency was already failing first is a victim, not an origin.
        earlier = [
            d
            for d in facts.downstream(target)[1:]
            if d in affected and affected[d] < affected[target] and _still_failing(facts, d)
        ]
        drove = _drove(c, facts, target, earlier)
        if drove is not None:
            link += 0.3
            reasons.append(drove)
        elif earlier:
            locality = 0.3
            reasons.append(f"{', '.join(earlier)}, which {target} calls, was failing before it")
    # Ties to the errors themselves.
    own_errors = _error_logs(facts, target) if target else []
    frames = files_in([f for lg in own_errors for f in lg.frames])
    changed = {f.lstrip("./") for f in c.files}
    overlap = sorted(
        frame for frame in frames if any(frame.endswith(ch) or ch.endswith(frame) for ch in changed)
    )
    if overlap:
        link += 0.5
        reasons.append(f"the stack traces run through {', '.join(overlap)}, which it changed")
    if c.commit and mentions(_log_text(facts, list(affected)), c.commit[:7]):
        link += 0.3
        reasons.append(f"the errors name commit {c.commit[:7]}")
    if c.instance and target:
        bad = _anomalous_instances(facts, target)
        streams = {st for lg in own_errors if lg.is_new for st in lg.streams}
        alone = bad == [c.instance] or (not bad and streams == {c.instance})
        if alone:
            link += 0.5
            reasons.append(f"only {c.instance}, the instance it touched, is failing")
        elif len(bad) > 1 or len(streams) > 1:
            link -= 0.3
            reasons.append(f"every instance of {target} failed alike, not only {c.instance}")
    if (
        c.resource
        and target
        and not c.is_deploy
        and mentions(_log_text(facts, [target]), c.resource.split("/")[-1])
    ):
        link += 0.25
        reasons.append(f"the errors name {c.resource.split('/')[-1]}")
    score = proximity * locality + link
    return ChangeVerdict(c, round(score, 4), tuple(reasons), target)


@dataclass(frozen=True)
class _Tie:
    """How a change on a service that is not failing itself reaches one that is."""

    failing: str
    link: float
    reason: str


def resource_names(c: Change) -> list[str]:
    """The short names of what a change touched (a bucket, a key id, a role, a table), for matching text."""
    out: list[str] = []
    for res in (c.resource or "").split(", "):
        short = res.rsplit(":", 1)[-1].rsplit("/", 1)[-1].split(" ", 1)[0].strip()
        if len(short) >= 4 and short not in out:
            out.append(short)
    return out


def _tie_from_outside(c: Change, facts: Facts, affected: dict[str, int], origin: str | None) -> _Tie | None:
    """A change whose own service is not failing, tied to one that is: the errors of a failing service name
    what it changed (its service, its resource), or it changed a client of the origin, whose resource then
    ran out with no more load than before."""
    names = [*([c.service] if c.service else []), *resource_names(c)]
    for failing in sorted(affected, key=lambda a: (affected[a], a)):
        if failing == c.service:
            continue
        text = _log_text(facts, [failing])
        named = [n for n in names if mentions(text, n)]
        if named:
            return _Tie(failing, 0.45, f"the errors of {failing} name {named[0]}, which it changed")
    if c.service is None:
        return None
    cut_off = _cut_off_from_callers(c.service, facts, affected)
    if cut_off is not None:
        return cut_off
    if origin is None or origin not in facts.callees(c.service):
        return None
    rising = [
        s
        for s in _symptoms(facts)
        if s.service == origin and s.signal in SATURATION_SIGNALS and s.ratio > 1 and s.instance is None
    ]
    if rising and not _surges(facts) and (rising[0].start or rising[0].onset or 0) >= epoch(c.at) - 60:
        what = rising[0].signal
        return _Tie(origin, 0.3, f"{origin}, which {c.service} calls, ran out of {what} right after it")
    return None


def _drove(c: Change, facts: Facts, target: str, earlier: Sequence[str]) -> str | None:
    """Why a change on a client explains its dependency failing first: the dependency it calls directly
    ran out of a resource right after the change, with no more load than before."""
    if _surges(facts):
        return None
    for dep in earlier:
        if dep not in facts.callees(target):
            continue
        for s in _symptoms(facts):
            start = s.start or s.onset or 0
            if (
                s.service == dep
                and s.signal in SATURATION_SIGNALS
                and s.ratio > 1
                and start >= epoch(c.at) - 60
            ):
                return f"{dep}, which {target} calls, ran out of {s.signal} right after it"
    return None


def _cut_off_from_callers(service: str, facts: Facts, affected: dict[str, int]) -> _Tie | None:
    """The service's callers began failing just as their traffic to it fell away: the path to it broke
    (a network rule, a permission, an endpoint), so what changed on it is tied to their failure."""
    callers = sorted((a for a in facts.callers(service) if a in affected), key=lambda a: (affected[a], a))
    if not callers:
        return None
    first = affected[callers[0]]
    for s in facts.signals:
        when = s.start or s.onset
        if (
            s.service == service
            and s.signal in LOAD_SIGNALS
            and s.anomalous
            and s.ratio < 1
            and when is not None
            and abs(when - first) <= CLEARLY_LATER
        ):
            return _Tie(
                callers[0], 0.45, f"{callers[0]}'s traffic to {service} fell away as it began failing"
            )
    return None


def _still_failing(facts: Facts, service: str) -> bool:
    """A sustained symptom, not a blip that already recovered."""
    return any(s.service == service and s.sustained and not _is_boot_cpu(s, facts) for s in _symptoms(facts))


def _surges(facts: Facts) -> list[SignalState]:
    """Load that rose well above its baseline on services not ignored."""
    return [
        s
        for s in facts.signals
        if s.signal in LOAD_SIGNALS
        and s.anomalous
        and s.ratio >= SURGE_RATIO
        and s.service not in facts.ignored_services
    ]


def _metric_origin(ranking: Sequence[str], affected: dict[str, int], facts: Facts) -> list[str]:
    """Candidate origins: the metric ranking first, then any other failing service by earliest onset."""
    order = [s for s in ranking if s not in facts.ignored_services]
    rest = sorted((s for s in affected if s not in order), key=lambda s: (affected[s], s))
    order += rest
    if facts.focus_services:
        order = sorted(order, key=lambda s: (s not in facts.focus_services, order.index(s)))
    return order


def _bad_status(facts: Facts) -> dict[str, str]:
    return {
        st.service: st.message or st.state
        for st in facts.statuses
        if st.state in ("degraded", "outage", "major_outage", "partial_outage")
    }


#: Resources that leak: a steady climb of one of these after a release is a leak, not load.
LEAKABLE_SIGNALS = frozenset({"memory_pct", "connections"})
#: Managed datastores: saturated with no more load than usual, they are degraded, not undersized.
DATASTORES = frozenset({ServiceKind.RDS, ServiceKind.DYNAMODB})


def _exhausted(root: str | None, guilty: Change | None, facts: Facts) -> bool:
    """Something ran out: memory climbing or full, a leakable resource climbing after the change, or the
    root's errors say it ran out of memory. A queue backlog climbing is a symptom, not a leak."""
    symptoms = [s for s in _symptoms(facts) if s.service == root]
    if any(s.signal == "memory_pct" and (s.ramp or s.peak_value >= 90) for s in symptoms):
        return True
    if guilty is not None and root is not None:
        near = {root, *facts.callees(root)}
        if any(
            s.service in near
            and s.signal in LEAKABLE_SIGNALS
            and s.ramp
            and (s.start or 0) >= epoch(guilty.at) - 120
            for s in _symptoms(facts)
        ):
            return True
    return any(
        OUT_OF_MEMORY.search(f"{lg.exception or ''} {lg.sample}") for lg in facts.logs if lg.service == root
    )


def _categorise(
    root: str | None, guilty: Change | None, facts: Facts, affected: dict[str, int]
) -> tuple[Category, Mitigation, list[str]]:
    """The category and first mitigation, from the guilty change or the shape of the failure."""
    why: list[str] = []
    exhausted = _exhausted(root, guilty, facts)
    if guilty is not None:
        surged = any((s.start or s.onset or 0) >= epoch(guilty.at) for s in _surges(facts))
        return (*_category_of_change(guilty, root, exhausted, surged, why), why)
    if root is None:
        return Category.FALSE_ALARM, Mitigation.NONE, why
    if facts.kind(root) is ServiceKind.EXTERNAL or root in _bad_status(facts):
        return (*_third_party(root, facts, affected, why), why)
    if exhausted:
        return Category.RESOURCE_EXHAUSTION, Mitigation.RESTART, why
    return (*_shape_of_failure(root, facts, why), why)


def _third_party(
    root: str, facts: Facts, affected: dict[str, int], why: list[str]
) -> tuple[Category, Mitigation]:
    """A dependency you cannot fix: fail over when its callers also use another, healthy one; else wait."""
    bad_status = _bad_status(facts)
    why.append(
        f"{root}'s own status page reports trouble" if root in bad_status else f"{root} is a third party"
    )
    if facts.kind(root) is not ServiceKind.EXTERNAL:
        return Category.DEPENDENCY_FAILURE, Mitigation.FAILOVER
    alternatives = sorted(
        {
            other
            for caller in facts.callers(root)
            for other in facts.callees(caller)
            if other != root
            and facts.kind(other) is ServiceKind.EXTERNAL
            and other not in bad_status
            and other not in affected
        }
    )
    if alternatives:
        why.append(f"{', '.join(alternatives)} serves the same callers and is healthy")
        return Category.DEPENDENCY_FAILURE, Mitigation.FAILOVER
    return Category.DEPENDENCY_FAILURE, Mitigation.WAIT


def _shape_of_failure(root: str, facts: Facts, why: list[str]) -> tuple[Category, Mitigation]:
    """No change explains it: load beyond headroom, one bad instance, or a degraded resource."""
    symptoms = [s for s in _symptoms(facts) if s.service == root]
    saturated = [s for s in symptoms if s.signal in SATURATION_SIGNALS and not _is_boot_cpu(s, facts)]
    surged = bool(_surges(facts))
    if saturated and surged:
        why.append("load rose and the service ran out of headroom")
        return Category.CAPACITY, Mitigation.SCALE_OUT
    bad_instances = _anomalous_instances(facts, root)
    fleet = [i for i in facts.instances if i.service == root and i.terminated is None]
    if bad_instances and len(fleet) > len(bad_instances):
        why.append(f"only {', '.join(bad_instances)} is failing; the rest of the fleet is healthy")
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.REPLACE_INSTANCE
    kind = facts.kind(root)
    if kind in DATASTORES:
        if saturated:
            why.append(f"{root} is saturated with no more load than usual: the database itself is degraded")
        return Category.INFRASTRUCTURE_FAILURE, Mitigation.FAILOVER
    if saturated:
        return Category.CAPACITY, Mitigation.SCALE_OUT
    return Category.INFRASTRUCTURE_FAILURE, Mitigation.RESTART


def _category_of_change(
    guilty: Change, root: str | None, exhausted: bool, surged: bool, why: list[str]
) -> tuple[Category, Mitigation]:
    """The category and first mitigation when a change is the cause: what kind of change it was."""
    via = guilty.via
    if via.is_deploy:
        if exhausted:
            why.append("a resource climbed steadily after the release until it ran out")
            return Category.RESOURCE_EXHAUSTION, Mitigation.ROLLBACK
        return Category.BAD_DEPLOYMENT, Mitigation.ROLLBACK
    if via is ChangeVia.PARAMETER:
        return Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG
    if via is ChangeVia.IAM:
        return Category.PERMISSION_CHANGE, Mitigation.REVERT_PERMISSION
    if via is ChangeVia.SCALING:
        if surged:  # the cut only hurt when load arrived: a capacity problem
            why.append("capacity was cut and the load that came next found too little")
            return Category.CAPACITY, Mitigation.SCALE_OUT
        why.append("the capacity cut itself broke it: no more load than before")
        return Category.MANUAL_CHANGE, Mitigation.SCALE_OUT
    if via is ChangeVia.SSM_SESSION:
        if root and guilty.instance:
            return Category.MANUAL_CHANGE, Mitigation.REPLACE_INSTANCE
        return Category.MANUAL_CHANGE, Mitigation.RESTART
    return Category.MANUAL_CHANGE, Mitigation.REVERT_CONFIG


def _key(s: SignalState) -> SignalKey:
    return SignalKey(service=s.service, signal=s.signal, instance=s.instance, seen_from=s.seen_from)


#: Signals a user feels: failing or slow requests, too few healthy hosts. (Throttling is felt only through
#: the errors or latency it causes; a throttled queue poll is simply retried.)
USER_FACING_SIGNALS = frozenset({"error_rate", "latency_p50_ms", "latency_p99_ms", "healthy_hosts"})
DAY = 86400
#: A backlog already down by a fifth from its peak is draining.
DRAINED_SHARE = 0.8


def _false_alarm(facts: Facts, affected: dict[str, int]) -> str | None:
    """Why nothing is wrong, or None when something is."""
    if not affected:
        return "no service's signals departed from their own baseline"
    sustained = [s for s in _symptoms(facts) if s.sustained and not _is_boot_cpu(s, facts)]
    if not sustained:
        blips = ", ".join(sorted({s.describe() for s in _symptoms(facts)}))
        return f"the only departures ({blips}) were brief and have already recovered"
    return _expected_work(facts, sustained)


def _expected_work(facts: Facts, sustained: Sequence[SignalState]) -> str | None:
    """Busy but fine: nothing a user feels departed, nothing climbs steadily, and the same work ran at this
    hour yesterday. Said with the headroom left."""
    if any(s.signal in USER_FACING_SIGNALS for s in sustained):
        return None
    draining = [
        s
        for s in sustained
        if s.signal == "queue_depth"
        and s.peak_value > s.baseline
        and s.last_value - s.baseline <= DRAINED_SHARE * (s.peak_value - s.baseline)
    ]
    if draining:
        q = draining[0]
        return (
            f"{q.service}'s backlog is draining on its own ({q.signal} peaked at {q.peak_value:.0f}, "
            f"{q.last_value:.0f} now) and nothing a user feels departed"
        )
    if any(s.ramp for s in sustained):
        return None
    if not all(_recurs_daily(facts, s) for s in sustained if s.instance is None):
        return None
    busiest = max(sustained, key=lambda s: s.peak_value if s.signal.endswith("_pct") else 0.0)
    headroom = (
        f"; {busiest.service} {busiest.signal} peaks at {busiest.peak_value:.0f}%, {100 - busiest.peak_value:.0f} points of headroom"
        if busiest.signal.endswith("_pct")
        else ""
    )
    work = ", ".join(sorted({s.describe() for s in sustained}))
    return f"this is expected work: the same load ({work}) ran at this hour yesterday, and no user-facing signal departed{headroom}"


def _recurs_daily(facts: Facts, s: SignalState) -> bool:
    """The same departure, at least half as large, within an hour of the same time the day before."""
    points = facts.series.get((s.service, s.signal))
    start = s.start or s.onset
    if not points or start is None:
        return False
    lo, hi = start - DAY - 1800, start - DAY + 3600
    before = [v for t, v in zip(*points, strict=False) if lo <= t <= hi]
    if not before:
        return False
    move = s.peak_value - s.baseline
    reached = max(before) - s.baseline if move > 0 else s.baseline - min(before)
    return abs(move) > 0 and reached >= 0.5 * abs(move)


def _rule_out(
    facts: Facts,
    verdicts: Sequence[ChangeVerdict],
    guilty: Change | None,
    root: str | None,
    category: Category,
) -> list[RuledOut]:
    """Suspicious things that are explained: other changes, boot CPU, traffic the errors did not follow."""
    out: list[RuledOut] = []
    for v in verdicts:
        c = v.change
        if guilty is not None and c.id == guilty.id:
            continue
        if c.id in facts.cleared_changes:
            out.append(RuledOut(subject=c.summary, reason="you said this change is fine", change_id=c.id))
            continue
        if c.via is ChangeVia.API:
            continue
        reason = (
            "; ".join(v.reasons) if v.score < CHANGE_THRESHOLD else f"a weaker explanation ({v.score:.2f})"
        )
        if c.service and c.service not in (root,) and v.score < CHANGE_THRESHOLD:
            reason = f"{c.service} is not where the failure starts; " + reason
        out.append(RuledOut(subject=c.summary, reason=reason, change_id=c.id))
    seen: set[tuple[str, str | None]] = set()
    for s in facts.signals:
        if not s.anomalous or (s.service, s.instance) in seen:
            continue
        if _is_boot_cpu(s, facts):
            seen.add((s.service, s.instance))
            who = s.instance or f"{s.service}'s fresh instances"
            out.append(
                RuledOut(
                    subject=f"CPU spike on {who} ({s.describe()})",
                    reason="instances had just launched; CPU is busy while they boot, and it settled while errors went on",
                    signal=_key(s),
                )
            )
        elif (
            s.signal == "cpu_pct"
            and not s.sustained
            and s.service == root
            and category is not Category.CAPACITY
        ):
            seen.add((s.service, s.instance))
            out.append(
                RuledOut(
                    subject=f"CPU spike on {s.service} ({s.describe()})",
                    reason="it ended while the errors continued",
                    signal=_key(s),
                )
            )
        elif s.signal in LOAD_SIGNALS and s.ratio >= SURGE_RATIO and category is not Category.CAPACITY:
            errs = [
                x
                for x in facts.signals
                if x.service == s.service and x.signal == "error_rate" and x.anomalous
            ]
            if not errs or (errs[0].onset or 0) - (s.onset or 0) > 15 * 60:
                out.append(
                    RuledOut(
                        subject=f"traffic on {s.service} rose {s.ratio:.1f}×",
                        reason="its errors did not follow the traffic",
                        signal=SignalKey(service=s.service, signal=s.signal),
                    )
                )
    return out


def diagnose(facts: Facts, metric_ranking: Sequence[str]) -> Diagnosis:
    """Diagnose the incident from its facts and the metric ranking of origins (best first)."""
    affected = affected_services(facts)
    candidates = [c for c in facts.changes if c.id not in facts.cleared_changes]
    if facts.window_start is not None:
        candidates = [c for c in candidates if epoch(c.at) >= facts.window_start]
    false_alarm = _false_alarm(facts, affected)
    if false_alarm is not None:
        return _nothing_wrong(facts, affected, candidates, false_alarm)
    order = _origins(facts, metric_ranking, affected)
    origin = order[0] if order else None
    cleared = [
        ChangeVerdict(c, 0.0, ("you said this change is fine",), c.service)
        for c in facts.changes
        if c.id in facts.cleared_changes
    ]
    verdicts = sorted(
        [*(_score_change(c, facts, affected, origin) for c in candidates), *cleared],
        key=lambda v: (-v.score, -epoch(v.change.at), v.change.id),
    )
    guilty_v = verdicts[0] if verdicts and verdicts[0].score >= CHANGE_THRESHOLD else None
    if guilty_v is not None and (guilty_v.target is None or guilty_v.target in facts.ignored_services):
        guilty_v = None
    root = guilty_v.target if guilty_v is not None else origin
    guilty = guilty_v.change if guilty_v is not None else None
    category, mitigation, why = _categorise(root, guilty, facts, affected)
    confidence = _confidence(guilty_v, root, order, affected)
    ruled = _rule_out(facts, verdicts, guilty, root, category)
    key_signals, key_logs = _key_signals_and_logs(facts, root, ruled)
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
        ruled_out=_rule_out(facts, verdicts, None, None, Category.FALSE_ALARM),
        affected=affected,
        change_verdicts=verdicts,
        reasons=[why],
    )


def _origins(facts: Facts, metric_ranking: Sequence[str], affected: dict[str, int]) -> list[str]:
    """Candidate origins, best first: a third party whose status page reports trouble while its callers
    fail leads; then the metric ranking."""
    order = _metric_origin(metric_ranking, affected, facts)
    order = _named_dependencies_first(facts, _earlier_callers_first(facts, order, affected), affected)
    for svc in sorted(_bad_status(facts)):
        callers = [c for c in facts.callers(svc) if c in affected]
        if svc in facts.ignored_services or not callers:
            continue
        seen_failing = svc in affected
        named = mentions(_log_text(facts, callers), svc)
        if seen_failing or named:
            return [svc, *[o for o in order if o != svc]]
    return order


#: A dependency that began failing this much later than its caller did not start the caller's trouble.
CLEARLY_LATER = 3 * 60


def _earlier_callers_first(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """A candidate that a failing caller reaches only after that caller was already failing is not where
    the failure starts: put the earliest such caller first."""
    if not order or order[0] not in affected:
        return order
    lead = order[0]
    earlier = [
        a
        for a in affected
        if a != lead and lead in facts.downstream(a)[1:] and affected[a] + CLEARLY_LATER < affected[lead]
    ]
    if not earlier:
        return order
    first = min(earlier, key=lambda a: (affected[a], a))
    return [first, *[o for o in order if o != first]]


def _named_dependencies_first(facts: Facts, order: list[str], affected: dict[str, int]) -> list[str]:
    """What an error says: a failing service whose new errors name a dependency it calls that is failing
    too (or is a third party) is that dependency's victim, so the dependency goes before it."""
    out = list(order)
    for caller in list(out):
        text = _log_text(facts, [caller])
        for dep in facts.callees(caller):
            if dep not in out or out.index(dep) < out.index(caller):
                continue
            failing = dep in affected and affected[dep] <= affected.get(caller, affected[dep]) + CLEARLY_LATER
            if (failing or facts.kind(dep) is ServiceKind.EXTERNAL) and mentions(text, dep):
                out.remove(dep)
                out.insert(out.index(caller), dep)
    return out


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
    facts: Facts, root: str | None, ruled: Sequence[RuledOut]
) -> tuple[list[SignalState], list[LogFact]]:
    """The root's symptoms not ruled out, strongest first; its most telling log templates."""
    dismissed = {r.signal for r in ruled if r.signal is not None}
    key_signals = sorted(
        (
            s
            for s in _symptoms(facts)
            if s.service == root and not _is_boot_cpu(s, facts) and _key(s) not in dismissed
        ),
        key=lambda s: (-s.score, s.signal, s.instance or ""),
    )
    own_logs = sorted(
        (lg for lg in facts.logs if lg.service == root), key=lambda lg: (-lg.count, lg.template)
    )
    fresh = [lg for lg in own_logs if lg.is_new or lg.count > 3 * max(lg.baseline_count, 1)]
    key_logs = (fresh + [lg for lg in own_logs if lg not in fresh])[:5]
    if not key_logs and root is not None:
        callers = facts.callers(root)
        key_logs = [lg for lg in facts.logs if lg.service in callers and lg.is_error and lg.is_new][:3]
    return key_signals, key_logs


def _instance(facts: Facts, guilty: Change | None, category: Category, root: str | None) -> str | None:
    """The one instance to act on: the one the guilty change touched, or the one failing alone."""
    if guilty is not None and guilty.instance:
        return guilty.instance
    if category is Category.INFRASTRUCTURE_FAILURE and root is not None:
        bad = _anomalous_instances(facts, root)
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
