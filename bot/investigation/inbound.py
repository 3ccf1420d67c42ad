"""What a sender may put in a page, checked before anything is stored.

A page is either stored or refused with a reason that names the field: free text (titles, names, links) has
its control characters removed (PostgreSQL refuses NUL in text) and is cut to a length the bot can show;
identifiers (delivery ids, channel ids, message timestamps) are refused when they are empty, longer than
their column or carry control characters, since changing them would change which page they name.
"""

from __future__ import annotations

import re
from typing import Any

from bot.domain import Page

#: The longest delivery id the database holds (`inbound_deliveries.delivery_id`).
DELIVERY_ID_LIMIT = 128
#: The longest Slack channel id and message ts the database holds (`incidents.channel` / `thread_ts`).
CHANNEL_LIMIT = 64
TS_LIMIT = 32

#: C0 controls (but tab, newline, carriage return), DEL and C1 controls; NUL among them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Page fields of free text, with the length each is cut to.
_TEXT_LIMITS: dict[str, int] = {
    "title": 500,
    "alarm_name": 255,
    "state": 32,
    "service_hint": 255,
    "metric": 255,
    "namespace": 255,
    "severity": 64,
    "incident_number": 64,
    "incident_id": 128,
    "region": 64,
    "previous_state": 32,
    "account": 32,
    "reason": 2000,
}
_MAX_DIMENSIONS = 30
_MAX_LINKS = 10
_MAX_PARTS = 20
_LINK_LIMIT = 2000


class BadInput(ValueError):
    """A field a sender sent that cannot be stored; `field` names it, `reason` says what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def clean_text(value: str, limit: int) -> str:
    """`value` without control characters, cut to `limit` characters."""
    return _CONTROL.sub("", value)[:limit]


def check_id(field: str, value: object, limit: int = DELIVERY_ID_LIMIT) -> str:
    """`value` as an identifier, or BadInput naming `field`: missing, too long, or with control characters."""
    if not isinstance(value, str) or not value:
        raise BadInput(field, "is missing")
    if len(value) > limit:
        raise BadInput(field, f"is longer than {limit} characters")
    if _CONTROL.search(value) or not value.isprintable():
        raise BadInput(field, "contains control characters")
    return value


def clean_page(page: Page) -> Page:
    """`page` ready to store: text fields cleaned and cut, its channel and message ts checked (BadInput)."""
    update: dict[str, Any] = {}
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(page, name)
        if isinstance(value, str):
            cleaned = clean_text(value, limit).strip()
            update[name] = cleaned or None
    update["title"] = update.get("title") or "Untitled page"
    update["dimensions"] = {
        clean_text(k, 255): clean_text(v, 255) for k, v in list(page.dimensions.items())[:_MAX_DIMENSIONS]
    }
    update["parts"] = [clean_text(part, 500) for part in page.parts[:_MAX_PARTS]]
    update["links"] = [
        link for link in page.links[:_MAX_LINKS] if len(link) <= _LINK_LIMIT and not _CONTROL.search(link)
    ]
    if page.channel is not None:
        update["channel"] = check_id("channel", page.channel, CHANNEL_LIMIT)
    if page.message_ts is not None:
        update["message_ts"] = check_id("message ts", page.message_ts, TS_LIMIT)
    return page.model_copy(update=update)
