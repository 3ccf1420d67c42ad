"""Simulate a scenario into a World: every signal per minute, every log line, every instance, every change.

Pure and deterministic: the same scenario and seed give the same World, relative to the page time `t0`
(`World.time(minute)` anchors it). The materialiser then pushes this World into the stand-ins, and the bot
sees it only through their APIs.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.sandbox.scenario import Event, Scenario, ServiceSpec

#: Healthy levels per kind; a scenario's `baseline` overrides any of them.
DEFAULT_BASELINES: dict[str, dict[str, float]] = {
    "ecs": {
        "requests_per_min": 1200,
        "error_rate": 0.002,
        "latency_p50_ms": 45,
        "latency_p99_ms": 220,
        "cpu_pct": 35,
        "memory_pct": 48,
        "healthy_hosts": 3,
    },
    "asg": {
        "requests_per_min": 900,
        "error_rate": 0.002,
        "latency_p50_ms": 60,
        "latency_p99_ms": 280,
        "cpu_pct": 30,
        "memory_pct": 52,
        "healthy_hosts": 3,
    },
    "lambda": {
        "requests_per_min": 400,
        "error_rate": 0.001,
        "latency_p50_ms": 90,
        "latency_p99_ms": 450,
        "throttles_per_min": 0,
    },
    "dynamodb": {
        "requests_per_min": 2400,
        "error_rate": 0.0,
        "latency_p50_ms": 4,
        "latency_p99_ms": 14,
        "throttles_per_min": 0,
    },
    "rds": {
        "requests_per_min": 3000,
        "cpu_pct": 28,
        "memory_pct": 55,
        "connections": 60,
        "latency_p99_ms": 9,
        "latency_p50_ms": 2,
    },
    "sqs": {"requests_per_min": 300, "queue_depth": 6, "oldest_message_age_s": 5},
    "external": {"requests_per_min": 500, "error_rate": 0.001, "latency_p50_ms": 120, "latency_p99_ms": 600},
}

#: Signals that are counts of hosts: integers, no jitter.
INTEGER_SIGNALS = frozenset({"healthy_hosts"})
#: Signals per instance of an `asg` service, always present.
INSTANCE_SIGNALS = ("cpu_pct",)


@dataclass(frozen=True)
class SeriesKey:
    """Which series: a service's signal, or one instance's."""

    service: str
    signal: str
    instance: str | None = None

    def sort_key(self) -> tuple[str, str, str]:
        """A total order (instance-less series first)."""
        return (self.service, self.signal, self.instance or "")


@dataclass(frozen=True)
class LogLine:
    """One log line; `minute` is fractional minutes relative to the page."""

    minute: float
    service: str
    level: str
    message: str
    instance: str | None = None
    stack: str | None = None


@dataclass
class Instance:
    """An instance of an `asg` service (named like `i-forge-2`; churned ones `i-forge-new-1`)."""

    name: str
    service: str
    launched: int | None = None  # minute; None = running since before the history starts
    terminated: int | None = None
    reason: str = ""

    def alive(self, minute: int) -> bool:
        """Whether the instance runs at `minute`."""
        return (self.launched is None or self.launched <= minute) and (
            self.terminated is None or minute < self.terminated
        )


@dataclass(frozen=True)
class ScalingActivity:
    """An Auto Scaling activity record."""

    minute: int
    service: str
    description: str
    cause: str
    instance: str | None = None


@dataclass
class World:
    """A simulated estate over `history_minutes` before the page, minute by minute."""

    scenario: Scenario
    t0: datetime
    start: int
    series: dict[SeriesKey, list[float | None]] = field(default_factory=dict)
    logs: list[LogLine] = field(default_factory=list)
    instances: dict[str, list[Instance]] = field(default_factory=dict)
    activities: list[ScalingActivity] = field(default_factory=list)

    @property
    def minutes(self) -> range:
        """Every minute of the history, the page's minute included."""
        return range(self.start, 1)

    def time(self, minute: float) -> datetime:
        """The wall-clock time of a minute relative to the page."""
        return self.t0 + timedelta(minutes=minute)

    def value(self, key: SeriesKey, minute: int) -> float | None:
        """The datapoint of a series at a minute (None when missing)."""
        return self.series[key][minute - self.start]

    def changes(self) -> list[Event]:
        """The scenario's change events, in time order."""
        return sorted((e for e in self.scenario.events if e.change is not None), key=lambda e: e.at)

    def fingerprint(self) -> str:
        """A digest of the whole world relative to t0, to compare two simulations."""
        import hashlib

        h = hashlib.sha256()
        for key in sorted(self.series, key=SeriesKey.sort_key):
            h.update(repr((key, self.series[key])).encode())
        for line in self.logs:
            h.update(repr(line).encode())
        for svc in sorted(self.instances):
            h.update(repr(self.instances[svc]).encode())
        h.update(repr(self.activities).encode())
        return h.hexdigest()


