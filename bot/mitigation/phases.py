"""The four phases of running a bound catalogue action: pre-validate, apply, post-validate, rollback.

Each phase returns a `PhaseResult` (plain data, so a durable workflow can checkpoint it): whether it passed,
a line for the thread, and the exact API calls it made. AWS errors come back as a failed phase, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.mitigation.catalogue import BoundAction
from bot.mitigation.writers import Writers
from bot.sources.aws.writes import WriteFailed


@dataclass(frozen=True)
class PhaseResult:
    """How one phase went."""

    ok: bool
    text: str
    calls: list[str] = field(default_factory=list)
    #: Pre-validation: the value in place before apply (what rollback returns to).
    before: str = ""


def pre_validate(w: Writers, bound: BoundAction) -> PhaseResult:
    """The world is still as diagnosed: the target exists, nobody already made the change, the value in place
    is the one the plan saw, and the alarm still fires."""
    spec, p = bound.spec, bound.params
    try:
        if spec.precheck is not None and not spec.precheck(w, p):
            return PhaseResult(False, f"stopped: it is not true that {spec.precheck_text}")
        before = spec.read(w, p)
        target = bound.target()
        if spec.target and before == target:
            return PhaseResult(
                False, f"stopped: `{target}` is already in place (someone did this already)", before=before
            )
        if bound.expect and before != bound.expect:
            return PhaseResult(
                False,
                f"stopped: the world changed since the diagnosis (`{bound.expect}` expected, `{before}` found)",
                before=before,
            )
        if spec.raise_only and _number(target) <= _number(before):
            return PhaseResult(
                False, f"stopped: {target} would not raise the current {before}", before=before
            )
        if bound.alarm:
            state = w.alarm_state(bound.alarm)
            if state != "ALARM":
                return PhaseResult(
                    False,
                    f"stopped: `{bound.alarm}` is {state}, not ALARM (recovered already?)",
                    before=before,
                )
    except WriteFailed as err:
        return PhaseResult(False, f"stopped: {err}")
    what = f"`{before}` in place" if spec.target else "service found"
    alarm = f", `{bound.alarm}` still in ALARM" if bound.alarm else ""
    return PhaseResult(True, f"passed: {what}{alarm}", before=before)


def apply(w: Writers, bound: BoundAction) -> PhaseResult:
    """Make the change: its write calls, in order (one for most actions); stops at the first that fails."""
    made: list[str] = []
    for call in bound.spec.calls(bound.params, bound.target()):
        made.append(call.text())
        try:
            w.perform(call)
        except WriteFailed as err:
            done = f" (made before it: {'; '.join(made[:-1])})" if len(made) > 1 else ""
            return PhaseResult(False, f"failed: {err}{done}", made)
    return PhaseResult(True, "done: " + "; ".join(f"`{c}`" for c in made), made)


def post_validate(
    w: Writers,
    bound: BoundAction,
    within_s: float,
    poll_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> PhaseResult:
    """The alarmed signal recovers: the alarm returns to OK within `within_s` seconds."""
    if not bound.alarm:
        return PhaseResult(True, "no alarm named in the plan: confirm recovery by hand")
    deadline = clock() + within_s
    state = "?"
    while True:
        try:
            state = w.alarm_state(bound.alarm)
        except WriteFailed as err:
            state = f"unreadable ({err})"
        if state == "OK":
            return PhaseResult(True, f"recovered: `{bound.alarm}` is OK")
        if clock() >= deadline:
            return PhaseResult(False, f"not recovered: `{bound.alarm}` still {state} after {within_s:g} s")
        sleep(poll_s)


def rollback(w: Writers, bound: BoundAction, before: str) -> PhaseResult:
    """Put back what was in place before apply (nothing, for an action with nothing to undo)."""
    spec = bound.spec
    if not spec.reversible or not before:
        return PhaseResult(True, "nothing to undo")
    made: list[str] = []
    for call in spec.calls(bound.params, before):
        made.append(call.text())
        try:
            w.perform(call)
        except WriteFailed as err:
            return PhaseResult(False, f"ROLLBACK FAILED: {err}; restore `{before}` by hand", made)
    return PhaseResult(True, "rolled back: " + "; ".join(f"`{c}`" for c in made), made)


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("-inf")
