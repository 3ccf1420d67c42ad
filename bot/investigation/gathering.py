"""Gathering: one small reader per evidence source, run in parallel, each returning what it found.

A gatherer never touches shared state: it returns a `Harvest`, and findings go to the run's sink the moment
they are found. The harvests are merged in submission order, so the facts do not depend on thread timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.analysis.facts import InstanceFact, LogFact, SignalState, StatusFact
from bot.analysis.logs import Line, mine_templates, split_level
from bot.analysis.signals import assess_all
from bot.domain import Change, Evidence, EvidenceKind, Gap, Page, SignalKey, epoch, utc
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.telemetry import SeriesMap, Telemetry
from bot.sources.aws.topology import Estate, ServiceInfo
from bot.sources.github import GithubSource
from bot.sources.result import ToolResult
from bot.sources.status import StatusPages

#: How far before the earliest onset a log line still counts as part of the incident (precursors).
PRECURSOR = timedelta(minutes=10)
#: The incident's log window when nothing departed from its baseline.
QUIET_INCIDENT = timedelta(minutes=60)
#: At least this much recent log is read at full depth, whatever the onset.
RECENT_LOGS = timedelta(hours=3)
#: What AWS kept of the changes (change sets, task definitions) is read this many at a time.
DETAIL_READS = 4


class Listener(Protocol):
    """Receives findings as they are found."""

    def finding(self, evidence: Evidence) -> None:
        """A new finding."""


@dataclass
class Run:
    """One running investigation's findings and gaps, in the order found; thread-safe."""

    page: Page
    listener: Listener | None
    started: float = field(default_factory=time.monotonic)
    findings: list[Evidence] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    first_finding_s: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, ev: Evidence) -> None:
        """Record a finding and pass it on."""
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


@dataclass
class Harvest:
    """What one gatherer found."""

    signals: list[SignalState] = field(default_factory=list)
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    logs: list[LogFact] = field(default_factory=list)
    statuses: list[StatusFact] = field(default_factory=list)

    def merge(self, other: Harvest) -> None:
        """Add another harvest; a third party's signal already seen from another caller is kept once."""
        have = {(s.service, s.signal) for s in self.signals if s.seen_from is not None}
        for s in other.signals:
            if s.seen_from is not None and (s.service, s.signal) in have:
                continue
            if s.seen_from is not None:
                have.add((s.service, s.signal))
            self.signals.append(s)
        for key, points in other.series.items():
            self.series.setdefault(key, points)
        self.changes += other.changes
        self.logs += other.logs
        self.statuses += other.statuses


def _hhmm(t: int) -> str:
    return utc(t).strftime("%H:%M")


@dataclass(frozen=True)
class Sources:
    """The read-only adapters gathering reads through."""

    telemetry: Telemetry
    changes: AwsChanges
    github: GithubSource | None
    status: StatusPages | None


@dataclass(frozen=True)
class Window:
    """What to read: the estate and the time window."""

    estate: Estate
    since: datetime
    now: datetime
    #: Changes (CloudTrail, deploys) are read from here: further back than metrics and logs.
    changes_since: datetime | None = None

    @property
    def changes_from(self) -> datetime:
        """Where reading changes starts."""
        return self.changes_since or self.since


def metrics(src: Sources, run: Run, w: Window, info: ServiceInfo) -> Harvest:
    """A service's signals (its own, its instances', and its third parties' as it sees them), assessed."""
    est = w.estate
    callees = [b for a, b in sorted(est.edges) if a == info.name and est.services[b].kind == "external"]
    data: SeriesMap | None = run.result(
        src.telemetry.signals(
            info.name, info.kind, info.res(), w.since, w.now, info.instances, est.org, callees
        )
    )
    out = Harvest()
    if not data:
        return out
    for key, points in data.items():
        if key.instance is None:
            out.series.setdefault((key.service, key.signal), points)
    start = min(ts[0] for ts, _ in data.values() if ts)
    for s in assess_all(data, epoch(w.now), start):
        out.signals.append(s)
        if s.anomalous and s.onset is not None:
            run.emit(_metric_finding(s))
    return out


