"""The investigation: page -> scope -> gather evidence in parallel -> analyse -> report and plan.

Read-only throughout. Each finding reaches the listener the moment it is found (the Slack surface posts it,
storage records it). An API the bot may not call becomes a gap in the report, never a crash.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.analysis.anomaly import SeriesData, Window
from bot.analysis.diagnose import Diagnosis, diagnose
from bot.analysis.facts import Facts
from bot.analysis.ranking import Alarm, rank_from_series
from bot.analysis.signals import reference_length
from bot.analysis.symptoms import affected_services
from bot.config import REPO_ROOT
from bot.domain import Change, ChartSeries, Evidence, EvidenceKind, Gap, Page, Report, Runbook, epoch
from bot.investigation.attribution import alarmed_service, alarmed_signal, attribute, unplaced
from bot.investigation.gathering import Listener, Run, Sources, gather_all, instances_of
from bot.investigation.gathering import Window as ReadWindow
from bot.investigation.planning import plan_context
from bot.investigation.reporting import write_report
from bot.investigation.steering import Steering
from bot.investigation.steering_facts import owners_of, with_steering_facts
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.plan_reads import PlanReads
from bot.sources.aws.telemetry import AlarmInfo, Telemetry
from bot.sources.aws.topology import Estate, TopologyReader
from bot.sources.github import GithubSource
from bot.sources.knowledge import Knowledge
from bot.sources.status import StatusPages

#: The alarm chart shows this much history before the page.
CHART_WINDOW = timedelta(hours=3)

__all__ = ["Concluded", "Deps", "Gathered", "Investigator", "Listener", "Outcome", "Scoped"]


@dataclass
class Deps:
    """What an investigation reads through: built once at start-up, the same for AWS and the sandbox."""

    aws: AwsClients
    github: GithubSource | None = None
    status: StatusPages | None = None
    lookback: timedelta = timedelta(hours=26)  # a day, plus the same hours yesterday to compare with
    #: How far back changes are read (never less than `lookback`): a cap or a setting read at start-up can
    #: sit for days before it bites.
    change_lookback: timedelta = timedelta(hours=72)
    concurrency: int = 8
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: Skills and steering files; the repository's own folders when not given.
    knowledge: Knowledge | None = None


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
    """The scope phase's result: the estate, the alarmed service and the alarm's own chart."""

    page: Page
    estate: Estate
    service: str | None
    alarm_signal: str | None
    since: datetime
    findings: list[Evidence] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    alarm_chart: ChartSeries | None = None


@dataclass
class Gathered:
    """The gather phase's result: facts (attributed, before steering) and every finding so far."""

    page: Page
    estate: Estate
    facts: Facts
    findings: list[Evidence]
    gaps: list[Gap]
    since: datetime
    alarm_chart: ChartSeries | None = None


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


