"""The nightly job: mine every remembered incident for patterns and keep one recommendation per pattern.

Run it as often as you like: a pattern already recommended gains the new incidents as evidence instead of
being recommended again, and a night with nothing new changes nothing. Unkept recommendations expire after six
weeks (:data:`bot.storage.recommendations.EXPIRY`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bot.analysis.patterns import mine
from bot.storage.memory import memories
from bot.storage.recommendations import Recommendations, Upserted
from bot.storage.store import Store


@dataclass
class NightlyResult:
    """What one run did: how many proposals were created, gained evidence, revived or stayed; which expired."""

    incidents: int
    counts: Counter[str] = field(default_factory=Counter)
    keys: dict[str, str] = field(default_factory=dict)
    expired: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the log and the CLI."""
        parts = [f"{n} {what}" for what, n in sorted(self.counts.items())] or ["nothing proposed"]
        return f"{self.incidents} incidents mined: {', '.join(parts)}; {len(self.expired)} expired"


def run_nightly(store: Store) -> NightlyResult:
    """Mine the stored incidents, upsert each proposal, expire what nobody kept; audited."""
    remembered = memories(store)
    recs = Recommendations(store)
    result = NightlyResult(incidents=len(remembered))
    for proposal in mine(remembered):
        row, what = recs.upsert(proposal)
        result.counts[what.value] += 1
        result.keys[proposal.key] = what.value
        if what is not Upserted.UNCHANGED:
            store.audit(
                "sre-bot", f"recommendation:{what.value}", f"recommendation:{row.id}", {"key": row.key}
            )
    result.expired = [r.id for r in recs.expire() if r.id is not None]
    for rec_id in result.expired:
        store.audit("sre-bot", "recommendation:expired", f"recommendation:{rec_id}")
    return result
