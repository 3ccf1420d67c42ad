"""Running an approved action as a durable DBOS workflow: wait for the decision, then the four phases.

One workflow per plan step (`mitigation-<investigation>-<step>`), started by the first click on its buttons.
It waits for decisions with `DBOS.recv` (they come from whichever process got the click), so a restart while
it waits loses nothing: DBOS resumes it and the wait goes on until the request's deadline. An approval counts
once: its token is consumed in the store (scoped to this action's parameters, unexpired, unused), and a
high-risk action's requester cannot approve it alone unless the policy says so. Once approved: pre-validate,
apply, post-validate; a failed post-validation rolls back by itself. Each phase is a step whose result DBOS
records, is told in the thread, and is audited with the exact API calls it made.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS

from bot.mitigation import phases
from bot.mitigation.catalogue import BoundAction, dry_run
from bot.mitigation.phases import PhaseResult
from bot.mitigation.policy import ApprovalPolicy
from bot.mitigation.ports import MitigationNotifier, Where
from bot.mitigation.writers import Writers
from bot.sources.aws.writes import AwsWriter
from bot.sources.github import GithubWriter
from bot.storage.store import Store
from bot.storage.tables import ActionStatus

log = logging.getLogger(__name__)

#: The topic decisions are sent on.
DECISION = "decision"
#: A wait for a decision is cut into chunks this long, so a stopping process is left within one.
WAIT_CHUNK_S = 2.0
_DB_STEP: dict[str, Any] = {"retries_allowed": True, "max_attempts": 5, "interval_seconds": 1.0}


@dataclass(frozen=True)
class Request:
    """One action waiting for its decision: what, who asked, where, until when (epoch seconds)."""

    action_id: int
    bound: BoundAction
    requester: str
    where: Where
    expires_at: float
    incident_id: int = 0

    def audit_hint(self) -> str:
        """Where the whole story is."""
        return f" The audit trail: `sre-bot audit {self.incident_id}`." if self.incident_id else ""


@dataclass
class MitigationContext:
    """What the workflow's steps use, installed once per process before DBOS launches."""

    store: Store
    writer: AwsWriter
    notifier: MitigationNotifier
    policy: ApprovalPolicy
    recovery_s: float = 600.0
    poll_s: float = 15.0
    ready: threading.Event = field(default_factory=threading.Event)
    #: GitHub with GITHUB_WRITE_TOKEN, for re-running a deploy workflow (None: that action says it cannot).
    github: GithubWriter | None = None

    @property
    def writers(self) -> Writers:
        """What the phases write with."""
        return Writers(self.writer, self.github)


_ctx: MitigationContext | None = None
#: Set once DBOS is destroyed: a workflow waiting for a decision then leaves its thread without recording
#: anything, so it stays PENDING and the next launch resumes it.
_stopping = threading.Event()
_waiters: list[int] = [0]
_waiters_lock = threading.Lock()


class _Stopped(BaseException):
    """Raised in a waiting workflow's thread when the process stops (not an error of the workflow)."""


def install(ctx: MitigationContext) -> None:
    """Give this process's mitigation workflows their store, writer, notifier and policy."""
    global _ctx
    _ctx = ctx
    _stopping.clear()
    ctx.ready.set()


def stop_waiting(timeout_s: float = WAIT_CHUNK_S + 1.0) -> None:
    """After DBOS is destroyed: let the workflows that wait for a decision go (they resume on restart)."""
    _stopping.set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with _waiters_lock:
            if _waiters[0] == 0:
                return
        time.sleep(0.05)


def _c() -> MitigationContext:
    if _ctx is None:
        raise RuntimeError("mitigation is not installed in this process (bot.mitigation.execution.install)")
    return _ctx


def workflow_id(investigation_id: int, step: int) -> str:
    """The workflow of one plan step: one per step, so a double click starts it once."""
    return f"mitigation-{investigation_id}-{step}"


def subject(bound: BoundAction) -> str:
    """The audit subject of an action."""
    return f"investigation:{bound.investigation_id}:step:{bound.step}"


def what(bound: BoundAction) -> str:
    """`step 3 (ecs.update_service, high risk)`."""
    return f"step {bound.step} (`{bound.action.value}`, {bound.risk.value} risk)"


# --- steps ------------------------------------------------------------------------------------------------------


@DBOS.step(name="mitigation.say")
def _say(where: Where, text: str) -> None:
    _c().notifier.say(where, text)


@DBOS.step(name="mitigation.close")
def _close(where: Where, step: int, text: str) -> None:
    _c().notifier.close_step(where, step, text)


@DBOS.step(name="mitigation.audit", **_DB_STEP)
def _audit(actor: str, verb: str, bound: BoundAction, detail: dict[str, Any]) -> None:
    _c().store.audit(actor, verb, subject(bound), {"action": bound.action.value, **detail})


@DBOS.step(name="mitigation.status", **_DB_STEP)
def _status(action_id: int, status: str, expected: list[str]) -> bool:
    return _c().store.set_action_status(
        action_id, ActionStatus(status), expected=[ActionStatus(e) for e in expected]
    )


@DBOS.step(name="mitigation.now")
def _now() -> float:
    return time.time()


@DBOS.step(name="mitigation.consume", **_DB_STEP)
def _consume(req: Request, token: str, approver: str) -> bool:
    """Use the approval once: right scope, unexpired, unused (one conditional UPDATE decides)."""
    ctx = _c()
    used = ctx.store.consume_approval(token, req.bound.scope(), datetime.now(UTC), approver=approver)
    return used is not None and used.action_id == req.action_id


@DBOS.step(name="mitigation.pre-validate")
def _pre(bound: BoundAction) -> PhaseResult:
    return phases.pre_validate(_c().writers, bound)


