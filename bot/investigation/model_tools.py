"""The read-only tools the model investigates with: the engine's own evidence readers (metrics, logs,
changes, topology, status pages, GitHub deploys) over one estate, plus the skills and the steering files.
Plain typed methods with docstrings: `bot.llm.tools` turns them into JSON schemas.

Times are relative to `now` (the page's time in an investigation, the clock for a question): `minutes`
reaches back from it. Every method only reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain import Change, Evidence
from bot.investigation.attribution import attribute
from bot.investigation.engine import Gathered, Investigator
from bot.llm.tools import Tool, tool
from bot.sources.aws.changes import AwsChanges
from bot.sources.aws.telemetry import Telemetry
from bot.sources.aws.topology import Estate, ServiceInfo
from bot.sources.github import GithubSource
from bot.sources.knowledge import Knowledge
from bot.sources.result import ToolResult
from bot.sources.status import StatusPages


class ToolError(Exception):
    """A tool could not answer; the message tells the model why and what to try."""


def _data(r: ToolResult[Any]) -> Any:
    if not r.ok:
        raise ToolError(f"{r.source}: {r.message or r.status.value}")
    return r.data


@dataclass(frozen=True)
class Readers:
    """The read-only adapters the tools call (the investigator's own, built once per process)."""

    telemetry: Telemetry
    changes: AwsChanges
    github: GithubSource | None = None
    status: StatusPages | None = None

    @staticmethod
    def of(inv: Investigator) -> Readers:
        """The investigator's readers."""
        return Readers(inv.telemetry, inv.changes, inv.deps.github, inv.deps.status)


class EvidenceTools:
    """The read-only tools over one estate, at one moment (`now`), with what was recorded so far."""

    def __init__(
        self,
        readers: Readers,
        estate: Estate,
        now: datetime,
        knowledge: Knowledge,
        *,
        findings: Sequence[Evidence] = (),
        recorded_changes: Sequence[Change] = (),
        subjects: Sequence[str | None] = (),
    ) -> None:
        self.r = readers
        self.estate = estate
        self.now = now
        self.knowledge = knowledge
        self.findings = list(findings)
        self.recorded = list(recorded_changes)
        self.subjects = list(subjects)

    @staticmethod
    def of_investigation(inv: Investigator, g: Gathered, knowledge: Knowledge) -> EvidenceTools:
        """The tools for an investigation: its estate at the page's time, with its findings and changes."""
        return EvidenceTools(
            Readers.of(inv),
            g.estate,
            g.page.fired_at,
            knowledge,
            findings=g.findings,
            recorded_changes=g.facts.changes,
            subjects=[g.page.alarm_name, g.facts.alarm_service],
        )

    def _service(self, service: str) -> ServiceInfo:
        info = self.estate.services.get(service)
        if info is None:
            known = ", ".join(sorted(self.estate.services))
            raise ToolError(f"no service {service!r}; the services are: {known}")
        return info

    def topology(self) -> dict[str, Any]:
        """Every service: its kind, whom it calls, its repository and log groups."""
        est = self.estate
        return {
            name: {
                "kind": info.kind,
                "calls": sorted(b for a, b in est.edges if a == name),
                "repo": info.repo,
                "log_groups": info.log_groups,
            }
            for name, info in sorted(est.services.items())
        }

    def metrics(self, service: str, minutes: int = 120) -> dict[str, Any]:
        """A service's catalogued CloudWatch signals up to the page: first, lowest, highest and last value.

        Args:
            service: the service's name (see topology)
            minutes: how far back from the page to read (at most 1440)
        """
        info = self._service(service)
        since = self.now - timedelta(minutes=max(5, min(minutes, 1440)))
        series = _data(self.r.telemetry.signals(service, info.kind, info.res(), since, self.now)) or {}
        return {
            key.label(): {"first": vs[0], "min": min(vs), "max": max(vs), "last": vs[-1], "points": len(vs)}
            for key, (_, vs) in sorted(series.items(), key=lambda kv: kv[0].label())
            if vs
        }

    def search_logs(self, service: str, terms: list[str], minutes: int = 60, limit: int = 50) -> list[str]:
        """Log lines of a service's log groups that contain any of the terms, oldest first.

        Args:
            service: the service's name (see topology)
            terms: words to look for, e.g. ["ERROR", "Timeout"]
            minutes: how far back from the page to search (at most 1440)
            limit: the most lines to return
        """
        info = self._service(service)
        if not info.log_groups:
            raise ToolError(f"{service} has no log group")
        since = self.now - timedelta(minutes=max(1, min(minutes, 1440)))
        out: list[str] = []
        for group in info.log_groups:
            for rec in _data(self.r.telemetry.log_lines(group, since, self.now, terms, limit)) or []:
                out.append(f"{rec.time} {rec.stream}: {rec.message[:400]}")
        return out[-max(1, limit) :]

    def changes(self, minutes: int = 180, service: str | None = None) -> list[dict[str, Any]]:
        """Changes before now: those recorded (deploys, scaling) and CloudTrail's writes, newest first.

        Args:
            minutes: how far back from now (at most 1440)
            service: only this service's changes
        """
        since = self.now - timedelta(minutes=max(1, min(minutes, 1440)))
        live = attribute(_data(self.r.changes.cloudtrail(since, self.now, limit=200)) or [], self.estate)
        known = {c.id for c in self.recorded}
        picked = [
            c
            for c in [*self.recorded, *(c for c in live if c.id not in known)]
            if since <= c.at <= self.now and (service is None or c.service == service)
        ]
        picked.sort(key=lambda c: c.at, reverse=True)
        keep = ("id", "at", "service", "summary", "action", "actor", "commit", "files", "changed", "resource")
        return [c.model_dump(mode="json", include=set(keep), exclude_none=True) for c in picked]

    def deploys(self, repo: str, hours: int = 6) -> list[dict[str, Any]]:
        """GitHub deploy runs of a repository before the page, with the commit and files each shipped.

        Args:
            repo: owner/name, as topology lists it
            hours: how far back from the page
        """
        if self.r.github is None:
            raise ToolError("GitHub is not configured")
        since = self.now - timedelta(hours=max(1, min(hours, 48)))
        found = _data(self.r.github.deploys(repo, since, self.now)) or []
        return [c.model_dump(mode="json", include={"id", "at", "summary", "commit", "files"}) for c in found]

    def vendor_status(self, vendor: str) -> dict[str, Any]:
        """A third party's status page now: its state and message.

        Args:
            vendor: the external service's name (kind `external` in topology)
        """
        if self.r.status is None:
            raise ToolError("no status pages are configured")
        s = _data(self.r.status.status(vendor))
        return {"service": s.service, "state": s.state, "message": s.message}

    def recorded_evidence(self, service: str | None = None) -> list[str]:
        """The findings the engine recorded in this investigation.

        Args:
            service: only this service's findings
        """
        return [_line(e) for e in self.findings if service is None or e.service == service]

    def list_skills(self) -> list[dict[str, str]]:
        """The investigation skills (runbooks): name and when each applies."""
        return [{"name": s.name, "description": s.description} for s in self.knowledge.skills()]

    def read_skill(self, name: str) -> str:
        """A skill's runbook: the queries to run and the evidence that confirms or rules out its hypothesis.

        Args:
            name: the skill's name (see list_skills)
        """
        return self.knowledge.skill(name).body()

    def read_steering(self, name: str | None = None) -> Any:
        """The organisation's steering files: without a name, those that apply to this page; with one, its text.

        Args:
            name: a steering file's name
        """
        if name:
            return self.knowledge.steering_file(name).body()
        subjects = [*self.estate.services, *self.subjects]
        return [
            {"name": f.name, "title": f.title, "always": f.always}
            for f in self.knowledge.steering()
            if f.applies(*subjects)
        ]

    def tools(self) -> list[Tool]:
        """All of them, as tools."""
        names = ["topology", "metrics", "search_logs", "changes", "deploys", "vendor_status",
                 "recorded_evidence", "list_skills", "read_skill", "read_steering"]  # fmt: skip
        return [tool(getattr(self, n)) for n in names]


def _line(e: Evidence) -> str:
    when = e.at.strftime("%H:%M") if e.at else "--:--"
    return f"[{when}] {e.kind.value} {e.service or '-'}: {e.summary}"
