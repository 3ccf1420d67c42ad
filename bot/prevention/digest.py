"""The weekly digest's content: the week's incidents, how fast they were understood, how often the root cause
was right, what keeps recurring, and the recommendations waiting for a decision. Surfaces render it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from bot.domain.prevention import IncidentMemory
from bot.storage.memory import memories
from bot.storage.recommendations import Recommendations
from bot.storage.store import Store
from bot.storage.tables import Recommendation

WEEK = timedelta(days=7)
#: Weeks of history in the trend.
TREND_WEEKS = 8


@dataclass(frozen=True)
class WeekPoint:
    """One week of the trend."""

    start: datetime
    incidents: int
    median_root_cause_s: float | None


@dataclass
class Digest:
    """Everything the weekly digest says."""

    start: datetime
    end: datetime
    incidents: list[IncidentMemory]
    median_first_finding_s: float | None
    median_root_cause_s: float | None
    confirmed_right: int
    confirmed_total: int
    recurring: list[tuple[str, int]]
    new: list[Recommendation]
    open: list[Recommendation]
    trend: list[WeekPoint] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """A week with no incident and no recommendation waiting."""
        return not self.incidents and not self.open

    @property
    def accuracy(self) -> float | None:
        """Share of confirmed causes where the bot was right (all time), None before anyone confirmed."""
        return self.confirmed_right / self.confirmed_total if self.confirmed_total else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return median(known) if known else None


def _recurring(history: list[IncidentMemory]) -> list[tuple[str, int]]:
    """Causes (service and category) behind two or more incidents, most frequent first."""
    counts = Counter(
        f"{m.root_cause_service or m.service or '?'} · {m.category.value}"
        for m in history
        if m.category is not None and m.confirmed is not False
    )
    return [(cause, n) for cause, n in counts.most_common() if n >= 2]


def _trend(history: list[IncidentMemory], end: datetime) -> list[WeekPoint]:
    points = []
    for back in range(TREND_WEEKS, 0, -1):
        start = end - back * WEEK
        week = [m for m in history if start <= m.opened_at < start + WEEK]
        points.append(WeekPoint(start, len(week), _median([m.root_cause_s for m in week])))
    return points


def weekly_digest(store: Store, end: datetime | None = None) -> Digest:
    """The digest of the week ending at `end` (default: now, by the store's clock)."""
    end = end or store.clock()
    start = end - WEEK
    history = memories(store, until=end)
    week = [m for m in history if m.opened_at >= start]
    confirmed = [m for m in history if m.confirmed is not None]
    recs = Recommendations(store)
    open_recs = recs.open()
    return Digest(
        start=start,
        end=end,
        incidents=week,
        median_first_finding_s=_median([m.first_finding_s for m in week]),
        median_root_cause_s=_median([m.root_cause_s for m in week]),
        confirmed_right=sum(m.confirmed is True for m in confirmed),
        confirmed_total=len(confirmed),
        recurring=_recurring(history),
        new=[r for r in open_recs if r.created_at >= start],
        open=open_recs,
        trend=_trend(history, end),
    )
