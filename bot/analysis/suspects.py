"""Suspect changes: how well each change explains the failure — timing, place, and ties to the errors."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.analysis.changes import reacts_to_load, serves_nothing, sets_capacity
from bot.analysis.errors import ErrorFamily, families
from bot.analysis.facts import LOAD_SIGNALS, SATURATION_SIGNALS, Facts, LogFact
from bot.analysis.logs import files_in, mentions
from bot.analysis.symptoms import (
    CLEARLY_LATER,
    HELD_BEFORE_LOAD,
    anomalous_instances,
    error_logs,
    failing_alone,
    load_came_after,
    log_text,
    only_backlog,
    platform_events,
    reaches_nothing,
    still_failing,
    surges,
    symptoms,
    traffic_fell,
    went_on_without,
)
from bot.domain import (
    Change,
    ChangeVia,
    ServiceKind,
    epoch,
)

#: Two onsets this close (seconds) are the same moment: metric points and log lines fall a minute apart.
SAME_MINUTE = 90
#: Errors that quote the very resource a change touched (a key id, a role, a bucket) tie them this strongly.
NAMED_TIE = 0.45
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
#: A change that bites later (code on a schedule, a cap when the load comes, a permission on first use, a
#: setting when tasks next start) may do so days after it was made: up to three days, a weekend.
LATER_LOOKBACK_MIN = 72 * 60.0
#: An added line must be at least this long (and of several words) to be recognised quoted in a log.
QUOTED_LINE_CHARS = 24


@dataclass(frozen=True)
class ChangeVerdict:
    """How well one change explains the incident."""

    change: Change
    score: float
    reasons: tuple[str, ...]
    target: str | None


def score_change(c: Change, facts: Facts, affected: dict[str, int], origin: str | None) -> ChangeVerdict:
    """Score one change: close before the onset, on the failing service, and tied to its errors."""
    if reacts_to_load(c):
        return ChangeVerdict(
            c, 0.0, ("AWS changing capacity under its scaling policy: a response, not a cause",), c.service
        )
    if serves_nothing(c):
        return ChangeVerdict(
            c,
            0.0,
            ("it changed only alarms, log retention or tags: nothing that serves requests",),
            c.service,
        )
    reasons: list[str] = []
    target = c.service
    link = 0.0
    onset_ref: int | None = None
    ramp = False
    bites = NOW
    if target is not None and target in affected:
        some = _only_some_of_a_fleet_that_reads_it(c, facts, target)
        if some is not None:
            return ChangeVerdict(c, 0.0, (some,), target)
        going_on = went_on_without(facts, target, affected)
        if going_on is not None:
            return ChangeVerdict(
                c,
                0.0,
                (f"{target} recovered while {going_on}, which does not call it, kept failing",),
                target,
            )
        onset_ref = affected[target]
        ramp = any(s.ramp for s in symptoms(facts) if s.service == target)
        bites, link = _when_it_bites(c, facts, affected, target, reasons)
    else:
        tie = _tie_from_outside(c, facts, affected, origin)
        if tie is not None:
            target = target or tie.failing
            onset_ref, link = affected[tie.failing], tie.link
            reasons.append(tie.reason)
            bites = LATER if tie.runs_later else NOW
    if onset_ref is None:
        return ChangeVerdict(c, 0.0, ("on a service that is not failing",), target)
    at = epoch(c.at)
    dt_min = (onset_ref - at) / 60.0
    if at > onset_ref + AFTER_ONSET_GRACE:
        return ChangeVerdict(c, 0.0, (f"it came {-dt_min:.0f} min after the errors began",), target)
    lookback = LATER_LOOKBACK_MIN if bites != NOW else RAMP_LOOKBACK_MIN if ramp else STEP_LOOKBACK_MIN
    if dt_min > lookback:
        return ChangeVerdict(c, 0.0, (f"it landed {dt_min:.0f} min before anything went wrong",), target)
    tau = RAMP_TAU_MIN if ramp else STEP_TAU_MIN
    proximity = max(math.exp(-max(dt_min, 0.0) / tau), PROXIMITY_FLOOR[bites])
    failing = (
        target if target in affected else next((a for a, t in affected.items() if t == onset_ref), target)
    )
    reasons.append(f"{max(dt_min, 0):.0f} min before {failing} began failing")
    locality = 1.0 if target == origin else 0.8 if target in affected else 0.9
    if target in affected:
        locality, link = _victim_or_driver(c, facts, target, affected, locality, link, reasons)
    link += _ties_to_errors(c, facts, affected, target, reasons)
    score = proximity * locality + link
    return ChangeVerdict(c, round(score, 4), tuple(reasons), target)


def _only_some_of_a_fleet_that_reads_it(c: Change, facts: Facts, target: str) -> str | None:
    """A parameter every instance of `target` reads cannot explain a failure of only a few of them, while
    most of the fleet stays healthy."""
    if c.via is not ChangeVia.PARAMETER or c.instance is not None:
        return None
    bad = failing_alone(facts, target)
    fleet = [i for i in facts.instances if i.service == target and i.terminated is None]
    if not bad or 2 * len(bad) >= len(fleet):
        return None
    return f"every instance of {target} reads it, yet only {', '.join(bad)} of {len(fleet)} fail"


#: When a change bites: right away (its time is what counts), later (on a schedule, when load comes, when a
#: permission is first used: when it shipped says little), or slowly (something its code does accumulates).
NOW, LATER, SLOWLY = "now", "later", "slowly"
#: How close in time a change counts at the least, by when it bites.
PROXIMITY_FLOOR = {NOW: 0.0, LATER: 0.5, SLOWLY: 0.3}


def _when_it_bites(
    c: Change, facts: Facts, affected: dict[str, int], target: str, reasons: list[str]
) -> tuple[str, float]:
    """When a change on a failing service bites, and the link that says so."""
    quoted = _runs_code_it_added(c, facts, affected)
    if quoted is not None:
        reasons.append(quoted.reason)
        return LATER, quoted.link
    if sets_capacity(c) and (rose := load_came_after(epoch(c.at), facts, target)) is not None:
        reasons.append(
            f"it set {target}'s capacity {(rose - epoch(c.at)) / 60:.0f} min before the load rose, "
            "and held until then"
        )
        if any(s.service == target and s.signal in SATURATION_SIGNALS for s in symptoms(facts)):
            reasons.append(f"{target} is out of that capacity now")
            return LATER, 0.25
        return LATER, 0.0
    if c.is_deploy and _own_code_fails(c, facts, target):
        return SLOWLY, 0.0
    started = _read_when_tasks_start(c, facts, target)
    if started is not None:
        reasons.append(
            f"{target}'s tasks that started {(started - epoch(c.at)) / 60:.0f} min after it, the first to read "
            "it, keep dying, and the failure began with them"
        )
        return LATER, 0.2
    denied = _denied_on_what_it_changed(c, facts, target)
    if denied is not None:
        reasons.append(
            f"{target}'s access-denied errors name {denied}, which it changed: a permission bites the "
            "first time it is used"
        )
        return LATER, 0.0
    return NOW, 0.0


def _ties_to_errors(
    c: Change, facts: Facts, affected: dict[str, int], target: str | None, reasons: list[str]
) -> float:
    """What the errors themselves say of the change: its files in their stack traces, its commit, the one
    instance it touched, the resource it changed."""
    link = 0.0
    own_errors = error_logs(facts, target) if target else []
    frames = files_in([f for lg in own_errors for f in lg.frames])
    changed = {f.lstrip("./") for f in c.files}
    overlap = sorted(
        frame for frame in frames if any(frame.endswith(ch) or ch.endswith(frame) for ch in changed)
    )
    if overlap:
        link += 0.5
        reasons.append(f"the stack traces run through {', '.join(overlap)}, which it changed")
    if c.commit and mentions(log_text(facts, list(affected)), c.commit[:7]):
        link += 0.3
        reasons.append(f"the errors name commit {c.commit[:7]}")
    if c.instance and target:
        link += _instance_tie(c.instance, facts, target, own_errors, reasons)
    services = {s.name.lower() for s in facts.topology.services}
    # A service's own name in errors says nothing of a change: only what it touched by its own name does.
    touched = [n for n in resource_names(c) if n.lower() not in services]
    if touched and target and not c.is_deploy:
        users = [a for a in affected if a != target and target in facts.callees(a)]
        own = next((n for n in touched if mentions(log_text(facts, [target]), n)), None)
        theirs = next((n for n in touched if users and mentions(log_text(facts, users), n)), None)
        if own is not None:
            link += NAMED_TIE
            reasons.append(f"the errors name {own}")
        elif theirs is not None:  # those who use what it changed (a queue's producers, naming its key)
            link += NAMED_TIE
            reasons.append(f"the errors of {', '.join(users)}, which use {target}, name {theirs}")
    return link


def _instance_tie(
    instance: str, facts: Facts, target: str, own_errors: list[LogFact], reasons: list[str]
) -> float:
    """A change to one instance: tied when that instance alone fails, cleared when another does."""
    bad = anomalous_instances(facts, target)
    streams = {st for lg in own_errors if lg.is_new for st in lg.streams}
    if bad == [instance] or (not bad and streams == {instance}):
        reasons.append(f"only {instance}, the instance it touched, is failing")
        return 0.5
    if bad and instance not in bad and len(bad) < len(_fleet(facts, target)):
        reasons.append(f"it touched {instance}, but only {', '.join(bad)} is failing")
        return -0.5
    if len(bad) > 1 or len(streams) > 1:
        reasons.append(f"every instance of {target} failed alike, not only {instance}")
        return -0.3
    return 0.0


def _victim_or_driver(
    c: Change,
    facts: Facts,
    target: str,
    affected: dict[str, int],
    locality: float,
    link: float,
    reasons: list[str],
) -> tuple[float, float]:
    """A failing service whose own dependency failed first (or failed alike for an unchanged caller) is a
    victim, not an origin — unless the change drove that dependency over. The new (locality, link)."""
    platform = platform_events(facts)
    earlier = [
        d
        for d in facts.downstream(target)[1:]
        if d in affected
        and (
            (affected[d] < affected[target] and still_failing(facts, d))
            or (d in platform and affected[d] <= affected[target] + SAME_MINUTE)
        )
        and not (facts.kind(d) is ServiceKind.SQS and only_backlog(facts, d))
    ]
    drove = _drove(c, facts, target, [d for d in earlier if affected[d] >= epoch(c.at) - SAME_MINUTE])
    if drove is not None:
        reasons.append(drove)
        return locality, link + 0.3
    if earlier:
        acted_on = [d for d in earlier if d in platform]
        if acted_on:
            reasons.append(
                f"the platform acted on {', '.join(acted_on)}, which {target} calls, as it began failing"
            )
        else:
            reasons.append(f"{', '.join(earlier)}, which {target} calls, was failing before it")
        return 0.3, link
    alike = _failed_alike_elsewhere(facts, target, affected)
    if alike is not None:
        reasons.append(alike)
        return 0.3, link
    return locality, link


@dataclass(frozen=True)
class _Tie:
    """How a change on a service that is not failing itself reaches one that is."""

    failing: str
    link: float
    reason: str
    #: The change's code runs later than it shipped (on a schedule): when it shipped says little.
    runs_later: bool = False


def resource_names(c: Change) -> list[str]:
    """The short names of what a change touched (a bucket, a key id, a role, a table), for matching text."""
    out: list[str] = []
    for res in (c.resource or "").split(", "):
        short = res.rsplit(":", 1)[-1].rsplit("/", 1)[-1].split(" ", 1)[0].strip()
        if len(short) >= 4 and short not in out:
            out.append(short)
    return out


_HOST = re.compile(r"(?<![\w.-])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+){2,}(?![\w-])")


def host_names(c: Change) -> list[str]:
    """The host names a change's details name (a DNS record, an endpoint it pointed somewhere)."""
    text = " ".join(c.changed).lower()
    return sorted({h.rstrip(".") for h in _HOST.findall(text) if re.search(r"[a-z]{2}", h)})


