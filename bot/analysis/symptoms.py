"""Symptoms: which signals departed, which services are failing and since when, what their errors say."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bot.analysis.errors import ErrorFamily, families
from bot.analysis.facts import LOAD_SIGNALS, SATURATION_SIGNALS, SYMPTOM_SIGNALS, Facts, LogFact, SignalState
from bot.analysis.logs import mentions
from bot.domain import (
    SignalKey,
)

#: Instances launched within this many seconds before a CPU spike explain it as boot work.
BOOT_WINDOW = 10 * 60


#: Traffic this many times its baseline is a surge.
SURGE_RATIO = 1.5


def symptoms(facts: Facts) -> list[SignalState]:
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


#: A metric point is stamped with the start of its minute: an instance launched within it counts (seconds).
BOOT_SKEW = 120


def is_boot_cpu(s: SignalState, facts: Facts) -> bool:
    """A CPU spike explained by instances that had just booted."""
    if s.signal != "cpu_pct" or s.onset is None:
        return False
    onset = s.onset
    launched = [
        i
        for i in facts.instances
        if i.service == s.service
        and i.launched is not None
        and -BOOT_SKEW <= onset - i.launched <= BOOT_WINDOW
    ]
    if s.instance is not None and any(i.name == s.instance for i in launched):
        return True
    # The fleet's CPU (or, while it lasts no longer, every instance's) rising as instances join it.
    return bool(launched) and (s.instance is None or not s.sustained)


def affected_services(facts: Facts) -> dict[str, int]:
    """Failing services and the start of their earliest symptom (boot CPU on fresh instances left out). A
    service the platform acted on (a failover, a reboot) as it or its callers began failing fails from then."""
    began: dict[str, list[tuple[int, bool, bool, int | None]]] = {}
    for s in symptoms(facts):
        if is_boot_cpu(s, facts):
            continue
        t = s.start if s.start is not None else s.onset
        assert t is not None
        began.setdefault(s.service, []).append((t, s.sustained, _mild(s), s.ended))
    onsets: dict[str, int] = {}
    for svc, starts in began.items():
        lasting = [t for t, sustained, mild, _ in starts if sustained and not mild] or [
            t for t, sustained, _, _ in starts if sustained
        ]
        # A blip over, or a mild shift, long before the lasting failure began, or a blip that had recovered
        # before it began, is not where it started.
        keep = [
            t
            for t, sustained, mild, ended in starts
            if not lasting
            or (sustained and not mild)
            or (
                t >= min(lasting) - BLIP_BEFORE and (ended is None or ended > min(lasting) - RECOVERED_BEFORE)
            )
        ]
        onsets[svc] = min(keep)
    for svc, t in platform_events(facts).items():
        near = [onsets[n] for n in (svc, *facts.callers(svc)) if n in onsets]
        if near and t >= min(near) - PLATFORM_LEAD:
            onsets[svc] = min(t, onsets.get(svc, t))
    return onsets


#: Latency this many times its usual level at most, in a step, is a shift, not a failure.
MILD_SLOWDOWN = 1.5


def _mild(s: SignalState) -> bool:
    """A latency step that stayed under half as slow again: a shift a change may make, not a failure
    (a steady climb is never mild: it is where a leak starts)."""
    return s.signal.startswith("latency") and not s.ramp and s.ratio < MILD_SLOWDOWN


#: A symptom that was over this long (seconds) before a service's lasting failure began was another blip.
BLIP_BEFORE = 30 * 60
#: A blip last seen this long (seconds) before a service's lasting failure began had recovered in between.
RECOVERED_BEFORE = 5 * 60
#: The platform acting on a service this long before the first symptom near it may still be why (seconds).
PLATFORM_LEAD = 10 * 60


def platform_events(facts: Facts) -> dict[str, int]:
    """Services the platform acted on in the incident (a failover, a reboot, a host replaced or retired, as
    their own new log lines or events say), with the earliest such line of each."""
    out: dict[str, int] = {}
    for lg in facts.logs:
        if not lg.is_new or lg.service in facts.ignored_services:
            continue
        if facts.window_start is not None and lg.first_seen < facts.window_start:
            continue
        if ErrorFamily.PLATFORM in families(f"{lg.template} {lg.sample}"):
            out[lg.service] = min(lg.first_seen, out.get(lg.service, lg.first_seen))
    return out


def error_logs(facts: Facts, service: str) -> list[LogFact]:
    return [lg for lg in facts.logs if lg.service == service and lg.is_error]


def log_text(facts: Facts, services: Sequence[str]) -> str:
    """All new error and warning text of the given services, as one lower-case blob."""
    parts = [
        f"{lg.sample}\n{lg.template}\n{lg.exception or ''}\n" + " ".join(f.file for f in lg.frames)
        for lg in facts.logs
        if lg.service in services and (lg.is_new or lg.count > 3 * max(lg.baseline_count, 1))
    ]
    return "\n".join(parts).lower()


def failing_zone(facts: Facts, service: str) -> str | None:
    """The one availability zone all of a service's failing instances are in, when two or more fail there
    and every healthy instance is in another zone: that zone, not the instances, is at fault."""
    bad = set(anomalous_instances(facts, service))
    fleet = [i for i in facts.instances if i.service == service and i.terminated is None]
    zones = {i.zone for i in fleet if i.name in bad}
    began = min((s.start or s.onset or 0 for s in symptoms(facts) if s.service == service), default=0)
    # An instance launched after the failure began has not shown whether its zone is healthy.
    healthy = {i.zone for i in fleet if i.name not in bad and (i.launched is None or i.launched < began)}
    if len(bad) < 2 or len(zones) != 1 or None in zones or not healthy or zones & healthy:
        return None
    return zones.pop()


#: Traffic that fell to this share of what it was has fallen away.
FELL_TO = 0.5


def traffic_fell(facts: Facts, service: str, at: int) -> bool:
    """Whether the service's traffic (requests, or a database's connections) fell away from `at` on: the
    median since then is at most half the median of the hour before."""
    for signal in (*sorted(LOAD_SIGNALS), "connections"):
        times, values = facts.series.get((service, signal), ([], []))
        before = [v for t, v in zip(times, values, strict=False) if at - 3600 <= t < at - 120]
        after = [v for t, v in zip(times, values, strict=False) if t >= at]
        if len(before) >= 5 and len(after) >= 3:
            was, now = statistics.median(before), statistics.median(after)
            if was > 0 and now <= FELL_TO * was:
                return True
    return False


def reaches_nothing(facts: Facts, service: str) -> bool:
    """The service times out or is refused on two or more of the services it calls while they fail no
    requests of their own: its own network (an instance, a zone) is at fault, not what it calls."""
    unreachable = "\n".join(
        f"{lg.sample}\n{lg.exception or ''}"
        for lg in facts.logs
        if lg.service == service
        and lg.is_new
        and ErrorFamily.UNREACHABLE in families(f"{lg.sample} {lg.exception or ''}")
    ).lower()
    named = [d for d in facts.callees(service) if mentions(unreachable, d)]
    failing = {s.service for s in symptoms(facts) if s.signal == "error_rate" and s.sustained}
    return len(named) >= 2 and not failing.intersection(named)


def anomalous_instances(facts: Facts, service: str) -> list[str]:
    """The service's instances that are failing now (a blip that already recovered is not failing)."""
    return sorted(
        {
            s.instance
            for s in symptoms(facts)
            if s.service == service and s.instance and s.sustained and not is_boot_cpu(s, facts)
        }
    )


