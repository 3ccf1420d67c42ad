"""Durable investigations on DBOS Transact: one workflow per investigation, each phase a checkpointed step.

A page is taken in one database transaction (`Runtime.accept` -> `Store.take_page`): its delivery, what it
means for its alarm's incident (new, a recurrence after a resolve, re-opened, a repeat that joins, resolved)
and the investigation row -- and, when DBOS's system tables live in our database, the enqueue of the `page`
workflow too (see :mod:`bot.investigation.enqueue`). Only then does the surface answer the sender.

The `page` workflow (queue `pages`, beside the investigations in every process that runs them, with slots of
its own) posts a webhook page into the page channel, says in the thread what the investigation will look at
and opens the status line, so every page hears at once even when every investigation slot is taken (and a
queue-only web process does nothing but answer senders); then it enqueues the investigation
workflow (`inv-<alarm key>`, `-<n>` for later episodes and re-opens) on the `investigations` queue. That
workflow scopes, gathers and concludes, each a step whose result DBOS records: a process killed half way
resumes on restart (same `executor_id`, same system database) from the first unfinished step. Findings are
stored the moment they are found and only then handed to the notifier.

Steering replies are written to the store by the surface first. A running investigation takes them up between
its phases, so they shape its first report; after it has finished, each reply enqueues a follow-up workflow
(`steer-<investigation>-<reply>`, one at a time per investigation) that re-concludes from what the
investigation gathered and publishes the next report version. No workflow waits on the thread, so an open
incident holds no worker.

Steps run at least once, so every side effect is idempotent: findings carry a key and are stored once,
report versions are immutable, steering replies are claimed by name, notifiers promise idempotence. Steps
that write to our database retry for a while, so a database outage of a few seconds fails no investigation.
Whatever a crash or an outage leaves half-made is finished by :mod:`bot.investigation.recovery`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS, DBOSConfig, Queue, SetEnqueueOptions, SetWorkflowID, WorkflowHandle
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bot.config import Settings
from bot.domain import Category, Evidence, InvestigationStatus, Mitigation, Page, PageSource, Report
from bot.investigation.engine import Deps, Gathered, Investigator, Scoped
from bot.investigation.enqueue import APP_NAME, Enqueuer, Tx
from bot.investigation.hints import Hint, hints_for, seen_before_text, verdict_text
from bot.investigation.ports import Accepted, Delivery, InvestigationRef, Notifier
from bot.investigation.render import report_text
from bot.investigation.second_pass import MODEL_NOTE, NO_KEY_NOTE, second_pass
from bot.investigation.steering import Directive, Steering, apply, describe_change, parse_steering
from bot.investigation.steering_model import interpret
from bot.llm.runtime import ModelRuntime, model_runtime
from bot.sources.knowledge import Knowledge
from bot.storage.store import STARTS, Intent, Outcome, Store, Taken, alarm_key
from bot.storage.tables import Finding, Incident, IncidentStatus, Investigation, SteeringMessage
from bot.storage.tables import InvestigationStatus as RunState

log = logging.getLogger(__name__)

#: The DBOS queue investigations run on.
QUEUE = "investigations"
#: The DBOS queue of steering follow-ups, partitioned by investigation.
FOLLOW_UPS = "steering"
#: The DBOS queue of the short workflows that announce a page and resolve an incident: every process that
#: runs investigations runs it too, in slots of its own, so a page is answered in its thread at once even
#: when every investigation slot is taken. It is partitioned
#: by incident, one workflow at a time each, so an incident's announcement, resolution and re-opening are
#: told in the order they happened (and a re-opened incident's page is posted once).
PAGES = "pages"
#: How many pooled database connections a process opens at start, ready for a burst of pages.
POOL_WARM = 8
#: Page states that say the problem is over.
RESOLVED_STATES = frozenset({"OK", "RESOLVED", "resolved", "ok"})
#: Page states that ask for nothing (PagerDuty acknowledged; a CloudWatch alarm without data).
QUIET_STATES = frozenset({"ACKNOWLEDGED", "INSUFFICIENT_DATA"})

#: Retries of the steps that write to our database: about half a minute of outage before giving up.
_DB_STEP: dict[str, Any] = {
    "retries_allowed": True,
    "max_attempts": 6,
    "interval_seconds": 1.0,
    "backoff_rate": 2.0,
}
#: Retries of the phases that read the estate (and store findings as they go): a few seconds of outage.
_HEAVY_STEP: dict[str, Any] = {
    "retries_allowed": True,
    "max_attempts": 4,
    "interval_seconds": 1.0,
    "backoff_rate": 2.0,
}


def workflow_id_for(page: Page) -> str:
    """The workflow id of the first investigation of `page`'s alarm (later episodes add `-<n>`)."""
    return f"inv-{alarm_key(page)}"


