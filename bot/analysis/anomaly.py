"""Robust per-series anomaly detection: what a metric measures, its baseline, badness, onset.

Pure functions over plain sequences. A series is judged only against its own reference period (median and
MAD), in the direction that is bad for its metric, so metrics of different units compare on one scale. What
a metric measures (latency, errors, saturation, traffic) is read from the words and unit of its name, in any
vocabulary: `ServerLatencyP90(s)`, `latency_p99_ms`, `http_request_duration_seconds`, `HTTPCode_Target_5XX_Count`.
"""

from __future__ import annotations

import math
import re
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import pairwise

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_Near = Callable[[int, int], bool]

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to a standard deviation for normal data."""
MIN_BASELINE_POINTS = 5
"""Fewer reference points than this and a series has no baseline (it is not judged)."""
SCORE_CAP = 100.0
"""Badness scores are capped: beyond this, 'how anomalous' carries no more information than 'very'."""
CEILING = 99.0
"""A utilisation in percent at or above this is at its resource's ceiling (100, less rounding)."""


class Direction(Enum):
    """Which way a metric moves when things get worse."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class MetricKind(Enum):
    """What a metric measures, as an SRE reads a dashboard."""

    LATENCY = "latency"  # how long work takes
    ERRORS = "errors"  # work that failed (errors, faults) or its complement (success, availability)
    SATURATION = "saturation"  # how full a resource is (CPU, memory, queues, connections)
    TRAFFIC = "traffic"  # how much work arrives (requests, bytes, calls): moves with callers
    UNKNOWN = "unknown"


class Scope(Enum):
    """Whose behaviour a metric shows."""

    OWN = "own"  # the node's own work
    OUTBOUND = (
        "outbound"  # the node's calls to others, measured on its side (client latency, upstream errors)
    )
    HOST = "host"  # the machine it shares with other tenants (a Kubernetes node's CPU)


@dataclass(frozen=True)
class MetricClass:
    kind: MetricKind
    direction: Direction
    scope: Scope = Scope.OWN
    percent_of_capacity: bool = False
    """A utilisation in percent (`CPUUtilization`, `mem_used(%)`): 100 is the resource's ceiling."""


_SUCCESS = frozenset(("success", "successful", "succeeded", "availability", "healthy", "uptime", "apdex"))
_ERRORS = frozenset(
    (
        *("error", "errors", "err", "errs", "fault", "faults", "fail", "failed", "failure", "failures"),
        *("5xx", "4xx", "exception", "exceptions", "reject", "rejected", "rejects", "dropped", "drops"),
        *("timeout", "timeouts", "retry", "retries", "throttle", "throttles", "throttled", "throttling"),
        *("oom", "killed", "kills", "crash", "crashes", "restarts", "unhealthy", "denied", "unavailable"),
    )
)
_LATENCY = frozenset(("latency", "latencies", "duration", "delay", "rtt", "time", "wait", "elapsed"))
_TIME_UNITS = frozenset(("s", "sec", "secs", "seconds", "ms", "msec", "milliseconds", "us", "micros", "ns"))
_SATURATION = frozenset(
    (
        *("cpu", "memory", "mem", "utilization", "utilisation", "usage", "saturation", "load", "heap"),
        *("gc", "swap", "disk", "iowait", "pressure", "depth", "backlog", "queue", "queued", "pending"),
        *("inflight", "concurrency", "concurrent", "connections", "threads", "age", "lag"),
    )
)
_HEADROOM = frozenset(("free", "freeable", "available", "remaining", "headroom", "idle"))
_TRAFFIC = frozenset(
    (
        *("request", "requests", "count", "invocations", "calls", "ops", "workload", "throughput"),
        *("rps", "qps", "tps", "bytes", "packets", "network", "syscall", "syscalls", "read", "reads"),
        *("write", "writes", "receive", "received", "transmit", "transmitted", "sent", "messages", "hits"),
    )
)
_OUTBOUND = frozenset(("client", "outbound", "egress", "upstream"))
_HOST = frozenset(("node", "host", "machine", "vm"))
_PERCENTILE = re.compile(r"^p\d{2,3}$")