def _metric_finding(s: SignalState) -> Evidence:
    at = s.start or s.onset or 0
    return Evidence(
        kind=EvidenceKind.METRIC,
        service=s.service,
        summary=f"{s.describe()} since {_hhmm(at)}"
        + ("" if s.sustained else " (recovered)")
        + (" — a steady climb" if s.ramp else ""),
        at=utc(at),
        source="cloudwatch",
        signal=SignalKey(service=s.service, signal=s.signal, instance=s.instance, seen_from=s.seen_from),
        score=round(s.score, 1),
    )


def cloudtrail(src: Sources, run: Run, w: Window) -> Harvest:
    """Write events from CloudTrail (attributed to services later, against the estate), each with what it
    changed as far as AWS kept it (a stack update's change set); a detail that cannot be read is a gap."""
    trail = run.result(src.changes.cloudtrail(w.changes_from, w.now))
    changes: list[Change] = trail if trail is not None else _from_stacks(src, run, w)
    with ThreadPoolExecutor(DETAIL_READS) as pool:
        return Harvest(changes=list(pool.map(lambda c: run.result(src.changes.detail(c)) or c, changes)))


def _from_stacks(src: Sources, run: Run, w: Window) -> list[Change]:
    """When CloudTrail cannot be read: the updates each service's stack kept in its own events."""
    out: list[Change] = []
    for name, info in sorted(w.estate.services.items()):
        if info.stack:
            kept = run.result(src.changes.stack_updates(info.stack, w.changes_from, w.now)) or []
            out += [c.model_copy(update={"service": name}) for c in kept]
    return out


def deploys(src: Sources, run: Run, w: Window, repo: str, services: list[str]) -> Harvest:
    """A repository's deploy runs, one change per service it deploys."""
    if src.github is None:
        return Harvest()
    out = Harvest()
    for c in run.result(src.github.deploys(repo, w.changes_from, w.now)) or []:
        for svc in services:
            out.changes.append(c.model_copy(update={"service": svc, "summary": f"{svc}: {c.summary}"}))
    return out


def scaling(src: Sources, run: Run, w: Window, info: ServiceInfo) -> Harvest:
    """An Auto Scaling group's activities, said in the thread."""
    asg = info.res().asg
    if not asg:
        return Harvest()
    acts: list[Change] = run.result(src.changes.scaling_activities(asg, w.since)) or []
    if acts:
        first = min(epoch(a.at) for a in acts)
        run.emit(
            Evidence(
                kind=EvidenceKind.CHANGE,
                service=info.name,
                summary=f"{len(acts)} scaling activities on {asg} since {_hhmm(first)}: "
                f"{acts[0].summary} ({acts[0].cause or 'no cause given'})",
                at=acts[0].at,
                source="autoscaling",
                change=acts[0].model_copy(update={"service": info.name}),
            )
        )
    return Harvest()


def vendor_status(src: Sources, run: Run, name: str) -> Harvest:
    """A third party's status page."""
    assert src.status is not None
    st = run.result(src.status.status(name))
    if st is None:
        return Harvest()
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
    at = epoch(st.updated) if st.updated else None
    return Harvest(statuses=[StatusFact(name, st.state, st.message, at)])


def incident_start(signals: Iterable[SignalState], now: datetime, window_start: datetime | None) -> datetime:
    """Where the incident's logs begin: the steering window, else a little before the earliest sustained
    departure, else a quiet hour before the page."""
    if window_start is not None:
        return window_start
    onsets = [s.start or s.onset for s in signals if s.anomalous and s.sustained]
    starts = [t for t in onsets if t is not None]
    if not starts:
        return now - QUIET_INCIDENT
    return min(utc(min(starts)) - PRECURSOR, now - timedelta(minutes=5))


