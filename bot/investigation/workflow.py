"""Durable investigations on DBOS Transact: one workflow per page, each phase a checkpointed step.

When a page is enqueued the thread hears what the investigation will look at. The workflow
`inv-<fingerprint>` opens the incident and investigation rows, then scopes, gathers and concludes, each a
step whose result DBOS records: a process killed half way resumes on restart (same `executor_id`, same
system database) from the first unfinished step. Findings are stored the
moment they are found and only then handed to the notifier.

Steering replies are written to the store by the surface first. A running investigation takes them up between
its phases, so they shape its first report; after it has finished, each reply enqueues a follow-up workflow
(`steer-<investigation>-<reply>`, one at a time per investigation) that re-concludes from what the
investigation gathered and publishes the next report version. No workflow waits on the thread, so an open
incident holds no worker.

Steps run at least once, so every side effect is idempotent: findings carry a key and are stored once,
report versions are immutable, steering replies are claimed by name, notifiers promise idempotence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS, DBOSConfig, Queue, SetEnqueueOptions, SetWorkflowID, WorkflowHandle
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.domain import Category, Evidence, InvestigationStatus, Mitigation, Page, Report
from bot.investigation.engine import Deps, Gathered, Investigator, Scoped
from bot.investigation.ports import InvestigationRef, Notifier
from bot.investigation.steering import Directive, Steering, apply, describe_change, parse_steering
from bot.storage.store import Store
from bot.storage.tables import Finding, Incident, IncidentStatus
from bot.storage.tables import InvestigationStatus as RunState

log = logging.getLogger(__name__)

#: The DBOS queue investigations run on.
QUEUE = "investigations"
#: The DBOS queue of steering follow-ups, partitioned by investigation.
FOLLOW_UPS = "steering"
#: Page states that say the problem is over.
RESOLVED_STATES = frozenset({"OK", "RESOLVED", "resolved", "ok"})


def workflow_id_for(page: Page) -> str:
    """The investigation workflow's id: a repeated page (same fingerprint) joins the same workflow."""
    return f"inv-{page.fingerprint()}"


def is_resolution(page: Page) -> bool:
    """Whether the page says its problem is over (CloudWatch OK, PagerDuty resolved)."""
    return (page.state or "") in RESOLVED_STATES


def status_for(report: Report) -> InvestigationStatus:
    """The status a report puts its investigation in."""
    rc = report.root_cause
    if rc is None or rc.confidence < 0.5 or (rc.service is None and rc.category is not Category.FALSE_ALARM):
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


# --- triage ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Triage:
    """What triage decided: `new` investigation, `joined` an open one, or the page `resolved` an incident."""

    kind: str
    ref: InvestigationRef | None
    incident_id: int | None = None


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


def _latest_ref(store: Store, incident: Incident) -> InvestigationRef | None:
    assert incident.id is not None
    invs = store.investigations_of(incident.id)
    if not invs:
        return None
    inv = invs[-1]
    assert inv.id is not None
    return ref_of(incident, inv.id, inv.workflow_id)


def _matching_open_incident(store: Store, page: Page) -> Incident | None:
    """The open incident this page is about: same fingerprint, else same source and alarm / incident id."""
    found = store.find_open_incident(page.fingerprint())
    if found is not None:
        return found
    key = page.incident_id or page.alarm_name
    if not key:
        return None
    for inc in store.recent_incidents(200):
        if inc.status != IncidentStatus.OPEN.value:
            continue
        other = inc.page or {}
        if other.get("source") == page.source.value and key in (
            other.get("incident_id"),
            other.get("alarm_name"),
        ):
            return inc
    return None