def metric_words(metric: str) -> set[str]:
    """Lower-case words of a metric name, split on non-alphanumerics and camelCase ('UnHealthyHost' too)."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+[a-z]*|[a-z]+[0-9]+", metric)
    words = {p.lower() for p in parts} | set(re.split(r"[^a-z0-9]+", metric.lower()))
    if "unhealthy" in metric.lower():
        words = (words - {"healthy"}) | {"unhealthy"}
    return words - {""}


def classify_metric(metric: str) -> MetricClass:
    """What a metric measures, from its name and unit (errors before latency before saturation before traffic).

    Success and availability are errors seen from the other side (bad when they fall); free or idle
    capacity is saturation seen from the other side. A time unit ('(s)', '_ms') marks a latency unless the
    name says it is a rate ('/s', 'per second'). Client-side and host-level metrics show the node's calls
    and its machine rather than its own work.
    """
    words = metric_words(metric)
    rate = "/" in metric or "per" in words
    if words & _SUCCESS and not words & _ERRORS:
        kind, direction = MetricKind.ERRORS, Direction.DOWN
    elif words & _ERRORS:
        kind, direction = MetricKind.ERRORS, Direction.UP
    elif words & _LATENCY and not rate:
        kind, direction = MetricKind.LATENCY, Direction.UP
    elif words & _HEADROOM:
        kind, direction = MetricKind.SATURATION, Direction.DOWN
    elif words & _SATURATION:
        kind, direction = MetricKind.SATURATION, Direction.UP
    elif not rate and (words & _TIME_UNITS or any(_PERCENTILE.match(w) for w in words)):
        kind, direction = MetricKind.LATENCY, Direction.UP
    elif words & _TRAFFIC or rate:
        kind, direction = MetricKind.TRAFFIC, Direction.BOTH
    else:
        kind, direction = MetricKind.UNKNOWN, Direction.BOTH
    percent = "%" in metric or bool(words & {"percent", "pct", "utilization", "utilisation"})
    capacity = kind is MetricKind.SATURATION and direction is Direction.UP and percent
    return MetricClass(kind, direction, _scope(words, kind), capacity)


def _scope(words: set[str], kind: MetricKind) -> Scope:
    if words & _OUTBOUND and kind in (MetricKind.LATENCY, MetricKind.ERRORS, MetricKind.TRAFFIC):
        return Scope.OUTBOUND
    if words & _HOST and kind in (MetricKind.SATURATION, MetricKind.TRAFFIC):
        return Scope.HOST
    return Scope.OWN


def metric_direction(metric: str) -> Direction:
    """The bad direction of a metric (BOTH when unknown): see `classify_metric`."""
    return classify_metric(metric).direction


@dataclass(frozen=True)
class Baseline:
    """Robust centre and spread of a series in its reference period."""

    median: float
    scale: float
    count: int


def robust_baseline(values: Sequence[float], floor_fraction: float = 0.0) -> Baseline | None:
    """Median and a MAD-based scale (with floors for flat series); None when there is too little data.

    `floor_fraction`: the scale is at least this share of the median's size, so that jitter on a metric
    whose reference happens to be very quiet does not read as an incident.
    """
    data = _finite(values)
    if data.size < MIN_BASELINE_POINTS:
        return None
    median = float(np.median(data))
    deviations = np.abs(data - median)
    scale = MAD_TO_SIGMA * float(np.median(deviations))
    if scale <= 0:
        # Most points equal the median (a flat series with blips): fall back to the mean absolute deviation,
        # and for a perfectly flat series to a tiny scale, so that any change is maximally anomalous.
        scale = math.sqrt(math.pi / 2) * float(np.mean(deviations))
    floor = max(floor_fraction * abs(median), 1e-9 * max(1.0, abs(median)))
    return Baseline(median=median, scale=max(scale, floor), count=int(data.size))


def badness(values: Sequence[float], baseline: Baseline, direction: Direction) -> FloatArray:
    """Per-point robust z-score, signed so that positive means worse; capped at +-SCORE_CAP."""
    z = (np.asarray(values, dtype=np.float64) - baseline.median) / baseline.scale
    if direction is Direction.DOWN:
        z = -z
    elif direction is Direction.BOTH:
        z = np.abs(z)
    return np.clip(z, -SCORE_CAP, SCORE_CAP)


def persistent(scores: Sequence[float], times: Sequence[int] | None = None) -> list[float]:
    """Damp lone spikes: each point counts at most twice the better of its neighbours.

    A departure that lasts two datapoints keeps its size (a hysteresis rule: trigger at T, hold above T/2);
    a single-point blip is cut down to twice the level around it. With `times`, only points one step apart
    are neighbours, so a reading stranded between gaps in the data is no departure that lasted.
    """
    n = len(scores)
    if n == 1:
        return [float(scores[0])]
    near = _neighbours(times, n)
    out = []
    for i, s in enumerate(scores):
        neighbours = [scores[j] for j in (i - 1, i + 1) if 0 <= j < n and near(i, j)]
        out.append(min(s, 2 * max(neighbours)) if neighbours else min(s, 0.0))
    return out


def _neighbours(times: Sequence[int] | None, n: int) -> _Near:
    if times is None or n < 3:
        return lambda i, j: True
    step = statistics.median(b - a for a, b in pairwise(times))
    return lambda i, j: abs(times[i] - times[j]) <= 1.5 * step


def onset_index(scores: Sequence[float], threshold: float, times: Sequence[int] | None = None) -> int | None:
    """First index whose persistent badness reaches the threshold."""
    return next((i for i, s in enumerate(persistent(scores, times)) if s >= threshold), None)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences; 0.0 when either is constant or too short."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 3 or a.size != b.size:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denom <= 1e-12 * max(1.0, float(np.max(np.abs(a))) * float(np.max(np.abs(b)))):
        return 0.0
    return max(-1.0, min(1.0, float(np.dot(a, b)) / denom))


@dataclass(frozen=True)
class SeriesAnomaly:
    """How one (node, metric) series behaved in the incident window against its own baseline."""

    node: str
    metric: str
    direction: Direction
    times: tuple[int, ...]
    scores: tuple[float, ...]
    """Badness per incident-window point (robust z, positive = worse, capped)."""
    peak: float
    """Highest persistent badness in the window (see `persistent`)."""
    onset: int | None
    """Time of the first sustained departure at or above the threshold; None when there is none."""
    excess: float
    """Raw change at the peak, value minus baseline median, in the metric's own units."""
    kind: MetricKind = MetricKind.UNKNOWN
    scope: Scope = Scope.OWN
    instance: str | None = None
    """The pod or instance the series came from, when the node is a group of them."""
    exhausted: bool = False
    """A utilisation in percent that held at its ceiling (see `CEILING`) in the incident window."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.node, self.metric)

    def scores_by_time(self) -> dict[int, float]:
        return dict(zip(self.times, self.scores, strict=True))


def assess_series(
    node: str,
    metric: str,
    times: Sequence[int],
    values: Sequence[float],
    baseline: Baseline,
    threshold: float,
) -> SeriesAnomaly:
    """Score a series' incident-window points (sorted by time) against its baseline."""
    what = classify_metric(metric)
    scores = [float(s) for s in badness(values, baseline, what.direction)]
    held = persistent(scores, times)
    at_peak = max(range(len(held)), key=lambda i: held[i]) if held else 0
    start = next((i for i, h in enumerate(held) if h >= threshold), None)
    at_ceiling = [what.percent_of_capacity and v >= CEILING for v in values]
    return SeriesAnomaly(
        node=node,
        metric=metric,
        direction=what.direction,
        times=tuple(int(t) for t in times),
        scores=tuple(scores),
        peak=held[at_peak] if held else 0.0,
        onset=None if start is None else int(times[start]),
        excess=float(values[at_peak]) - baseline.median if held else 0.0,
        kind=what.kind,
        scope=what.scope,
        exhausted=baseline.median < CEILING and any(a and b for a, b in pairwise(at_ceiling)),
    )


