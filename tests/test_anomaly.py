"""Unit tests of the per-series anomaly functions, on small synthetic series."""

from __future__ import annotations

import math

import pytest

from bot.analysis.anomaly import (
    Direction,
    SeriesData,
    Window,
    assess_series,
    badness,
    detect_anomalies,
    metric_direction,
    onset_index,
    pearson,
    persistent,
    robust_baseline,
)

NOISE = [10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.3, 9.7, 10.0] * 3


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("latency.Average", Direction.UP),
        ("latency_p99_ms", Direction.UP),
        ("error_rate", Direction.UP),
        ("cpu_pct", Direction.UP),
        ("memory_pct", Direction.UP),
        ("ApproximateAgeOfOldestMessage", Direction.UP),
        ("UnHealthyHostCount", Direction.UP),
        ("availability.Average", Direction.DOWN),
        ("healthy_hosts", Direction.DOWN),
        ("HealthyHostCount", Direction.DOWN),
        ("requests.Sum", Direction.BOTH),
        ("requests_per_min", Direction.BOTH),
    ],
)
def test_metric_direction_from_name(metric: str, direction: Direction) -> None:
    assert metric_direction(metric) is direction


def test_robust_baseline_ignores_outliers_and_needs_data() -> None:
    base = robust_baseline([*NOISE, 1000.0])
    assert base is not None
    assert base.median == pytest.approx(10.0, abs=0.1)
    assert base.scale < 1.0
    assert robust_baseline([1.0, 2.0]) is None
    assert robust_baseline([math.nan] * 10) is None


def test_flat_baseline_still_has_a_positive_scale() -> None:
    base = robust_baseline([100.0] * 50)
    assert base is not None and base.scale > 0
    mostly_flat = robust_baseline([100.0] * 45 + [99.0] * 5)
    assert mostly_flat is not None and 0 < mostly_flat.scale < 1.0


def test_badness_is_signed_by_bad_direction() -> None:
    base = robust_baseline(NOISE)
    assert base is not None
    assert badness([20.0], base, Direction.UP)[0] > 5
    assert badness([20.0], base, Direction.DOWN)[0] < -5
    assert badness([0.0], base, Direction.BOTH)[0] > 5


def test_persistent_damps_a_lone_spike_but_keeps_a_step() -> None:
    assert persistent([0.0, 50.0, 0.0]) == [0.0, 0.0, 0.0]
    assert persistent([0.0, 50.0, 30.0, 0.0])[1] == 50.0
    assert persistent([1.0, 50.0, 1.0])[1] == 2.0


@pytest.mark.parametrize(
    ("shape", "expected_onset"),
    [
        ("spike", None),  # one bad point is not an incident
        ("step", 5),
        ("ramp", 7),
    ],
)
def test_onset_of_spike_step_ramp(shape: str, expected_onset: int | None) -> None:
    base = robust_baseline(NOISE)
    assert base is not None
    values = {
        "spike": [10.0] * 5 + [40.0] + [10.0] * 4,
        "step": [10.0] * 5 + [30.0] * 5,
        "ramp": [10.0] * 5 + [10.0 + 0.6 * i for i in range(1, 6)],
    }[shape]
    times = list(range(0, 600, 60))
    found = assess_series("svc", "latency_ms", times, values, base, threshold=5.0)
    assert found.onset == (None if expected_onset is None else times[expected_onset])
    if shape == "step":
        assert found.peak > 5 and found.excess == pytest.approx(20.0)


def test_onset_index_threshold() -> None:
    assert onset_index([0.0, 6.0, 6.0], 5.0) == 1
    assert onset_index([0.0, 1.0, 2.0], 5.0) is None


def test_pearson_handles_constant_and_short_input() -> None:
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0
    assert pearson([1.0, 2.0], [1.0, 2.0]) == 0.0


def test_series_window_and_merge() -> None:
    a = SeriesData.from_points({3: 3.0, 1: 1.0, 2: 2.0})
    assert a.within(Window(2, 3)) == SeriesData((2, 3), (2.0, 3.0))
    b = SeriesData((10, 11), (10.0, 11.0))
    assert a.merged(b).times == (1, 2, 3, 10, 11)
    assert b.merged(a).times == (1, 2, 3, 10, 11)
    overlap = a.merged(SeriesData((2, 4), (20.0, 4.0)))
    assert overlap == SeriesData((1, 2, 3, 4), (1.0, 20.0, 3.0, 4.0))


def test_detect_anomalies_skips_series_without_baseline() -> None:
    reference, incident = Window(0, 2900), Window(3000, 3600)
    normal = {t: NOISE[i % len(NOISE)] for i, t in enumerate(range(0, 3000, 100))}
    series = {
        ("a", "latency"): SeriesData.from_points({**normal, 3000: 30.0, 3100: 30.0}),
        ("new", "latency"): SeriesData.from_points({3000: 30.0, 3100: 30.0}),
    }
    found = detect_anomalies(series, reference, incident, threshold=5.0)
    assert [f.key for f in found] == [("a", "latency")]
    assert found[0].onset == 3000
