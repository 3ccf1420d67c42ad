"""The ports between the investigation use case and the surfaces that show it (Slack, the terminal).

The use case calls a `Notifier` as an investigation moves; the Slack surface implements it (posting in the
page's thread), and is handed to the use case at start-up, so the use case never imports Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import Evidence, InvestigationStatus, Page, Report


@dataclass(frozen=True)
class InvestigationRef:
    """Which investigation, and where its conversation lives."""

    investigation_id: int
    incident_id: int
    workflow_id: str
    channel: str | None
    thread_ts: str | None


class Notifier(Protocol):
    """Told about an investigation as it moves. Implementations must be idempotent per call (retries)."""

    def started(self, ref: InvestigationRef, page: Page, looking_at: str) -> None:
        """The investigation began; `looking_at` says what it is looking at first."""

    def finding(self, ref: InvestigationRef, finding_id: int, evidence: Evidence) -> None:
        """A finding was stored (id from storage); post it when possible."""

    def report(self, ref: InvestigationRef, report: Report) -> None:
        """A report version is ready (report.version)."""

    def status(
        self, ref: InvestigationRef, status: InvestigationStatus, page: Page, root_cause: str | None
    ) -> None:
        """The investigation's status changed."""

    def reply(self, ref: InvestigationRef, text: str) -> None:
        """A plain reply in the investigation's thread (e.g. how steering changed the plan)."""


class NullNotifier:
    """A notifier that tells no one (tests, batch evaluation)."""

    def started(self, ref: InvestigationRef, page: Page, looking_at: str) -> None:
        """Do nothing."""

    def finding(self, ref: InvestigationRef, finding_id: int, evidence: Evidence) -> None:
        """Do nothing."""

    def report(self, ref: InvestigationRef, report: Report) -> None:
        """Do nothing."""

    def status(
        self, ref: InvestigationRef, status: InvestigationStatus, page: Page, root_cause: str | None
    ) -> None:
        """Do nothing."""

    def reply(self, ref: InvestigationRef, text: str) -> None:
        """Do nothing."""


@dataclass(frozen=True)
class OpenInvestigation:
    """A running or finished investigation, as listed in App Home and answered to `/sre status`."""

    ref: InvestigationRef
    title: str
    service: str | None
    status: str
    started_at: str


class Investigations(Protocol):
    """What surfaces may ask of the investigation use case (implemented by bot.investigation.service)."""

    def open(self, page: Page) -> InvestigationRef:
        """Triage a page and start (or join) its investigation; returns at once, the work runs elsewhere.

        The page's `channel`/`message_ts` say where its thread is. A repeated page (same fingerprint) joins the
        open investigation instead of starting another.
        """

    def find_by_thread(self, channel: str, thread_ts: str) -> InvestigationRef | None:
        """The investigation whose thread this is, if any."""

    def steer(self, ref: InvestigationRef, user: str, text: str) -> None:
        """Deliver a steering message from the thread to the investigation, wherever it runs."""

    def open_investigations(self) -> list[OpenInvestigation]:
        """Investigations not yet resolved, newest first."""
