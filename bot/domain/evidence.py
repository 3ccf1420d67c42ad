"""Evidence: what an investigation found, the signals it read, and what it could not read."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.domain.base import Model
from bot.domain.changes import Change


class EvidenceKind(StrEnum):
    """What a piece of evidence is about."""

    METRIC = "metric"
    CHANGE = "change"
    LOG = "log"
    TRACE = "trace"
    STATUS = "status"
    TOPOLOGY = "topology"
    NOTE = "note"


class SignalKey(Model):
    """One signal and where it was observed.

    `instance` narrows it to one instance or task of the service; `seen_from` says that a third party's
    signal was measured by one of its callers (the only place a third party can be seen from).
    """

    service: str
    signal: str
    instance: str | None = None
    seen_from: str | None = None

    @property
    def service_level(self) -> bool:
        """The whole service's signal (not one instance's)."""
        return self.instance is None

    def label(self) -> str:
        """`service/instance signal`, for people."""
        who = f"{self.service}/{self.instance}" if self.instance else self.service
        return f"{who} {self.signal}"


class Evidence(Model):
    """One finding, recorded the moment it is found, with the typed facts behind it."""

    kind: EvidenceKind
    service: str | None
    summary: str
    at: datetime | None = None
    source: str = ""
    link: str | None = None
    signal: SignalKey | None = None  # a metric finding: which signal, where
    score: float | None = None  # how unusual the departure was (robust z)
    change: Change | None = None  # a change finding
    log_template: str | None = None  # a log finding: the mined template
    exception: str | None = None  # a log finding: the exception class it names
    log_group: str | None = None


class Gap(Model):
    """Data the investigation could not read, and why."""

    source: str
    reason: str
