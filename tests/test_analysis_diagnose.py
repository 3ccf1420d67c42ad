"""Diagnosis on hand-built facts: each decision comes from evidence, not names."""

from __future__ import annotations

from typing import Any

from bot.analysis.diagnose import diagnose
from bot.analysis.facts import Facts, InstanceFact, LogFact, SignalState, StatusFact
from bot.analysis.logs import Frame
from bot.domain import (
    Actor,
    ActorKind,
    Category,
    Change,
    ChangeSource,
    ChangeVia,
    Mitigation,
    Service,
    ServiceKind,
    SignalKey,
    Topology,
    utc,
)

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


def estate(*services: tuple[str, str, tuple[str, ...]]) -> Topology:
    return Topology(services=tuple(Service(name=n, kind=ServiceKind(k), calls=c) for n, k, c in services))


GATEWAY_API_STORE = estate(
    ("gateway", "ecs", ("api",)), ("api", "ecs", ("store",)), ("store", "dynamodb", ())
)


def chg(ident: str, minutes: float, via: str, summary: str, **kw: Any) -> Change:
    source = ChangeSource.GITHUB if via == "github-actions" else ChangeSource.CLOUDTRAIL
    return Change(id=ident, at=utc(m(minutes)), via=ChangeVia(via), summary=summary, source=source, **kw)


def facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(
        alarm_service="gateway", page_time=PAGE, alarm_signal="error_rate", topology=GATEWAY_API_STORE
    )
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def cascade() -> list[SignalState]:
    return [sig("api", "error_rate", -10, 0.002, 0.4), sig("gateway", "error_rate", -8, 0.002, 0.3)]


def test_a_deploy_whose_files_are_in_the_stack_trace_is_the_cause_and_is_rolled_back() -> None:
    deploy = chg(
        "d1",
        -12,
        "github-actions",
        "api: deploy of abc1234",
        service="api",
        commit="abc1234" + "0" * 33,
        files=("api/cache.py",),
    )
    early = chg("d0", -140, "github-actions", "gateway: deploy of 1111111", service="gateway")
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
    assert [r.change_id for r in d.ruled_out] == ["d0"]


def test_a_policy_change_on_a_quiet_dependency_named_by_the_errors_is_the_cause() -> None:
    edit = chg(
        "ct1",
        -9,
        "iam",
        "PutResourcePolicy on table/store by dyana",
        resource="arn:aws:dynamodb:::table/store",
        actor=Actor(name="dyana", kind=ActorKind.PERSON),
        service="store",
        action="PutResourcePolicy",
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
    assert SignalKey(service="api", signal="cpu_pct", instance="i-new-1") in [r.signal for r in d.ruled_out]
    assert d.affected["api"] == m(-10)


def test_a_brief_recovered_blip_is_a_false_alarm() -> None:
    f = facts(
        signals=[sig("gateway", "error_rate", -3, 0.002, 0.05, sustained=False)],
        changes=[chg("d", -7, "github-actions", "gateway deploy", service="gateway")],
    )
    d = diagnose(f, [])
    assert d.root_service is None and d.category is Category.FALSE_ALARM and d.mitigation is Mitigation.NONE
    assert [r.change_id for r in d.ruled_out] == ["d"]


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


def test_a_third_party_whose_status_page_reports_an_outage_and_whose_callers_name_it_is_the_origin() -> None:
    psp_down = LogFact(
        "api", "charge failed: psp timed out <*>", "ERROR", 400, 0, m(-10), "charge failed: psp timed out"
    )
    f = facts(
        topology=estate(("gateway", "ecs", ("api",)), ("api", "ecs", ("psp",)), ("psp", "external", ())),
        signals=cascade(),
        logs=[psp_down],
        statuses=[StatusFact("psp", "outage", "Card payments failing")],
    )
    d = diagnose(f, ["api", "gateway"])
    assert d.root_service == "psp" and d.category is Category.DEPENDENCY_FAILURE


def test_a_bad_status_page_nobody_is_failing_on_does_not_lead() -> None:
    f = facts(
        topology=estate(("gateway", "ecs", ("api",)), ("api", "ecs", ("psp",)), ("psp", "external", ())),
        signals=cascade(),
        statuses=[StatusFact("psp", "degraded", "3-D Secure slow in another region")],
    )
    assert diagnose(f, ["api", "gateway"]).root_service == "api"


def test_steering_ignores_a_service_and_clears_a_change() -> None:
    deploy = chg("d1", -11, "github-actions", "api deploy", service="api")
    f = facts(signals=cascade(), changes=[deploy], cleared_changes=frozenset({"d1"}))
    d = diagnose(f, ["api", "gateway"])
    assert d.guilty is None and "d1" in [r.change_id for r in d.ruled_out]
    f2 = facts(signals=cascade(), ignored_services=frozenset({"api"}))
    assert diagnose(f2, ["api", "gateway"]).root_service == "gateway"


def test_same_facts_same_answer() -> None:
    f = facts(signals=cascade())
    assert (
        diagnose(f, ["api", "gateway"]).summary
        == diagnose(facts(signals=cascade()), ["api", "gateway"]).summary
    )
