"""What the Slack surface asks of mitigation: a person clicked Approve or Reject on a plan step.

The step's action and parameters come from the stored report, never from the button: `bind` reads them from
the plan. A click is refused (and audited) when the step is outside the catalogue (the manual steps are
shown), when the plan is older than the approval time to live, when the person may not decide, or when the
step was decided already (a double click). Otherwise the first click records the request and starts the
step's durable workflow, and the decision -- an approval token scoped to this action's parameters, or a
rejection -- is sent to it with `DBOS.send`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dbos import DBOS, SetWorkflowID

from bot.domain import Report
from bot.mitigation.catalogue import BoundAction, Refusal, bind
from bot.mitigation.execution import DECISION, Request, mitigation_workflow, subject, what, workflow_id
from bot.mitigation.policy import ApprovalPolicy
from bot.mitigation.ports import Where
from bot.storage.store import Store
from bot.storage.tables import ActionRecord, ActionStatus


@dataclass(frozen=True)
class Click:
    """One click on a plan step's button."""

    investigation_id: int
    step: int
    user: str
    user_groups: frozenset[str]
    approve: bool
    where: Where
    #: The action the clicked message showed (a newer report may have changed the plan since).
    shown_action: str = ""


@dataclass(frozen=True)
class Answer:
    """What to tell: `public` in the thread, else privately to the clicker."""

    text: str
    public: bool = False


class Mitigations:
    """Turns clicks into requests and decisions for the step's workflow."""

    def __init__(
        self, store: Store, policy: ApprovalPolicy, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        # Two people clicking the same step at once (Slack's pool runs both) must not both find no record and
        # both record a request: finding and recording happen under one lock.
        self._deciding = threading.Lock()

    def click(self, c: Click) -> Answer:
        """Handle one click; the workflow posts what happens next in the thread."""
        bound = self._bound(c)
        if isinstance(bound, Answer):
            return bound
        subj = subject(bound)
        if not self.policy.may_approve(c.user, c.user_groups, bound.risk):
            self.store.audit(c.user, "refuse-unauthorised", subj, {"approve": c.approve})
            return Answer(f"You may not decide {what(bound)}. Approvers: {self.policy.who()}.")
        with self._deciding:
            record = self._record(bound)
            if record is not None and record.status != ActionStatus.PROPOSED.value:
                self.store.audit(c.user, "refuse-decided", subj, {"status": record.status})
                return Answer(f"{what(bound)} was decided already ({record.status}); nothing more will run.")
            if record is None:
                record = self._request(c, bound)
        assert record.id is not None
        message: dict[str, object] = {"user": c.user, "approve": c.approve}
        if c.approve:
            message["token"] = self.store.create_approval(record.id, bound.scope(), self.policy.ttl)
        DBOS.send(workflow_id(bound.investigation_id, bound.step), message, DECISION)
        return Answer("")

    def _bound(self, c: Click) -> BoundAction | Answer:
        """The step's action from the stored plan, or the answer that refuses the click."""
        row = self.store.latest_report(c.investigation_id)
        report = Report.model_validate(row.body) if row is not None else None
        if row is None or report is None or report.plan is None:
            return Answer("This investigation has no plan to run.")
        bound = bind(report.plan, c.step, c.investigation_id)
        subj = f"investigation:{c.investigation_id}:step:{c.step}"
        if isinstance(bound, Refusal):
            self.store.audit(c.user, "refuse-outside-catalogue", subj, {"reason": bound.reason})
            steps = "\n".join(f"• {s}" for s in bound.manual_steps)
            return Answer(f"I will not run this: {bound.reason}.\n{steps}", public=True)
        if c.shown_action and c.shown_action != bound.action.value:
            self.store.audit(c.user, "refuse-stale-plan", subj, {"shown": c.shown_action})
            return Answer("The plan changed since this message: use the buttons of the latest report.")
        if row.created_at + self.policy.ttl < self.clock() and self._record(bound) is None:
            self.store.audit(c.user, "refuse-expired-plan", subj, {})
            return Answer(
                f"This plan is older than {self.policy.ttl.total_seconds() / 60:g} minutes: "
                "ask me to look again before running anything from it."
            )
        return bound

    def _record(self, bound: BoundAction) -> ActionRecord | None:
        for row in self.store.actions(bound.investigation_id):
            if row.params.get("step") == bound.step and row.params.get("scope") == bound.scope():
                return row
        return None

    def _request(self, c: Click, bound: BoundAction) -> ActionRecord:
        """Record the request and start the step's workflow (once: its id is the step's)."""
        params = {"step": bound.step, "scope": bound.scope(), "params": bound.params, "requester": c.user}
        record = self.store.propose_action(bound.investigation_id, bound.action.value, params)
        assert record.id is not None
        self.store.audit(
            c.user,
            "request",
            subject(bound),
            {"action": bound.action.value, "params": bound.params, "risk": bound.risk.value},
        )
        expires = (self.clock() + self.policy.ttl).timestamp()
        inv = self.store.get_investigation(bound.investigation_id)
        req = Request(record.id, bound, c.user, c.where, expires, inv.incident_id if inv else 0)
        with SetWorkflowID(workflow_id(bound.investigation_id, bound.step)):
            DBOS.start_workflow(mitigation_workflow, req)
        return record
