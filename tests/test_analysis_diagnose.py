"""Diagnosis on hand-built facts: each decision comes from evidence, not names."""

from __future__ import annotations

from bot.analysis.diagnose import diagnose
from bot.analysis.facts import ChangeFact, Facts, InstanceFact, LogFact, SignalState, StatusFact
from bot.analysis.logs import Frame
from bot.domain import Category, Mitigation

PAGE = 1_000_000


def m(minutes: float) -> int:
    return PAGE + int(minutes * 60)


def sig(
    service: str,
    signal: str,
    onset: float,
    base: float,
    peak: float,
    *,
    instance: str | None = None,
    sustained: bool = True,
    ramp: bool = False,
    start: float | None = None,
) -> SignalState:
    return SignalState(
        service,
        signal,
        instance,
        50.0,
        m(onset),
        m(start if start is not None else onset),
        base,
        peak,
        peak if sustained else base,
        sustained,
        ramp,
    )


def facts(**kw: object) -> Facts:
    base = dict(
        alarm_service="gateway",
        page_time=PAGE,
        alarm_signal="error_rate",
        services=("gateway", "api", "store"),
        edges=(("gateway", "api"), ("api", "store")),
        kinds={"gateway": "ecs", "api": "ecs", "store": "dynamodb"},
    )
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def cascade() -> list[SignalState]:
    return [sig("api", "error_rate", -10, 0.002, 0.4), sig("gateway", "error_rate", -8, 0.002, 0.3)]


def test_a_deploy_whose_files_are_in_the_stack_trace_is_the_cause_and_is_rolled_back() -> None:
    deploy = ChangeFact(
        "d1",
        m(-12),
        "github-actions",
        "api: deploy of abc1234",
        service="api",
        commit="abc1234" + "0" * 33,
        files=("api/cache.py",),
        source="github",
    )
    early = ChangeFact(
        "d0", m(-140), "github-actions", "gateway: deploy of 1111111", service="gateway", source="github"
    )
    log = LogFact(
        "api",
        "CacheError: bad <*>",
        "ERROR",
        300,
        0,
        m(-10),
        "CacheError: bad 12",
        "CacheError",
        (Frame("api/handlers.py", 3), Frame("api/cache.py", 88)),
    )
    d = diagnose(facts(signals=cascade(), changes=[early, deploy], logs=[log]), ["api", "gateway"])
    assert d.root_service == "api" and d.guilty is not None and d.guilty.id == "d1"
    assert (d.category, d.mitigation) == (Category.BAD_DEPLOYMENT, Mitigation.ROLLBACK)
    assert any("api/cache.py" in r for r in d.reasons)
    assert [r.ref for r in d.ruled_out] == ["change:d0"]


def test_a_policy_change_on_a_quiet_dependency_named_by_the_errors_is_the_cause() -> None:
    edit = ChangeFact(
        "ct1",
        m(-9),
        "iam",
        "PutResourcePolicy on table/store by dyana",
        resource="arn:aws:dynamodb:::table/store",
        actor="dyana",
        service="store",
        source="cloudtrail",
    )
    log = LogFact(
        "api",
        "AccessDeniedException on <*>",
        "ERROR",
        500,
        0,
        m(-8),
        "ClientError (AccessDeniedException) ... on resource: table/store",
        "AccessDeniedException",
    )
    d = diagnose(facts(signals=cascade(), changes=[edit], logs=[log]), ["api", "gateway"])
    assert d.root_service == "store" and d.guilty is not None
    assert (d.category, d.mitigation) == (Category.PERMISSION_CHANGE, Mitigation.REVERT_PERMISSION)


def test_boot_cpu_on_fresh_instances_is_ruled_out() -> None:
    f = facts(
        signals=[*cascade(), sig("api", "cpu_pct", -11, 30, 95, instance="i-new-1", sustained=False)],
        instances=[InstanceFact("api", "i-new-1", m(-12))],
    )
    d = diagnose(f, ["api"])
    assert "signal:api:cpu_pct:i-new-1" in [r.ref for r in d.ruled_out]
    assert d.affected["api"] == m(-10)


def test_a_brief_recovered_blip_is_a_false_alarm() -> None:
    f = facts(
        signals=[sig("gateway", "error_rate", -3, 0.002, 0.05, sustained=False)],
        changes=[
            ChangeFact("d", m(-7), "github-actions", "gateway deploy", service="gateway", source="github")
        ],
    )
    d = diagnose(f, [])
    assert d.root_service is None and d.category is Category.FALSE_ALARM and d.mitigation is Mitigation.NONE
    assert [r.ref for r in d.ruled_out] == ["change:d"]


def test_saturation_under_a_traffic_surge_is_capacity() -> None:
    f = facts(
        signals=[
            sig("gateway", "requests_per_min", -40, 1000, 3200),
            sig("store", "throttles_per_min", -30, 0, 400),
            sig("api", "latency_p99_ms", -29, 200, 4000),
            sig("gateway", "latency_p99_ms", -28, 200, 4200),
        ]
    )
    d = diagnose(f, ["store", "api", "gateway"])
    assert d.root_service == "store" and (d.category, d.mitigation) == (
        Category.CAPACITY,
        Mitigation.SCALE_OUT,
    )


def test_one_bad_instance_with_no_change_is_infrastructure() -> None:
    f = facts(
        signals=[sig("api", "error_rate", -10, 0.002, 0.9, instance="i-2"), *cascade()],
        instances=[InstanceFact("api", f"i-{n}", None) for n in (1, 2, 3)],
    )
    d = diagnose(f, ["api"])
    assert (d.category, d.mitigation, d.instance) == (
        Category.INFRASTRUCTURE_FAILURE,
        Mitigation.REPLACE_INSTANCE,
        "i-2",
    )


def test_a_third_party_whose_status_page_reports_an_outage_is_the_origin() -> None:
    f = facts(
        services=("gateway", "api", "psp"),
        edges=(("gateway", "api"), ("api", "psp")),
        kinds={"gateway": "ecs", "api": "ecs", "psp": "external"},
        signals=cascade(),
        statuses=[StatusFact("psp", "outage", "Card payments failing")],
    )
    d = diagnose(f, ["api", "gateway"])
    assert d.root_service == "psp" and d.category is Category.DEPENDENCY_FAILURE


def test_steering_ignores_a_service_and_clears_a_change() -> None:
    deploy = ChangeFact("d1", m(-11), "github-actions", "api deploy", service="api", source="github")
    f = facts(signals=cascade(), changes=[deploy], cleared_changes=frozenset({"d1"}))
    d = diagnose(f, ["api", "gateway"])
    assert d.guilty is None and "change:d1" in [r.ref for r in d.ruled_out]
    f2 = facts(signals=cascade(), ignored_services=frozenset({"api"}))
    assert diagnose(f2, ["api", "gateway"]).root_service == "gateway"


def test_same_facts_same_answer() -> None:
    f = facts(signals=cascade())
    assert (
        diagnose(f, ["api", "gateway"]).summary
        == diagnose(facts(signals=cascade()), ["api", "gateway"]).summary
    )
