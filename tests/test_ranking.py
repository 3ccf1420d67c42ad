"""Unit tests of the root-cause ranking on small synthetic worlds, and metamorphic tests on bench cases."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from bot.analysis.anomaly import Direction, SeriesAnomaly, SeriesData, Window
from bot.analysis.ranking import (
    Alarm,
    RankedCause,
    changed_nodes,
    is_dated,
    rank_from_series,
    rank_root_causes,
)
from bot.domain import Change, ChangeSource, ChangeVia, Topology, utc
from bot.sandbox.bench import Case, find_cases, load_case

STEP = 60
REFERENCE = Window(0, 59 * STEP)
INCIDENT = Window(60 * STEP, 69 * STEP)
NOISE = [10.0, 10.4, 9.6, 10.2, 9.8, 10.1, 9.9, 10.3, 9.7, 10.0]
BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


def series(incident_values: list[float], level: float = 10.0, start: int = 0) -> SeriesData:
    """Sixty noisy reference points around `level`, then the given incident points."""
    points = {start + i * STEP: level * NOISE[i % len(NOISE)] / 10.0 for i in range(60)}
    points.update({(60 + i) * STEP: v for i, v in enumerate(incident_values)})
    return SeriesData.from_points(points)


FLAT = [10.0] * 10
BAD = [10.0] * 3 + [40.0, 45.0, 50.0, 45.0, 40.0] + [10.0] * 2
CHAIN = Topology.of(["web", "api", "db"], [("web", "api"), ("api", "db")])
ALARM = Alarm(node="web", metric="latency_ms", time=63 * STEP)


def names(ranking: Sequence[RankedCause]) -> list[str]:
    return [r.node for r in ranking]


# --- the gate ----------------------------------------------------------------------------------------------


def test_flat_world_gives_an_empty_ranking() -> None:
    world = {(n, "latency_ms"): series(FLAT) for n in CHAIN.names()}
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM, confirmed=True) == []


def test_a_quiet_alarm_and_one_noisy_graph_elsewhere_is_a_false_alarm_unless_a_person_asked() -> None:
    world = {
        ("web", "latency_ms"): series(FLAT),
        ("api", "latency_ms"): series(BAD),
        ("db", "latency_ms"): series(FLAT),
    }
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []
    assert names(rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM, confirmed=True)) == ["api"]


def test_a_single_point_blip_on_the_alarm_is_a_false_alarm() -> None:
    blip = [10.0] * 4 + [80.0] + [10.0] * 5
    world = {("web", "latency_ms"): series(blip), ("api", "latency_ms"): series(FLAT)}
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []


def test_another_symptom_of_the_alarm_node_makes_the_page_real() -> None:
    """A latency alarm whose own metric barely moved, while the same node's errors climbed."""
    errors = [0.0] * 3 + [30.0, 40.0, 40.0, 35.0, 30.0] + [0.0] * 2
    world = {
        ("web", "latency_ms"): series(FLAT),
        ("web", "error_count"): series(errors, level=0.5),
        ("api", "latency_ms"): series(FLAT),
    }
    assert names(rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)) == ["web"]


def test_a_node_plainly_in_trouble_makes_the_page_real() -> None:
    """Busy and slow at once, or a CPU held at its ceiling, is no noisy graph."""
    busy = [10.0] * 3 + [60.0, 70.0, 70.0, 65.0, 60.0] + [10.0] * 2
    slow_and_busy = {
        ("web", "latency_ms"): series(FLAT),
        ("db", "latency_ms"): series(BAD),
        ("db", "cpu_pct"): series(busy),
    }
    assert names(rank_from_series(CHAIN, slow_and_busy, REFERENCE, INCIDENT, ALARM)) == ["db"]
    pinned = [2.0] * 3 + [99.7, 99.9, 99.8] + [2.0] * 4
    at_ceiling = {("web", "latency_ms"): series(FLAT), ("db", "CpuUsageRate(%)"): series(pinned, level=2.0)}
    assert names(rank_from_series(CHAIN, at_ceiling, REFERENCE, INCIDENT, ALARM)) == ["db"]


# --- a reference period right before the incident: departures ---------------------------------------------


