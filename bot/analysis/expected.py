"""Expected load: an alarm on load or a resource that fired inside a window the organisation expects it,
with nothing a user feels, is a false alarm; said with the headroom left."""

from __future__ import annotations

from bot.analysis.facts import Facts, SignalState
from bot.analysis.quiet import USER_FACING_SIGNALS
from bot.analysis.windows import LoadWindow

#: A resource at or above this percentage has no headroom left: running out is not merely expected load.
FULL_PCT = 98.0
#: New error lines at least this many are failures, not background noise.
ERROR_LINES = 5


def expected_load(facts: Facts) -> str | None:
    """Why the page is expected load, or None: the page's time falls in one of `facts.expected_load`, the
    alarm's signal (or, when unknown, the alarmed service's departing signals) is what that window expects,
    no user-facing signal departed anywhere, no new errors are logged, and no resource ran out."""
    windows = [w for w in facts.expected_load if w.covers(facts.page_time)]
    if not windows:
        return None
    own = [s for s in facts.signals if s.service == facts.alarm_service and s.anomalous]
    watched = [facts.alarm_signal] if facts.alarm_signal else sorted({s.signal for s in own})
    window = next((w for w in windows if watched and all(w.watches(s) for s in watched)), None)
    if window is None:
        return None
    live = [s for s in facts.signals if s.anomalous and s.service not in facts.ignored_services]
    if any(s.signal in USER_FACING_SIGNALS for s in live):
        return None
    if any(f.is_new and f.is_error and f.count >= ERROR_LINES for f in facts.logs):
        return None
    pct = [s for s in live if s.signal.endswith("_pct")]
    if any(s.peak_value >= FULL_PCT for s in pct):
        return None
    return _said(facts, window, watched, max(pct, key=lambda s: (s.peak_value, s.service), default=None))


def _said(facts: Facts, window: LoadWindow, watched: list[str], busiest: SignalState | None) -> str:
    what = f"{facts.alarm_service} {', '.join(watched)}"
    headroom = (
        f"; {busiest.service} {busiest.signal} peaks at {busiest.peak_value:.0f}%, "
        f"{100 - busiest.peak_value:.0f} points of headroom"
        if busiest is not None
        else ""
    )
    return (
        f"expected load: {what} is high inside the expected-load window {window.describe()} "
        f"(steering: {window.source}), and no user-facing error or latency departed{headroom}"
    )