def _tie_from_outside(c: Change, facts: Facts, affected: dict[str, int], origin: str | None) -> _Tie | None:
    """A change whose own service is not failing, tied to one that is: the errors of a failing service name
    what it changed (its service, its resource), or it changed a client of the origin, whose resource then
    ran out with no more load than before."""
    names = [*([c.service] if c.service else []), *resource_names(c), *host_names(c)]
    for failing in sorted(affected, key=lambda a: (affected[a], a)):
        if failing == c.service or reaches_nothing(facts, failing):
            continue  # a service that reaches nothing names everything it calls
        text = log_text(facts, [failing])
        named = [n for n in names if mentions(text, n)]
        if named:
            return _Tie(failing, 0.45, f"the errors of {failing} name {named[0]}, which it changed")
    tie = (
        _runs_code_it_added(c, facts, affected)
        or _took_shared_concurrency(c, facts, affected)
        or _changed_what_it_sends(c, facts, affected)
    )
    if tie is not None:
        return tie
    if c.service is None:
        return None
    cut_off = _cut_off_from_callers(c.service, facts, affected)
    if cut_off is not None:
        return cut_off
    if origin is None or origin not in facts.callees(c.service):
        return None
    rising = [
        s
        for s in symptoms(facts)
        if s.service == origin and s.signal in SATURATION_SIGNALS and s.ratio > 1 and s.instance is None
    ]
    if rising and not surges(facts) and (rising[0].start or rising[0].onset or 0) >= epoch(c.at) - 60:
        what = _resource(rising[0].signal)
        return _Tie(origin, 0.3, f"{origin}, which {c.service} calls, ran out of {what} right after it")
    return None