def triage(store: Store, page: Page) -> Triage:
    """Decide what a page means and record it: idempotent, so the workflow and the surface may both call it.

    An OK/resolved page for an open incident -> `resolved` (the caller resolves it); for none -> `ignored`.
    Otherwise the incident for the page's fingerprint is opened or found and its investigation row made.
    """
    if is_resolution(page):
        inc = _matching_open_incident(store, page)
        if inc is None:
            return Triage("ignored", None)
        return Triage("resolved", _latest_ref(store, inc), inc.id)
    incident, created = store.open_incident(page)
    assert incident.id is not None
    if not created and not incident.thread_ts and page.channel and page.message_ts:
        store.set_incident_messages(incident.id, channel=page.channel, thread_ts=page.message_ts)
        incident.channel, incident.thread_ts = page.channel, page.message_ts
    wf = workflow_id_for(page)
    existing = store.investigations_of(incident.id)
    inv = existing[-1] if existing and not created else store.start_investigation(incident.id, wf)
    assert inv.id is not None
    return Triage("new" if created else "joined", ref_of(incident, inv.id, inv.workflow_id), incident.id)


# --- the process-wide context the workflow's steps use -----------------------------------------------------


@dataclass
class _Context:
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

    def engine(self) -> Investigator:
        """The investigator, built on first use (a resumed workflow past gathering never needs one)."""
        with self.lock:
            if self.investigator is None:
                self.investigator = Investigator(self.deps_factory())
            return self.investigator


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


@DBOS.step(name="inv.open")
def _open_step(page_json: dict[str, Any]) -> InvestigationRef:
    t = triage(_c().store, Page.model_validate(page_json))
    if t.ref is None:
        raise RuntimeError(f"page {page_json.get('title')!r} opened no investigation ({t.kind})")
    return t.ref


def announce(notifier: Notifier, ref: InvestigationRef, page: Page) -> None:
    """Say in the thread what the investigation will look at, and open the channel's status line. Done when
    the page is enqueued, by the process that takes it, so the thread hears at once even when every worker
    is busy (and only one process ever posts it)."""
    what = page.alarm_name or page.title
    hint = f" ({page.service_hint})" if page.service_hint and page.service_hint not in what else ""
    looking = f"looking at {what}{hint}, checking metrics, changes, logs..."
    _safely("started", notifier.started, ref, page, looking)
    _safely("status", notifier.status, ref, InvestigationStatus.INVESTIGATING, page, None)


@DBOS.step(name="inv.scope")
def _scope_step(ref: InvestigationRef, page_json: dict[str, Any]) -> Scoped:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().scope(Page.model_validate(page_json), _Recorder(ctx, ref))


@DBOS.step(name="inv.gather")
def _gather_step(ref: InvestigationRef, scoped: Scoped, steering: Steering) -> Gathered:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().gather(scoped, _Recorder(ctx, ref), steering)


@DBOS.step(name="inv.conclude")
def _conclude_step(gathered: Gathered, steering: Steering) -> Report:
    ctx = _c()
    with ctx.heavy:
        return ctx.engine().conclude(gathered, steering).report


@DBOS.step(name="inv.publish")
def _publish_step(ref: InvestigationRef, page_json: dict[str, Any], report: Report, version: int) -> Report:
    """Save and post report `version`; the status message moves too unless the incident is resolved."""
    ctx = _c()
    report = report.model_copy(update={"version": version})
    ctx.store.save_report(ref.investigation_id, version, report.model_dump(mode="json"))
    _safely("report", ctx.notifier.report, ref, report)
    incident = ctx.store.get_incident(ref.incident_id)
    if incident is None or incident.status != IncidentStatus.RESOLVED.value:
        page = Page.model_validate(page_json)
        _safely("status", ctx.notifier.status, ref, status_for(report), page, root_cause_line(report))
    return report


@dataclass(frozen=True)
class Reply:
    """A steering reply a workflow took up."""

    id: int
    user: str
    text: str


@DBOS.step(name="inv.claim")
def _claim_step(ref: InvestigationRef, claimant: str) -> list[Reply]:
    """Take up the thread's unread steering replies (the same ones again if this step runs again)."""
    rows = _c().store.claim_steering(ref.investigation_id, claimant)
    return [Reply(r.id or 0, r.user, r.text) for r in rows]


@DBOS.step(name="inv.understand")
def _understand_step(
    reply: Reply, services: list[str], page_json: dict[str, Any], blamed: str | None
) -> Directive:
    """Parse a steering reply and record what it asks (and, for "that deploy is fine", which change)."""
    directive = parse_steering(reply.text, services, Page.model_validate(page_json).fired_at)
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