@DBOS.step(name="mitigation.apply")
def _apply(bound: BoundAction) -> PhaseResult:
    return phases.apply(_c().writers, bound)


@DBOS.step(name="mitigation.post-validate")
def _post(bound: BoundAction) -> PhaseResult:
    ctx = _c()
    return phases.post_validate(ctx.writers, bound, ctx.recovery_s, ctx.poll_s)


@DBOS.step(name="mitigation.rollback", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def _rollback(bound: BoundAction, before: str) -> PhaseResult:
    return phases.rollback(_c().writers, bound, before)


@DBOS.step(name="mitigation.minutes")
def _minutes() -> float:
    return _c().recovery_s / 60


# --- the workflow -----------------------------------------------------------------------------------------------


@DBOS.workflow(name="mitigation")
def mitigation_workflow(req: Request) -> str:
    """Wait for the decision on `req`, then run it; returns how it ended (the action's final status)."""
    b = req.bound
    lines = "\n".join(f"• {line}" for line in dry_run(b, _minutes()))
    _say(
        req.where,
        f":raised_hand: <@{req.requester}> asked to run {what(b)}: {b.description}\n"
        f"Dry run, the exact calls:\n{lines}",
    )
    verdict, who = _await_decision(req)
    if verdict != "approved":
        return verdict
    _close(req.where, b.step, f":white_check_mark: approved by <@{who}>; running")
    return _execute(req, who)


def _await_decision(req: Request) -> tuple[str, str]:
    """("approved" | "rejected" | "expired", who) once a decision that counts arrives or time runs out."""
    b = req.bound
    policy = _c().policy
    while True:
        msg = _receive(req)
        if msg is None:
            _status(req.action_id, ActionStatus.EXPIRED.value, [ActionStatus.PROPOSED.value])
            _audit("sre-bot", "expire", b, {"requester": req.requester})
            _close(req.where, b.step, ":hourglass: expired: nobody approved it in time; nothing was run")
            return "expired", ""
        user = str(msg.get("user") or "?")
        if not msg.get("approve"):
            _status(req.action_id, ActionStatus.REJECTED.value, [ActionStatus.PROPOSED.value])
            _audit(user, "reject", b, {})
            _close(req.where, b.step, f":no_entry_sign: rejected by <@{user}>; nothing was run")
            return "rejected", user
        if policy.needs_another(b.risk, req.requester, user):
            _audit(user, "refuse-self-approval", b, {})
            _say(req.where, f"<@{user}> asked for {what(b)}: a high-risk action needs another approver.")
            continue
        if _consume(req, str(msg.get("token") or ""), user):
            _status(req.action_id, ActionStatus.APPROVED.value, [ActionStatus.PROPOSED.value])
            _audit(user, "approve", b, {"scope": b.scope()})
            return "approved", user
        _audit(user, "refuse-used-approval", b, {})


def _receive(req: Request) -> dict[str, Any] | None:
    """The next decision, or None once the request's time is up (waiting in chunks; see `stop_waiting`)."""
    with _waiters_lock:
        _waiters[0] += 1
    try:
        while True:
            remaining = req.expires_at - _now()
            if remaining <= 0:
                return None
            msg = DBOS.recv(DECISION, timeout_seconds=min(remaining, WAIT_CHUNK_S))
            if msg is not None:
                return dict(msg)
            if _stopping.is_set():
                raise _Stopped()
    finally:
        with _waiters_lock:
            _waiters[0] -= 1


def _phase(req: Request, name: str, result: PhaseResult, who: str) -> None:
    icon = ":white_check_mark:" if result.ok else ":x:"
    _audit(who, name, req.bound, {"ok": result.ok, "result": result.text, "calls": result.calls})
    _say(req.where, f"{icon} *{name}* {what(req.bound)}: {result.text}")


def _execute(req: Request, approver: str) -> str:
    """Pre-validate, apply, post-validate; roll back when post-validation fails."""
    b = req.bound
    _status(req.action_id, ActionStatus.RUNNING.value, [ActionStatus.APPROVED.value])
    pre = _pre(b)
    _phase(req, "pre-validate", pre, "sre-bot")
    if not pre.ok:
        _status(req.action_id, ActionStatus.STOPPED.value, [ActionStatus.RUNNING.value])
        _say(req.where, f"Nothing was changed.{req.audit_hint()}")
        return ActionStatus.STOPPED.value
    done = _apply(b)
    _phase(req, "apply", done, approver)
    if not done.ok:
        _status(req.action_id, ActionStatus.FAILED.value, [ActionStatus.RUNNING.value])
        return ActionStatus.FAILED.value
    if b.alarm:
        _say(req.where, f":eyes: *post-validate*: waiting for `{b.alarm}` to return to OK")
    post = _post(b)
    _phase(req, "post-validate", post, "sre-bot")
    if post.ok:
        _status(req.action_id, ActionStatus.SUCCEEDED.value, [ActionStatus.RUNNING.value])
        _say(req.where, f":tada: {what(b)} done and recovery confirmed.{req.audit_hint()}")
        return ActionStatus.SUCCEEDED.value
    back = _rollback(b, pre.before)
    _phase(req, "rollback", back, "sre-bot")
    if not back.ok:
        _status(req.action_id, ActionStatus.FAILED.value, [ActionStatus.RUNNING.value])
        _say(req.where, f":rotating_light: post-validation failed and rolling {what(b)} back failed too.")
        return ActionStatus.FAILED.value
    _status(req.action_id, ActionStatus.ROLLED_BACK.value, [ActionStatus.RUNNING.value])
    _say(
        req.where,
        f":leftwards_arrow_with_hook: post-validation failed, so I rolled {what(b)} back by myself.{req.audit_hint()}",
    )
    return ActionStatus.ROLLED_BACK.value