#: Error families that come from outside a service's own code: what it calls, its network, its permissions.
OUTSIDE_FAMILIES = frozenset(
    {
        ErrorFamily.UNREACHABLE,
        ErrorFamily.NAME_RESOLUTION,
        ErrorFamily.TLS,
        ErrorFamily.THROTTLING,
        ErrorFamily.AUTHORIZATION,
        ErrorFamily.EXHAUSTED_POOL,
        ErrorFamily.PLATFORM,
    }
)


def _own_code_fails(c: Change, facts: Facts, service: str) -> bool:
    """The service's new errors are thrown in files the release changed and say nothing about anything
    outside it (a disk its code fills, memory it holds, an exception of its own): code that fails only as
    something accumulates may bite hours after it shipped."""
    changed = {f.lstrip("./") for f in c.files}
    if not changed:
        return False
    for lg in error_logs(facts, service):
        if not lg.is_new or not lg.frames:
            continue
        if set(families(f"{lg.exception or ''} {lg.sample}")) & OUTSIDE_FAMILIES:
            continue
        if any(fr.endswith(ch) or ch.endswith(fr) for fr in files_in(list(lg.frames)) for ch in changed):
            return True
    return False


#: Settings stores a service reads when a task or instance starts (not on every request).
_READ_AT_START = frozenset({"PutSecretValue", "UpdateSecret"})
#: A failure that began this long after new tasks started began with them (seconds).
STARTED_WITH = 15 * 60


