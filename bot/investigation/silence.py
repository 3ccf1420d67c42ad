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


def is_silence(page: Page) -> bool:
    """Whether `page` says its alarm went from OK to INSUFFICIENT_DATA (its metric stopped reporting)."""
    return (page.state or "").upper() == "INSUFFICIENT_DATA" and (page.previous_state or "").upper() == "OK"


def silence_is_trouble(page: Page, patterns: Sequence[str], treat_missing_data: str | None) -> str | None:
    """Why this silence should be investigated, or None when it need only be told. A pattern that is not a valid
    regular expression is skipped."""
    if (treat_missing_data or "").lower() == "breaching":
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
