"""The ports between the investigation use case and the surfaces that show it (Slack, the terminal).

The use case calls a `Notifier` as an investigation moves; the Slack surface implements it (posting in the
page's thread), and is handed to the use case at start-up, so the use case never imports Slack.

Surfaces hand pages over with `Investigations.accept`, naming the delivery that carried them: the page, what
it means for its alarm's incident and the enqueue of whatever it starts are recorded before `accept`
returns (an exception means nothing was recorded: answer the sender so that it delivers again).
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


@dataclass(frozen=True)
class Delivery:
    """What carried a page or a reply: the sender (`slack`, `pagerduty`, `sns`, `manual`) and its delivery
    id (Slack event_id, PagerDuty event.id, SNS MessageId). A delivery is taken once; a re-delivery gets
    the first one's outcome back, and whatever the first one started is finished."""

    source: str
    id: str


@dataclass(frozen=True)
class Accepted:
    """What `Investigations.accept` did: `outcome` is `new`, `recurrence`, `reopened` (an investigation was
    started), `joined` (a repeat of an alarm still firing), `resolved` or `ignored`; `duplicate` when the
    delivery had been taken before (the outcome is the first delivery's)."""

    outcome: str
    ref: InvestigationRef | None
    duplicate: bool = False

    @property
    def started(self) -> bool:
        """Whether the page started an investigation."""
        return self.outcome in ("new", "recurrence", "reopened")


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

    def post_page(
        self, ref: InvestigationRef, page: Page, channel: str, *, maybe_posted: bool = False
    ) -> tuple[str, str] | None:
        """Post a page that came by webhook into `channel`, as the top of the investigation's thread;
        returns (channel id, message ts), or None when pages are posted nowhere. With `maybe_posted` (the
        call is a retry, or follows a crash) it looks for the message it posted before and reuses it."""

    def find_status_line(self, ref: InvestigationRef) -> str | None:
        """The id (ts) of the incident's status line when one was posted but a crash kept it from being
        recorded (`status` would post a second one); None when there is none."""


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

    def post_page(
        self, ref: InvestigationRef, page: Page, channel: str, *, maybe_posted: bool = False
    ) -> tuple[str, str] | None:
        """Post nothing."""
        return None

    def find_status_line(self, ref: InvestigationRef) -> str | None:
        """There is none."""
        return None


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

    def accept(self, page: Page, delivery: Delivery, *, reopened: bool = False) -> Accepted:
        """Record a page and enqueue what it starts, durably, before returning; the work runs elsewhere.

        The page's `channel`/`message_ts` say where its thread is; a page without one (a webhook) is posted
        into the page channel first. A repeat of an alarm still firing joins its open investigation; an
        alarm that fires again after it was resolved starts a new investigation, linked as a recurrence;
        `reopened` (PagerDuty re-opened a resolved incident) opens it again and investigates again; an
        OK/resolved page resolves the open incident. Raises when the page could not be recorded.
        """

    def open(self, page: Page) -> InvestigationRef:
        """`accept` for a page no sender will deliver again (the CLI, tests); returns its investigation."""

    def find_by_thread(self, channel: str, thread_ts: str) -> InvestigationRef | None:
        """The investigation whose thread this is, if any."""

    def steer(self, ref: InvestigationRef, user: str, text: str, *, delivery: Delivery | None = None) -> None:
        """Record a steering message from the thread (durably, once per delivery) for the investigation,
        wherever it runs. Raises when it could not be recorded."""

    def open_investigations(self) -> list[OpenInvestigation]:
        """Investigations not yet resolved, newest first."""