def _read_when_tasks_start(c: Change, facts: Facts, service: str) -> int | None:
    """A setting read when a task starts bites only when new tasks start: when the first tasks of `service`
    to start well after the change keep dying and its failure began with them (not before), when they
    started; else None."""
    if c.via is not ChangeVia.PARAMETER and c.action not in _READ_AT_START:
        return None
    at = epoch(c.at)
    after = [
        i for i in facts.instances if i.service == service and (i.launched or 0) >= at + HELD_BEFORE_LOAD
    ]
    if not any(i.terminated is not None for i in after):
        return None
    first = min(i.launched or 0 for i in after)
    broke = [
        s.start or s.onset or 0
        for s in symptoms(facts)
        if s.service == service and s.signal not in SATURATION_SIGNALS - {"throttles_per_min"}
    ] + [lg.first_seen for lg in error_logs(facts, service) if lg.is_new]
    return first if broke and first <= min(broke) <= first + STARTED_WITH else None


def _denied_on_what_it_changed(c: Change, facts: Facts, service: str) -> str | None:
    """A permission change whose role, policy, key or bucket the service's authorization errors name."""
    if c.via is not ChangeVia.IAM:
        return None
    denied = " ".join(
        f"{lg.exception or ''} {lg.sample}"
        for lg in error_logs(facts, service)
        if lg.is_new and ErrorFamily.AUTHORIZATION in families(f"{lg.exception or ''} {lg.sample}")
    )
    return next((name for name in resource_names(c) if mentions(denied, name)), None)


