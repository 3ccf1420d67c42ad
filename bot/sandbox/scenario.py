"""Load and validate incident scenarios (`scenario/1`, ../shared/scenarios/FORMAT.md — a contract).

A bad file fails before anything starts, with the file, the key and what was expected:
`ScenarioError("forge.yaml: events[3].change.via: expected one of github-actions, ... (got 'ftp')")`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SIGNALS: tuple[str, ...] = (
    "requests_per_min",
    "error_rate",
    "latency_p50_ms",
    "latency_p99_ms",
    "cpu_pct",
    "memory_pct",
    "throttles_per_min",
    "queue_depth",
    "oldest_message_age_s",
    "connections",
    "healthy_hosts",
)
Kind = Literal["ecs", "asg", "lambda", "dynamodb", "rds", "sqs", "external"]
Via = Literal["github-actions", "cloudformation", "parameter", "console", "ssm-session", "iam", "scaling"]
CategoryName = Literal[
    "bad-deployment",
    "config-change",
    "manual-change",
    "permission-change",
    "resource-exhaustion",
    "capacity",
    "dependency-failure",
    "infrastructure-failure",
    "false-alarm",
]
MitigationName = Literal[
    "rollback",
    "revert-config",
    "revert-permission",
    "replace-instance",
    "restart",
    "scale-out",
    "failover",
    "wait",
    "none",
]
CATEGORIES: tuple[str, ...] = get_args(CategoryName)
MITIGATIONS: tuple[str, ...] = get_args(MitigationName)


class ScenarioError(Exception):
    """A scenario file is not valid; the message names the file, the key and what was expected."""


class Strict(BaseModel):
    """Base: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(Strict):
    region: str = "us-east-1"
    account_id: str = "123456789012"
    org: str = "acme"


class ServiceSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Kind
    calls: list[str] = Field(default_factory=list)
    repo: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    deploy: Literal["github-actions", "cloudformation", "manual"] | None = None
    instances: int = Field(default=3, ge=1, le=50)
    baseline: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _signals_known(self) -> ServiceSpec:
        for key in self.baseline:
            if key not in SIGNALS:
                raise ValueError(f"baseline.{key}: unknown signal; expected one of {', '.join(SIGNALS)}")
        return self

    @property
    def deploys_via(self) -> str:
        """How the service ships (the format's default: github-actions when it has a repo)."""
        return self.deploy or ("github-actions" if self.repo else "manual")


class Commit(Strict):
    sha: str = Field(pattern=r"^[0-9a-fA-F]{6,40}$")
    message: str
    author: str
    files: dict[str, str] = Field(default_factory=dict)


class Parameter(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)
    name: str
    old: str | None = None
    new: str


class ActorSpec(Strict):
    """Who made a change (optional): a person, a pipeline's role session, or an AWS service acting itself."""

    kind: Literal["person", "pipeline", "aws-service"]
    name: str = Field(min_length=1)
    role: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")


class ChangeSpec(Strict):
    service: str
    via: Via
    commit: Commit | None = None
    stack_change: str | None = None
    parameter: Parameter | None = None
    action: str | None = None
    resource: str | None = None
    user: str | None = None
    detail: str | None = None
    instance: str | None = None
    policy: str | None = None
    desired: int | None = Field(default=None, ge=0)
    actor: ActorSpec | None = None

    @model_validator(mode="after")
    def _needs(self) -> ChangeSpec:
        need = {
            "github-actions": ["commit"],
            "cloudformation": ["stack_change"],
            "parameter": ["parameter"],
            "console": ["action"],
            "ssm-session": ["instance"],
            "iam": ["action"],
            "scaling": ["desired"],
        }[self.via]
        for key in need:
            if getattr(self, key) is None:
                raise ValueError(f"{key}: required when via is {self.via}")
        return self