def baseline(spec: ServiceSpec) -> dict[str, float]:
    """A service's healthy levels: the kind's defaults, the instance count, then the scenario's overrides."""
    levels = dict(DEFAULT_BASELINES[spec.kind])
    if spec.kind == "asg":
        levels["healthy_hosts"] = float(spec.instances)
    levels.update(spec.baseline)
    return levels


def simulate(scenario: Scenario, t0: datetime | None = None, seed: int | None = None) -> World:
    """Simulate the scenario; `t0` is the page time (default: now, to the minute)."""
    t0 = (t0 or datetime.now(UTC)).replace(second=0, microsecond=0)
    rng = random.Random(scenario.effective_seed if seed is None else seed)
    world = World(scenario=scenario, t0=t0, start=-scenario.history_minutes)
    _instances(world)
    _series(world, rng)
    _logs(world, rng)
    return world


def _instances(world: World) -> None:
    """Instances of each asg service, churn and scaling activities."""
    sc = world.scenario
    for spec in sc.services:
        if spec.kind == "asg":
            world.instances[spec.name] = [
                Instance(f"i-{spec.name}-{n}", spec.name) for n in range(1, spec.instances + 1)
            ]
    events = sorted(sc.events, key=lambda e: e.at)
    for ev in events:
        if ev.instances is not None and ev.instances.service in world.instances:
            spec_i = ev.instances
            step = spec_i.every_minutes or 10**9
            m = float(ev.at)
            while m < 0:
                _churn(
                    world,
                    spec_i.service,
                    math.floor(m),
                    spec_i.launched,
                    spec_i.terminated,
                    spec_i.reason,
                )
                m += step
        elif ev.change is not None and ev.change.via == "scaling" and ev.change.service in world.instances:
            fleet = world.instances[ev.change.service]
            at = math.floor(ev.at)
            alive = [i for i in fleet if i.alive(at)]
            want = ev.change.desired or 0
            cause = f"a user request changed the desired capacity to {want}"
            if want > len(alive):
                _churn(world, ev.change.service, at, want - len(alive), 0, cause)
            elif want < len(alive):
                _churn(world, ev.change.service, at, 0, len(alive) - want, cause)


def _churn(world: World, service: str, at: int, launched: int, terminated: int, reason: str) -> None:
    fleet = world.instances[service]
    alive = [i for i in fleet if i.alive(at)]
    for inst in alive[:terminated]:
        inst.terminated = at
        world.activities.append(
            ScalingActivity(at, service, f"Terminating EC2 instance: {inst.name}", reason, inst.name)
        )
    new_count = sum(1 for i in fleet if i.name.startswith(f"i-{service}-new-"))
    for k in range(1, launched + 1):
        inst = Instance(f"i-{service}-new-{new_count + k}", service, launched=at, reason=reason)
        fleet.append(inst)
        world.activities.append(
            ScalingActivity(at, service, f"Launching a new EC2 instance: {inst.name}", reason, inst.name)
        )


def _overlay(arr: list[float], idx: int, until_idx: int, target: float, ramp: float) -> None:
    """Set arr to `target` over [idx, until_idx), ramping linearly from the level just before."""
    n = len(arr)
    if idx >= n:
        return
    start = arr[idx - 1] if idx > 0 else arr[0]
    ramp = max(ramp, 1.0)
    for j in range(max(idx, 0), min(until_idx, n)):
        frac = min(1.0, (j - idx + 1) / ramp)
        arr[j] = start + (target - start) * frac


def _series(world: World, rng: random.Random) -> None:
    """Every signal of every service (and asg instance) per minute, with seeded noise."""
    sc = world.scenario
    n = len(world.minutes)
    events = sorted(enumerate(sc.events), key=lambda p: (p[1].at, p[0]))
    phase = rng.random() * 2 * math.pi
    for spec in sc.services:
        levels = baseline(spec)
        raw: dict[SeriesKey, list[float]] = {SeriesKey(spec.name, s): [v] * n for s, v in levels.items()}
        for inst in world.instances.get(spec.name, []):
            for sig in INSTANCE_SIGNALS:
                raw[SeriesKey(spec.name, sig, inst.name)] = [levels.get(sig, 0.0)] * n
        for _, ev in events:
            if ev.effect is not None and ev.effect.service == spec.name:
                eff = ev.effect
                for sig, target in eff.levels.items():
                    keys = [SeriesKey(spec.name, sig, eff.instance)]
                    if eff.instance is None and sig in INSTANCE_SIGNALS:
                        # A fleet-wide effect on a per-instance signal shows on every instance too.
                        keys += [
                            SeriesKey(spec.name, sig, i.name) for i in world.instances.get(spec.name, [])
                        ]
                    until = n if eff.until is None else math.floor(eff.until) - world.start
                    for key in keys:
                        if key not in raw:
                            raw[key] = [levels.get(sig, _neutral(sig, levels))] * n
                        _overlay(raw[key], math.floor(ev.at) - world.start, until, target, eff.ramp)
            if ev.traffic is not None and ev.traffic.service == spec.name:
                key = SeriesKey(spec.name, "requests_per_min")
                if key in raw:
                    tr = ev.traffic
                    idx = math.floor(ev.at) - world.start
                    for j in range(max(idx, 0), n):
                        frac = min(1.0, (j - idx + 1) / max(tr.ramp, 1.0))
                        raw[key][j] *= 1 + (tr.factor - 1) * frac
        for key in sorted(raw, key=SeriesKey.sort_key):
            world.series[key] = _noisy(world, key, raw[key], rng, phase)


