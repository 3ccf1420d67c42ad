"""Answer questions about the environment from the read-only tools, without an LLM.

Understood (case-insensitive, a service named anywhere in the question):
- "what changed / what was deployed for <service> [in the last N hours]";
- "which instances / tasks does <service> have" (and which were replaced in the window);
- "status / health / signals of <service>";
- "open investigations" (or just "status");
- "investigate <service or alarm>", which the surface turns into a new investigation;
- "help".
Anything else is answered with what can be asked, never guessed at -- or, when a model is configured
(ANTHROPIC_API_KEY), by the model with the same read-only tools (`bot.investigation.ask`), grounded in what
they returned. Answers are plain, untrusted text: the surface escapes them before posting.

It reads through the adapters the process built once (the investigation engine's), so questions and
investigations share one topology cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.analysis.signals import assess_all
from bot.config import REPO_ROOT
from bot.domain import Gap, Page, PageSource
from bot.investigation.ask import ask_model
from bot.investigation.model_tools import EvidenceTools, Readers
from bot.investigation.ports import Investigations
from bot.llm.runtime import ModelRuntime
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.telemetry import Telemetry
from bot.sources.aws.topology import Estate, ServiceInfo, TopologyReader
from bot.sources.github import GithubSource
from bot.sources.knowledge import Knowledge
from bot.sources.status import StatusPages

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


#: Lines found by one read, and what it could not read.
_Lines = tuple[list[str], Gap | None]


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


def _revision(deployment: dict[str, Any]) -> str:
    """An ECS deployment's task definition, as `family:revision`."""
    return str(deployment.get("taskDefinition", "?")).rsplit("/", 1)[-1]


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
        topology: TopologyReader,
        telemetry: Telemetry,
        changes: AwsChanges,
        github: GithubSource | None,
        investigations: Investigations,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        estate_ttl: float = 60.0,
        model: ModelRuntime | None = None,
        knowledge: Knowledge | None = None,
        status: StatusPages | None = None,
    ) -> None:
        self.topology = topology
        self.telemetry = telemetry
        self.changes = changes
        self.github = github
        self.investigations = investigations
        self.clock = clock
        self.estate_ttl = estate_ttl
        self.model = model
        self.knowledge = knowledge or Knowledge(REPO_ROOT / "skills", REPO_ROOT / "steering")
        self.status = status

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
        if self.model is not None and (not wants or service is None):
            return self.free_form(text, estate)
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
            return self.changes_of(info, window, estate)
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

    def free_form(self, text: str, estate: Estate) -> Answer:
        """A question the parser does not understand, answered by the model with the read-only tools."""
        assert self.model is not None
        readers = Readers(self.telemetry, self.changes, self.github, self.status)
        got = ask_model(self.model, EvidenceTools(readers, estate, self.clock(), self.knowledge), text)
        return Answer("Answer (model)", got.text_lines(), understood=got.available)

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

    def changes_of(self, info: ServiceInfo, window: timedelta, estate: Estate) -> Answer:
        """Deploys (GitHub, ECS) and AWS API changes touching a service in the window."""
        now = self.clock()
        since = now - window
        lines: list[str] = []
        gaps: list[str] = []
        for read in (self._deploys, self._ecs_deployments, self._api_changes):
            found, gap = read(info, since, now, estate)
            lines += found
            if gap is not None:
                gaps.append(f"{gap.source}: {gap.reason}")
        lines.sort(key=lambda s: s[:9], reverse=True)
        if not lines:
            lines = [f"No deploys or API changes found for {info.name} in the last {_ago(window)}."]
        lines += [f"could not check {g}" for g in gaps]
        return Answer(f"Changes to {info.name} in the last {_ago(window)}", lines[:30])

    def _deploys(self, info: ServiceInfo, since: datetime, now: datetime, estate: Estate) -> _Lines:
        """The service's repository's deploys."""
        if not info.repo or self.github is None:
            return [], None
        r = self.github.deploys(info.repo, since, now)
        return [f"{_hhmm(c.at)} deploy ({info.repo}): {c.summary}" for c in r.unwrap_or([])], r.gap()

    def _ecs_deployments(self, info: ServiceInfo, since: datetime, now: datetime, estate: Estate) -> _Lines:
        """The ECS service's latest deployments."""
        res = info.res()
        if not res.cluster or not res.ecs_service:
            return [], None
        r = self.changes.ecs_deployments(res.cluster, res.ecs_service)
        lines = []
        for d in r.unwrap_or([])[:3]:
            created = d.get("createdAt")
            when = _hhmm(created) if isinstance(created, datetime) else "?"
            lines.append(
                f"{when} ECS deployment {d.get('status', '?').lower()}: {_revision(d)}"
                f" ({d.get('runningCount', '?')}/{d.get('desiredCount', '?')} running)"
            )
        return lines, r.gap()

    def _api_changes(self, info: ServiceInfo, since: datetime, now: datetime, estate: Estate) -> _Lines:
        """CloudTrail's write events on the service's resources."""
        r = self.changes.cloudtrail(since, now)
        lines = [
            f"{_hhmm(c.at)} {c.summary}"
            for c in r.unwrap_or([])
            if (estate.service_of(c.resource or "") or estate.service_of(c.summary)) == info.name
        ]
        return lines, r.gap()

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
                    f"ECS {res.cluster}/{res.ecs_service}: {_revision(d)} "
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

    # -- the estate -------------------------------------------------------------------------------------------

    def estate(self) -> Estate:
        """The estate from the shared topology cache, discovered again when older than `estate_ttl` seconds."""
        now = self.clock()
        return self.topology.cached(now - timedelta(hours=1), now, ttl_s=self.estate_ttl)
