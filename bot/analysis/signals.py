"""Assess each service signal against its own early history: onset, when the departure really started,
how strong, whether it is still going, whether it crept up (a leak) or stepped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bot.analysis.anomaly import Direction, assess_series, persistent, robust_baseline
from bot.analysis.facts import SignalState
from bot.domain import SignalKey

#: Robust z-score a departure must reach to count.
THRESHOLD = 6.0
#: Where a departure is said to start when walking back from its onset.
START_LEVEL = 3.0
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
    key: SignalKey,
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
    found = assess_series(key.service, key.signal, wt, wv, base, THRESHOLD)
    sign = -1.0 if found.direction is Direction.DOWN else 1.0
    min_move = max(MIN_RELATIVE_CHANGE * abs(base.median), MIN_ABSOLUTE_CHANGE.get(key.signal, 0.0))

    def departure(v: float) -> float:
        return abs(v - base.median) if found.direction is Direction.BOTH else sign * (v - base.median)

    held = persistent(found.scores)
    real = [held[i] >= THRESHOLD and departure(wv[i]) >= min_move for i in range(len(wv))]
    # The onset is the first point of a departure that is both unusual and big, held for two points.
    i_onset = next((i for i in range(len(real)) if real[i] and (i + 1 == len(real) or real[i + 1])), None)
    peak_i = max(range(len(wv)), key=lambda i: departure(wv[i]))
    peak_value = wv[peak_i]
    onset = wt[i_onset] if i_onset is not None else None
    start = ended = None
    sustained = False
    ramp = False
    if i_onset is not None and onset is not None:
        j = i_onset
        # Walking back, a point belongs to the departure only when it is itself a real move (half the size a
        # departure must reach): jitter just above a quiet median is not where the departure began.
        while j > 0 and held[j - 1] >= START_LEVEL and departure(wv[j - 1]) >= min_move / 2:
            j -= 1
        start = wt[j]
        sustained = sum(1 for k in range(max(0, len(real) - 3), len(real)) if held[k] >= THRESHOLD / 2) >= 2
        if not sustained:
            ended = wt[max(k for k in range(len(real)) if real[k])]
        # A ramp (a leak, a slow saturation) takes long to get most of the way to its peak.
        near_peak = next(
            (k for k in range(j, len(wv)) if departure(wv[k]) >= 0.7 * departure(peak_value)), len(wv) - 1
        )
        ramp = (
            wt[near_peak] - start >= RAMP_SECONDS
            and straightness(wt[j : near_peak + 1], wv[j : near_peak + 1]) >= 0.8
        )
        if ramp:
            start = min(start, ramp_start(wt[j:], wv[j:], base.median))
    return SignalState(
        service=key.service,
        signal=key.signal,
        instance=key.instance,
        seen_from=key.seen_from,
        score=found.peak if onset is not None else 0.0,
        onset=onset,
        start=start,
        baseline=base.median,
        peak_value=peak_value,
        last_value=wv[-1],
        sustained=sustained,
        ramp=ramp,
        ended=ended,
    )


def straightness(times: Sequence[int], values: Sequence[float]) -> float:
    """R² of a straight-line fit: near 1 for a steady climb, lower for steps and plateaus."""
    if len(times) < 4:
        return 0.0
    xs = np.asarray(times, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    slope, intercept = np.polyfit(xs - xs[0], ys, 1)
    resid = ys - (slope * (xs - xs[0]) + intercept)
    total = float(np.sum((ys - ys.mean()) ** 2))
    return 1.0 - float(np.sum(resid**2)) / total if total > 0 else 0.0


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
    series: Mapping[SignalKey, tuple[Sequence[int], Sequence[float]]],
    page_time: int,
    history_start: int,
) -> list[SignalState]:
    """Assess every series; results sorted by (service, signal, instance)."""
    reference_end = history_start + reference_length(page_time - history_start)
    out: list[SignalState] = []
    for key in sorted(series, key=lambda k: (k.service, k.signal, k.instance or "", k.seen_from or "")):
        times, values = series[key]
        fallback: list[float] = []
        if key.instance:
            # An instance with no history of its own is judged against its siblings' early history.
            for other, (ots, ovs) in series.items():
                if (
                    (other.service, other.signal) == (key.service, key.signal)
                    and other.instance
                    and other != key
                ):
                    fallback += [v for t, v in zip(ots, ovs, strict=True) if t < reference_end]
        state = assess_signal(key, times, values, page_time, reference_end, fallback)
        if state is not None:
            out.append(state)
    return out
