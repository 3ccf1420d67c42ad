"""Diagnosis rules that read what evidence means, on hand-built facts: a dependency that fails for an unchanged
caller too, the account's shared Lambda concurrency, a producer that changed what it sends, a queue's backlog as
a symptom, a full disk as exhaustion, and an honest "inconclusive" with the check that settles each hypothesis."""

from __future__ import annotations

from bot.analysis.diagnose import Diagnosis, diagnose
from bot.analysis.facts import Facts, InstanceFact, LogFact
from bot.analysis.logs import Frame
from bot.domain import Category, ChangeVia, Mitigation
from tests.test_analysis_diagnose import chg, estate, facts, m, sig


def _log(
    service: str, text: str, at: float, *, frames: tuple[Frame, ...] = (), level: str = "ERROR"
) -> LogFact:
    return LogFact(service, text, level, 400, 0, m(at), text, None, frames)


def test_a_deploy_is_cleared_when_an_unchanged_caller_of_the_same_dependency_fails_alike() -> None:
    topo = estate(
        ("web", "ecs", ("quotes", "labels")),
        ("quotes", "ecs", ("carrier",)),
        ("labels", "ecs", ("carrier",)),
        ("carrier", "external", ()),
    )
    deploy = chg("d1", -13, "github-actions", "quotes: deploy of banner text", service="quotes")
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[
            sig("carrier", "error_rate", -10, 0.0, 0.4),
            sig("quotes", "error_rate", -10, 0.002, 0.36),
            sig("labels", "error_rate", -10, 0.0, 0.37),
            sig("web", "error_rate", -9, 0.002, 0.08),
        ],
        changes=[deploy],
        logs=[
            _log("quotes", "carrier rates request timed out: POST https://api.carrier.example/v3/rates", -10),
            _log("labels", "ReadTimeoutError: host='api.carrier.example' read timed out", -10),
        ],
    )
    d = diagnose(f, ["quotes", "carrier", "labels", "web"])
    assert d.guilty is None and d.root_service == "carrier", d.summary
    assert d.category is Category.DEPENDENCY_FAILURE
    assert any("labels, which also calls carrier and had no change" in r for r in _reasons(d, "d1"))


def _reasons(d: Diagnosis, change_id: str) -> tuple[str, ...]:
    return next(v.reasons for v in d.change_verdicts if v.change.id == change_id)


def test_raising_one_functions_reserved_concurrency_starves_the_others() -> None:
    topo = estate(
        ("edge", "ecs", ("pricer", "stock")),
        ("pricer", "lambda", ()),
        ("stock", "lambda", ()),
        ("indexer", "lambda", ()),
    )
    reserve = chg(
        "cfn1",
        -12,
        "cloudformation",
        "ExecuteChangeSet on stack/indexer",
        service="indexer",
        action="ExecuteChangeSet",
        changed=("AWS::Lambda::Function IndexFn ReservedConcurrentExecutions 50 → 900",),
        ships_code=False,
    )
    own = chg("d2", -20, "github-actions", "pricer: deploy of rounding", service="pricer")
    f = facts(
        topology=topo,
        alarm_service="pricer",
        signals=[
            sig("pricer", "throttles_per_min", -11, 0, 1200),
            sig("stock", "throttles_per_min", -11, 0, 900),
            sig("edge", "error_rate", -11, 0.003, 0.2),
        ],
        changes=[reserve, own],
        logs=[
            _log("edge", "pricer invoke: TooManyRequestsException (ConcurrentInvocationLimitExceeded)", -11)
        ],
    )
    d = diagnose(f, ["pricer", "stock", "edge"])
    assert d.guilty is not None and d.guilty.id == "cfn1" and d.root_service == "indexer"
    assert (d.category, d.mitigation) == (Category.CONFIG_CHANGE, Mitigation.REVERT_CONFIG)
    lowered = reserve.model_copy(
        update={"changed": ("AWS::Lambda::Function IndexFn ReservedConcurrentExecutions 900 → 50",)}
    )
    d2 = diagnose(facts(**{**_fields(f), "changes": [lowered, own]}), ["pricer", "stock", "edge"])
    assert d2.guilty is None or d2.guilty.id != "cfn1"  # giving concurrency back starves nobody


def _fields(f: Facts) -> dict[str, object]:
    return {k: getattr(f, k) for k in ("topology", "alarm_service", "signals", "logs")}


