"""False alarms: nothing departed, only brief blips, or busy work that is expected (a draining backlog, the
same load at this hour yesterday) with nothing a user feels."""

from __future__ import annotations

from collections.abc import Sequence

from bot.analysis.facts import Facts, SignalState
from bot.analysis.symptoms import is_boot_cpu, symptoms

#: Signals a user feels: failing or slow requests, too few healthy hosts. (Throttling is felt only through
#: the errors or latency it causes; a throttled queue poll is simply retried.)
USER_FACING_SIGNALS = frozenset({"error_rate", "latency_p50_ms", "latency_p99_ms", "healthy_hosts"})


DAY = 86400


#: A backlog already down by a fifth from its peak is draining.
DRAINED_SHARE = 0.8


def false_alarm(facts: Facts, affected: dict[str, int]) -> str | None:
    """Why nothing is wrong, or None when something is."""
    if not affected:
        return "no service's signals departed from their own baseline"
    sustained = [s for s in symptoms(facts) if s.sustained and not is_boot_cpu(s, facts)]
    if not sustained:
        blips = ", ".join(sorted({s.describe() for s in symptoms(facts)}))
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
