"""Pages: an alarm or incident that asks for an investigation."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from bot.domain.base import Model


class PageSource(StrEnum):
    """Where a page came from."""

    CLOUDWATCH = "cloudwatch"
    PAGERDUTY = "pagerduty"
    MANUAL = "manual"


class Page(Model):
    """One page: an alarm or incident that asks for an investigation."""

    source: PageSource
    title: str
    fired_at: datetime
    alarm_name: str | None = None
    state: str | None = None
    service_hint: str | None = None
    metric: str | None = None
    namespace: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    severity: str | None = None
    incident_number: str | None = None
    incident_id: str | None = None
    links: list[str] = Field(default_factory=list)
    channel: str | None = None
    message_ts: str | None = None
    region: str | None = None
    #: The alarm's state before this change, its account, and the reason CloudWatch gave for the change.
    previous_state: str | None = None
    account: str | None = None
    reason: str | None = None
    #: What the alarm is made of: its metrics and expressions, or a composite's child alarms, one line each.
    parts: list[str] = Field(default_factory=list)

    def fingerprint(self) -> str:
        """A stable id for 'the same problem': repeated deliveries of one page share it."""
        key = self.incident_id or self.alarm_name or self.title
        stamp = self.fired_at.strftime("%Y%m%dT%H")
        raw = f"{self.source.value}|{key}|{stamp}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]