def test_the_deepest_failing_node_ranks_first_and_its_callers_are_victims() -> None:
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series([v - 2 for v in BAD]),
        ("db", "latency_ms"): series([v - 4 for v in BAD]),
    }
    ranking = rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)
    assert names(ranking)[0] == "db" and set(names(ranking)) == {"web", "api", "db"}
    assert ranking[0].score >= ranking[1].score >= ranking[2].score
    assert any("no failing dependency" in r for r in ranking[0].reasons)
    assert all(any("victim" in r for r in cause.reasons) for cause in ranking[1:])


def test_a_callee_with_a_tiny_departure_does_not_explain_its_caller() -> None:
    tiny = [10.0] * 3 + [12.0, 12.5, 13.0, 12.5, 12.0] + [10.0] * 2  # anomalous, but adds ~3 ms to ~35 ms
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series(BAD),
        ("db", "latency_ms"): series(tiny),
    }
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)[0].node == "api"


def test_a_callers_slow_calls_are_explained_by_its_slow_callee() -> None:
    """Client-side latency is what a node sees of its dependencies: the slow dependency is the cause."""
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "client_latency_ms"): series(BAD),
        ("api", "server_latency_ms"): series(BAD),
        ("db", "server_latency_ms"): series([v - 4 for v in BAD]),
    }
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)[0].node == "db"


def test_own_saturation_outranks_a_callers_traffic_shift() -> None:
    """Traffic moves with callers; a node's own CPU does not."""
    busy = [10.0] * 3 + [30.0, 35.0, 35.0, 30.0, 30.0] + [10.0] * 2
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "requests_per_min"): series(busy),
        ("db", "cpu_pct"): series(busy),
    }
    assert names(rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM))[:2] == ["db", "api"]


def test_equally_strong_candidates_order_by_earliest_onset() -> None:
    """A dependency that failed first ranks before one that failed later."""
    graph = Topology.of(["web", "a", "b"], [("web", "a"), ("web", "b")])
    times = tuple(range(0, 300, 60))
    scores = (0.0, 0.0, 40.0, 50.0, 40.0)

    def anomaly(node: str, onset: int) -> SeriesAnomaly:
        return SeriesAnomaly(node, "latency_ms", Direction.UP, times, scores, 50.0, onset, 30.0)

    alarm = Alarm("web", "latency_ms", 120)
    found = [anomaly("web", 120), anomaly("a", 120), anomaly("b", 60)]
    assert names(rank_root_causes(graph, found, alarm)) == ["b", "a", "web"]


def test_ties_break_on_the_node_name_whatever_the_input_order() -> None:
    others = ["zeta", "alpha", "mu", "beta"]
    graph = Topology.of(["web", *others], [("web", n) for n in others])
    orders = []
    for rotation in range(len(others)):
        rotated = others[rotation:] + others[:rotation]
        world = {("web", "latency_ms"): series(BAD)}
        world.update({(n, "latency_ms"): series(BAD) for n in rotated})
        orders.append(names(rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)))
    assert all(o == orders[0] for o in orders)
    assert orders[0][:4] == ["alpha", "beta", "mu", "zeta"]


def test_nodes_outside_the_alarms_dependencies_are_ignored() -> None:
    graph = Topology.of(["web", "api", "batch"], [("web", "api")])
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series(FLAT),
        ("batch", "latency_ms"): series(BAD),
    }
    assert names(rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)) == ["web"]


def test_no_edges_means_every_node_is_in_scope() -> None:
    graph = Topology.of(["web", "batch"], [])
    world = {("web", "latency_ms"): series(BAD), ("batch", "cpu_pct"): series(BAD)}
    assert set(names(rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM))) == {"web", "batch"}


def test_pod_series_count_for_their_service() -> None:
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api-7d9f6-x2kq", "latency_ms"): series(FLAT),
        ("api-7d9f6-b8zz", "latency_ms"): series([v + 5 for v in BAD]),
        ("db", "latency_ms"): series(FLAT),
    }
    ranking = rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)
    assert ranking[0].node == "api"
    assert "api-7d9f6-b8zz" in ranking[0].reasons[0]