class EffectSpec(BaseModel):
    """`effect`: signal levels from `at` on. Signals are free keys, checked against SIGNALS."""

    model_config = ConfigDict(extra="allow", frozen=True)
    service: str
    instance: str | None = None
    ramp: float = Field(default=1, ge=0)
    until: float | None = None

    @model_validator(mode="after")
    def _signals(self) -> EffectSpec:
        extra = self.model_extra or {}
        if not extra:
            raise ValueError(f"an effect needs at least one signal; expected one of {', '.join(SIGNALS)}")
        for key, value in extra.items():
            if key not in SIGNALS:
                raise ValueError(
                    f"{key}: unknown key; expected a signal ({', '.join(SIGNALS)}) or service/instance/ramp/until"
                )
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key}: expected a number (got {value!r})")
        return self

    @property
    def levels(self) -> dict[str, float]:
        """Signal -> new level."""
        return {k: float(v) for k, v in (self.model_extra or {}).items()}


class LogsSpec(Strict):
    service: str
    level: Literal["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"]
    message: str
    rate_per_min: float = Field(gt=0)
    stack: str | None = None
    instance: str | None = None
    until: float | None = None
    delay_minutes: float = Field(default=0, ge=0)


class TrafficSpec(Strict):
    service: str
    factor: float = Field(gt=0)
    ramp: float = Field(default=1, ge=0)


class InstancesSpec(Strict):
    service: str
    launched: int = Field(default=0, ge=0)
    terminated: int = Field(default=0, ge=0)
    every_minutes: float = Field(default=0, ge=0)
    reason: str = "instance churn"


class StatusSpec(Strict):
    service: str | None = None
    state: Literal["degraded", "outage", "ok"]
    message: str = ""


EVENT_KINDS = ("change", "effect", "logs", "traffic", "instances", "status")


class Event(Strict):
    at: float
    id: str | None = None
    noise: bool = False
    why: str | None = None
    change: ChangeSpec | None = None
    effect: EffectSpec | None = None
    logs: LogsSpec | None = None
    traffic: TrafficSpec | None = None
    instances: InstancesSpec | None = None
    status: StatusSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Event:
        present = [k for k in EVENT_KINDS if getattr(self, k) is not None]
        if len(present) != 1:
            raise ValueError(f"expected exactly one of {', '.join(EVENT_KINDS)} (got {present or 'none'})")
        return self

    @property
    def kind(self) -> str:
        """Which of the event kinds this is."""
        return next(k for k in EVENT_KINDS if getattr(self, k) is not None)

    @property
    def service(self) -> str | None:
        """The service the event is about."""
        body = getattr(self, self.kind)
        return getattr(body, "service", None)


class PageSpec(Strict):
    source: Literal["cloudwatch", "pagerduty"]
    service: str
    signal: str
    name: str
    severity: str = "high"
    at: float = 0
    channel: str | None = None

    @model_validator(mode="after")
    def _signal(self) -> PageSpec:
        if self.signal not in SIGNALS:
            raise ValueError(f"signal: expected one of {', '.join(SIGNALS)} (got {self.signal!r})")
        return self


class Truth(Strict):
    root_cause_service: str | None
    category: CategoryName
    change: str | None = None
    mitigation: MitigationName
    evidence: list[str] = Field(default_factory=list)
    ruled_out: list[str] = Field(default_factory=list)


class Scenario(Strict):
    format: Literal["scenario/1"]
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    seed: int | None = None
    history_minutes: int = Field(default=180, ge=30, le=60 * 24 * 14)
    account: Account = Field(default_factory=Account)
    services: list[ServiceSpec] = Field(min_length=1)
    events: list[Event]
    page: PageSpec
    gaps: list[str] = Field(default_factory=list)
    truth: Truth

    @property
    def effective_seed(self) -> int:
        """The seed, or one derived from the id."""
        if self.seed is not None:
            return self.seed
        return int.from_bytes(hashlib.sha256(self.id.encode()).digest()[:4], "big")

    @property
    def channel(self) -> str:
        """The Slack channel name (without '#') the page is posted in."""
        return (self.page.channel or f"inc-{self.id}").lstrip("#")

    def service(self, name: str) -> ServiceSpec:
        """The service spec called `name`."""
        return next(s for s in self.services if s.name == name)

    def event(self, event_id: str) -> Event | None:
        """The event with this id, if any."""
        return next((e for e in self.events if e.id == event_id), None)


GAP_SOURCES = (
    "cloudtrail",
    "logs",
    "metrics",
    "xray",
    "github",
    "ecs",
    "cloudformation",
    "autoscaling",
    "ssm",
    "lambda",
    "status",
)


