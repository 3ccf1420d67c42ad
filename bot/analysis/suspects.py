"""Suspect changes: how well each change explains the failure — timing, place, and ties to the errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.analysis.facts import LOAD_SIGNALS, SATURATION_SIGNALS, Facts
from bot.analysis.logs import files_in, mentions
from bot.analysis.symptoms import (
    CLEARLY_LATER,
    anomalous_instances,
    error_logs,
    log_text,
    still_failing,
    surges,
    symptoms,
)
from bot.domain import (
    Change,
    epoch,
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


@dataclass(frozen=True)
class ChangeVerdict:
    """How well one change explains the incident."""

    change: Change
    score: float
    reasons: tuple[str, ...]
    target: str | None


def score_change(c: Change, facts: Facts, affected: dict[str, int], origin: str | None) -> ChangeVerdict:
    """Score one change: close before the onset, on the failing service, and tied to its errors."""
    reasons: list[str] = []
    target = c.service
    link = 0.0
    onset_ref: int | None = None
    ramp = False
    if target is not None and target in affected:
        onset_ref = affected[target]
        ramp = any(s.ramp for s in symptoms(facts) if s.service == target)
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
            if d in affected and affected[d] < affected[target] and still_failing(facts, d)
        ]
        drove = _drove(c, facts, target, earlier)
        if drove is not None:
            link += 0.3
            reasons.append(drove)
        elif earlier:
            locality = 0.3
            reasons.append(f"{', '.join(earlier)}, which {target} calls, was failing before it")
    # Ties to the errors themselves.
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
        bad = anomalous_instances(facts, target)
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
        and mentions(log_text(facts, [target]), c.resource.split("/")[-1])
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
        text = log_text(facts, [failing])
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
        for s in symptoms(facts)
        if s.service == origin and s.signal in SATURATION_SIGNALS and s.ratio > 1 and s.instance is None
    ]
    if rising and not surges(facts) and (rising[0].start or rising[0].onset or 0) >= epoch(c.at) - 60:
        what = rising[0].signal
        return _Tie(origin, 0.3, f"{origin}, which {c.service} calls, ran out of {what} right after it")
    return None


def _drove(c: Change, facts: Facts, target: str, earlier: Sequence[str]) -> str | None:
    """Why a change on a client explains its dependency failing first: the dependency it calls directly
    ran out of a resource right after the change, with no more load than before."""
    if surges(facts):
        return None
    for dep in earlier:
        if dep not in facts.callees(target):
            continue
        for s in symptoms(facts):
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