def failing_alone(facts: Facts, service: str) -> list[str]:
    """The service's failing instances when the rest of its fleet is healthy (else none)."""
    bad = anomalous_instances(facts, service)
    fleet = [i for i in facts.instances if i.service == service and i.terminated is None]
    return bad if bad and len(fleet) > len(bad) else []


def went_on_without(facts: Facts, service: str, affected: dict[str, int]) -> str | None:
    """A failing service that does not call `service` and is still failing, when `service` itself recovered:
    the incident went on without it (else None)."""
    if still_failing(facts, service):
        return None
    going_on = [
        a
        for a in sorted(affected)
        if a != service and still_failing(facts, a) and service not in facts.downstream(a)
    ]
    return going_on[0] if going_on else None


def still_failing(facts: Facts, service: str) -> bool:
    """A sustained symptom, not a blip that already recovered."""
    return any(s.service == service and s.sustained and not is_boot_cpu(s, facts) for s in symptoms(facts))


def surges(facts: Facts) -> list[SignalState]:
    """Load that rose well above its baseline on services not ignored."""
    return [
        s
        for s in facts.signals
        if s.signal in LOAD_SIGNALS
        and s.anomalous
        and s.ratio >= SURGE_RATIO
        and s.service not in facts.ignored_services
    ]


#: A queue's symptoms that only say messages wait: the work behind it is slow, the queue is not broken.
BACKLOG_SIGNALS = frozenset({"queue_depth", "oldest_message_age_s"})


def only_backlog(facts: Facts, service: str) -> bool:
    """Whether a failing service's only trouble is a backlog (messages waiting): a symptom of who works on
    it, never where a failure starts."""
    own = {s.signal for s in symptoms(facts) if s.service == service}
    return bool(own) and own <= BACKLOG_SIGNALS


def only_given_work(facts: Facts, service: str) -> bool:
    """Whether a failing service's only trouble is more connections opened to it (nothing of its own fails,
    slows, runs out or is failed over): it was given work by a caller, not where a failure starts."""
    own = [s for s in symptoms(facts) if s.service == service]
    given = bool(own) and all(s.signal == "connections" and s.peak_value > s.baseline for s in own)
    return given and service not in platform_events(facts)  # a failover or reboot is trouble of its own


#: A capacity setting that held this long before the load rose was not itself the break (seconds).
HELD_BEFORE_LOAD = 10 * 60


def load_came_after(at: int, facts: Facts, service: str) -> int | None:
    """When load rose, if it rose well after `at` and `service` began failing only with it (else None):
    what was set at `at` held until the load came."""
    later = [t for s in surges(facts) if (t := s.start or s.onset) is not None and t >= at + HELD_BEFORE_LOAD]
    if not later:
        return None
    rose = min(later)
    own = [s.start or s.onset or 0 for s in symptoms(facts) if s.service == service]
    return rose if own and min(own) >= rose - CLEARLY_LATER else None


def bad_status(facts: Facts) -> dict[str, str]:
    return {
        st.service: st.message or st.state
        for st in facts.statuses
        if st.state in ("degraded", "outage", "major_outage", "partial_outage")
    }


def key_of(s: SignalState) -> SignalKey:
    return SignalKey(service=s.service, signal=s.signal, instance=s.instance, seen_from=s.seen_from)


#: A dependency that began failing this much later than its caller did not start the caller's trouble.
CLEARLY_LATER = 3 * 60