def is_resolution(page: Page) -> bool:
    """Whether the page says its problem is over (CloudWatch OK, PagerDuty resolved)."""
    return (page.state or "") in RESOLVED_STATES


def intent_of(page: Page, *, reopened: bool = False) -> Intent | None:
    """What a page asks for: None when nothing (acknowledged, no data), else fire / resolve / re-open."""
    if (page.state or "").upper() in QUIET_STATES:
        return None
    if is_resolution(page):
        return Intent.RESOLVE
    return Intent.REOPEN if reopened else Intent.FIRE


def status_for(report: Report) -> InvestigationStatus:
    """The status a report puts its investigation in."""
    rc = report.root_cause
    if (
        rc is None
        or report.inconclusive
        or rc.confidence < 0.5
        or (rc.service is None and rc.category is not Category.FALSE_ALARM)
    ):
        return InvestigationStatus.INCONCLUSIVE
    plan = report.plan
    if plan is not None and plan.steps and plan.mitigation not in (Mitigation.NONE, Mitigation.WAIT):
        return InvestigationStatus.MITIGATION_PROPOSED
    return InvestigationStatus.ROOT_CAUSE_FOUND


def root_cause_line(report: Report | None) -> str | None:
    """`forge (bad-deployment, 92%)`, or None when the report names no root cause."""
    rc = report.root_cause if report else None
    if rc is None:
        return None
    return f"{rc.service or 'no service (false alarm)'} ({rc.category.value}, {rc.confidence:.0%})"


# --- references -------------------------------------------------------------------------------------------


def ref_of(incident: Incident, investigation_id: int, workflow_id: str) -> InvestigationRef:
    """The reference surfaces use for an investigation of `incident`."""
    assert incident.id is not None
    return InvestigationRef(
        investigation_id=investigation_id,
        incident_id=incident.id,
        workflow_id=workflow_id,
        channel=incident.channel,
        thread_ts=incident.thread_ts,
    )


def ref_of_row(incident: Incident, inv: Investigation) -> InvestigationRef:
    """`ref_of` for an investigation row."""
    assert inv.id is not None
    return ref_of(incident, inv.id, inv.workflow_id)


def _latest_ref(store: Store, incident: Incident) -> InvestigationRef | None:
    assert incident.id is not None
    invs = store.investigations_of(incident.id)
    if not invs:
        return None
    return ref_of_row(incident, invs[-1])


def page_workflow_id(investigation_workflow_id: str) -> str:
    """The id of the workflow that announces an investigation and enqueues it."""
    return f"page-{investigation_workflow_id}"


def resolve_workflow_id(incident_id: int, investigation_id: int | None) -> str:
    """The id of the workflow that tells the thread its incident was resolved (once per investigation, so
    a re-opened incident resolved again is told again)."""
    return f"resolve-{incident_id}-{investigation_id or 0}"


def note_for(outcome: Outcome | str) -> str | None:
    """What the thread is told about why this investigation started, beyond the page itself."""
    if outcome == Outcome.RECURRENCE:
        return "it fired again after its earlier incident was resolved"
    if outcome == Outcome.REOPENED:
        return "the incident was re-opened"
    return None


# --- the process-wide context the workflow's steps use -----------------------------------------------------


@dataclass
class _Context:
    settings: Settings
    store: Store
    notifier: Notifier
    deps_factory: Callable[[], Deps]
    #: Bounds the phases that read and analyse, across investigations and follow-ups.
    heavy: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    investigator: Investigator | None = None
    follow_ups: Queue | None = None
    #: Set once the queues are registered (workflows recovered at launch may start before that).
    ready: threading.Event = field(default_factory=threading.Event)
    #: The model pass's runtime (None without ANTHROPIC_API_KEY), built on first use.
    llm: ModelRuntime | None = None
    llm_built: bool = False

    def engine(self) -> Investigator:
        """The investigator, built on first use (a resumed workflow past gathering never needs one)."""
        with self.lock:
            if self.investigator is None:
                deps = self.deps_factory()
                if deps.knowledge is None:
                    deps.knowledge = Knowledge(self.settings.skills_dir, self.settings.steering_dir)
                self.investigator = Investigator(deps)
            return self.investigator

    def model(self) -> ModelRuntime | None:
        """The model pass's runtime, or None when no API key is set."""
        with self.lock:
            if not self.llm_built:
                self.llm, self.llm_built = model_runtime(self.settings), True
            return self.llm


_ctx: _Context | None = None


def _c() -> _Context:
    if _ctx is None:
        raise RuntimeError("the investigation runtime is not launched (call launch_runtime first)")
    return _ctx


def _safely(what: str, fn: Callable[..., None], *args: Any) -> bool:
    """Call a notifier method, retrying twice; a failure is logged, never raised (the store has the truth)."""
    for attempt in range(3):
        try:
            fn(*args)
            return True
        except Exception:
            if attempt == 2:
                log.exception("notifier %s failed", what)
            else:
                time.sleep(0.2 * (attempt + 1))
    return False


