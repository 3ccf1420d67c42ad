"""False alarms: nothing departed, only brief blips, or busy work that is expected (a draining backlog, the
same load at this hour yesterday) with nothing a user feels."""

from __future__ import annotations

from collections.abc import Sequence

from bot.analysis.changes import sets_capacity
from bot.analysis.facts import LOAD_SIGNALS, Facts, SignalState
from bot.analysis.symptoms import BACKLOG_SIGNALS, SURGE_RATIO, is_boot_cpu, surges, symptoms

#: Signals a user feels: failing or slow requests, too few healthy hosts. (Throttling is felt only through
#: the errors or latency it causes; a throttled queue poll is simply retried.)
USER_FACING_SIGNALS = frozenset({"error_rate", "latency_p50_ms", "latency_p99_ms", "healthy_hosts"})


DAY = 86400


#: A backlog already down by a fifth from its peak is draining.
DRAINED_SHARE = 0.8

#: Signals that say requests are failing, not merely slower (a backlog is judged on its own).
FAILING_SIGNALS = frozenset({"error_rate", "healthy_hosts", "throttles_per_min"})
#: A resource below this percentage still has headroom.
HEADROOM_PCT = 90.0
#: New error lines at least this many are failures, not background noise.
ERROR_LINES = 5
#: Slowness that began this long before the load rose is not explained by it (seconds).
LOAD_LEAD = 120


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
        return _busy_with_headroom(facts, sustained)
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


def _busy_with_headroom(facts: Facts, sustained: Sequence[SignalState]) -> str | None:
    """More load than usual, answered more slowly but without a failure and with headroom left: the alarm
    fired on the load, not on a fault. Not when anything fails or piles up, a resource is (nearly) out,
    memory creeps up, new errors are logged, or the slowness began before the load rose."""
    load = surges(facts)
    busy = {s.service for s in sustained}
    # Someone (not AWS reacting to load) set a busy service's capacity before the load came: the load then
    # found what they left, a capacity question rather than a false alarm.
    if not load or any(c.service in busy and sets_capacity(c) for c in facts.changes):
        return None
    rose = min((s.start or s.onset or 0) for s in load)
    if any(s.signal in FAILING_SIGNALS for s in sustained):
        return None
    # A backlog that grew with the load, while nothing that works on it slowed down or fails, is the
    # load waiting its turn; one that began before the load, or with some work's throughput falling, is not.
    backlog = [s for s in sustained if s.signal in BACKLOG_SIGNALS]
    if any((s.start or s.onset or 0) < rose - LOAD_LEAD for s in backlog) or (backlog and _work_fell(facts)):
        return None
    pct = [s for s in sustained if s.signal.endswith("_pct")]
    if any(s.peak_value >= HEADROOM_PCT or (s.signal == "memory_pct" and s.ramp) for s in pct):
        return None
    slow = [s for s in sustained if s.signal in USER_FACING_SIGNALS]
    if any((s.start or s.onset or 0) < rose - LOAD_LEAD for s in slow):
        return None
    if any(f.is_new and f.is_error and f.count >= ERROR_LINES for f in facts.logs):
        return None
    busiest = max(pct, key=lambda s: s.peak_value, default=None)
    headroom = (
        f"; the busiest resource, {busiest.service} {busiest.signal}, peaks at {busiest.peak_value:.0f}% "
        f"({100 - busiest.peak_value:.0f} points of headroom)"
        if busiest is not None
        else ""
    )
    grew = ", ".join(sorted({s.describe() for s in load}))
    slower = ", ".join(sorted({s.describe() for s in slow}))
    queued = (
        f"; the backlog ({', '.join(sorted({s.describe() for s in backlog}))}) grew with it and is being worked"
        if backlog
        else ""
    )
    return (
        f"load rose ({grew}) and was served more slowly ({slower}) but without a failed request{queued}"
        f"{headroom}: the alarm fired on busy, expected work, not on a fault"
    )


def _work_fell(facts: Facts) -> bool:
    """Some service's throughput fell well below its baseline (a consumer that stopped working)."""
    return any(s.signal in LOAD_SIGNALS and s.anomalous and s.ratio < 1 / SURGE_RATIO for s in facts.signals)


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
