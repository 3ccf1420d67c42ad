"""Finishing what a crash or an outage left half-made, when a process starts and every so often after.

A page's rows and its enqueue are one transaction when DBOS's tables are in our database; otherwise the enqueue
follows the commit, and a process killed in between leaves an investigation row with no workflow behind it.
Rows from before migration 0004 may also hold an open incident with no investigation. `Sweeper.sweep` looks
for each kind and finishes it, idempotently (every workflow id is derived from the rows, so enqueuing one
that exists does nothing), so any number of processes may sweep at once:

- an investigation marked running with no workflow: its page workflow is enqueued (or, when that workflow
  failed, the investigation itself); one whose workflow ended in error is marked failed and the thread told;
- an open incident with no investigation: it gets one, and its page workflow;
- a finished investigation with steering replies nobody took up: the follow-up is enqueued;
- an incident resolved in the last day whose status line was never moved: the resolve workflow is enqueued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dbos import DBOS

from bot.domain import InvestigationStatus, Page
from bot.investigation.ports import InvestigationRef
from bot.storage.tables import Incident, Investigation
from bot.storage.tables import InvestigationStatus as RunState

if TYPE_CHECKING:
    from bot.investigation.workflow import Runtime

log = logging.getLogger(__name__)

#: DBOS statuses of a workflow that ended without finishing its work.
_ENDED_BADLY = frozenset({"ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
#: How far back resolved incidents are checked for an untold resolution.
_RESOLVED_WINDOW = timedelta(days=1)


@dataclass
class Swept:
    """What one sweep did (counts)."""

    enqueued: int = 0
    failed: int = 0
    given: int = 0
    follow_ups: int = 0
    resolutions: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        """Whether the sweep found anything to do."""
        return bool(self.enqueued or self.failed or self.given or self.follow_ups or self.resolutions)


def workflow_statuses(ids: Iterable[str]) -> dict[str, str]:
    """The DBOS status of each existing workflow among `ids` (missing ids are absent)."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), 200):
        rows = DBOS.list_workflows(workflow_ids=wanted[i : i + 200], load_input=False, load_output=False)
        out.update({w.workflow_id: str(w.status) for w in rows})
    return out


class Sweeper:
    """Runs `sweep` now and then every `interval` seconds in a daemon thread (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def start(self, interval: float) -> Callable[[], None]:
        """Sweep once now, then periodically; returns the function that stops the periodic sweeps."""
        stop = threading.Event()
        self._safe_sweep()
        thread = threading.Thread(target=self._loop, args=(stop, interval), name="recovery", daemon=True)
        thread.start()
        return stop.set

    def _loop(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            self._safe_sweep()

    def _safe_sweep(self) -> None:
        try:
            swept = self.sweep()
        except Exception:  # the database may be away: the next sweep tries again
            log.exception("recovery sweep failed")
            return
        if swept.anything:
            log.warning("recovery sweep finished half-made work: %s", swept)

    def sweep(self) -> Swept:
        """Find and finish every kind of half-made work once."""
        swept = Swept()
        self._running(swept)
        self._without_investigation(swept)
        self._unread_steering(swept)
        self._untold_resolutions(swept)
        return swept

    def _running(self, swept: Swept) -> None:
        from bot.investigation.workflow import page_workflow_id, ref_of_row

        rows = self.runtime.store.running_investigations()
        statuses = workflow_statuses(
            wid for _, inv in rows for wid in (inv.workflow_id, page_workflow_id(inv.workflow_id))
        )
        for incident, inv in rows:
            ref = ref_of_row(incident, inv)
            main = statuses.get(inv.workflow_id)
            announcing = statuses.get(page_workflow_id(inv.workflow_id))
            if main in _ENDED_BADLY:
                self._mark_failed(ref, incident, inv, main, swept)
            elif main == "SUCCESS":  # finished, but the row was never moved (a workflow from before 0004)
                self.runtime.store.finish_investigation(ref.investigation_id, RunState.DONE)
            elif main is None and (
                announcing is None or announcing in _ENDED_BADLY or announcing == "SUCCESS"
            ):
                page_json = _placed(incident)
                if announcing is None:
                    self.runtime.enqueue_page(ref, page_json)
                else:
                    self.runtime.enqueue_investigation(ref, page_json)
                swept.enqueued += 1

    def _mark_failed(
        self, ref: InvestigationRef, incident: Incident, inv: Investigation, status: str, swept: Swept
    ) -> None:
        if self.runtime.store.finish_investigation(ref.investigation_id, RunState.FAILED):
            swept.failed += 1
            log.warning("investigation %s ended with %s; marked failed", inv.workflow_id, status)
            page = Page.model_validate(incident.page)
            notifier = self.runtime.notifier
            _tell(notifier.status, ref, InvestigationStatus.FAILED, page, None)
            _tell(notifier.reply, ref, "I could not finish this investigation (its workflow stopped).")

    def _without_investigation(self, swept: Swept) -> None:
        from bot.investigation.workflow import ref_of_row

        for incident in self.runtime.store.open_incidents_without_investigation():
            assert incident.id is not None
            inv = self.runtime.store.give_investigation(incident.id)
            self.runtime.enqueue_page(ref_of_row(incident, inv), _placed(incident))
            swept.given += 1

    def _unread_steering(self, swept: Swept) -> None:
        from bot.investigation.workflow import ref_of_row

        rows = self.runtime.store.finished_with_unread_steering()
        wanted = {f"steer-{inv.id}-{newest}" for _, inv, newest in rows}
        existing = workflow_statuses(wanted)
        for incident, inv, newest in rows:
            if f"steer-{inv.id}-{newest}" not in existing:
                self.runtime.enqueue_follow_up(ref_of_row(incident, inv), newest, dict(incident.page))
                swept.follow_ups += 1

    def _untold_resolutions(self, swept: Swept) -> None:
        from bot.investigation.workflow import PAGES, resolve_workflow_id

        store = self.runtime.store
        # only incidents with a status line: the resolution is told by editing it
        rows = [r for r in store.resolved_since(store.clock() - _RESOLVED_WINDOW) if r[0].status_message_ts]
        ids = {inc.id: resolve_workflow_id(inc.id or 0, inv.id if inv else None) for inc, inv in rows}
        existing = workflow_statuses(ids.values())
        for incident, _ in rows:
            wid = ids[incident.id]
            if wid not in existing:
                opts = self.runtime.enqueuer.options(
                    "resolve-incident", PAGES, wid, partition=str(incident.id)
                )
                self.runtime.enqueuer.now(opts, incident.id, dict(incident.page))
                swept.resolutions += 1


def _placed(incident: Incident) -> dict[str, Any]:
    """The incident's page, placed in the incident's thread (when it has one)."""
    return {**dict(incident.page), "channel": incident.channel, "message_ts": incident.thread_ts}


def _tell(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("telling the thread failed")