def logs(src: Sources, run: Run, w: Window, info: ServiceInfo, split: datetime) -> Harvest:
    """A service's warning and error lines, mined into templates counted before and from `split`."""
    recent_from = max(w.since, min(split, w.now - RECENT_LOGS))
    lines: list[Line] = []
    for group in info.log_groups:
        base = run.result(src.telemetry.log_lines(group, w.since, recent_from, limit=800)) or []
        recent = run.result(src.telemetry.log_lines(group, recent_from, w.now, limit=3000)) or []
        for rec in [*base, *recent]:
            level, text = split_level(rec.message)
            lines.append(Line(rec.time, level, text, _stream_label(rec.stream, info)))
    db = info.res().db_instance
    if db:  # what RDS recorded of the instance itself (a failover, a reboot) reads beside its own log
        for rec in run.result(src.telemetry.rds_events(db, w.since, w.now)) or []:
            lines.append(Line(rec.time, "WARN", rec.message, rec.stream))
    out = Harvest()
    for t in mine_templates(lines, epoch(split)):
        out.logs.append(
            LogFact(
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
        )
        if t.is_new or t.count > 3 * max(t.baseline_count, 1):
            where = f" at {t.frames[-1].file}:{t.frames[-1].line}" if t.frames else ""
            run.emit(
                Evidence(
                    kind=EvidenceKind.LOG,
                    service=info.name,
                    summary=f"{'new ' if t.is_new else ''}{t.level} ×{t.count} since {_hhmm(t.first_seen)}: "
                    f"{t.sample[:300]}{where}",
                    at=utc(t.first_seen),
                    source="logs",
                    log_template=t.template,
                    exception=t.exception,
                    log_group=info.log_groups[0] if info.log_groups else None,
                )
            )
    return out


def _stream_label(stream: str, info: ServiceInfo) -> str:
    """A log stream as the instance name people know (Name tag) when the stream is an instance id."""
    for label, iid in info.instances.items():
        if iid in stream or label in stream:
            return label
    return stream


def repos_of(estate: Estate, known: list[str]) -> dict[str, list[str]]:
    """Repository -> the services it deploys (a service's `repo` tag, else the one repo named after it)."""
    out: dict[str, list[str]] = {}
    for name, info in sorted(estate.services.items()):
        repo = info.repo or _repo_for(name, known)
        if repo:
            info.repo = repo
            out.setdefault(repo, []).append(name)
    return out


def _repo_for(service: str, repos: list[str]) -> str | None:
    """The repository named after a service (`owner/<service>`), when there is exactly one."""
    hits = [r for r in repos if r.rsplit("/", 1)[-1].lower() == service.lower()]
    return hits[0] if len(hits) == 1 else None


def instances_of(estate: Estate) -> list[InstanceFact]:
    """Every named instance or task, when it launched and when it stopped."""
    return [
        InstanceFact(
            name,
            label,
            epoch(launched),
            epoch(info.stopped[label]) if label in info.stopped else None,
            info.zones.get(label),
        )
        for name, info in sorted(estate.services.items())
        for label, launched in sorted(info.launched.items())
    ]


def gather_all(
    pool: ThreadPoolExecutor, src: Sources, run: Run, w: Window, window_start: datetime | None
) -> Harvest:
    """Every source in parallel; logs once the metrics say where the incident begins."""
    est = w.estate
    first: list[Future[Harvest]] = []
    measured: list[Future[Harvest]] = []

    def submit(into: list[Future[Harvest]], fn: Callable[..., Harvest], *args: Any) -> None:
        into.append(pool.submit(fn, src, run, *args))

    for name in sorted(est.services):
        info = est.services[name]
        if info.kind == "external" and src.status is not None and name in src.status.pages:
            submit(first, vendor_status, name)
        if info.kind != "external":
            submit(measured, metrics, w, info)
        submit(first, scaling, w, info)
    submit(first, cloudtrail, w)
    known = (run.result(src.github.accessible_repos()) or []) if src.github else []
    for repo, services in sorted(repos_of(est, known).items()):
        submit(first, deploys, w, repo, services)
    out = Harvest()
    for f in measured:
        out.merge(f.result())
    split = incident_start(out.signals, w.now, window_start)
    later = [
        pool.submit(logs, src, run, w, est.services[n], split)
        for n in sorted(est.services)
        if est.services[n].log_groups
    ]
    for f in [*first, *later]:
        out.merge(f.result())
    return out
