"""Unit tests of the root-cause ranking on small synthetic worlds."""

from __future__ import annotations

from bot.analysis.anomaly import Direction, SeriesAnomaly, SeriesData, Window
from bot.analysis.ranking import Alarm, changed_nodes, rank_from_series, rank_root_causes
from bot.domain import Change, ChangeSource, ChangeVia, Topology, utc

STEP = 60
REFERENCE = Window(0, 59 * STEP)
INCIDENT = Window(60 * STEP, 69 * STEP)
NOISE = [10.0, 10.4, 9.6, 10.2, 9.8, 10.1, 9.9, 10.3, 9.7, 10.0]


def series(incident_values: list[float], level: float = 10.0) -> SeriesData:
    """Sixty noisy reference points around `level`, then the given incident points."""
    points = {i * STEP: level * NOISE[i % len(NOISE)] / 10.0 for i in range(60)}
    points.update({(60 + i) * STEP: v for i, v in enumerate(incident_values)})
    return SeriesData.from_points(points)


FLAT = [10.0] * 10
BAD = [10.0] * 3 + [40.0, 45.0, 50.0, 45.0, 40.0] + [10.0] * 2
CHAIN = Topology.of(["web", "api", "db"], [("web", "api"), ("api", "db")])
ALARM = Alarm(node="web", metric="latency_ms", time=63 * STEP)


def test_flat_world_gives_an_empty_ranking() -> None:
    world = {(n, "latency_ms"): series(FLAT) for n in CHAIN.names()}
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []


def test_alarm_not_anomalous_gives_an_empty_ranking_even_if_something_else_is() -> None:
    world = {
        ("web", "latency_ms"): series(FLAT),
        ("api", "latency_ms"): series(BAD),
        ("db", "latency_ms"): series(FLAT),
    }
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []


def test_a_single_point_blip_on_the_alarm_is_a_false_alarm() -> None:
    blip = [10.0] * 4 + [80.0] + [10.0] * 5
    world = {("web", "latency_ms"): series(blip), ("api", "latency_ms"): series(FLAT)}
    assert rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM) == []


def test_the_deepest_failing_node_ranks_first() -> None:
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series([v - 2 for v in BAD]),
        ("db", "latency_ms"): series([v - 4 for v in BAD]),
    }
    ranking = rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)
    assert [r.node for r in ranking] == ["db", "api", "web"]
    assert ranking[0].score >= ranking[1].score >= ranking[2].score
    assert any("no failing dependency" in r for r in ranking[0].reasons)
    assert any("victim" in r for r in ranking[1].reasons)


def test_a_callee_with_a_tiny_departure_does_not_explain_its_caller() -> None:
    tiny = [10.0] * 3 + [12.0, 12.5, 13.0, 12.5, 12.0] + [10.0] * 2  # anomalous, but adds ~3 ms to ~35 ms
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series(BAD),
        ("db", "latency_ms"): series(tiny),
    }
    ranking = rank_from_series(CHAIN, world, REFERENCE, INCIDENT, ALARM)
    assert ranking[0].node == "api"


def test_equally_relevant_candidates_order_by_earliest_onset() -> None:
    """A dependency that failed first ranks before one that failed later."""
    graph = Topology.of(["web", "a", "b"], [("web", "a"), ("web", "b")])
    times = tuple(range(0, 300, 60))
    scores = (0.0, 0.0, 40.0, 50.0, 40.0)

    def anomaly(node: str, onset: int) -> SeriesAnomaly:
        return SeriesAnomaly(node, "latency_ms", Direction.UP, times, scores, 50.0, onset, 30.0)

    alarm = Alarm("web", "latency_ms", 120)
    found = [anomaly("web", 120), anomaly("a", 120), anomaly("b", 60)]
    assert [r.node for r in rank_root_causes(graph, found, alarm)] == ["b", "a", "web"]


def test_ties_break_on_the_node_name_whatever_the_input_order() -> None:
    names = ["zeta", "alpha", "mu", "beta"]
    graph = Topology.of(["web", *names], [("web", n) for n in names])
    orders = []
    for rotation in range(len(names)):
        rotated = names[rotation:] + names[:rotation]
        world = {("web", "latency_ms"): series(BAD)}
        world.update({(n, "latency_ms"): series(BAD) for n in rotated})
        orders.append([r.node for r in rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)])
    assert all(o == orders[0] for o in orders)
    assert orders[0][:4] == ["alpha", "beta", "mu", "zeta"]


def test_nodes_outside_the_alarms_dependencies_are_ignored() -> None:
    graph = Topology.of(["web", "api", "batch"], [("web", "api")])
    world = {
        ("web", "latency_ms"): series(BAD),
        ("api", "latency_ms"): series(FLAT),
        ("batch", "latency_ms"): series(BAD),
    }
    assert [r.node for r in rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)] == ["web"]


def test_no_edges_means_every_node_is_in_scope() -> None:
    graph = Topology.of(["web", "batch"], [])
    world = {("web", "latency_ms"): series(BAD), ("batch", "cpu_pct"): series(BAD)}
    assert {r.node for r in rank_from_series(graph, world, REFERENCE, INCIDENT, ALARM)} == {"web", "batch"}


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