def _neutral(signal: str, levels: dict[str, float]) -> float:
    """A level for a signal the kind does not have by default."""
    return {
        "error_rate": 0.0,
        "throttles_per_min": 0.0,
        "healthy_hosts": levels.get("healthy_hosts", 1.0),
    }.get(signal, 0.0)


def _noisy(
    world: World, key: SeriesKey, arr: list[float], rng: random.Random, phase: float
) -> list[float | None]:
    """Jitter, daily shape for traffic, the odd missing datapoint; instances exist only while alive."""
    out: list[float | None] = []
    fleet = {i.name: i for i in world.instances.get(key.service, [])}
    for j, v in enumerate(arr):
        minute = world.start + j
        inst = fleet.get(key.instance) if key.instance else None
        gauss = rng.gauss(0, 1)
        missing = rng.random() < 0.004 and minute < -2
        if key.instance and inst is not None and not inst.alive(minute):
            out.append(None)
            continue
        if missing:
            out.append(None)
            continue
        if key.signal in INTEGER_SIGNALS:
            out.append(float(round(v)))
            continue
        if key.signal == "requests_per_min":
            v *= 1 + 0.12 * math.sin(phase + 2 * math.pi * minute / 1440)
        if key.signal == "error_rate":
            value = max(0.0, v * (1 + 0.08 * gauss) + abs(gauss) * 0.0005)
            out.append(round(min(value, 1.0), 5))
            continue
        value = max(0.0, v * (1 + 0.03 * gauss))
        if key.signal in ("cpu_pct", "memory_pct"):
            value = min(value, 100.0)
        out.append(round(value, 3))
    return out


_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")

#: Ordinary lines every service writes; `{n}` etc. are filled in.
BACKGROUND: tuple[tuple[str, str, float], ...] = (
    ("INFO", "GET /{path} 200 {ms}ms request_id={request_id}", 6.0),
    ("INFO", "health check ok", 1.0),
    ("INFO", "connection pool stats: active={n} idle={m}", 0.5),
    ("WARN", "slow request GET /{path} took {ms}ms", 0.2),
    ("WARN", "retrying call to upstream after timeout (attempt {n})", 0.05),
)


def _fill(message: str, rng: random.Random) -> str:
    """Replace `{placeholder}`s with seeded values of a plausible shape."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name.endswith("id"):
            return f"{rng.getrandbits(32):08x}"
        if name in ("ms", "latency", "duration"):
            return str(rng.randint(3, 900))
        if name in ("path", "route"):
            return rng.choice(["api/items", "api/orders", "healthz", "api/users", "api/status"])
        return str(rng.randint(1, 64))

    return _PLACEHOLDER.sub(one, message)


def _logs(world: World, rng: random.Random) -> None:
    """Background lines for every service plus the scenario's own; lines still in the pipeline are left out."""
    sc = world.scenario
    lines: list[LogLine] = []
    for spec in sc.services:
        if spec.kind in ("dynamodb", "rds", "sqs", "external"):
            continue
        for level, template, rate in BACKGROUND:
            _emit(lines, world, rng, spec.name, level, template, rate, world.start, 0.0, None, None)
    for ev in sorted(sc.events, key=lambda e: e.at):
        if ev.logs is None:
            continue
        lg = ev.logs
        end = 0.0 if lg.until is None else min(lg.until, 0.0)
        visible_until = min(end, -lg.delay_minutes) if lg.delay_minutes else end
        level = "WARN" if lg.level == "WARNING" else lg.level
        _emit(
            lines,
            world,
            rng,
            lg.service,
            level,
            lg.message,
            lg.rate_per_min,
            ev.at,
            visible_until,
            lg.instance,
            lg.stack,
        )
    lines.sort(key=lambda ln: (ln.minute, ln.service, ln.message))
    world.logs = lines


def _emit(
    lines: list[LogLine],
    world: World,
    rng: random.Random,
    service: str,
    level: str,
    template: str,
    rate: float,
    start: float,
    end: float,
    instance: str | None,
    stack: str | None,
) -> None:
    """Lines at `rate` per minute over [start, end), spread evenly with seeded jitter."""
    if rate <= 0 or end <= start:
        return
    fleet = [i.name for i in world.instances.get(service, [])]
    interval = 1.0 / rate
    t = max(start, world.start) + rng.random() * interval
    while t < end:
        who = instance
        if who is None and fleet:
            alive = [
                n
                for n in fleet
                if next(i for i in world.instances[service] if i.name == n).alive(math.floor(t))
            ]
            who = rng.choice(alive) if alive else None
        lines.append(LogLine(round(t, 4), service, level, _fill(template, rng), who, stack))
        t += interval * (0.5 + rng.random())