def test_a_consumer_whose_unchanged_code_throws_blames_the_producer_that_just_shipped() -> None:
    topo = estate(
        ("intake", "ecs", ("stream",)),
        ("allocator", "lambda", ("stream",)),
        ("stream", "sqs", ()),
    )
    deploy = chg("d1", -12, "github-actions", "intake: publish events in schema v2", service="intake")
    throws = _log(
        "allocator",
        "KeyError: 'room_type' while allocating booking",
        -10,
        frames=(Frame("allocator/handler.py", 44),),
    )
    f = facts(
        topology=topo,
        alarm_service="allocator",
        signals=[
            sig("stream", "oldest_message_age_s", -11, 6, 1400, ramp=True),
            sig("allocator", "error_rate", -10, 0.0, 1.0),
        ],
        changes=[deploy],
        logs=[throws],
    )
    d = diagnose(f, ["stream", "allocator"])
    assert d.guilty is not None and d.guilty.id == "d1" and d.root_service == "intake"
    assert d.category is Category.BAD_DEPLOYMENT
    assert d.key_logs and d.key_logs[0].service == "allocator"  # the victim's errors are the evidence
    timeout = _log("allocator", "connection timed out reading the stream", -10, frames=(Frame("a.py", 1),))
    d2 = diagnose(facts(**{**_fields(f), "logs": [timeout], "changes": [deploy]}), ["stream", "allocator"])
    assert d2.guilty is None  # an infrastructure error says nothing about what the producer sent


def test_a_queue_whose_only_trouble_is_a_backlog_is_a_symptom_of_its_busy_consumer() -> None:
    topo = estate(("gateway", "ecs", ("inbox",)), ("workers", "asg", ("inbox",)), ("inbox", "sqs", ()))
    f = facts(
        topology=topo,
        alarm_service="inbox",
        signals=[
            sig("gateway", "requests_per_min", -100, 360, 930, ramp=True),
            sig("workers", "cpu_pct", -12, 58, 100),
            sig("inbox", "oldest_message_age_s", -10, 25, 5300, ramp=True),
            sig("inbox", "queue_depth", -10, 120, 42000, ramp=True),
        ],
    )
    d = diagnose(f, ["inbox", "workers"])
    assert d.root_service == "workers" and (d.category, d.mitigation) == (
        Category.CAPACITY,
        Mitigation.SCALE_OUT,
    )


def test_a_full_disk_on_one_instance_is_exhaustion_replaced_on_that_instance() -> None:
    topo = estate(("front", "ecs", ("relay",)), ("relay", "asg", ()))
    full = _log("relay", "append to spool failed: OSError: [Errno 28] No space left on device", -10)
    f = facts(
        topology=topo,
        alarm_service="relay",
        signals=[
            sig("relay", "error_rate", -10, 0.001, 1.0, instance="i-3"),
            sig("relay", "cpu_pct", -60, 30, 90, instance="i-1", sustained=False),  # a blip long over
            sig("relay", "error_rate", -10, 0.001, 0.4),
        ],
        instances=[InstanceFact("relay", f"i-{n}", None) for n in (1, 2, 3, 4)],
        logs=[full],
    )
    d = diagnose(f, ["relay"])
    assert (d.category, d.mitigation, d.instance) == (
        Category.RESOURCE_EXHAUSTION,
        Mitigation.REPLACE_INSTANCE,
        "i-3",
    )


def test_two_services_failing_at_once_with_no_change_is_inconclusive_with_a_check_for_each() -> None:
    topo = estate(("web", "ecs", ("a", "b")), ("a", "ecs", ()), ("b", "ecs", ()))
    f = facts(
        topology=topo,
        alarm_service="web",
        signals=[sig("a", "error_rate", -10, 0.0, 0.3), sig("b", "error_rate", -10, 0.0, 0.3)],
    )
    d = diagnose(f, ["a", "b"])
    assert d.inconclusive and d.guilty is None
    assert len(d.hypotheses) >= 2 and all(h.check for h in d.hypotheses)
    assert {h.service for h in d.hypotheses[:2]} == {"a", "b"}
    deploy = chg("d1", -12, "github-actions", "a: deploy", service="a")
    settled = diagnose(facts(**{**_fields(f), "changes": [deploy]}), ["a", "b"])
    assert not settled.inconclusive and settled.guilty is not None


def test_a_person_running_a_change_set_is_a_stack_release_not_a_hand_edit() -> None:
    from bot.analysis.changes import door_of
    from bot.domain import Actor, ActorKind

    person = Actor(name="g.varga", kind=ActorKind.PERSON)
    assert door_of("ExecuteChangeSet", "cloudformation.amazonaws.com", person, {}) is ChangeVia.CLOUDFORMATION
    assert door_of("UpdateFunctionConfiguration", "lambda.amazonaws.com", person, {}) is ChangeVia.CONSOLE
