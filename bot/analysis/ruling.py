"""What looked suspicious but is explained: other changes, boot CPU, blips, traffic the errors did not follow."""

from __future__ import annotations

from collections.abc import Sequence

from bot.analysis.facts import LOAD_SIGNALS, SYMPTOM_SIGNALS, Facts, SignalState
from bot.analysis.suspects import CHANGE_THRESHOLD, ChangeVerdict
from bot.analysis.symptoms import SURGE_RATIO, is_boot_cpu, key_of
from bot.domain import (
    Category,
    Change,
    ChangeVia,
    RuledOut,
    SignalKey,
    epoch,
)

#: Changes older than this (seconds before the page) that explain nothing are left out of what is told.
WORTH_TELLING = 26 * 3600
#: A resource used up to this share (percent) still has headroom.
HEADROOM_PCT = 80.0


def _busy_with_headroom(facts: Facts, s: SignalState, root: str | None) -> bool:
    """CPU or memory of a service other than the origin that rose but kept headroom, while nothing of that
    service's own failed or slowed: busy, not broken."""
    if s.service == root or s.signal not in ("cpu_pct", "memory_pct") or s.peak_value >= HEADROOM_PCT:
        return False
    return not any(
        x.service == s.service and x.anomalous and x.signal in SYMPTOM_SIGNALS for x in facts.signals
    )


def rule_out(
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
        if v.score == 0 and facts.page_time - epoch(c.at) > WORTH_TELLING:
            continue  # days old and no part of it: read to be sure, not worth a line
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
        if is_boot_cpu(s, facts):
            seen.add((s.service, s.instance))
            who = s.instance or f"{s.service}'s fresh instances"
            out.append(
                RuledOut(
                    subject=f"CPU spike on {who} ({s.describe()})",
                    reason="instances had just launched; CPU is busy while they boot, and it settled while errors went on",
                    signal=key_of(s),
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
                    signal=key_of(s),
                )
            )
        elif _busy_with_headroom(facts, s, root):
            seen.add((s.service, s.instance))
            out.append(
                RuledOut(
                    subject=f"{s.signal.removesuffix('_pct').upper()} rising on {s.service} ({s.describe()})",
                    reason=f"it kept headroom (at most {s.peak_value:.0f}%) and {s.service}'s own requests "
                    "did not fail or slow down",
                    signal=key_of(s),
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