def test_short_references_gaps_and_jittered_times() -> None:
    """Five reference points, a missing datapoint, and metrics sampled a second apart still rank."""
    reference, incident = (
        Window(-STEP // 2, 4 * STEP + STEP // 2),
        Window(5 * STEP - STEP // 2, 9 * STEP + 30),
    )

    def short(values: list[float], jitter: int = 0, gap: int | None = None) -> SeriesData:
        points = {i * STEP + jitter: v for i, v in enumerate([10.0, 10.5, 9.5, 10.2, 9.8, *values])}
        if gap is not None:
            del points[gap * STEP + jitter]
        return SeriesData.from_points(points)

    world = {
        ("web", "latency_ms"): short([10.0, 40.0, 45.0, 45.0, 40.0]),
        ("api", "latency_ms"): short([10.0, 10.0, 10.0, 10.0, 10.0], jitter=1),
        ("db", "latency_ms"): short([10.0, 45.0, 50.0, 50.0, 45.0], jitter=1, gap=7),
    }
    alarm = Alarm("web", "latency_ms", 6 * STEP)
    graph = Topology.of(["web", "api", "db"], [("web", "api"), ("web", "db")])
    ranking = rank_from_series(graph, world, reference, incident, alarm)
    assert names(ranking) == ["db", "web"]


def test_a_reference_holding_the_tail_of_an_earlier_incident() -> None:
    """The last third of the reference is an earlier incident on the alarm node; the new one is the db's."""
    tail = {i * STEP: 30.0 + NOISE[i % len(NOISE)] for i in range(40, 60)}
    web = series([12.0] * 10).merged(SeriesData.from_points(tail))
    db = [10.0] * 2 + [60.0, 70.0, 70.0, 70.0, 65.0, 60.0, 60.0, 60.0]
    world = {
        ("web", "latency_ms"): web,
        ("web", "error_count"): series([0.5, 0.5, 9.0, 12.0, 12.0, 11.0, 10.0, 10.0, 9.0, 9.0], level=0.5),
        ("api", "latency_ms"): series(FLAT),
        ("db", "latency_ms"): series(db),
        ("db", "cpu_pct"): series(db, level=12.0),
    }
    graph = Topology.of(["web", "api", "db"], [("web", "api"), ("web", "db")])
    assert names(rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM))[0] == "db"


# --- a reference period from another time: co-movement with the alarm --------------------------------------

LAST_WEEK = Window(-7 * 86400, -7 * 86400 + 59 * STEP)


def last_week(incident_values: list[float], level: float = 10.0) -> SeriesData:
    return series(incident_values, level, start=-7 * 86400)


def test_a_reference_from_another_week_is_not_dated() -> None:
    assert is_dated(REFERENCE, INCIDENT)
    assert not is_dated(LAST_WEEK, INCIDENT)
    assert not is_dated(Window(INCIDENT.end + 600, INCIDENT.end + 6000), INCIDENT)


def test_with_an_undated_reference_only_what_moves_with_the_alarm_counts() -> None:
    """A level that differs from last week's all through the window is no part of this incident."""
    world = {
        ("web", "latency_ms"): last_week(BAD),
        ("api", "latency_ms"): last_week([30.0] * 10),  # shifted since last week, steady now
        ("db", "latency_ms"): last_week([v - 4 for v in BAD]),
    }
    ranking = rank_from_series(CHAIN, world, LAST_WEEK, INCIDENT, ALARM)
    assert names(ranking) == ["db", "web"]


# --- changes -----------------------------------------------------------------------------------------------


def change(at: int, text: str, service: str | None = None) -> Change:
    return Change(
        id=f"c{at}",
        at=utc(at),
        via=ChangeVia.API,
        source=ChangeSource.RECORD,
        summary=text,
        service=service,
    )


def test_a_change_naming_a_candidate_promotes_it() -> None:
    graph = Topology.of(["web", "orders", "payments"], [("web", "orders"), ("web", "payments")])
    world = {
        ("web", "latency_ms"): series(BAD),
        ("orders", "latency_ms"): series(BAD),
        ("payments", "latency_ms"): series(BAD),
    }
    assert rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)[0].node == "orders"
    named = change(62 * STEP, "kubectl rollout restart deploy/payments")
    ranking = rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM, [named])
    assert ranking[0].node == "payments"
    assert any("change" in r for r in ranking[0].reasons)
    by_field = change(62 * STEP, "rollout restart", service="payments")
    assert rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM, [by_field])[0].node == "payments"
    too_late = change(70 * STEP, "kubectl rollout restart deploy/payments")
    assert rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM, [too_late])[0].node == "orders"


def test_a_change_names_a_node_by_its_whole_name_only() -> None:
    graph = Topology.of(["payments-api", "orders-api", "inventory-api", "shared-database"], [])
    found = changed_nodes(graph, [change(0, "helm upgrade payments-api to 2.1 on the api database")])
    assert list(found) == ["payments-api"]
    shared_words = changed_nodes(graph, [change(0, "cdk deploy Services: api, database, payments")])
    assert shared_words == {}


