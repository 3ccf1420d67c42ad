"""The investigation: page -> scope -> gather evidence in parallel -> analyse -> report and plan.

Read-only throughout. Each finding reaches the listener the moment it is found (the Slack surface posts it,
storage records it). An API the bot may not call becomes a gap in the report, never a crash.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.analysis.anomaly import SeriesData, Window
from bot.analysis.diagnose import Diagnosis, affected_services, diagnose
from bot.analysis.facts import ChangeFact, Facts, InstanceFact, LogFact, StatusFact
from bot.analysis.logs import Line, mine_templates, split_level
from bot.analysis.plan import PlanContext, build_plan
from bot.analysis.ranking import Alarm, Graph, rank_from_series
from bot.analysis.signals import assess_all, reference_length
from bot.domain import (
    Category,
    Evidence,
    EvidenceKind,
    Gap,
    Hypothesis,
    Page,
    Report,
    TimelineEntry,
)
from bot.investigation.steering import Steering
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.telemetry import Telemetry
from bot.sources.aws.topology import Estate, ServiceInfo, TopologyReader
from bot.sources.github import GithubSource
from bot.sources.result import ToolResult
from bot.sources.status import StatusPages

#: CloudTrail event names that are a deploy's own API calls (the deploy itself is read from GitHub).
DEPLOY_EVENTS = frozenset(
    {
        "UpdateService",
        "RegisterTaskDefinition",
        "UpdateStack",
        "UpdateFunctionCode",
        "PublishVersion",
        "UpdateAlias",
        "CreateDeployment",
    }
)


class Listener(Protocol):
    """Receives findings as they are found."""

    def finding(self, evidence: Evidence) -> None:
        """A new finding."""


@dataclass
class Deps:
    """What an investigation reads through: built once at start-up, the same for AWS and the sandbox."""

    aws: AwsClients
    github: GithubSource | None = None
    status: StatusPages | None = None
    lookback: timedelta = timedelta(hours=24)
    concurrency: int = 8
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class Outcome:
    """An investigation's result."""

    report: Report
    facts: Facts
    diagnosis: Diagnosis
    estate: Estate
    first_finding_s: float | None = None
    report_s: float = 0.0


@dataclass
class Scoped:
    """The scope phase's result: the estate and the alarmed service."""

    page: Page
    estate: Estate
    service: str | None
    alarm_signal: str | None
    since: datetime
    findings: list[Evidence] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


@dataclass
class Gathered:
    """The gather phase's result: facts (attributed, before steering) and every finding so far."""

    page: Page
    estate: Estate
    facts: Facts
    findings: list[Evidence]
    gaps: list[Gap]
    since: datetime


@dataclass
class Concluded:
    """The conclude phase's result."""

    report: Report
    diagnosis: Diagnosis
    facts: Facts


class _Timed:
    """A listener that notes when the first finding came, then passes findings on."""

    def __init__(self, inner: Listener | None) -> None:
        self.inner = inner
        self.started = time.monotonic()
        self.first_s: float | None = None

    def finding(self, evidence: Evidence) -> None:
        if self.first_s is None:
            self.first_s = time.monotonic() - self.started
        if self.inner is not None:
            self.inner.finding(evidence)


