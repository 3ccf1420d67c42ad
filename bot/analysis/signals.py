"""Assess each service signal against its own early history: onset, when the departure really started,
how strong, whether it is still going, whether it crept up (a leak) or stepped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bot.analysis.anomaly import Direction, assess_series, robust_baseline
from bot.analysis.facts import SignalState

#: Robust z-score a departure must reach to count.
THRESHOLD = 6.0
#: Where a departure is said to start when walking back from its onset.
START_LEVEL = 1.5
#: A departure that took longer than this to reach the threshold crept up (a ramp), in seconds.
RAMP_SECONDS = 15 * 60
#: A signal must also move by at least this share of its baseline level (jitter on tiny levels is not news).
MIN_RELATIVE_CHANGE = 0.25
MIN_ABSOLUTE_CHANGE: Mapping[str, float] = {
    "error_rate": 0.01,
    "throttles_per_min": 1.0,
    "healthy_hosts": 1.0,
}


def reference_length(history_seconds: int) -> int:
    """Seconds of early history used as the baseline: a quarter of it, at least 30 minutes."""
    return max(30 * 60, history_seconds // 4)


def assess_signal(
    service: str,
    signal: str,
    instance: str | None,
    times: Sequence[int],
    values: Sequence[float],
    page_time: int,
    reference_end: int,
    fallback_reference: Sequence[float] = (),
) -> SignalState | None:
    """Assess one series (sorted times, unix seconds); None when it has no usable baseline.

    A series with no early history of its own (an instance launched during the incident) is judged against
    `fallback_reference`, the early history of the same signal for the whole service.
    """
    ref = [v for t, v in zip(times, values, strict=True) if t < reference_end] or list(fallback_reference)
    win = [(t, v) for t, v in zip(times, values, strict=True) if reference_end <= t <= page_time]
    base = robust_baseline(ref)
    if base is None or not win:
        return None
    wt = [t for t, _ in win]
    wv = [v for _, v in win]
    found = assess_series(service, signal, wt, wv, base, THRESHOLD)
    bad_sign = -1.0 if found.direction is Direction.DOWN else 1.0
    if found.direction is Direction.BOTH:
        peak_i = max(range(len(wv)), key=lambda i: abs(wv[i] - base.median))
    else:
        peak_i = max(range(len(wv)), key=lambda i: bad_sign * (wv[i] - base.median))
    peak_value = wv[peak_i]
    moved = abs(peak_value - base.median)
    big_enough = moved >= max(MIN_RELATIVE_CHANGE * abs(base.median), MIN_ABSOLUTE_CHANGE.get(signal, 0.0))
    onset = found.onset if big_enough else None
    start = None
    sustained = False
    ramp = False
    if onset is not None:
        i = wt.index(onset)
        j = i
        while j > 0 and found.scores[j - 1] >= START_LEVEL:
            j -= 1
        start = wt[j]
        tail = found.scores[-3:]
        sustained = sum(1 for s in tail if s >= THRESHOLD / 2) >= 2
        ramp = onset - start >= RAMP_SECONDS
        if ramp:
            start = min(start, ramp_start(wt[j:], wv[j:], base.median))
    return SignalState(
        service=service,
        signal=signal,
        instance=instance,
        score=found.peak if onset is not None else 0.0,
        onset=onset,
        start=start,
        baseline=base.median,
        peak_value=peak_value,
        last_value=wv[-1],
        sustained=sustained,
        ramp=ramp,
    )


def ramp_start(times: Sequence[int], values: Sequence[float], level: float) -> int:
    """Where a steady climb (fitted by least squares up to its peak) crosses `level`, its baseline."""
    if len(times) < 3:
        return times[0]
    peak = max(range(len(values)), key=lambda i: abs(values[i] - level))
    xs = np.asarray(times[: peak + 1], dtype=np.float64)
    ys = np.asarray(values[: peak + 1], dtype=np.float64)
    if xs.size < 3:
        return times[0]
    slope, intercept = np.polyfit(xs - xs[0], ys, 1)
    if slope == 0 or (level - intercept) / slope > 0:
        return times[0]
    return int(xs[0] + (level - intercept) / slope)


def assess_all(
    series: Mapping[tuple[str, str, str | None], tuple[Sequence[int], Sequence[float]]],
    page_time: int,
    history_start: int,
) -> list[SignalState]:
    """Assess every series; results sorted by (service, signal, instance)."""
    reference_end = history_start + reference_length(page_time - history_start)
    out: list[SignalState] = []
    for key in sorted(series, key=lambda k: (k[0], k[1], k[2] or "")):
        times, values = series[key]
        fleet = series.get((key[0], key[1], None)) if key[2] else None
        fallback = [v for t, v in zip(*fleet, strict=True) if t < reference_end] if fleet else []
        state = assess_signal(key[0], key[1], key[2], times, values, page_time, reference_end, fallback)
        if state is not None:
            out.append(state)
    return out