def _evidence_key(ev: Evidence) -> str:
    raw = json.dumps(ev.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


class _Recorder:
    """A listener that stores each finding once (keyed by its content), then tells the notifier."""

    def __init__(self, ctx: _Context, ref: InvestigationRef) -> None:
        self.ctx = ctx
        self.ref = ref
        self.lock = threading.Lock()
        self.rows: dict[str, Finding] = {}
        for row in ctx.store.findings(ref.investigation_id):
            key = (row.detail or {}).get("key")
            if isinstance(key, str):
                self.rows[key] = row
        self.told: set[str] = set()

    def finding(self, evidence: Evidence) -> None:
        key = _evidence_key(evidence)
        with self.lock:  # one at a time: findings reach the thread in the order they were numbered
            row = self.rows.get(key)
            if row is None:
                row = self.ctx.store.add_finding(
                    self.ref.investigation_id,
                    kind=evidence.kind.value,
                    summary=evidence.summary,
                    service=evidence.service,
                    detail={"key": key, "evidence": evidence.model_dump(mode="json")},
                )
                self.rows[key] = row
            elif row.posted_ts is not None or key in self.told:
                return
            self.told.add(key)
            assert row.id is not None
            _safely("finding", self.ctx.notifier.finding, self.ref, row.id, evidence)


# --- steps -------------------------------------------------------------------------------------------------


@DBOS.step(name="inv.open", **_DB_STEP)
def _open_step(page_json: dict[str, Any]) -> InvestigationRef:
    """Take the page (a workflow started without the enqueuer's triage, from before 0004)."""
    taken = _c().store.take_page(
        Page.model_validate(page_json), Intent.FIRE, "workflow", DBOS.workflow_id or "unknown"
    )
    if taken.incident is None or taken.investigation is None:
        raise RuntimeError(f"page {page_json.get('title')!r} opened no investigation ({taken.outcome})")
    return ref_of_row(taken.incident, taken.investigation)


def announce(notifier: Notifier, ref: InvestigationRef, page: Page, note: str | None = None) -> None:
    """Say in the thread what the investigation will look at, and open (or move) the channel's status line."""
    what = page.alarm_name or page.title
    hint = f" ({page.service_hint})" if page.service_hint and page.service_hint not in what else ""
    why = f" ({note})" if note else ""
    looking = f"looking at {what}{hint}{why}, checking metrics, changes, logs..."
    _safely("started", notifier.started, ref, page, looking)
    _safely("status", notifier.status, ref, InvestigationStatus.INVESTIGATING, page, None)


@DBOS.step(name="page.post", retries_allowed=True, max_attempts=8, interval_seconds=1.0, backoff_rate=2.0)
def _post_page_step(ref: InvestigationRef, page_json: dict[str, Any]) -> InvestigationRef:
    """Post a webhook page into the page channel (once: the incident remembers its thread, and the notifier
    finds a message it posted before a crash); the investigation's thread is under it."""
    ctx = _c()
    incident = ctx.store.get_incident(ref.incident_id)
    if incident is not None and incident.channel and incident.thread_ts:
        return dataclasses.replace(ref, channel=incident.channel, thread_ts=incident.thread_ts)
    placed = ctx.notifier.post_page(
        ref, Page.model_validate(page_json), ctx.settings.page_channel, maybe_posted=_repeated_step()
    )
    if placed is None:
        return ref
    channel, ts = placed
    ctx.store.set_incident_messages(ref.incident_id, channel=channel, thread_ts=ts)
    return dataclasses.replace(ref, channel=channel, thread_ts=ts)


def _repeated_step() -> bool:
    """Whether the running step may have run before: a retry, or a workflow recovered after a crash."""
    step = DBOS.step_status
    if step is not None and (step.current_attempt or 0) > 0:
        return True
    status = DBOS.get_workflow_status(DBOS.workflow_id or "")
    return status is None or (status.recovery_attempts or 0) > 1


@DBOS.step(name="page.announce")
def _announce_step(ref: InvestigationRef, page_json: dict[str, Any], note: str | None) -> None:
    ctx = _c()
    if _repeated_step():
        _recover_status_line(ctx, ref)
    announce(ctx.notifier, ref, Page.model_validate(page_json), note)


def _recover_status_line(ctx: _Context, ref: InvestigationRef) -> None:
    """After a crash: record a status line posted before it, so `status` edits it rather than post another."""
    try:
        incident = ctx.store.get_incident(ref.incident_id)
        if incident is None or incident.status_message_ts:
            return
        ts = ctx.notifier.find_status_line(ref)
        if ts:
            ctx.store.set_incident_messages(ref.incident_id, status_message_ts=ts)
    except Exception:  # a second status line is better than none
        log.exception("looking for the status line of %s failed", ref.workflow_id)


@DBOS.workflow(name="page")
def page_workflow(page_json: dict[str, Any], ref: InvestigationRef, note: str | None = None) -> str:
    """Put an accepted page in front of people, then hand it to the investigation workers: post it into the
    page channel when it came by webhook, say what the investigation will look at, open the status line,
    and enqueue the investigation workflow (its id is the investigation row's, so this is done once)."""
    if not ref.thread_ts:
        try:
            ref = _post_page_step(ref, page_json)
        except Exception:  # Slack refused for minutes: investigate anyway, the store keeps the report
            log.exception("page %s could not be posted; investigating without a thread", ref.workflow_id)
    placed = {**page_json, "channel": ref.channel, "message_ts": ref.thread_ts}
    _announce_step(ref, placed, note)
    with SetWorkflowID(ref.workflow_id):
        DBOS.enqueue_workflow(QUEUE, investigation_workflow, placed, ref)
    return ref.workflow_id


@DBOS.step(name="inv.scope", **_HEAVY_STEP)
def _scope_step(ref: InvestigationRef, page_json: dict[str, Any]) -> Scoped:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().scope(Page.model_validate(page_json), _Recorder(ctx, ref))


@DBOS.step(name="inv.hints", **_DB_STEP)
def _hints_step(ref: InvestigationRef, service: str | None) -> list[Hint]:
    """What caused the same alarm or service before (the scoped service is recorded on the incident)."""
    return hints_for(_c().store, ref.incident_id, service)


@DBOS.step(name="inv.gather", **_HEAVY_STEP)
def _gather_step(ref: InvestigationRef, scoped: Scoped, steering: Steering) -> Gathered:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().gather(scoped, _Recorder(ctx, ref), steering)


@DBOS.step(name="inv.conclude", **_HEAVY_STEP)
def _conclude_step(gathered: Gathered, steering: Steering) -> Report:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().conclude(gathered, steering).report


@DBOS.step(name="inv.publish", **_DB_STEP)
def _publish_step(ref: InvestigationRef, page_json: dict[str, Any], report: Report, version: int) -> Report:
    """Save and post report `version`; the status message moves too unless the incident is resolved."""
    ctx = _c()
    note = NO_KEY_NOTE if ctx.model() is None else (MODEL_NOTE if version == 1 else None)
    report = report.model_copy(update={"version": version, "model_note": note})
    ctx.store.save_report(ref.investigation_id, version, report.model_dump(mode="json"))
    _safely("report", ctx.notifier.report, ref, report)
    incident = ctx.store.get_incident(ref.incident_id)
    if incident is None or incident.status != IncidentStatus.RESOLVED.value:
        page = Page.model_validate(page_json)
        _safely("status", ctx.notifier.status, ref, status_for(report), page, root_cause_line(report))
    return report


@DBOS.step(name="inv.model")
def _model_step(ref: InvestigationRef, gathered: Gathered, report: Report) -> dict[str, Any]:
    """The model's second opinion on the published report, posted in the thread (or why there is none).
    Not retried: a model pass costs money, and the deterministic report already stands."""
    ctx = _c()
    inv = ctx.engine()
    op = second_pass(ctx.model(), inv, gathered, report_text(report), inv.knowledge, report.version)
    _safely("reply", ctx.notifier.reply, ref, op.reply())
    return {"available": op.available, "tokens_in": op.tokens_in, "tokens_out": op.tokens_out}


@dataclass(frozen=True)
class Reply:
    """A steering reply a workflow took up."""

    id: int
    user: str
    text: str


@DBOS.step(name="inv.claim", **_DB_STEP)
def _claim_step(ref: InvestigationRef, claimant: str) -> list[Reply]:
    """Take up the thread's unread steering replies (the same ones again if this step runs again)."""
    rows = _c().store.claim_steering(ref.investigation_id, claimant)
    return [Reply(r.id or 0, r.user, r.text) for r in rows]


@DBOS.step(name="inv.understand", **_DB_STEP)
def _understand_step(
    reply: Reply, services: list[str], page_json: dict[str, Any], blamed: str | None
) -> Directive:
    """Parse a steering reply and record what it asks (and, for "that deploy is fine", which change)."""
    fired_at = Page.model_validate(page_json).fired_at
    directive = parse_steering(reply.text, services, fired_at)
    runtime = _c().model()
    if not directive.understood and runtime is not None:  # the fast model reads it into checked steering
        read = interpret(runtime, reply.text, services, fired_at)
        directive = read.directive if read is not None else directive
    recorded = directive.to_json() if directive.understood else None
    if recorded is not None and directive.clear_blamed and blamed:
        recorded["blamed_change"] = blamed
    _c().store.record_understanding(reply.id, understood=directive.understood, directive=recorded)
    return directive


@DBOS.step(name="inv.reply")
def _reply_step(ref: InvestigationRef, text: str) -> None:
    _safely("reply", _c().notifier.reply, ref, text)


def _finish(ref: InvestigationRef, status: RunState) -> int | None:
    """Mark the investigation finished; returns the newest steering reply nobody took up, if any. A reply
    written before this is seen here; one written after finds the investigation finished and gets its own
    follow-up (InvestigationService.steer), so none falls between the two."""
    store = _c().store
    store.finish_investigation(ref.investigation_id, status)
    return store.unclaimed_steering(ref.investigation_id)


@DBOS.step(name="inv.finish", **_DB_STEP)
def _finish_step(ref: InvestigationRef) -> int | None:
    return _finish(ref, RunState.DONE)


@DBOS.step(name="inv.failed", **_DB_STEP)
def _failed_step(ref: InvestigationRef, page_json: dict[str, Any], error: str) -> int | None:
    ctx = _c()
    unread = _finish(ref, RunState.FAILED)
    page = Page.model_validate(page_json)
    _safely("status", ctx.notifier.status, ref, InvestigationStatus.FAILED, page, None)
    _safely("reply", ctx.notifier.reply, ref, f"I could not finish this investigation: {error}")
    return unread


# --- the workflows -----------------------------------------------------------------------------------------


def _drain(
    ref: InvestigationRef, page_json: dict[str, Any], services: list[str], steering: Steering, n: int
) -> Steering:
    """Apply the steering replies written while a phase ran (before the first report)."""
    for reply in _claim_step(ref, f"{DBOS.workflow_id}#{n}"):
        directive = _understand_step(reply, services, page_json, None)
        steering = apply(steering, directive)
        if directive.understood:
            _reply_step(ref, f"{directive.describe()} I'll take that into account in the report.")
        else:
            _reply_step(ref, directive.describe())
    return steering


def _follow_up_if(ref: InvestigationRef, page_json: dict[str, Any], unread: int | None) -> None:
    if unread is not None:
        _enqueue_follow_up(ref, page_json, unread)


@DBOS.workflow(name="investigation")
def investigation_workflow(
    page_json: dict[str, Any], opened: InvestigationRef | None = None
) -> dict[str, Any]:
    """Investigate one page durably; returns the report version and the root cause. `opened` is the
    enqueuer's triage (so a page is triaged once); without it the workflow triages the page itself."""
    ref = opened if opened is not None else _open_step(page_json)
    try:
        return _investigate(ref, page_json)
    except Exception as err:
        _follow_up_if(ref, page_json, _failed_step(ref, page_json, f"{type(err).__name__}: {err}"))
        raise


def _investigate(ref: InvestigationRef, page_json: dict[str, Any]) -> dict[str, Any]:
    scoped = _scope_step(ref, page_json)
    hints = _hints_step(ref, scoped.service)
    if seen := seen_before_text(hints):
        _reply_step(ref, seen)
    services = sorted(scoped.estate.services)
    steering = _drain(ref, page_json, services, Steering(), 1)
    gathered = _gather_step(ref, scoped, steering)
    steering = _drain(ref, page_json, services, steering, 2)
    report = _publish_step(ref, page_json, _conclude_step(gathered, steering), 1)
    if _c().model() is not None:
        _model_step(ref, gathered, report)
    if verdict := verdict_text(hints, report):
        _reply_step(ref, verdict)
    _follow_up_if(ref, page_json, _finish_step(ref))
    return {"version": 1, "root_cause": root_cause_line(report), "status": status_for(report).value}


@dataclass
class _Thread:
    """What a follow-up knows before it reads the new replies: the steering so far and the last report."""

    steering: Steering
    report: Report | None
    version: int


@DBOS.step(name="steer.thread", **_DB_STEP)
def _thread_step(ref: InvestigationRef, mine: list[int]) -> _Thread:
    """The steering earlier replies asked for (replayed in order) and the latest report."""
    store = _c().store
    steering = Steering()
    for row in store.steering_messages(ref.investigation_id):
        if row.id in mine or row.claimed_by is None:
            continue
        blamed = (row.directive or {}).get("blamed_change")
        directive = Directive.from_json(row.text, row.directive if row.understood else None)
        steering = apply(steering, directive, blamed_change=blamed)
    latest = store.latest_report(ref.investigation_id)
    report = Report.model_validate(latest.body) if latest else None
    return _Thread(steering, report, latest.version if latest else 0)


def _prior_phases(workflow_id: str) -> tuple[Scoped | None, Gathered | None]:
    """What the investigation's own scope and gather steps found (DBOS kept their outputs)."""
    scoped: Scoped | None = None
    gathered: Gathered | None = None
    for step in DBOS.list_workflow_steps(workflow_id):
        output = step.get("output")
        if step.get("function_name") == "inv.scope" and isinstance(output, Scoped):
            scoped = output
        elif step.get("function_name") == "inv.gather" and isinstance(output, Gathered):
            gathered = output
    return scoped, gathered


@DBOS.workflow(name="steering")
def steering_workflow(ref: InvestigationRef, page_json: dict[str, Any]) -> dict[str, Any]:
    """Answer steering replies written after the investigation finished: re-conclude (gathering again when
    the window widened, or when the investigation never gathered) and publish the next report version."""
    replies = _claim_step(ref, DBOS.workflow_id or "steering")
    if not replies:
        return {"replies": 0}
    thread = _thread_step(ref, [r.id for r in replies])
    steering, report, version = thread.steering, thread.report, thread.version
    scoped, gathered = _prior_phases(ref.workflow_id)
    if scoped is None:
        scoped = _scope_step(ref, page_json)
    services = sorted(scoped.estate.services)
    for reply in replies:
        blamed = report.root_cause.change_id if report and report.root_cause else None
        directive = _understand_step(reply, services, page_json, blamed)
        steering = apply(steering, directive, blamed_change=blamed)
        if not directive.understood and report is not None:
            _reply_step(ref, directive.describe())
            continue
        widened = gathered is not None and steering.since is not None and steering.since < gathered.since
        if gathered is None or widened:
            gathered = _gather_step(ref, scoped, steering)
        new = _conclude_step(gathered, steering)
        _reply_step(ref, describe_change(report, new, directive))
        version += 1
        report = _publish_step(ref, page_json, new, version)
    return {"replies": len(replies), "version": version, "root_cause": root_cause_line(report)}


def _enqueue_follow_up(ref: InvestigationRef, page_json: dict[str, Any], reply_id: int) -> None:
    """Enqueue the follow-up for steering reply `reply_id` (one id per reply, so a second enqueue of the same
    reply joins the first); follow-ups of one investigation run one at a time."""
    with (
        SetWorkflowID(f"steer-{ref.investigation_id}-{reply_id}"),
        SetEnqueueOptions(queue_partition_key=str(ref.investigation_id)),
    ):
        ctx = _c()
        ctx.ready.wait(30)
        assert ctx.follow_ups is not None, "the follow-up queue is not registered"
        ctx.follow_ups.enqueue(steering_workflow, ref, page_json)


@DBOS.step(name="resolve.incident", **_DB_STEP)
def _resolve_step(incident_id: int, page_json: dict[str, Any]) -> InvestigationRef | None:
    """Tell the thread its incident was resolved (the page's transaction resolved it), unless it was
    re-opened since."""
    store = _c().store
    inc = store.get_incident(incident_id)
    if inc is None or inc.status != IncidentStatus.RESOLVED.value:
        return None
    ref = _latest_ref(store, inc)
    if ref is not None:
        latest = store.latest_report(ref.investigation_id)
        report = Report.model_validate(latest.body) if latest else None
        page = Page.model_validate(page_json)
        resolved = InvestigationStatus.RESOLVED
        _safely("status", _c().notifier.status, ref, resolved, page, root_cause_line(report))
    return ref


@DBOS.workflow(name="resolve-incident")
def resolve_workflow(incident_id: int, page_json: dict[str, Any]) -> bool:
    """Tell the notifier an incident was resolved (a running investigation then leaves the status be)."""
    return _resolve_step(incident_id, page_json) is not None


# --- the runtime ---------------------------------------------------------------------------------------------


def system_database_url(settings: Settings) -> str:
    """DBOS's system database: the setting, else the Postgres DATABASE_URL, else a SQLite file beside ours."""
    if settings.dbos_system_database_url:
        return settings.dbos_system_database_url
    url = make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        return settings.database_url
    path = settings.sqlite_path()
    if path is None:
        return "sqlite:///var/sre-bot-dbos.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.with_name(path.stem + '-dbos' + (path.suffix or '.sqlite'))}"


@dataclass
class Runtime:
    """DBOS launched with the investigation workflows and their queues; `shutdown()` when done."""

    settings: Settings
    store: Store
    notifier: Notifier
    queue: Queue
    enqueuer: Enqueuer
    #: Stops the periodic recovery sweep (set by launch_runtime).
    stop_sweeping: Callable[[], None] | None = None

    def accept(self, page: Page, delivery: Delivery, *, reopened: bool = False) -> Accepted:
        """Take `page` and enqueue what it starts or resolves: in the same transaction when DBOS's tables
        are in our database, else right after it (and again for a re-delivery, in case the first enqueue
        never happened). Raises when either cannot be done: nothing was acknowledged, the sender retries."""
        intent = intent_of(page, reopened=reopened)
        if intent is None:
            return Accepted(Outcome.IGNORED.value, None)
        page_json = page.model_dump(mode="json")
        same = self.enqueuer.same_db

        def in_tx(conn: Tx, taken: Taken) -> None:
            self._follow(taken, page_json, conn)

        taken = self.store.take_page(page, intent, delivery.source, delivery.id, then=in_tx if same else None)
        if not same:
            self._follow(taken, page_json, None)
        ref = (
            ref_of_row(taken.incident, taken.investigation)
            if taken.incident is not None and taken.investigation is not None
            else None
        )
        return Accepted(taken.outcome.value, ref, taken.duplicate)

    def _follow(self, taken: Taken, page_json: dict[str, Any], session: Tx | None) -> None:
        """Enqueue what a taken page starts (the page workflow) or resolves (the resolve workflow)."""
        if taken.incident is None:
            return
        if taken.outcome in STARTS and taken.investigation is not None:
            ref = ref_of_row(taken.incident, taken.investigation)
            self.enqueue_page(ref, page_json, note_for(taken.outcome), session)
        elif taken.outcome is Outcome.RESOLVED:
            assert taken.incident.id is not None
            inv_id = taken.investigation.id if taken.investigation is not None else None
            opts = self.enqueuer.options(
                "resolve-incident",
                PAGES,
                resolve_workflow_id(taken.incident.id, inv_id),
                partition=str(taken.incident.id),
            )
            self._put(session, opts, taken.incident.id, page_json)

    def enqueue_page(
        self,
        ref: InvestigationRef,
        page_json: dict[str, Any],
        note: str | None = None,
        session: Tx | None = None,
    ) -> None:
        """Enqueue the page workflow of an investigation (a no-op when it was enqueued before)."""
        opts = self.enqueuer.options(
            "page", PAGES, page_workflow_id(ref.workflow_id), partition=str(ref.incident_id)
        )
        self._put(session, opts, page_json, ref, note)

    def enqueue_investigation(self, ref: InvestigationRef, page_json: dict[str, Any]) -> None:
        """Enqueue an investigation workflow directly (recovery, when its page workflow failed)."""
        self._put(None, self.enqueuer.options("investigation", QUEUE, ref.workflow_id), page_json, ref)

    def enqueue_follow_up(
        self, ref: InvestigationRef, reply_id: int, page_json: dict[str, Any], session: Tx | None = None
    ) -> None:
        """Enqueue the steering follow-up for reply `reply_id` (see `_enqueue_follow_up`)."""
        opts = self.enqueuer.options(
            "steering",
            FOLLOW_UPS,
            f"steer-{ref.investigation_id}-{reply_id}",
            partition=str(ref.investigation_id),
        )
        self._put(session, opts, ref, page_json)

    def _put(self, session: Tx | None, opts: Any, *args: Any) -> None:
        if session is not None:
            self.enqueuer.in_transaction(session, opts, *args)
        else:
            self.enqueuer.now(opts, *args)

    def warm(self) -> None:
        """Take a page and enqueue its workflow in a transaction that is rolled back, on warmed connections,
        so the first real pages find every statement compiled and every pooled connection open."""
        if make_url(self.settings.database_url).get_backend_name() == "postgresql":
            self.store.warm(POOL_WARM)
        page = Page(source=PageSource.MANUAL, title="warm-up", fired_at=datetime.now(UTC), state="ALARM")
        page_json = page.model_dump(mode="json")

        def in_tx(conn: Tx, taken: Taken) -> None:
            self._follow(taken, page_json, conn)

        then = in_tx if self.enqueuer.same_db else None
        self.store.take_page(page, Intent.FIRE, "warm-up", uuid.uuid4().hex, then=then, dry_run=True)

    def open(self, page: Page) -> Accepted:
        """`accept` for a page no sender will deliver again (the CLI, tests)."""
        return self.accept(page, Delivery("direct", uuid.uuid4().hex))

    def steer(self, ref: InvestigationRef, user: str, text: str, delivery: Delivery | None = None) -> int:
        """Record a steering reply for the investigation (once per delivery); returns its id. A running
        investigation takes it up between phases; for a finished one a follow-up workflow is enqueued
        (in the reply's transaction when DBOS's tables are ours), wherever workers run."""
        delivery = delivery or Delivery("direct", uuid.uuid4().hex)
        same = self.enqueuer.same_db

        def in_tx(session: Session, reply: SteeringMessage) -> None:
            assert reply.id is not None
            incident = session.get(Incident, ref.incident_id)
            self.enqueue_follow_up(ref, reply.id, dict(incident.page) if incident else {}, session)

        reply, _ = self.store.take_steering(
            ref.investigation_id,
            user[:64],
            text,
            delivery.source,
            delivery.id,
            then=in_tx if same else None,
        )
        assert reply.id is not None
        if not same:
            inv = self.store.get_investigation(ref.investigation_id)
            if inv is not None and inv.status != RunState.RUNNING.value:
                incident = self.store.get_incident(ref.incident_id)
                self.enqueue_follow_up(ref, reply.id, dict(incident.page) if incident else {})
        return reply.id

    def result(self, workflow_id: str, timeout_s: float | None = None) -> Any:
        """Wait for a workflow's result (tests, the CLI); an investigation's workflow is enqueued by its page
        workflow, so it may not exist yet when this is called."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else 3600.0)
        while DBOS.get_workflow_status(workflow_id) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"workflow {workflow_id} was never enqueued")
            time.sleep(0.05)
        handle: WorkflowHandle[Any] = DBOS.retrieve_workflow(workflow_id)
        while time.monotonic() < deadline:
            status = handle.get_status().status
            if status not in ("PENDING", "ENQUEUED"):
                return handle.get_result()
            time.sleep(0.05)
        raise TimeoutError(f"workflow {workflow_id} still running after {timeout_s} s")

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until no workflow is queued or running (the demo and tests end so)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            busy = DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False)
            if not busy:
                return
            time.sleep(0.05)
        log.warning("workflows still running after %.0f s", timeout_s)

    def shutdown(self) -> None:
        """Stop DBOS (running workflows resume on the next launch with the same executor id)."""
        global _ctx
        if self.stop_sweeping is not None:
            self.stop_sweeping()
        DBOS.destroy(workflow_completion_timeout_sec=0)
        self.enqueuer.close()
        _ctx = None


def launch_runtime(
    settings: Settings,
    deps_factory: Callable[[], Deps],
    store: Store,
    notifier: Notifier,
    *,
    polling_interval_s: float = 0.5,
    log_level: str = "WARNING",
    investigator: Investigator | None = None,
    sweep_interval_s: float = 30.0,
) -> Runtime:
    """Configure and launch DBOS for investigations; pending workflows of this executor resume now.

    `deps_factory` is called once, on the first step that reads the estate, unless the process built its
    `investigator` already (to share its adapters with the surfaces). A process runs at most
    `settings.investigation_concurrency` investigations and as many follow-ups, and only that many read and
    analyse at once, besides the short page workflows that announce pages. With
    `settings.run_investigations` false it only enqueues: it runs no workflow, and `sre-bot worker` processes
    announce and investigate. Once launched it
    finishes what a crash left half-made, and looks again every `sweep_interval_s` seconds
    (:mod:`bot.investigation.recovery`).
    """
    global _ctx
    _ctx = _Context(
        settings,
        store,
        notifier,
        deps_factory,
        threading.BoundedSemaphore(settings.investigation_concurrency),
        investigator=investigator,
    )
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": system_database_url(settings),
        "application_version": settings.app_version,
        "executor_id": settings.executor_id,
        "log_level": log_level,
        "notification_listener_polling_interval_sec": min(1.0, polling_interval_s),
    }
    DBOS(config=config)
    if not settings.run_investigations:
        DBOS.listen_queues([])  # the web process answers senders and nothing else
    DBOS.launch()
    DBOS.register_queue(
        PAGES,
        worker_concurrency=settings.page_concurrency,
        partition_concurrency=1,
        polling_interval_sec=polling_interval_s,
    )
    queue = DBOS.register_queue(
        QUEUE,
        worker_concurrency=settings.investigation_concurrency,
        polling_interval_sec=polling_interval_s,
    )
    _ctx.follow_ups = DBOS.register_queue(
        FOLLOW_UPS,
        worker_concurrency=settings.investigation_concurrency,
        partition_concurrency=1,
        polling_interval_sec=polling_interval_s,
    )
    _ctx.ready.set()
    if settings.run_investigations:
        _await_worker(PAGES, timeout_s=3.0)
        _await_worker(QUEUE, timeout_s=3.0)
    enqueuer = Enqueuer(settings, system_database_url(settings), store.engine)
    runtime = Runtime(settings, store, notifier, queue, enqueuer)
    try:
        runtime.warm()
    except Exception:  # a cold start is slower, not wrong
        log.exception("warming the acknowledgement path failed")
    from bot.investigation.recovery import Sweeper  # recovery builds on this module

    runtime.stop_sweeping = Sweeper(runtime).start(sweep_interval_s)
    return runtime


def _await_worker(queue: str, timeout_s: float) -> None:
    """Wait until DBOS runs the queue's worker thread (its queue manager looks for new queues every second),
    so the first page is picked up within the polling interval rather than up to a second later."""
    deadline = time.monotonic() + timeout_s
    name = f"queue-worker-{queue}"
    while time.monotonic() < deadline:
        if any(t.name == name and t.is_alive() for t in threading.enumerate()):
            return
        time.sleep(0.02)
    log.warning("DBOS queue worker %s not running after %.1f s", queue, timeout_s)
