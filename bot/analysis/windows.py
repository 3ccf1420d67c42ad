"""Expected-load windows: when the organisation says high load is normal (its steering files' front matter,
handed in by the investigation layer). Times are UTC; a window may run past midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: Day names as steering files write them, Monday first (`datetime.weekday()` order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The words a window's `signals` may use, and the signals each one covers (a signal's own name works too).
SIGNAL_WORDS: dict[str, frozenset[str]] = {
    "cpu": frozenset({"cpu_pct"}),
    "memory": frozenset({"memory_pct"}),
    "connections": frozenset({"connections"}),
    "traffic": frozenset({"requests_per_min"}),
    "requests": frozenset({"requests_per_min"}),
}
#: What a window without `signals` covers: load and the resources it uses.
LOAD_AND_RESOURCES = frozenset({"cpu_pct", "memory_pct", "connections", "requests_per_min"})


@dataclass(frozen=True)
class LoadWindow:
    """A time when high load is expected: on `days` (0 = Monday), from `start` to `end` (minutes after
    midnight UTC), for `signals` (words or signal names); `source` names the steering file that says so."""

    source: str
    days: frozenset[int]
    start: int
    end: int
    signals: tuple[str, ...] = ()

    def covers(self, t: int) -> bool:
        """Whether unix time `t` falls in the window (a window past midnight belongs to the day it began)."""
        when = datetime.fromtimestamp(t, UTC)
        minute, day = when.hour * 60 + when.minute, when.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )

    def watches(self, signal: str) -> bool:
        """Whether high `signal` is what the window expects."""
        if not self.signals:
            return signal in LOAD_AND_RESOURCES
        return any(signal == w or signal in SIGNAL_WORDS.get(w, frozenset()) for w in self.signals)

    def describe(self) -> str:
        """`01:00-03:30 UTC every day` / `on sat, sun`, with what it expects."""
        days = "every day" if len(self.days) == 7 else "on " + ", ".join(DAYS[d] for d in sorted(self.days))
        what = f" for {', '.join(self.signals)}" if self.signals else ""
        return f"{_hhmm(self.start)}-{_hhmm(self.end)} UTC {days}{what}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