def _fleet(facts: Facts, service: str) -> list[str]:
    """The service's running instances."""
    return [i.name for i in facts.instances if i.service == service and i.terminated is None]


def _flat(text: str) -> str:
    return " ".join(text.lower().split())


#: A string literal in code (a query, a message), and the placeholders a driver fills in.
_LITERAL = re.compile(r"""(?:'([^']{12,})'|"([^"]{12,})")""")
_PLACEHOLDER = re.compile(r"(%\(\w+\)s|%s|\?|\$\d+)")
_FILLED = r"""(?:'[^']*'|"[^"]*"|[\w.:+-]+)"""


def _quotable(c: Change) -> list[tuple[str, re.Pattern[str]]]:
    """What of a change's added code could show up quoted in a log: whole long lines, and string literals
    (queries) with their placeholders standing for any value."""
    out: list[tuple[str, re.Pattern[str]]] = []
    for line in c.added_lines:
        if len(line.strip()) >= QUOTED_LINE_CHARS and len(re.findall(r"\w+", line)) >= 4:
            out.append((_flat(line), re.compile(re.escape(_flat(line)))))
        for m in _LITERAL.finditer(line):
            literal = _flat(m.group(1) or m.group(2))
            if len(re.findall(r"[a-z_]\w*", literal)) < 4:
                continue
            parts = _PLACEHOLDER.split(literal)
            pattern = "".join(_FILLED if i % 2 else re.escape(part) for i, part in enumerate(parts))
            out.append((literal, re.compile(pattern)))
    return out


def _runs_code_it_added(c: Change, facts: Facts, affected: dict[str, int]) -> _Tie | None:
    """A failing service's own log quotes code a change added (a database's slow-statement log or a lock
    report quoting a new query): the failure is the change's code running, whenever it first ran."""
    quotable = _quotable(c)
    if not quotable:
        return None
    for failing in sorted(affected, key=lambda a: (affected[a], a)):
        if failing == c.service:
            continue
        text = _flat(log_text(facts, [failing]))
        quoted = [what for what, pattern in quotable if pattern.search(text)]
        if quoted:
            who = c.service or "it"
            longest = max(quoted, key=len)
            reason = f"{failing}'s own log quotes code {who}'s change added (“{longest}”)"
            return _Tie(failing, 0.5, reason, runs_later=True)
    return None


_RESERVATION = re.compile(
    r"reservedconcurrentexecutions\W*(\d+|\(?none\)?|null|unset)?\s*(?:→|->)\s*(\d+)", re.IGNORECASE
)


def _raises_reservation(c: Change) -> bool:
    """Whether the change reserves more of the account's Lambda concurrency for one function."""
    if c.action == "PutFunctionConcurrency":
        return True
    return any(
        int(m[2]) > (int(m[1]) if m[1] and m[1].isdigit() else 0)
        for text in c.changed
        for m in _RESERVATION.finditer(text)
    )


def _took_shared_concurrency(c: Change, facts: Facts, affected: dict[str, int]) -> _Tie | None:
    """Reserved concurrency comes out of the account's shared pool: other functions that start throttling
    right after one function reserved more of it are starved by that reservation."""
    if not _raises_reservation(c):
        return None
    throttled = {s.service for s in symptoms(facts) if s.signal == "throttles_per_min" and s.ratio > 1}
    for failing in sorted(affected, key=lambda a: (affected[a], a)):
        if (
            failing != c.service
            and facts.kind(failing) is ServiceKind.LAMBDA
            and failing in throttled
            and affected[failing] >= epoch(c.at) - 60
        ):
            who = c.service or "another function"
            reason = (
                f"{failing} throttles on the account's shared concurrency right after {who} reserved more"
            )
            return _Tie(failing, 0.45, reason)
    return None


def _feeds(producer: str, consumer: str, facts: Facts) -> bool:
    """Whether `producer` hands work to `consumer`: it calls it, it puts work on a queue that delivers to it,
    or both work on the same queue."""
    if consumer in facts.callees(producer):
        return True
    queues = [q for q in facts.callees(producer) if facts.kind(q) is ServiceKind.SQS]
    return any(consumer in facts.callees(q) or q in facts.callees(consumer) for q in queues)


