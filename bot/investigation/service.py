"""The `Investigations` port (bot.investigation.ports) over the durable runtime and storage.

Surfaces call this: `accept` records a page (its delivery, its incident and investigation rows, the enqueue
of its workflow) before it returns, without waiting for the investigation; `steer` records a thread reply
for the running investigation to read, or enqueues a follow-up for a finished one.
"""

from __future__ import annotations

from bot.domain import InvestigationStatus, Page, Report
from bot.investigation.ports import Accepted, Delivery, InvestigationRef, OpenInvestigation
from bot.investigation.workflow import Runtime, ref_of, status_for
from bot.storage.store import Store


class InvestigationService:
    """Implements `Investigations` for the Slack surface and the CLI."""

    def __init__(self, runtime: Runtime, store: Store) -> None:
        self.runtime = runtime
        self.store = store

    def accept(self, page: Page, delivery: Delivery, *, reopened: bool = False) -> Accepted:
        """Record `page` and enqueue what it starts or resolves; see `Investigations.accept`."""
        return self.runtime.accept(page, delivery, reopened=reopened)

    def open(self, page: Page) -> InvestigationRef:
        """Record `page` and enqueue (or join) its investigation; returns at once.

        A resolved/OK page for an open incident resolves it (status RESOLVED) and returns that incident's
        investigation. A page that opens nothing (a resolved page that matches no open incident) returns a
        ref with `investigation_id == 0` and an empty `workflow_id`.
        """
        accepted = self.runtime.open(page)
        if accepted.ref is not None:
            return accepted.ref
        return InvestigationRef(
            investigation_id=0, incident_id=0, workflow_id="", channel=page.channel, thread_ts=page.message_ts
        )

    def find_by_thread(self, channel: str, thread_ts: str) -> InvestigationRef | None:
        """The latest investigation of the incident whose thread (or status message) this is."""
        incident = self.store.incident_for_thread(channel, thread_ts)
        if incident is None or incident.id is None:
            return None
        invs = self.store.investigations_of(incident.id)
        if not invs or invs[-1].id is None:
            return None
        return ref_of(incident, invs[-1].id, invs[-1].workflow_id)

    def steer(self, ref: InvestigationRef, user: str, text: str, *, delivery: Delivery | None = None) -> None:
        """Record a steering reply (once per delivery): the running investigation reads it between phases,
        or a follow-up re-issues the report of a finished one."""
        if ref.investigation_id:
            self.runtime.steer(ref, user, text, delivery)

    def open_investigations(self) -> list[OpenInvestigation]:
        """Investigations of incidents not yet resolved, newest first."""
        out: list[OpenInvestigation] = []
        for incident, inv in self.store.open_incident_investigations():
            assert inv.id is not None
            latest = self.store.latest_report(inv.id)
            status = (
                status_for(Report.model_validate(latest.body))
                if latest
                else InvestigationStatus.INVESTIGATING
            )
            out.append(
                OpenInvestigation(
                    ref=ref_of(incident, inv.id, inv.workflow_id),
                    title=incident.title,
                    service=incident.service,
                    status=status.value,
                    started_at=inv.started_at.isoformat(),
                )
            )
        return out
