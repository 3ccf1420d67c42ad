"""What model turns cost: per-turn usage records, prices per model, and the caps per investigation and per
day (the day's spend is kept per process, reset at midnight UTC)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bot.llm.client import TurnUsage

#: USD per million tokens: input, output, cache write, cache read (by model-name prefix; longest wins).
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-haiku": (1.0, 5.0, 1.25, 0.10),
    "claude-sonnet": (3.0, 15.0, 3.75, 0.30),
    "claude-opus": (5.0, 25.0, 6.25, 0.50),
}
#: The price of a model not in the table (the strong tier's, so an unknown model is not under-counted).
DEFAULT_PRICE = PRICES["claude-sonnet"]


def cost_usd(model: str, u: TurnUsage) -> float:
    """What one turn cost."""
    prefix = max((p for p in PRICES if model.startswith(p)), key=len, default=None)
    pin, pout, pwrite, pread = PRICES[prefix] if prefix else DEFAULT_PRICE
    total = (
        u.input_tokens * pin
        + u.output_tokens * pout
        + u.cache_write_tokens * pwrite
        + u.cache_read_tokens * pread
    )
    return total / 1_000_000


@dataclass(frozen=True)
class TurnRecord:
    """One turn as recorded: which model, its usage, its cost, and how many tools it called."""

    step: int
    model: str
    usage: TurnUsage
    cost_usd: float
    tool_calls: int = 0


@dataclass
class Totals:
    """An investigation's model totals, for its report's footer."""

    turns: list[TurnRecord] = field(default_factory=list)

    @property
    def tokens_in(self) -> int:
        """Input tokens, cached or not."""
        return sum(
            t.usage.input_tokens + t.usage.cache_write_tokens + t.usage.cache_read_tokens for t in self.turns
        )

    @property
    def tokens_out(self) -> int:
        """Output tokens."""
        return sum(t.usage.output_tokens for t in self.turns)

    @property
    def cached_in(self) -> int:
        """Input tokens read from the prompt cache."""
        return sum(t.usage.cache_read_tokens for t in self.turns)

    @property
    def cost_usd(self) -> float:
        """Total cost."""
        return sum(t.cost_usd for t in self.turns)

    @property
    def latency_s(self) -> float:
        """Time spent waiting for the model."""
        return sum(t.usage.latency_s for t in self.turns)

    def footer(self) -> str:
        """`model: 4 turns, 12,345 tokens in (8,000 cached) / 900 out, $0.0123, 3.2 s`."""
        return (
            f"model: {len(self.turns)} turns, {self.tokens_in:,} tokens in ({self.cached_in:,} cached) / "
            f"{self.tokens_out:,} out, ${self.cost_usd:.4f}, {self.latency_s:.1f} s"
        )


class DailySpend:
    """The day's model spend in this process, shared by its investigations."""

    def __init__(self, cap_usd: float) -> None:
        self.cap_usd = cap_usd
        self._lock = threading.Lock()
        self._day: date = datetime.now(UTC).date()
        self._spent = 0.0

    def _roll(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._day, self._spent = today, 0.0

    def add(self, usd: float) -> None:
        """Count a turn's cost."""
        with self._lock:
            self._roll()
            self._spent += usd

    def left(self) -> float:
        """What may still be spent today."""
        with self._lock:
            self._roll()
            return self.cap_usd - self._spent


@dataclass(frozen=True)
class Caps:
    """The limits of one model run."""

    max_steps: int = 8
    tokens: int = 400_000
    usd: float = 2.0
    tool_result_chars: int = 12_000

    def exceeded(self, totals: Totals, daily: DailySpend | None) -> str | None:
        """Which cap is reached, in words, or None."""
        if totals.tokens_in + totals.tokens_out >= self.tokens:
            return f"the token budget ({self.tokens:,} per investigation) is spent"
        if totals.cost_usd >= self.usd:
            return f"the cost budget (${self.usd:.2f} per investigation) is spent"
        if daily is not None and daily.left() <= 0:
            return f"today's cost budget (${daily.cap_usd:.2f}) is spent"
        return None
