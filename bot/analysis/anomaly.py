"""Robust per-series anomaly detection: baseline, badness score, onset, direction.

Pure functions over plain sequences. A series is judged only against its own reference period (median and
MAD), in the direction that is bad for its metric, so metrics of different units compare on one scale.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to a standard deviation for normal data."""
MIN_BASELINE_POINTS = 5
"""Fewer reference points than this and a series has no baseline (it is not judged)."""
SCORE_CAP = 100.0
"""Badness scores are capped: beyond this, 'how anomalous' carries no more information than 'very'."""


class Direction(Enum):
    """Which way a metric moves when things get worse."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


_UP_WORDS = frozenset(
    (
        *("latency", "duration", "time", "ms", "error", "errors", "fault", "faults", "5xx", "4xx"),
        *("fail", "failed", "failure", "failures", "cpu", "memory", "mem", "throttle", "throttles"),
        *("throttled", "throttling", "depth", "age", "backlog", "lag", "queue", "saturation"),
        *("utilization", "timeout", "timeouts", "retry", "retries", "reject", "rejected", "dropped"),
        *("restarts", "oom", "unhealthy"),
    )
)
_DOWN_WORDS = frozenset(("availability", "available", "healthy", "success", "successful", "uptime", "apdex"))


def metric_words(metric: str) -> set[str]:
    """Lower-case words of a metric name, split on non-alphanumerics and camelCase ('UnHealthyHost' too)."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+[a-z]*|[a-z]+[0-9]+", metric)
    words = {p.lower() for p in parts} | set(re.split(r"[^a-z0-9]+", metric.lower()))
    if "unhealthy" in metric.lower():
        words = (words - {"healthy"}) | {"unhealthy"}
    return words - {""}


def metric_direction(metric: str) -> Direction:
    """Infer the bad direction of a metric from the words in its name (BOTH when unknown or contradictory)."""
    words = metric_words(metric)
    up, down = bool(words & _UP_WORDS), bool(words & _DOWN_WORDS)
    if down and not up:
        return Direction.DOWN
    if up and not down:
        return Direction.UP
    return Direction.BOTH


@dataclass(frozen=True)
class Baseline:
    """Robust centre and spread of a series in its reference period."""

    median: float
    scale: float
    count: int


def robust_baseline(values: Sequence[float]) -> Baseline | None:
    """Median and a MAD-based scale (with floors for flat series); None when there is too little data."""
    data = _finite(values)
    if data.size < MIN_BASELINE_POINTS:
        return None
    median = float(np.median(data))
    deviations = np.abs(data - median)
    mad = MAD_TO_SIGMA * float(np.median(deviations))
    if mad > 0:
        return Baseline(median=median, scale=mad, count=int(data.size))
    # Most points equal the median (a flat series with blips): fall back to the mean absolute deviation,
    # and for a perfectly flat series to a tiny scale, so that any change is maximally anomalous.
    mean_dev = math.sqrt(math.pi / 2) * float(np.mean(deviations))
    floor = 1e-9 * max(1.0, abs(median))
    return Baseline(median=median, scale=max(mean_dev, floor), count=int(data.size))


def badness(values: Sequence[float], baseline: Baseline, direction: Direction) -> FloatArray:
    """Per-point robust z-score, signed so that positive means worse; capped at +-SCORE_CAP."""
    z = (np.asarray(values, dtype=np.float64) - baseline.median) / baseline.scale
    if direction is Direction.DOWN:
        z = -z
    elif direction is Direction.BOTH:
        z = np.abs(z)
    return np.clip(z, -SCORE_CAP, SCORE_CAP)


def persistent(scores: Sequence[float]) -> list[float]:
    """Damp lone spikes: each point counts at most twice the better of its neighbours.

    A departure that lasts two datapoints keeps its size (a hysteresis rule: trigger at T, hold above T/2);
    a single-point blip is cut down to twice the level around it.
    """
    n = len(scores)
    out = []
    for i, s in enumerate(scores):
        neighbours = [scores[j] for j in (i - 1, i + 1) if 0 <= j < n]
        out.append(min(s, 2 * max(neighbours)) if neighbours else s)
    return out


def onset_index(scores: Sequence[float], threshold: float) -> int | None:
    """First index whose persistent badness reaches the threshold."""
    return next((i for i, s in enumerate(persistent(scores)) if s >= threshold), None)


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
    direction = metric_direction(metric)
    scores = [float(s) for s in badness(values, baseline, direction)]
    held = persistent(scores)
    at_peak = max(range(len(held)), key=lambda i: held[i]) if held else 0
    start = onset_index(scores, threshold)
    return SeriesAnomaly(
        node=node,
        metric=metric,
        direction=direction,
        times=tuple(int(t) for t in times),
        scores=tuple(scores),
        peak=held[at_peak] if held else 0.0,
        onset=None if start is None else int(times[start]),
        excess=float(values[at_peak]) - baseline.median if held else 0.0,
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


def detect_anomalies(
    series: Mapping[tuple[str, str], SeriesData], reference: Window, incident: Window, threshold: float
) -> list[SeriesAnomaly]:
    """Assess every series that has a baseline and incident-window data, sorted by (node, metric)."""
    found = []
    for key in sorted(series):
        base = robust_baseline(series[key].within(reference).values)
        window = series[key].within(incident)
        if base is not None and window.times:
            found.append(assess_series(key[0], key[1], window.times, window.values, base, threshold))
    return found