def _finite(values: Sequence[float]) -> FloatArray:
    data = np.asarray(values, dtype=np.float64)
    return data[np.isfinite(data)]


@dataclass(frozen=True)
class Window:
    """A closed time interval [start, end] in unix seconds."""

    start: int
    end: int

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int) and self.start <= t <= self.end


@dataclass(frozen=True)
class SeriesData:
    """One metric series: strictly increasing times and their values (missing datapoints are absent)."""

    times: tuple[int, ...]
    values: tuple[float, ...]

    @staticmethod
    def from_points(points: dict[int, float]) -> SeriesData:
        ordered = sorted(points.items())
        return SeriesData(tuple(t for t, _ in ordered), tuple(v for _, v in ordered))

    def within(self, window: Window) -> SeriesData:
        lo, hi = bisect_left(self.times, window.start), bisect_right(self.times, window.end)
        return SeriesData(self.times[lo:hi], self.values[lo:hi])

    def merged(self, later: SeriesData) -> SeriesData:
        """Both series' points; `later` wins where both have a timestamp."""
        if not self.times or not later.times:
            return self if later.times == () else later
        if self.times[-1] < later.times[0]:
            return SeriesData(self.times + later.times, self.values + later.values)
        if later.times[-1] < self.times[0]:
            return SeriesData(later.times + self.times, later.values + self.values)
        points = dict(zip(self.times, self.values, strict=True))
        points.update(zip(later.times, later.values, strict=True))
        return SeriesData.from_points(points)

    def is_constant(self) -> bool:
        """Every finite value equal (or none): a series that never moved measures nothing."""
        data = _finite(self.values)
        return data.size == 0 or float(np.max(data)) == float(np.min(data))


def detect_anomalies(
    series: Mapping[tuple[str, str], SeriesData],
    reference: Window,
    incident: Window,
    threshold: float,
    floor_fraction: float = 0.0,
) -> list[SeriesAnomaly]:
    """Assess every series that has a baseline and incident-window data, sorted by (node, metric).

    Series that never move are skipped. `floor_fraction` (see `robust_baseline`) applies to quantities
    (latency, saturation, traffic), not to error or success rates, where a fraction of a percent matters.
    """
    found = []
    for key in sorted(series):
        data = series[key]
        if data.is_constant():
            continue
        errors = classify_metric(key[1]).kind is MetricKind.ERRORS
        base = robust_baseline(data.within(reference).values, 0.0 if errors else floor_fraction)
        window = data.within(incident)
        if base is not None and window.times:
            found.append(assess_series(key[0], key[1], window.times, window.values, base, threshold))
    return found