@dataclass
class _Run:
    """State of one running investigation; thread-safe appends."""

    page: Page
    listener: Listener | None
    started: float = field(default_factory=time.monotonic)
    findings: list[Evidence] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    first_finding_s: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, ev: Evidence) -> None:
        with self.lock:
            self.findings.append(ev)
            if self.first_finding_s is None:
                self.first_finding_s = time.monotonic() - self.started
        if self.listener is not None:
            self.listener.finding(ev)

    def result(self, r: ToolResult[Any]) -> Any:
        """The tool's data; a failed call is recorded as a gap and said in the thread."""
        gap = r.gap()
        if gap is not None:
            self.gap(gap)
        return r.data

    def gap(self, gap: Gap) -> None:
        """Record something the investigation could not read (once) and say so."""
        with self.lock:
            if gap in self.gaps:
                return
            self.gaps.append(gap)
        self.emit(
            Evidence(
                kind=EvidenceKind.NOTE,
                service=None,
                summary=f"could not read {gap.source}: {gap.reason}",
                source=gap.source,
            )
        )


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _at(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _hhmm(t: int) -> str:
    return _at(t).strftime("%H:%M")


class Investigator:
    """Runs investigations against one set of dependencies."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.telemetry = Telemetry(deps.aws)
        self.changes = AwsChanges(deps.aws)
        self.topology = TopologyReader(deps.aws, workers=deps.concurrency)

    def investigate(
        self, page: Page, listener: Listener | None = None, steering: Steering | None = None
    ) -> Outcome:
        """Investigate one page and return the report with the facts behind it (scope, gather, conclude)."""
        timed = _Timed(listener)
        steering = steering or Steering()
        scoped = self.scope(page, timed)
        gathered = self.gather(scoped, timed, steering)
        done = self.conclude(gathered, steering)
        return Outcome(
            done.report,
            done.facts,
            done.diagnosis,
            gathered.estate,
            timed.first_s,
            time.monotonic() - timed.started,
        )

    # --- phases: each returns plain picklable data, so a durable workflow can checkpoint it ------------
    def scope(self, page: Page, listener: Listener | None = None) -> Scoped:
        """Discover the estate and map the page to the alarmed service."""
        run = _Run(page=page, listener=listener)
        now = page.fired_at
        with ThreadPoolExecutor(2) as pool:
            alarm_f = pool.submit(self.telemetry.alarm, page.alarm_name) if page.alarm_name else None
            estate = self.topology.cached(now - self.deps.lookback, now)
            for gap in estate.gaps:
                run.gap(gap)
            alarm = run.result(alarm_f.result()) if alarm_f else None
        service = _scope(page, alarm, estate)
        scope = f"{service}" if service else "the estate"
        run.emit(
            Evidence(
                kind=EvidenceKind.TOPOLOGY,
                service=service,
                summary=f"{page.alarm_name or page.title} points at {scope}; "
                f"{len(estate.services)} services, {len(estate.edges)} call edges",
                at=now,
                source="topology",
            )
        )
        return Scoped(
            page=page,
            estate=estate,
            service=service,
            alarm_signal=_signal_of(alarm, page),
            since=now - self.deps.lookback,
            findings=list(run.findings),
            gaps=list(run.gaps),
        )

    def gather(
        self, scoped: Scoped, listener: Listener | None = None, steering: Steering | None = None
    ) -> Gathered:
        """Gather metrics, changes, logs in parallel; the window reaches back to the steering's `since` if earlier."""
        page = scoped.page
        now = page.fired_at
        since = scoped.since
        if steering is not None and steering.since is not None and steering.since < since:
            since = steering.since
        estate = copy.deepcopy(scoped.estate)  # gathering fills in repos; the scoped estate stays as scoped
        run = _Run(page=page, listener=listener, findings=list(scoped.findings), gaps=list(scoped.gaps))
        facts = Facts(
            alarm_service=scoped.service or "",
            page_time=_ts(now),
            alarm_signal=scoped.alarm_signal,
            services=tuple(sorted(estate.services)),
            edges=tuple(sorted(estate.edges)),
            kinds={n: i.kind for n, i in estate.services.items()},
        )
        with ThreadPoolExecutor(self.deps.concurrency) as pool:
            for f in self._gather(pool, run, estate, facts, since, now):
                f.result()
        _attribute(facts, estate)
        return Gathered(
            page=page,
            estate=estate,
            facts=facts,
            findings=list(run.findings),
            gaps=list(run.gaps),
            since=since,
        )

    def conclude(self, gathered: Gathered, steering: Steering | None = None) -> Concluded:
        """Rank origins, diagnose under the steering, and write the report (does not change `gathered`)."""
        steering = steering or Steering()
        g = gathered.facts
        facts = replace(
            g,
            kinds=dict(g.kinds),
            signals=list(g.signals),
            changes=list(g.changes),
            logs=list(g.logs),
            statuses=list(g.statuses),
            instances=list(g.instances),
            series=dict(g.series),
            ignored_services=frozenset(steering.ignored),
            cleared_changes=_cleared(g.changes, steering),
            focus_services=frozenset(steering.focus),
            window_start=_ts(steering.since) if steering.since else None,
        )
        ranking = _metric_ranking(facts)
        diag = diagnose(facts, ranking)
        report = self._report(gathered.findings, gathered.gaps, gathered.page, facts, diag, gathered.estate)
        return Concluded(report=report, diagnosis=diag, facts=facts)

    # --- gathering -------------------------------------------------------------------------------------
    def _gather(
        self,
        pool: ThreadPoolExecutor,
        run: _Run,
        estate: Estate,
        facts: Facts,
        since: datetime,
        now: datetime,
    ) -> list[Future[None]]:
        lock = threading.Lock()
        futures: list[Future[None]] = []

        def metrics(info: ServiceInfo) -> None:
            callees = [
                b for a, b in sorted(estate.edges) if a == info.name and estate.services[b].kind == "external"
            ]
            data = run.result(
                self.telemetry.signals(
                    info.name, info.kind, info.res(), since, now, info.instances, estate.org, callees
                )
            )
            if not data:
                return
            with lock:
                for (svc, signal, inst), points in data.items():
                    if inst is None or inst.startswith("via "):
                        facts.series.setdefault((svc, signal), points)
            start = min(ts[0] for ts, _ in data.values() if ts)
            states = assess_all(data, _ts(now), start)
            for s in states:
                if s.instance and s.instance.startswith("via "):
                    # A third party seen from one caller: its signals, as the caller sees them.
                    s = replace(s, instance=None)
                    with lock:
                        if any(x.service == s.service and x.signal == s.signal for x in facts.signals):
                            continue
                with lock:
                    facts.signals.append(s)
                if s.anomalous and s.onset is not None:
                    run.emit(
                        Evidence(
                            kind=EvidenceKind.METRIC,
                            service=s.service,
                            summary=f"{s.describe()} since {_hhmm(s.start or s.onset)}"
                            + ("" if s.sustained else " (recovered)")
                            + (" — a steady climb" if s.ramp else ""),
                            at=_at(s.start or s.onset),
                            source="cloudwatch",
                            detail={
                                "signal": s.signal,
                                "instance": s.instance or "",
                                "score": f"{s.score:.1f}",
                            },
                        )
                    )

        def cloudtrail() -> None:
            for c in run.result(self.changes.cloudtrail(since, now)) or []:
                fact = ChangeFact(
                    id=c.id,
                    at=_ts(c.at),
                    via="deploy" if c.summary.split(" ", 1)[0] in DEPLOY_EVENTS else c.via,
                    summary=c.summary,
                    actor=c.actor,
                    resource=c.resource,
                    source="cloudtrail",
                    detail=c.revert_hint or "",
                )
                with lock:
                    facts.changes.append(fact)

        def deploys(repo: str, services: list[str]) -> None:
            if self.deps.github is None:
                return
            for c in run.result(self.deps.github.deploys(repo, since, now)) or []:
                for svc in services:
                    fact = ChangeFact(
                        id=c.id,
                        at=_ts(c.at),
                        via="github-actions",
                        summary=f"{svc}: {c.summary}",
                        service=svc,
                        actor=c.actor,
                        commit=c.commit,
                        files=c.files,
                        link=c.link,
                        source="github",
                        detail=c.revert_hint or "",
                    )
                    with lock:
                        facts.changes.append(fact)

        def scaling(info: ServiceInfo) -> None:
            asg = info.res().asg
            if not asg:
                return
            acts = run.result(self.changes.scaling_activities(asg, since)) or []
            if acts:
                run.emit(
                    Evidence(
                        kind=EvidenceKind.CHANGE,
                        service=info.name,
                        summary=f"{len(acts)} scaling activities on {asg} since {_hhmm(_ts(min(a.at for a in acts)))}: "
                        f"{acts[0].summary} ({acts[0].revert_hint or 'no cause given'})",
                        at=acts[0].at,
                        source="autoscaling",
                    )
                )

        def logs(info: ServiceInfo) -> None:
            incident_start = now - timedelta(minutes=60)
            lines: list[Line] = []
            for group in info.log_groups:
                base = run.result(self.telemetry.log_lines(group, since, incident_start, limit=800)) or []
                recent = run.result(self.telemetry.log_lines(group, incident_start, now, limit=3000)) or []
                for rec in [*base, *recent]:
                    level, text = split_level(rec.message)
                    lines.append(Line(rec.time, level, text, _stream_label(rec.stream, info)))
            for t in mine_templates(lines, _ts(incident_start)):
                fact = LogFact(
                    info.name,
                    t.template,
                    t.level,
                    t.count,
                    t.baseline_count,
                    t.first_seen,
                    t.sample,
                    t.exception,
                    t.frames,
                    tuple(sorted(t.streams)),
                )
                with lock:
                    facts.logs.append(fact)
                if t.is_new or t.count > 3 * max(t.baseline_count, 1):
                    where = f" at {t.frames[-1].file}:{t.frames[-1].line}" if t.frames else ""
                    run.emit(
                        Evidence(
                            kind=EvidenceKind.LOG,
                            service=info.name,
                            summary=f"{'new ' if t.is_new else ''}{t.level} ×{t.count} since {_hhmm(t.first_seen)}: {t.sample[:300]}{where}",
                            at=_at(t.first_seen),
                            source="logs",
                            detail={"template": t.template, "exception": t.exception or ""},
                        )
                    )

        def vendor_status(name: str, pages: StatusPages) -> None:
            st = run.result(pages.status(name))
            if st is None:
                return
            with lock:
                facts.statuses.append(
                    StatusFact(name, st.state, st.message, _ts(st.updated) if st.updated else None)
                )
            if st.state != "ok":
                run.emit(
                    Evidence(
                        kind=EvidenceKind.STATUS,
                        service=name,
                        summary=f"{name}'s status page says {st.state}: {st.message[:300]}",
                        at=st.updated,
                        source="status",
                    )
                )

        for name in sorted(estate.services):
            info = estate.services[name]
            if info.kind == "external" and self.deps.status is not None and name in self.deps.status.pages:
                futures.append(pool.submit(vendor_status, name, self.deps.status))
            if info.kind != "external":
                futures.append(pool.submit(metrics, info))
            futures.append(pool.submit(scaling, info))
            if info.log_groups:
                futures.append(pool.submit(logs, info))
            for label, launched in sorted(info.launched.items()):
                facts.instances.append(InstanceFact(name, label, _ts(launched), None))
        futures.append(pool.submit(cloudtrail))
        repos: dict[str, list[str]] = {}
        known = (run.result(self.deps.github.accessible_repos()) or []) if self.deps.github else []
        for name, info in sorted(estate.services.items()):
            repo = info.repo or _repo_for(name, known)
            if repo:
                info.repo = repo
                repos.setdefault(repo, []).append(name)
        for repo, services in sorted(repos.items()):
            futures.append(pool.submit(deploys, repo, services))
        return futures

    # --- report ----------------------------------------------------------------------------------------
    def _report(
        self,
        findings: Sequence[Evidence],
        gaps: Sequence[Gap],
        page: Page,
        facts: Facts,
        diag: Diagnosis,
        estate: Estate,
    ) -> Report:
        root = diag.root_service
        info = estate.services.get(root or "")
        ctx = self._plan_context(diag, facts, info, page)
        cause = diag.key_logs[0].exception if diag.key_logs and diag.key_logs[0].exception else ""
        plan = build_plan(diag.mitigation, ctx, cause or "")
        affected = diag.affected
        impact = _impact(facts, affected, page)
        root_h = (
            diag.hypotheses[0]
            if diag.hypotheses
            else (
                Hypothesis(
                    service=None,
                    category=Category.FALSE_ALARM,
                    confidence=diag.confidence,
                    summary=diag.summary,
                )
            )
        )
        evidence = _key_evidence(findings, diag, facts)
        timeline = _timeline(facts, diag, page)
        return Report(
            page_title=page.title,
            impact=impact,
            root_cause=root_h,
            hypotheses=tuple(diag.hypotheses) or (root_h,),
            evidence=tuple(evidence),
            timeline=tuple(timeline),
            ruled_out=tuple(diag.ruled_out),
            gaps=tuple(gaps),
            plan=plan,
        )

    def _plan_context(
        self, diag: Diagnosis, facts: Facts, info: ServiceInfo | None, page: Page
    ) -> PlanContext:
        g = diag.guilty
        res = info.res() if info else None
        current = previous = None
        if info and res and res.cluster and res.ecs_service:
            deps = self.changes.ecs_deployments(res.cluster, res.ecs_service).data or []
            if deps:
                current = deps[0].get("taskDefinition")
            if current and ":" in current:
                family, rev = current.rsplit(":", 1)
                if rev.isdigit() and int(rev) > 1:
                    previous = f"{family}:{int(rev) - 1}"
        param = param_old = param_new = None
        if g is not None and g.via == "parameter":
            param = _param_name(g)
            hist = self.changes.parameter_history(param).data if param else None
            if hist and len(hist) >= 2:
                param_old, param_new = hist[-2].get("Value"), hist[-1].get("Value")
        instance = diag.instance
        return PlanContext(
            service=diag.root_service,
            kind=info.kind if info else "",
            alarm=page.alarm_name,
            cluster=res.cluster if res else None,
            ecs_service=res.ecs_service if res else None,
            current_task_definition=current,
            previous_task_definition=previous,
            asg=res.asg if res else None,
            stack=info.stack if info else None,
            function=res.function if res else None,
            parameter=param,
            parameter_old=param_old,
            parameter_new=param_new,
            instance=instance,
            instance_id=(info.instances.get(instance) if info and instance else None),
            resource=g.resource if g else None,
            change_action=g.summary.split(" ", 1)[0] if g and g.source == "cloudtrail" else None,
            actor=g.actor if g else None,
            repo=info.repo if info else None,
            commit=g.commit if g else None,
            parent_commit=g.detail if g and g.source == "github" and g.detail else None,
        )


def _cleared(changes: Sequence[ChangeFact], steering: Steering) -> frozenset[str]:
    """Ids of the changes steering declared fine: by id, by commit (a 7+ character prefix), or by time."""
    out = set(steering.cleared_changes)
    shas = [s.lower() for s in steering.cleared_changes if len(s) >= 7]
    before = _ts(steering.changes_since) if steering.changes_since else None
    for c in changes:
        if c.commit and any(c.commit.lower().startswith(s) for s in shas):
            out.add(c.id)
        if before is not None and c.at < before:
            out.add(c.id)
    return frozenset(out)


def _stream_label(stream: str, info: ServiceInfo) -> str:
    """A log stream as the instance name people know (Name tag) when the stream is an instance id."""
    for label, iid in info.instances.items():
        if iid in stream or label in stream:
            return label
    return stream


def _repo_for(service: str, repos: Sequence[str]) -> str | None:
    """The repository named after a service (`owner/<service>`), when there is exactly one."""
    hits = [r for r in repos if r.rsplit("/", 1)[-1].lower() == service.lower()]
    return hits[0] if len(hits) == 1 else None


def _scope(page: Page, alarm: Any, estate: Estate) -> str | None:
    """The alarmed service: from the alarm's dimensions, then the page's hints, then names in its title."""
    if alarm is not None:
        for value in sorted(alarm.dimensions.values()):
            for name, info in sorted(estate.services.items()):
                res = info.res()
                if value in {
                    res.target_group,
                    res.load_balancer,
                    res.ecs_service,
                    res.asg,
                    res.function,
                    res.table,
                    res.db_instance,
                    res.queue,
                    name,
                }:
                    if (
                        value == res.load_balancer
                        and res.target_group
                        and res.target_group not in alarm.dimensions.values()
                    ):
                        continue
                    return name
    for text in (page.service_hint, page.alarm_name, page.title, *page.dimensions.values()):
        if text:
            found = estate.service_of(text)
            if found:
                return found
    return None


def _signal_of(alarm: Any, page: Page) -> str | None:
    from bot.sources.aws.catalog import signals_for

    metric = alarm.metric if alarm is not None else page.metric
    if not metric:
        return None
    for kind in ("ecs", "asg", "lambda", "dynamodb", "rds", "sqs"):
        for sm in signals_for(kind):
            if sm.numerator.metric == metric:
                return sm.signal
    return None


def _attribute(facts: Facts, estate: Estate) -> None:
    """Give each CloudTrail change its service and instance, and drop deploy API calls GitHub already told."""
    out: list[ChangeFact] = []
    deploys = [c for c in facts.changes if c.source == "github"]
    for c in facts.changes:
        if c.source != "cloudtrail":
            out.append(c)
            continue
        texts = [c.resource or "", c.detail]
        service = None
        instance = None
        for text in texts:
            for part in [p.strip() for p in text.replace('"', " ").replace(",", " ").split()]:
                owner = estate.service_of(part) if part else None
                if owner:
                    service = service or owner
                    info = estate.services[owner]
                    for label, iid in info.instances.items():
                        if part in (iid, label):
                            instance = label
        if service is None:
            service = estate.service_of(" ".join(texts))
        if c.via == "deploy" and any(d.service == service and abs(d.at - c.at) <= 900 for d in deploys):
            continue
        out.append(
            ChangeFact(
                id=c.id,
                at=c.at,
                via=c.via,
                summary=c.summary,
                service=service,
                actor=c.actor,
                resource=c.resource,
                instance=instance,
                source=c.source,
                detail=c.detail,
            )
        )
    facts.changes = sorted(out, key=lambda c: (c.at, c.id))


def _metric_ranking(facts: Facts) -> list[str]:
    """The metric-only ranking of origins: the same ranking analysis the benchmark measures."""
    affected = affected_services(facts)
    fallback = sorted(affected, key=lambda n: (affected[n], n))
    if not facts.alarm_service or not facts.series:
        return fallback
    alarm_metric = facts.alarm_signal
    if (facts.alarm_service, alarm_metric) not in facts.series:
        own = sorted(
            (
                s
                for s in facts.signals
                if s.service == facts.alarm_service and s.instance is None and s.anomalous
            ),
            key=lambda s: (-s.score, s.signal),
        )
        if not own:
            return fallback
        alarm_metric = own[0].signal
    assert alarm_metric is not None
    first = min(ts[0] for ts, _ in facts.series.values() if ts)
    reference_end = first + reference_length(facts.page_time - first)
    series = {
        key: SeriesData(tuple(ts), tuple(vs))
        for key, (ts, vs) in facts.series.items()
        if key[0] not in facts.ignored_services
    }
    ranked = rank_from_series(
        Graph(nodes=tuple(sorted(facts.services)), edges=tuple(sorted(facts.edges))),
        series,
        Window(first, reference_end - 1),
        Window(reference_end, facts.page_time),
        Alarm(node=facts.alarm_service, metric=alarm_metric, time=facts.page_time),
    )
    order = [r.node for r in ranked]
    return order + [n for n in fallback if n not in order]


def _impact(facts: Facts, affected: dict[str, int], page: Page) -> str:
    alarmed = facts.alarm_service or "an unknown service"
    if not affected:
        return f"{page.title}: {alarmed} paged, but no service shows a sustained departure from its baseline."
    worst = sorted(affected.items(), key=lambda kv: (kv[1], kv[0]))
    since = min(t for _, t in worst)
    lines = [f"{page.title}: {alarmed} paged; {len(worst)} service(s) failing since {_hhmm(since)} UTC"]
    for name, _ in worst[:6]:
        sig = max(
            (s for s in facts.signals if s.service == name and s.anomalous and s.instance is None),
            key=lambda s: s.score,
            default=None,
        )
        if sig:
            lines.append(f"{sig.describe()}")
    return "; ".join(lines) + "."


def _key_evidence(findings: Sequence[Evidence], diag: Diagnosis, facts: Facts) -> list[Evidence]:
    """The findings that carry the conclusion, most telling first, then the rest (bounded)."""
    root = diag.root_service
    ranked = sorted(
        findings,
        key=lambda e: (
            e.service != root,
            e.kind is not EvidenceKind.LOG,
            e.kind is not EvidenceKind.CHANGE,
            e.kind is EvidenceKind.NOTE,
            e.at or datetime.min.replace(tzinfo=UTC),
        ),
    )
    out: list[Evidence] = []
    g = diag.guilty
    if g is not None:
        out.append(
            Evidence(
                kind=EvidenceKind.CHANGE,
                service=g.service,
                summary=f"{g.summary} at {_hhmm(g.at)}"
                + (f"; files: {', '.join(g.files)}" if g.files else ""),
                at=_at(g.at),
                source=g.source,
                link=g.link,
                detail={"commit": g.commit or "", "resource": g.resource or "", "actor": g.actor or ""},
            )
        )
    for lg in diag.key_logs[:3]:
        frames = ", ".join(f"{f.file}:{f.line}" for f in lg.frames[-3:])
        out.append(
            Evidence(
                kind=EvidenceKind.LOG,
                service=lg.service,
                summary=f"{lg.sample[:300]} (×{lg.count}{', new' if lg.is_new else ''}{'; ' + frames if frames else ''})",
                at=_at(lg.first_seen),
                source="logs",
                detail={"exception": lg.exception or ""},
            )
        )
    for e in ranked:
        if len(out) >= 25:
            break
        if e not in out and e.kind is not EvidenceKind.TOPOLOGY:
            out.append(e)
    return out


def _timeline(facts: Facts, diag: Diagnosis, page: Page) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for c in facts.changes:
        if diag.guilty is not None and c.id == diag.guilty.id:
            entries.append(TimelineEntry(at=_at(c.at), text=f"⚠ {c.summary}"))
        elif c.source in ("github", "cloudtrail") and c.via != "api":
            entries.append(TimelineEntry(at=_at(c.at), text=c.summary))
    for name, t in sorted(diag.affected.items(), key=lambda kv: (kv[1], kv[0])):
        entries.append(TimelineEntry(at=_at(t), text=f"{name} starts failing"))
    entries.append(TimelineEntry(at=page.fired_at, text=f"page: {page.title}"))
    entries.sort(key=lambda e: (e.at, e.text))
    return entries[-30:]


def _param_name(c: ChangeFact) -> str | None:
    try:
        params = json.loads(c.detail) if c.detail else {}
    except ValueError:
        params = {}
    name = params.get("name") or params.get("Name")
    if isinstance(name, str):
        return name
    return c.resource
