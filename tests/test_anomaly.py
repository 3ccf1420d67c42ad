"""Unit tests of the per-series anomaly functions, on small synthetic series."""

from __future__ import annotations

import math

import pytest

from bot.analysis.anomaly import (
    Direction,
    MetricClass,
    MetricKind,
    Scope,
    SeriesData,
    Window,
    assess_series,
    badness,
    classify_metric,
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


@pytest.mark.parametrize(
    ("metric", "kind", "direction", "scope"),
    [
        # Kubernetes pod metrics (Nezha's vocabulary)
        ("PodServerLatencyP90(s)", MetricKind.LATENCY, Direction.UP, Scope.OWN),
        ("PodClientLatencyP99(s)", MetricKind.LATENCY, Direction.UP, Scope.OUTBOUND),
        ("PodSuccessRate(%)", MetricKind.ERRORS, Direction.DOWN, Scope.OWN),
        ("kpi.SuccessRate(%)", MetricKind.ERRORS, Direction.DOWN, Scope.OWN),
        ("CpuUsageRate(%)", MetricKind.SATURATION, Direction.UP, Scope.OWN),
        ("NodeCpuUsageRate(%)", MetricKind.SATURATION, Direction.UP, Scope.HOST),
        ("MemoryUsage(Mi)", MetricKind.SATURATION, Direction.UP, Scope.OWN),
        ("PodWorkload(Ops)", MetricKind.TRAFFIC, Direction.BOTH, Scope.OWN),
        ("NetworkReceiveBytes", MetricKind.TRAFFIC, Direction.BOTH, Scope.OWN),
        ("SyscallWrite", MetricKind.TRAFFIC, Direction.BOTH, Scope.OWN),
        # X-Ray / CloudWatch
        ("latency.p99", MetricKind.LATENCY, Direction.UP, Scope.OWN),
        ("availability.Average", MetricKind.ERRORS, Direction.DOWN, Scope.OWN),
        ("requests.Sum", MetricKind.TRAFFIC, Direction.BOTH, Scope.OWN),
        ("HTTPCode_Target_5XX_Count", MetricKind.ERRORS, Direction.UP, Scope.OWN),
        ("TargetResponseTime", MetricKind.LATENCY, Direction.UP, Scope.OWN),
        ("UnHealthyHostCount", MetricKind.ERRORS, Direction.UP, Scope.OWN),
        ("HealthyHostCount", MetricKind.ERRORS, Direction.DOWN, Scope.OWN),
        ("CPUUtilization", MetricKind.SATURATION, Direction.UP, Scope.OWN),
        ("FreeStorageSpace", MetricKind.SATURATION, Direction.DOWN, Scope.OWN),
        ("ApproximateAgeOfOldestMessage", MetricKind.SATURATION, Direction.UP, Scope.OWN),
        # Prometheus / OpenTelemetry
        ("http_server_request_duration_seconds", MetricKind.LATENCY, Direction.UP, Scope.OWN),
        ("http_client_request_duration_seconds", MetricKind.LATENCY, Direction.UP, Scope.OUTBOUND),
        ("envoy_cluster_upstream_rq_timeout", MetricKind.ERRORS, Direction.UP, Scope.OUTBOUND),
        ("requests/s", MetricKind.TRAFFIC, Direction.BOTH, Scope.OWN),
        ("node_network_transmit_bytes_total", MetricKind.TRAFFIC, Direction.BOTH, Scope.HOST),
        ("rt_ms", MetricKind.LATENCY, Direction.UP, Scope.OWN),
        ("something_odd", MetricKind.UNKNOWN, Direction.BOTH, Scope.OWN),
    ],
)
def test_metrics_are_classified_from_their_words_and_units(
    metric: str, kind: MetricKind, direction: Direction, scope: Scope
) -> None:
    assert classify_metric(metric) == MetricClass(
        kind, direction, scope, classify_metric(metric).percent_of_capacity
    )


def test_percent_of_capacity() -> None:
    assert classify_metric("CpuUsageRate(%)").percent_of_capacity
    assert classify_metric("CPUUtilization").percent_of_capacity
    assert not classify_metric("MemoryUsage(Mi)").percent_of_capacity
    assert not classify_metric("kpi.SuccessRate(%)").percent_of_capacity


def test_a_quantity_floor_keeps_jitter_on_a_quiet_level_from_reading_as_an_incident() -> None:
    quiet = [675.0, 675.1, 674.9, 675.0, 675.0, 674.9, 675.1, 675.0]
    bare, floored = robust_baseline(quiet), robust_baseline(quiet, floor_fraction=0.05)
    assert bare is not None and floored is not None
    assert badness([689.0], bare, Direction.UP)[0] == 100.0  # 2 % more memory: 'maximally anomalous'
    assert badness([689.0], floored, Direction.UP)[0] < 1.0


def test_persistent_with_times_does_not_bridge_a_gap() -> None:
    scores = [0.0, 50.0, 50.0, 0.0]
    assert persistent(scores, [0, 60, 120, 180])[1] == 50.0
    assert persistent(scores, [0, 60, 240, 300])[1:3] == [0.0, 0.0]  # two lone readings, minutes apart
    assert persistent([30.0], [0]) == [30.0]


def test_constant_series_measure_nothing_and_are_skipped() -> None:
    reference, incident = Window(0, 2900), Window(3000, 3600)
    flat = SeriesData.from_points({t: 0.0 for t in range(0, 3700, 100)})
    moving = SeriesData.from_points({t: NOISE[t // 100 % len(NOISE)] for t in range(0, 3700, 100)})
    found = detect_anomalies(
        {("a", "success_rate"): flat, ("a", "latency"): moving}, reference, incident, 5.0
    )
    assert [f.metric for f in found] == ["latency"]


def test_a_utilisation_held_at_its_ceiling_is_exhausted() -> None:
    reference, incident = Window(0, 2900), Window(3000, 3600)
    low = {t: 2.0 + NOISE[t // 100 % len(NOISE)] / 10 for t in range(0, 3000, 100)}
    pinned = SeriesData.from_points({**low, 3000: 99.8, 3100: 99.9, 3200: 99.9})
    blip = SeriesData.from_points({**low, 3000: 99.8, 3100: 40.0, 3200: 99.9})
    found = detect_anomalies(
        {("a", "CpuUsageRate(%)"): pinned, ("b", "CpuUsageRate(%)"): blip, ("c", "CpuUsage(m)"): pinned},
        reference,
        incident,
        5.0,
    )
    assert [(f.node, f.exhausted) for f in found] == [("a", True), ("b", False), ("c", False)]
