"""Answer questions about the environment from the read-only tools, without an LLM.

Understood (case-insensitive, a service named anywhere in the question):
- "what changed / what was deployed for <service> [in the last N hours]";
- "which instances / tasks does <service> have" (and which were replaced in the window);
- "status / health / signals of <service>";
- "open investigations" (or just "status");
- "investigate <service or alarm>", which the surface turns into a new investigation;
- "help".
Anything else is answered with what can be asked, never guessed at. Answers are plain, untrusted text:
the surface escapes them before posting.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.analysis.signals import assess_all
from bot.domain import Page, PageSource
from bot.investigation.ports import Investigations
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.telemetry import Telemetry
from bot.sources.aws.topology import Estate, ServiceInfo, TopologyReader
from bot.sources.github import GithubSource

DEFAULT_HOURS = 6
MAX_HOURS = 72
HELP_LINES = [
    "what changed for <service> in the last 6 hours",
    "what is deployed for <service>",
    "which instances / tasks does <service> have (and which were replaced)",
    "status of <service> (its signals against their baseline)",
    "open investigations",
    "investigate <service or alarm>",
]

_INVESTIGATE = re.compile(
    r"^\s*(?:please\s+)?(?:investigate|look\s+into|dig\s+into)\s+(.+?)\s*[.?!]*\s*$", re.I
)
_WINDOW = re.compile(r"\b(?:last|past)\s+(\d{1,3})\s*(h|hrs?|hours?|m|mins?|minutes?|d|days?)\b", re.I)
_WINDOW_WORD = re.compile(r"\b(?:last|past)\s+(hour|day)\b", re.I)
_OPEN = re.compile(
    r"\b(open|running|active|current)\s+(investigations?|incidents?)\b|^\s*status\s*[?.!]*\s*$", re.I
)
_CHANGES = re.compile(r"\b(chang\w*|deploy\w*|shipp\w*|releas\w*|rolled\s+out)\b", re.I)
_INSTANCES = re.compile(r"\b(instances?|tasks?|hosts?|nodes?|containers?|replaced|churn)\b", re.I)
_SIGNALS = re.compile(r"\b(status|health\w*|signals?|metrics?|how\s+is|how's|doing|ok)\b", re.I)
_HELP = re.compile(r"^\s*(help|\?|what can you do\??)\s*$", re.I)


@dataclass(frozen=True)
class Answer:
    """An answer: a title and plain-text lines (untrusted), or a request to start an investigation."""

    title: str
    lines: list[str] = field(default_factory=list)
    understood: bool = True
    investigate: str | None = None


def window_of(text: str, default_hours: int = DEFAULT_HOURS) -> timedelta:
    """The time window a question names ("last 3 hours", "past 30 minutes", "last day"), capped at 72 h."""
    m = _WINDOW.search(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        delta = (
            timedelta(minutes=n)
            if unit.startswith("m")
            else timedelta(days=n)
            if unit.startswith("d")
            else timedelta(hours=n)
        )
    elif (w := _WINDOW_WORD.search(text)) is not None:
        delta = timedelta(hours=1) if w.group(1).lower() == "hour" else timedelta(days=1)
    else:
        delta = timedelta(hours=default_hours)
    return max(timedelta(minutes=1), min(delta, timedelta(hours=MAX_HOURS)))


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} days"


def _hhmm(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M UTC")


def manual_page(target: str, now: datetime, *, alarm: bool) -> Page:
    """The page for an investigation started by hand on a service or an alarm."""
    target = target.strip().strip("`'\"")[:200]
    return Page(
        source=PageSource.MANUAL,
        title=f"Manual investigation: {target}",
        fired_at=now,
        alarm_name=target if alarm else None,
        state="ALARM" if alarm else None,
        service_hint=None if alarm else target,
    )


class Questions:
    """Answers environment questions from the same read-only tools the investigation uses."""

    def __init__(
        self,
        aws: AwsClients,
        github: GithubSource | None,
        investigations: Investigations,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        estate_ttl: float = 60.0,
    ) -> None:
        self.topology = TopologyReader(aws)
        self.telemetry = Telemetry(aws)
        self.changes = AwsChanges(aws)
        self.github = github
        self.investigations = investigations
        self.clock = clock
        self.estate_ttl = estate_ttl
        self._estate: tuple[float, Estate] | None = None
        self._lock = threading.Lock()

    # -- entry points -----------------------------------------------------------------------------------------

    def answer(self, text: str) -> Answer:
        """Answer one question (the mention already stripped of the bot's name)."""
        text = " ".join(text.split())
        if not text or _HELP.match(text):
            return Answer("Here is what I can answer", HELP_LINES)
        m = _INVESTIGATE.match(text)
        if m:
            return Answer(f"Starting an investigation of {m.group(1)}", investigate=m.group(1))
        if _OPEN.search(text):
            return self.open_investigations()
        estate = self.estate()
        service = estate.service_of(text)
        wants = [
            k
            for k, rx in (("changes", _CHANGES), ("instances", _INSTANCES), ("signals", _SIGNALS))
            if rx.search(text)
        ]
        if not wants:
            return self.cannot(text)
        if service is None:
            known = (
                ", ".join(sorted(n for n, i in estate.services.items() if i.kind != "external"))
                or "none found"
            )
            return Answer(
                "Which service?",
                [f"I could not tell which service you mean. Services I know: {known}."],
                understood=False,
            )
        window = window_of(text)
        info = estate.services[service]
        if wants[0] == "changes":
            return self.changes_of(info, window)
        if wants[0] == "instances":
            return self.instances_of(info, window)
        return self.signals_of(info, estate)

    def cannot(self, text: str) -> Answer:
        """What to say when the question is not one of the understood kinds."""
        return Answer(
            "I can't answer that yet",
            ["Without a language model I understand these questions:", *HELP_LINES],
            understood=False,
        )

    def is_alarm(self, target: str) -> bool:
        """Whether `target` names a CloudWatch alarm (else it is taken as a service)."""
        r = self.telemetry.alarm(target.strip().strip("`'\""))
        return r.data is not None

    # -- answers ----------------------------------------------------------------------------------------------

    def open_investigations(self) -> Answer:
        """The investigations not yet resolved."""
        rows = self.investigations.open_investigations()
        if not rows:
            return Answer("No open investigations", ["Nothing is being investigated right now."])
        lines = [
            f"{r.title} · {r.service or 'service unknown'} · {r.status} · since {r.started_at}"
            for r in rows[:20]
        ]
        return Answer(f"{len(rows)} open investigation{'s' if len(rows) != 1 else ''}", lines)

    def changes_of(self, info: ServiceInfo, window: timedelta) -> Answer:
        """Deploys (GitHub, ECS) and AWS API changes touching a service in the window."""
        now = self.clock()
        since = now - window
        lines: list[str] = []
        gaps: list[str] = []
        if info.repo and self.github is not None:
            r = self.github.deploys(info.repo, since, now)
            for c in r.unwrap_or([]):
                lines.append(f"{_hhmm(c.at)} deploy ({info.repo}): {c.summary}")
            if (g := r.gap()) is not None:
                gaps.append(f"{g.source}: {g.reason}")
        res = info.res()
        if res.cluster and res.ecs_service:
            r2 = self.changes.ecs_deployments(res.cluster, res.ecs_service)
            for d in r2.unwrap_or([])[:3]:
                created = d.get("createdAt")
                when = _hhmm(created) if isinstance(created, datetime) else "?"
                lines.append(
                    f"{when} ECS deployment {d.get('status', '?').lower()}: {str(d.get('taskDefinition', '?')).rsplit('/', 1)[-1]}"
                    f" ({d.get('runningCount', '?')}/{d.get('desiredCount', '?')} running)"
                )
            if (g := r2.gap()) is not None:
                gaps.append(f"{g.source}: {g.reason}")
        r3 = self.changes.cloudtrail(since, now)
        estate = self.estate()
        for c in r3.unwrap_or([]):
            owner = estate.service_of(c.resource or "") or estate.service_of(c.summary)
            if owner == info.name:
                lines.append(f"{_hhmm(c.at)} {c.summary}")
        if (g := r3.gap()) is not None:
            gaps.append(f"{g.source}: {g.reason}")
        lines.sort(key=lambda s: s[:9], reverse=True)
        if not lines:
            lines = [f"No deploys or API changes found for {info.name} in the last {_ago(window)}."]
        lines += [f"could not check {g}" for g in gaps]
        return Answer(f"Changes to {info.name} in the last {_ago(window)}", lines[:30])

    def instances_of(self, info: ServiceInfo, window: timedelta) -> Answer:
        """Instances (with launch times, recent ones marked) or the ECS service's task deployments."""
        now = self.clock()
        lines: list[str] = []
        for label, iid in sorted(info.instances.items()):
            launched = info.launched.get(label)
            recent = launched is not None and now - launched <= window
            when = f"launched {_ago(now - launched)} ago" if launched else "launch time unknown"
            lines.append(f"{label} ({iid}) {when}" + (" · replaced recently" if recent else ""))
        res = info.res()
        if res.cluster and res.ecs_service:
            for d in self.changes.ecs_deployments(res.cluster, res.ecs_service).unwrap_or([])[:3]:
                lines.append(
                    f"ECS {res.cluster}/{res.ecs_service}: {str(d.get('taskDefinition', '?')).rsplit('/', 1)[-1]} "
                    f"{d.get('status', '?').lower()}, {d.get('runningCount', '?')}/{d.get('desiredCount', '?')} tasks running"
                )
        if res.asg:
            acts = self.changes.scaling_activities(res.asg, now - window).unwrap_or([])
            lines += [f"{_hhmm(a.at)} {a.summary}" for a in acts[:10]]
        if res.function:
            lines.append(f"Lambda function {res.function} (no instances to list)")
        if not lines:
            lines = [f"I found no instances or tasks for {info.name} ({info.kind})."]
        return Answer(f"What {info.name} runs on", lines[:30])

    def signals_of(self, info: ServiceInfo, estate: Estate) -> Answer:
        """Each signal of the service over the last hour against its own baseline, departures first."""
        now = self.clock()
        start = now - timedelta(hours=3)
        r = self.telemetry.signals(info.name, info.kind, info.res(), start, now)
        data = r.data or {}
        if not data:
            reason = r.message or "no datapoints"
            return Answer(
                f"Signals of {info.name}", [f"I could not read its signals: {reason}."], understood=True
            )
        states = assess_all(data, int(now.timestamp()), int(start.timestamp()))
        bad = [s for s in states if s.anomalous]
        lines = [
            f"⚠ {s.describe()} since {_hhmm(datetime.fromtimestamp(s.start or s.onset or 0, UTC))}"
            + ("" if s.sustained else " (recovered)")
            for s in bad
        ]
        ok = [s.signal for s in states if not s.anomalous]
        if ok:
            lines.append(f"within baseline: {', '.join(ok)}")
        title = (
            f"{info.name}: {len(bad)} signal{'s' if len(bad) != 1 else ''} off baseline"
            if bad
            else f"{info.name} looks normal"
        )
        return Answer(title, lines)

    # -- the estate, cached -----------------------------------------------------------------------------------

    def estate(self) -> Estate:
        """The discovered estate, refreshed at most every `estate_ttl` seconds."""
        with self._lock:
            cached = self._estate
            if cached is not None and time.monotonic() - cached[0] < self.estate_ttl:
                return cached[1]
            now = self.clock()
            estate = self.topology.discover(now - timedelta(hours=1), now)
            self._estate = (time.monotonic(), estate)
            return estate