@DBOS.step(name="inv.finish")
def _finish_step(ref: InvestigationRef) -> int | None:
    return _finish(ref, RunState.DONE)


@DBOS.step(name="inv.failed")
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
    services = sorted(scoped.estate.services)
    steering = _drain(ref, page_json, services, Steering(), 1)
    gathered = _gather_step(ref, scoped, steering)
    steering = _drain(ref, page_json, services, steering, 2)
    report = _publish_step(ref, page_json, _conclude_step(gathered, steering), 1)
    _follow_up_if(ref, page_json, _finish_step(ref))
    return {"version": 1, "root_cause": root_cause_line(report), "status": status_for(report).value}


@dataclass
class _Thread:
    """What a follow-up knows before it reads the new replies: the steering so far and the last report."""

    steering: Steering
    report: Report | None
    version: int


@DBOS.step(name="steer.thread")
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


@DBOS.step(name="resolve.incident")
def _resolve_step(incident_id: int, page_json: dict[str, Any]) -> InvestigationRef | None:
    store = _c().store
    store.resolve_incident(incident_id)
    inc = store.get_incident(incident_id)
    if inc is None:
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
    """Mark an incident resolved and tell the notifier (a running investigation then leaves the status be)."""
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

    def start(self, page: Page) -> Triage:
        """Triage `page` and enqueue its workflow (or the resolution); returns at once."""
        t = triage(self.store, page)
        page_json = page.model_dump(mode="json")
        if t.kind == "resolved" and t.incident_id is not None:
            with SetWorkflowID(f"resolve-{t.incident_id}"):
                self.queue.enqueue(resolve_workflow, t.incident_id, page_json)
        elif t.ref is not None:
            if t.kind == "new":
                announce(self.notifier, t.ref, page)
            with SetWorkflowID(t.ref.workflow_id):
                self.queue.enqueue(investigation_workflow, page_json, t.ref)
        return t

    def steer(self, ref: InvestigationRef, user: str, text: str) -> int:
        """Record a steering reply for the investigation; returns its id. A running investigation takes it up
        between phases; for a finished one a follow-up workflow is enqueued, wherever workers run."""
        reply = self.store.add_steering(ref.investigation_id, user=user[:64], text=text)
        assert reply.id is not None
        inv = self.store.get_investigation(ref.investigation_id)
        if inv is not None and inv.status != RunState.RUNNING.value:
            incident = self.store.get_incident(ref.incident_id)
            _enqueue_follow_up(ref, dict(incident.page) if incident else {}, reply.id)
        return reply.id

    def result(self, workflow_id: str, timeout_s: float | None = None) -> Any:
        """Wait for a workflow's result (tests, the CLI)."""
        handle: WorkflowHandle[Any] = DBOS.retrieve_workflow(workflow_id)
        if timeout_s is None:
            return handle.get_result()
        deadline = time.monotonic() + timeout_s
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
        DBOS.destroy(workflow_completion_timeout_sec=0)
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
) -> Runtime:
    """Configure and launch DBOS for investigations; pending workflows of this executor resume now.

    `deps_factory` is called once, on the first step that reads the estate, unless the process built its
    `investigator` already (to share its adapters with the surfaces). A process runs at most
    `settings.investigation_concurrency` investigations and as many follow-ups, and only that many read and
    analyse at once. With `settings.run_investigations` false it only enqueues: it dequeues nothing, and
    `sre-bot worker` processes run the workflows.
    """
    global _ctx
    _ctx = _Context(
        store,
        notifier,
        deps_factory,
        threading.BoundedSemaphore(settings.investigation_concurrency),
        investigator=investigator,
    )
    config: DBOSConfig = {
        "name": "sre-bot",
        "system_database_url": system_database_url(settings),
        "application_version": settings.app_version,
        "executor_id": settings.executor_id,
        "log_level": log_level,
        "notification_listener_polling_interval_sec": min(1.0, polling_interval_s),
    }
    DBOS(config=config)
    if not settings.run_investigations:
        DBOS.listen_queues([])
    DBOS.launch()
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
        _await_worker(QUEUE, timeout_s=3.0)
    return Runtime(settings, store, notifier, queue)


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
