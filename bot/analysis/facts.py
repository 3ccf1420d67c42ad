"""The facts an investigation gathers, in the plain shapes the pure analysis reasons over.

Signal and log times are unix seconds (the clock of the metric series); changes are domain `Change`s with
datetimes (`bot.domain.epoch` converts). Gatherers fill these in; `diagnose` turns them into hypotheses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.analysis.logs import Frame
from bot.analysis.windows import LoadWindow
from bot.domain import Change, ServiceKind, Topology

#: Signals whose anomalies are symptoms (something is failing), by the service's own metric names.
SYMPTOM_SIGNALS = frozenset(
    {
        "error_rate",
        "latency_p50_ms",
        "latency_p99_ms",
        "healthy_hosts",
        "throttles_per_min",
        "queue_depth",
        "oldest_message_age_s",
    }
)
#: Signals whose anomalies are saturation: a resource running out.
SATURATION_SIGNALS = frozenset({"cpu_pct", "memory_pct", "connections", "throttles_per_min", "queue_depth"})
#: Signals that measure load, not health.
LOAD_SIGNALS = frozenset({"requests_per_min"})


@dataclass(frozen=True)
class SignalState:
    """How one signal of a service (or of one instance) behaved against its own baseline."""

    service: str
    signal: str
    instance: str | None
    score: float
    onset: int | None
    start: int | None
    baseline: float
    peak_value: float
    last_value: float
    sustained: bool
    ramp: bool
    seen_from: str | None = None  # a third party's signal, as this caller measured it
    #: When a departure that did not last was last seen (None: it lasted, or none).
    ended: int | None = None

    @property
    def anomalous(self) -> bool:
        """Whether it departed from its baseline at all."""
        return self.onset is not None

    @property
    def ratio(self) -> float:
        """Peak over baseline (how many times the normal level)."""
        return (
            self.peak_value / self.baseline
            if self.baseline > 0
            else float("inf")
            if self.peak_value > 0
            else 1.0
        )

    def describe(self) -> str:
        """`error_rate 0.002 → 0.41` with the instance when there is one."""
        who = f"{self.service}/{self.instance}" if self.instance else self.service
        return f"{who} {self.signal} {_fmt(self.baseline)} → {_fmt(self.peak_value)}"


def _fmt(v: float) -> str:
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.1f}"
    return f"{v:.3f}".rstrip("0").rstrip(".") if v else "0"


@dataclass(frozen=True)
class LogFact:
    """A log template of one service in the incident window."""

    service: str
    template: str
    level: str
    count: int
    baseline_count: int
    first_seen: int
    sample: str
    exception: str | None = None
    frames: tuple[Frame, ...] = ()
    streams: tuple[str, ...] = ()

    @property
    def is_new(self) -> bool:
        """Not seen in the baseline period."""
        return self.baseline_count == 0

    @property
    def is_error(self) -> bool:
        """An error (not a warning)."""
        return self.level in ("ERROR", "FATAL", "CRITICAL")


@dataclass(frozen=True)
class StatusFact:
    """What a third party's status page says."""

    service: str
    state: str
    message: str
    at: int | None = None


@dataclass(frozen=True)
class InstanceFact:
    """An instance (EC2) or task of a service and when it came and went."""

    service: str
    name: str
    launched: int | None = None
    terminated: int | None = None
    zone: str | None = None  # its availability zone


@dataclass
class Facts:
    """Everything gathered for one page."""

    alarm_service: str
    page_time: int
    alarm_signal: str | None = None
    topology: Topology = field(default_factory=Topology)
    signals: list[SignalState] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    logs: list[LogFact] = field(default_factory=list)
    statuses: list[StatusFact] = field(default_factory=list)
    instances: list[InstanceFact] = field(default_factory=list)
    ignored_services: frozenset[str] = frozenset()
    cleared_changes: frozenset[str] = frozenset()
    focus_services: frozenset[str] = frozenset()
    window_start: int | None = None
    #: When the organisation expects high load (its steering files' `expected_load`, for this page).
    expected_load: tuple[LoadWindow, ...] = ()
    #: Raw service-level series (service, signal) -> (times, values), for the metric ranking.
    series: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)

    def callees(self, service: str) -> list[str]:
        """Services `service` calls, sorted."""
        return self.topology.callees(service)

    def callers(self, service: str) -> list[str]:
        """Services that call `service`, sorted."""
        return self.topology.callers(service)

    def downstream(self, service: str) -> list[str]:
        """`service` and everything it reaches through calls, breadth first."""
        return self.topology.downstream(service)

    def kind(self, service: str) -> ServiceKind:
        """How `service` runs."""
        return self.topology.kind(service)
