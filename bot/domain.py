"""The domain: pages, the estate's topology, evidence, hypotheses, reports and plans. No I/O.

Times are timezone-aware UTC datetimes. Every model serialises to JSON (`model_dump(mode="json")`) so it
can be stored, sent between processes and rendered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base for domain models: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Category(StrEnum):
    """What kind of fault an incident was (the scenario format's categories)."""

    BAD_DEPLOYMENT = "bad-deployment"
    CONFIG_CHANGE = "config-change"
    MANUAL_CHANGE = "manual-change"
    PERMISSION_CHANGE = "permission-change"
    RESOURCE_EXHAUSTION = "resource-exhaustion"
    CAPACITY = "capacity"
    DEPENDENCY_FAILURE = "dependency-failure"
    INFRASTRUCTURE_FAILURE = "infrastructure-failure"
    FALSE_ALARM = "false-alarm"


class Mitigation(StrEnum):
    """The first thing to do about it."""

    ROLLBACK = "rollback"
    REVERT_CONFIG = "revert-config"
    REVERT_PERMISSION = "revert-permission"
    REPLACE_INSTANCE = "replace-instance"
    RESTART = "restart"
    SCALE_OUT = "scale-out"
    FAILOVER = "failover"
    WAIT = "wait"
    NONE = "none"


class PageSource(StrEnum):
    """Where a page came from."""

    CLOUDWATCH = "cloudwatch"
    PAGERDUTY = "pagerduty"
    MANUAL = "manual"


class Page(Model):
    """One page: an alarm or incident that asks for an investigation."""

    source: PageSource
    title: str
    fired_at: datetime
    alarm_name: str | None = None
    state: str | None = None
    service_hint: str | None = None
    metric: str | None = None
    namespace: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    severity: str | None = None
    incident_number: str | None = None
    incident_id: str | None = None
    links: list[str] = Field(default_factory=list)
    channel: str | None = None
    message_ts: str | None = None
    region: str | None = None

    def fingerprint(self) -> str:
        """A stable id for 'the same problem': repeated deliveries of one page share it."""
        key = self.incident_id or self.alarm_name or self.title
        stamp = self.fired_at.strftime("%Y%m%dT%H")
        raw = f"{self.source.value}|{key}|{stamp}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class ServiceKind(StrEnum):
    """How a service runs."""

    ECS = "ecs"
    ASG = "asg"
    LAMBDA = "lambda"
    DYNAMODB = "dynamodb"
    RDS = "rds"
    SQS = "sqs"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class Resource(Model):
    """An AWS resource that belongs to a service."""

    type: str
    id: str
    arn: str | None = None
    name: str | None = None


def reachable(start: str, callees: Callable[[str], list[str]]) -> list[str]:
    """`start` and every node reachable from it through `callees`, breadth first, in callee order."""
    seen = [start]
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for callee in callees(node):
                if callee not in seen:
                    seen.append(callee)
                    nxt.append(callee)
        frontier = nxt
    return seen


class Service(Model):
    """A service of the estate, as discovered."""

    name: str
    kind: ServiceKind = ServiceKind.UNKNOWN
    calls: tuple[str, ...] = ()
    repo: str | None = None
    resources: tuple[Resource, ...] = ()


class Topology(Model):
    """The estate: services and who calls whom."""

    services: tuple[Service, ...] = ()

    def get(self, name: str) -> Service | None:
        """The service called `name`, if any."""
        return next((s for s in self.services if s.name == name), None)

    def names(self) -> list[str]:
        """Service names, sorted."""
        return sorted(s.name for s in self.services)

    def callees(self, name: str) -> list[str]:
        """Services that `name` calls directly, sorted."""
        svc = self.get(name)
        return sorted(svc.calls) if svc else []

    def callers(self, name: str) -> list[str]:
        """Services that call `name` directly, sorted."""
        return sorted(s.name for s in self.services if name in s.calls)

    def downstream(self, name: str) -> list[str]:
        """`name` and every service it reaches through calls, breadth first, deterministic."""
        return reachable(name, self.callees)


class EvidenceKind(StrEnum):
    """What a piece of evidence is about."""

    METRIC = "metric"
    CHANGE = "change"
    LOG = "log"
    TRACE = "trace"
    STATUS = "status"
    TOPOLOGY = "topology"
    NOTE = "note"


class Evidence(Model):
    """One finding, recorded the moment it is found."""

    kind: EvidenceKind
    service: str | None
    summary: str
    at: datetime | None = None
    source: str = ""
    detail: dict[str, str] = Field(default_factory=dict)
    link: str | None = None


class Change(Model):
    """Something that changed in the estate."""

    id: str
    service: str | None
    at: datetime
    via: str
    summary: str
    actor: str | None = None
    commit: str | None = None
    files: tuple[str, ...] = ()
    resource: str | None = None
    link: str | None = None
    revert_hint: str | None = None


class Gap(Model):
    """Data the investigation could not read, and why."""

    source: str
    reason: str


class Hypothesis(Model):
    """A candidate root cause with its confidence and the evidence for it."""

    service: str | None
    category: Category
    confidence: float
    summary: str
    change_id: str | None = None
    evidence: tuple[str, ...] = ()


class RuledOut(Model):
    """Something that looked suspicious and why it is not the cause."""

    subject: str
    reason: str
    ref: str | None = None


class Phase(StrEnum):
    """The phases of a mitigation plan."""

    PREPARE = "prepare"
    PRE_VALIDATE = "pre-validate"
    APPLY = "apply"
    POST_VALIDATE = "post-validate"
    ROLLBACK = "rollback"


class PlanStep(Model):
    """One step of a plan; `action` names an executable catalogue action when it can be run by the bot."""

    phase: Phase
    description: str
    action: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    mutating: bool = False


class Plan(Model):
    """A mitigation plan: what to do now, how to check it, how to undo it, and the long-term fix."""

    mitigation: Mitigation
    summary: str
    steps: tuple[PlanStep, ...] = ()
    long_term_fix: str = ""

    def phase(self, phase: Phase) -> list[PlanStep]:
        """The steps of one phase, in order."""
        return [s for s in self.steps if s.phase == phase]


class TimelineEntry(Model):
    """One dated line of the incident's story."""

    at: datetime
    text: str


class Report(Model):
    """What an investigation concluded."""

    page_title: str
    impact: str
    root_cause: Hypothesis | None
    hypotheses: tuple[Hypothesis, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    ruled_out: tuple[RuledOut, ...] = ()
    gaps: tuple[Gap, ...] = ()
    plan: Plan | None = None
    version: int = 1

    def ranking(self) -> list[str]:
        """Services in the order the investigation suspects them."""
        out: list[str] = []
        for h in self.hypotheses:
            if h.service and h.service not in out:
                out.append(h.service)
        return out