class Investigator:
    """Runs investigations against one set of dependencies; its adapters (and their topology cache) are
    built once and shared with whoever else reads the estate (questions in the thread)."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.telemetry = Telemetry(deps.aws)
        self.changes = AwsChanges(deps.aws)
        self.topology = TopologyReader(deps.aws, workers=deps.concurrency)
        self.sources = Sources(self.telemetry, self.changes, deps.github, deps.status)
        self.knowledge = deps.knowledge or Knowledge(REPO_ROOT / "skills", REPO_ROOT / "steering")

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
        """Discover the estate, map the page to the alarmed service and read the alarm's own metric."""
        run = Run(page=page, listener=listener)
        now = page.fired_at
        with ThreadPoolExecutor(3) as pool:
            alarm_f = pool.submit(self.telemetry.alarm, page.alarm_name) if page.alarm_name else None
            chart_f = (
                pool.submit(
                    self.telemetry.alarm_series,
                    page.alarm_name,
                    now - CHART_WINDOW,
                    now + timedelta(minutes=5),
                )
                if page.alarm_name
                else None
            )
            estate = self.topology.cached(now - self.deps.lookback, now)
            for gap in estate.gaps:
                run.gap(gap)
            alarm: AlarmInfo | None = run.result(alarm_f.result()) if alarm_f else None
            drawn = chart_f.result().data if chart_f else None  # a chart is a nicety: no gap for it
        service = alarmed_service(page, alarm, estate)
        if not drawn and service is None and page.namespace and page.metric:
            # No service and no readable alarm: what the page names is still read and drawn.
            own = self.telemetry.metric_series(
                page.namespace, page.metric, page.dimensions, now - CHART_WINDOW, now + timedelta(minutes=5)
            ).data
            drawn = (None, own) if own else None
        run.emit(
            Evidence(
                kind=EvidenceKind.TOPOLOGY,
                service=service,
                summary=f"{page.alarm_name or page.title} points at {service or 'the estate'}; "
                f"{len(estate.services)} services, {len(estate.edges)} call edges"
                + ("" if service else f"; {unplaced(page, alarm)}"),
                at=now,
                source="topology",
            )
        )
        alarm_chart = (
            ChartSeries(title=page.alarm_name or page.title, points=tuple(drawn[1]), threshold=drawn[0])
            if drawn and drawn[1]
            else None
        )
        return Scoped(
            page=page,
            estate=estate,
            service=service,
            alarm_signal=alarmed_signal(alarm, page),
            since=now - self.deps.lookback,
            findings=list(run.findings),
            gaps=list(run.gaps),
            alarm_chart=alarm_chart,
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
        run = Run(page=page, listener=listener, findings=list(scoped.findings), gaps=list(scoped.gaps))
        window_start = steering.since if steering is not None else None
        with ThreadPoolExecutor(self.deps.concurrency) as pool:
            window = ReadWindow(estate, since, now, min(since, now - self.deps.change_lookback))
            harvest = gather_all(pool, self.sources, run, window, window_start)
        facts = Facts(
            alarm_service=scoped.service or "",
            page_time=epoch(now),
            alarm_signal=scoped.alarm_signal,
            topology=estate.topology(),
            signals=harvest.signals,
            changes=attribute(harvest.changes, estate),
            logs=harvest.logs,
            statuses=harvest.statuses,
            instances=instances_of(estate),
            series=harvest.series,
        )
        return Gathered(
            page=page,
            estate=estate,
            facts=facts,
            findings=list(run.findings),
            gaps=list(run.gaps),
            since=since,
            alarm_chart=scoped.alarm_chart,
        )

    def conclude(self, gathered: Gathered, steering: Steering | None = None) -> Concluded:
        """Rank origins, diagnose under the steering, and write the report (does not change `gathered`)."""
        steering = steering or Steering()
        g = gathered.facts
        facts = replace(
            g,
            signals=list(g.signals),
            changes=list(g.changes),
            logs=list(g.logs),
            statuses=list(g.statuses),
            instances=list(g.instances),
            series=dict(g.series),
            ignored_services=frozenset(steering.ignored),
            cleared_changes=_cleared(g.changes, steering),
            focus_services=frozenset(steering.focus),
            window_start=epoch(steering.since) if steering.since else None,
        )
        facts, findings = with_steering_facts(self.knowledge, gathered.page, facts, gathered.findings)
        diag = diagnose(facts, _metric_ranking(facts))
        gaps = list(gathered.gaps)
        info = gathered.estate.services.get(diag.root_service or "")
        ctx = plan_context(
            self.changes, diag, info, gathered.page, gaps, PlanReads(self.deps.aws), self.sources.github
        )
        report = write_report(gathered.page, facts, diag, findings, gaps, ctx, gathered.alarm_chart)
        owners = owners_of(self.knowledge, diag.root_service, facts.alarm_service, gathered.page.alarm_name)
        runbook = self.runbook(report, info.kind if info else None)
        report = report.model_copy(update={"runbook": runbook, "owners": owners})
        return Concluded(report=report, diagnosis=diag, facts=facts)

    def runbook(self, report: Report, kind: str | None) -> Runbook | None:
        """The skill that fits the report's category (and the root service's kind), for the humans."""
        if report.root_cause is None:
            return None
        skill = self.knowledge.skill_for(report.root_cause.category.value, kind)
        if skill is None:
            return None
        path = skill.path.resolve()
        shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        return Runbook(name=skill.name, description=skill.description, path=str(shown))


def _cleared(changes: Sequence[Change], steering: Steering) -> frozenset[str]:
    """Ids of the changes steering declared fine: by id, by commit (a 7+ character prefix), or by time."""
    out = set(steering.cleared_changes)
    shas = [s.lower() for s in steering.cleared_changes if len(s) >= 7]
    for c in changes:
        if c.commit and any(c.commit.lower().startswith(s) for s in shas):
            out.add(c.id)
        if steering.changes_since is not None and c.at < steering.changes_since:
            out.add(c.id)
    return frozenset(out)


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
        facts.topology,
        series,
        Window(first, reference_end - 1),
        Window(reference_end, facts.page_time),
        Alarm(node=facts.alarm_service, metric=alarm_metric, time=facts.page_time),
    )
    order = [r.node for r in ranked]
    return order + [n for n in fallback if n not in order]
