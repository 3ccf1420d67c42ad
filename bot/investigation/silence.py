"""INSUFFICIENT_DATA after OK: an alarm whose metric stopped reporting. Whether that silence is itself the trouble.

Silence is trouble when the alarm says so (``TreatMissingData: breaching``) or when the metric is one that only goes
quiet when what it measures stopped: requests, invocations, heartbeats, health checks, messages published or
received (``SILENCE_MEANS_TROUBLE``, regular expressions on the metric's name; an empty list investigates none).
Otherwise the channel is told, and nothing is investigated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.domain import Page

#: CloudWatch's state reason says how the missing datapoints were treated: ``... was treated as [Breaching].``
_TREATED = re.compile(r"treated\s+as\s+\[?\s*(breaching|notBreaching|ignore|missing)\b", re.IGNORECASE)


def is_silence(page: Page, *, unknown_before: bool = False) -> bool:
    """Whether `page` says its alarm went from OK to INSUFFICIENT_DATA (its metric stopped reporting). With
    `unknown_before`, a page that does not say its previous state counts too (Slack posts seldom say it)."""
    before = (page.previous_state or "").upper()
    return (page.state or "").upper() == "INSUFFICIENT_DATA" and (
        before == "OK" or (unknown_before and not before)
    )


def missing_data_treatment(page: Page, stated: str | None) -> str | None:
    """How the alarm treats missing data: as the alarm says (``TreatMissingData``), else as its reason tells."""
    if stated:
        return stated
    m = _TREATED.search(page.reason or "")
    return m.group(1) if m else None


def silence_is_trouble(page: Page, patterns: Sequence[str], treat_missing_data: str | None) -> str | None:
    """Why this silence should be investigated, or None when it need only be told. A pattern that is not a valid
    regular expression is skipped."""
    if (missing_data_treatment(page, treat_missing_data) or "").lower() == "breaching":
        return "the alarm treats missing data as breaching"
    metric = page.metric or ""
    for pattern in patterns:
        try:
            if metric and re.search(pattern, metric):
                return f"{metric} only goes silent when what it measures has stopped"
        except re.error:
            continue
    return None


def as_trouble(page: Page, why: str) -> Page:
    """The page to investigate for a silence that is trouble: firing, its title and reason saying there is no data."""
    reason = f"INSUFFICIENT_DATA after OK: {why}." + (f" {page.reason}" if page.reason else "")
    return page.model_copy(update={"state": "ALARM", "title": f"{page.title} (no data)", "reason": reason})
