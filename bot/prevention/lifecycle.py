"""What people do with a recommendation: keep it, discard it with a reason, or say it was implemented."""

from __future__ import annotations

from bot.domain.prevention import RecommendationStatus
from bot.storage.recommendations import Decision, Recommendations
from bot.storage.store import Store
from bot.storage.tables import Recommendation

#: The verbs people use, and the status each leads to.
VERBS: dict[str, RecommendationStatus] = {
    "keep": RecommendationStatus.KEPT,
    "discard": RecommendationStatus.DISCARDED,
    "implemented": RecommendationStatus.IMPLEMENTED,
}


def decide(store: Store, rec_id: int, verb: str, user: str, reason: str = "") -> Recommendation:
    """Apply `verb` (keep / discard / implemented) to a recommendation, audited. Raises ValueError for an
    unknown verb or a discard without a reason, LookupError for an unknown recommendation."""
    status = VERBS.get(verb)
    if status is None:
        raise ValueError(f"unknown decision {verb!r}: use one of {', '.join(VERBS)}")
    row = Recommendations(store).decide(rec_id, Decision(status, user, reason))
    store.audit(user, f"recommendation:{verb}", f"recommendation:{rec_id}", {"reason": reason[:500]})
    return row