def _cross_check(sc: Scenario) -> list[str]:
    """Checks that need the whole file: names refer to services and events that exist."""
    errors: list[str] = []
    names = [s.name for s in sc.services]
    known = set(names)
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append(f"services[{i}].name: duplicate service {name!r}")
    for i, svc in enumerate(sc.services):
        for j, callee in enumerate(svc.calls):
            if callee not in known:
                errors.append(
                    f"services[{i}].calls[{j}]: service {callee!r} does not exist; expected one of {', '.join(names)}"
                )
    ids: set[str] = set()
    for i, ev in enumerate(sc.events):
        if ev.id is not None:
            if ev.id in ids:
                errors.append(f"events[{i}].id: duplicate event id {ev.id!r}")
            ids.add(ev.id)
        ev_service = ev.service
        if ev_service is not None and ev_service not in known:
            errors.append(
                f"events[{i}].{ev.kind}.service: service {ev_service!r} does not exist; expected one of {', '.join(names)}"
            )
        if ev.status is not None and ev.status.service is None:
            errors.append(
                f"events[{i}].status.service: required (the external service whose status page this is)"
            )
    if sc.page.service not in known:
        errors.append(
            f"page.service: service {sc.page.service!r} does not exist; expected one of {', '.join(names)}"
        )
    t = sc.truth
    if t.root_cause_service is not None and t.root_cause_service not in known:
        errors.append(
            f"truth.root_cause_service: service {t.root_cause_service!r} does not exist; expected one of {', '.join(names)}"
        )
    if t.change is not None:
        guilty = sc.event(t.change)
        if guilty is None:
            errors.append(f"truth.change: {t.change!r} names no event; expected the id of a change event")
        elif guilty.change is None:
            errors.append(
                f"truth.change: event {t.change!r} is a {guilty.kind} event; expected the id of a change event"
            )
    for j, rid in enumerate(t.ruled_out):
        if sc.event(rid) is None:
            errors.append(f"truth.ruled_out[{j}]: {rid!r} names no event; expected the id of an event")
    for j, gap in enumerate(sc.gaps):
        source, _, target = gap.partition(":")
        if source not in GAP_SOURCES:
            errors.append(
                f"gaps[{j}]: unknown source {source!r}; expected one of {', '.join(GAP_SOURCES)} (optionally ':<service>')"
            )
        elif target and target not in known:
            errors.append(f"gaps[{j}]: service {target!r} does not exist; expected one of {', '.join(names)}")
    return errors


def _loc(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as `events[3].change.via`, leaving out union/validator tags."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not re.match(
            r"^(function-|tagged-union|literal\[|int$|float$|str$)", part
        ):
            out += f".{part}" if out else part
    return out


def _describe(err: Any) -> str:
    """One pydantic error as `key: what was expected (got ...)`."""
    loc = _loc(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown key"
    if kind == "missing":
        return f"{loc}: required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{loc}: {msg} (got {err.get('input')!r})"
    if kind == "value_error":
        return f"{loc}: {msg}" if loc else msg
    return f"{loc}: {msg} (got {err.get('input')!r})"


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed YAML data as a scenario, raising ScenarioError that names `source`."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level (got {type(data).__name__})")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors()[:8])
        raise ScenarioError(f"{source}: {problems}") from None
    errors = _cross_check(sc)
    if errors:
        raise ScenarioError(f"{source}: " + "; ".join(errors))
    return sc


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_scenario(data, str(path))


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Every `*.yaml`/`*.yml` file under the given files or folders, sorted."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]))
        elif p.exists():
            found.append(p)
        else:
            raise ScenarioError(f"{p}: no such file or folder")
    return found


BUILTIN_DIR = Path(__file__).parent / "scenarios"


def resolve_scenario(ref: str) -> Path:
    """A scenario file from a path or the id of one of the project's own scenarios."""
    p = Path(ref)
    if p.exists():
        return p
    for candidate in sorted(BUILTIN_DIR.glob("*.yaml")):
        if candidate.stem == ref:
            return candidate
    known = ", ".join(sorted(c.stem for c in BUILTIN_DIR.glob("*.yaml")))
    raise ScenarioError(f"{ref}: no such file, and no built-in scenario has that id (built-in: {known})")