# --- metamorphic: what must not change the ranking ---------------------------------------------------------

World = dict[tuple[str, str], SeriesData]


def rank_world(case: Case, confirmed: bool = False) -> list[str]:
    ranking = rank_from_series(
        case.graph, case.series, case.baseline, case.incident, case.alarm, confirmed=confirmed
    )
    return names(ranking)


def renamed(case: Case, rename: Callable[[str], str]) -> Case:
    graph = Topology.of(
        [rename(n) for n in case.graph.names()], [(rename(a), rename(b)) for a, b in case.graph.edges]
    )
    world = {(rename(n), m): data for (n, m), data in case.series.items()}
    return replace(case, graph=graph, series=world, alarm=replace(case.alarm, node=rename(case.alarm.node)))


def shifted(case: Case, by: int) -> Case:
    world = {k: SeriesData(tuple(t + by for t in d.times), d.values) for k, d in case.series.items()}
    return replace(
        case,
        series=world,
        baseline=Window(case.baseline.start + by, case.baseline.end + by),
        incident=Window(case.incident.start + by, case.incident.end + by),
        alarm=replace(case.alarm, time=case.alarm.time + by),
    )


def scaled(case: Case, metric: str, factor: float) -> Case:
    world = {
        k: SeriesData(d.times, tuple(v * factor for v in d.values)) if k[1] == metric else d
        for k, d in case.series.items()
    }
    return replace(case, series=world)


def reordered(case: Case) -> Case:
    return replace(case, series=dict(reversed(list(case.series.items()))))


def synthetic_case() -> Case:
    world: World = {
        ("web", "latency_ms"): series(BAD),
        ("web", "requests_per_min"): series([v * 3 for v in BAD], level=30.0),
        ("api", "client_latency_ms"): series([v - 1 for v in BAD]),
        ("api", "server_latency_ms"): series([v - 2 for v in BAD]),
        ("db", "latency_ms"): series([v - 4 for v in BAD]),
        ("db", "cpu_pct"): series([v + 3 for v in BAD], level=12.0),
    }
    return Case("synthetic", Path("."), CHAIN, world, REFERENCE, INCIDENT, ALARM, ())


@cache
def bench_cases() -> tuple[Case, ...]:
    """One case of each bench shape present (a dated Nezha case, an undated PetShop one)."""
    picked: list[Case] = []
    for folder, wanted in (("nezha/online-boutique", "1661142963"), ("petshop", "high_traffic-test-issue_6")):
        found = (
            [p for p in find_cases(BENCH / folder) if wanted in p.name] if (BENCH / folder).is_dir() else []
        )
        picked.extend(load_case(p) for p in found[:1])
    return tuple(picked)


def order_keeping(name: str) -> str:
    """A rename that keeps names in the same sorted order (the last tie-breaker is the name)."""
    return f"svc-{name.encode().hex()}"


TRANSFORMS: Mapping[str, Callable[[Case], Case]] = {
    "renamed": lambda c: renamed(c, order_keeping),
    "shifted": lambda c: shifted(c, 86400 * 365),
    "reordered": reordered,
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("confirmed", [False, True])
def test_metamorphic_transforms_keep_the_ranking(transform: str, confirmed: bool) -> None:
    for case in [synthetic_case(), *bench_cases()]:
        before = rank_world(case, confirmed)
        after = rank_world(TRANSFORMS[transform](case), confirmed)
        if transform == "renamed":
            after = [bytes.fromhex(n.removeprefix("svc-")).decode() for n in after]
        assert after == before, f"{case.id}: {transform}"
        assert before or not confirmed, f"{case.id}: nothing ranked"


def test_scaling_a_metric_keeps_the_ranking() -> None:
    """Seconds to milliseconds, bytes to kilobytes: a unit is no evidence."""
    for case in [synthetic_case(), *bench_cases()]:
        before = rank_world(case, confirmed=True)
        for metric in sorted({m for _, m in case.series})[:8]:
            if "%" in metric:
                continue  # a percentage has a ceiling of 100: scaling it changes what it says
            assert rank_world(scaled(case, metric, 1000.0), confirmed=True) == before, f"{case.id}: {metric}"