#: A change of a consumer's own this close before it began throwing could explain the throws itself (seconds);
#: one it ran cleanly after for longer cannot.
OWN_CHANGE_JUST_BEFORE = 20 * 60


def _changed_what_it_sends(c: Change, facts: Facts, affected: dict[str, int]) -> _Tie | None:
    """The code did not change, its input did: a service whose own code now throws (stack frames, no
    infrastructure error family) with no change of its own, right after a release of what feeds it."""
    if c.service is None or not c.is_deploy or c.only_configuration:
        return None
    at = epoch(c.at)
    for failing in sorted(affected, key=lambda a: (affected[a], a)):
        onset = affected[failing]
        if failing == c.service or not 0 <= onset - at + AFTER_ONSET_GRACE <= STEP_LOOKBACK_MIN * 60:
            continue
        if not _feeds(c.service, failing, facts) or _changed_itself(
            failing, facts, onset, OWN_CHANGE_JUST_BEFORE
        ):
            continue
        throws = [
            lg
            for lg in error_logs(facts, failing)
            if lg.is_new and lg.frames and not families(f"{lg.exception or ''} {lg.sample}")
        ]
        if throws:
            reason = (
                f"{failing}'s code throws on what {c.service} sends it, and {c.service} changed just before"
            )
            return _Tie(failing, 0.35, reason)
    return None


def _changed_itself(service: str, facts: Facts, onset: int, within: float = STEP_LOOKBACK_MIN * 60) -> bool:
    """A change on the service itself within `within` seconds before its onset."""
    return any(
        ch.service == service and -AFTER_ONSET_GRACE <= onset - epoch(ch.at) <= within for ch in facts.changes
    )


def _drove(c: Change, facts: Facts, target: str, earlier: Sequence[str]) -> str | None:
    """Why a change on a client explains its dependency failing first: the dependency it calls directly (not
    one already failing before the change) ran out of a resource right after the change, with no more load
    coming in than before (more calls on the dependency alone are what the change drove)."""
    if any(s.service not in earlier for s in surges(facts)):
        return None
    acted_on = platform_events(facts)  # the platform, not the change, explains what it did to a dependency
    for dep in earlier:
        if dep not in facts.callees(target) or dep in acted_on:
            continue
        for s in symptoms(facts):
            start = s.start or s.onset or 0
            if (
                s.service == dep
                and s.signal in SATURATION_SIGNALS
                and s.ratio > 1
                and start >= epoch(c.at) - 60
            ):
                return f"{dep}, which {target} calls, ran out of {_resource(s.signal)} right after it"
    return None


def _resource(signal: str) -> str:
    """What a saturation signal says ran out, in words."""
    return {
        "throttles_per_min": "throughput (it throttles)",
        "cpu_pct": "CPU",
        "memory_pct": "memory",
        "queue_depth": "consumers (its queue grows)",
    }.get(signal, signal)


def _failed_alike_elsewhere(facts: Facts, target: str, affected: dict[str, int]) -> str | None:
    """The common-dependency test: another caller of a dependency that the target's errors name, itself
    unchanged, began failing on that dependency at the same time, so the dependency explains both."""
    onset = affected[target]
    own = log_text(facts, [target])
    for dep in sorted(facts.callees(target)):
        if dep not in affected or affected[dep] > onset + CLEARLY_LATER or not mentions(own, dep):
            continue
        for other in sorted(facts.callers(dep)):
            if other == target or other not in affected or abs(affected[other] - onset) > CLEARLY_LATER:
                continue
            if not _changed_itself(other, facts, affected[other]) and mentions(log_text(facts, [other]), dep):
                return f"{other}, which also calls {dep} and had no change, failed on it at the same time"
    return None


def _cut_off_from_callers(service: str, facts: Facts, affected: dict[str, int]) -> _Tie | None:
    """The service's callers began failing just as their traffic to it fell away: the path to it broke
    (a network rule, a permission, an endpoint), so what changed on it is tied to their failure."""
    callers = sorted((a for a in facts.callers(service) if a in affected), key=lambda a: (affected[a], a))
    if not callers:
        return None
    first = affected[callers[0]]
    if traffic_fell(facts, service, first):
        return _Tie(callers[0], 0.45, f"{callers[0]}'s traffic to {service} fell away as it began failing")
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
