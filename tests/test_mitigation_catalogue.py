"""The action catalogue's phases against the simulated flagship estate (moto behind the gateway).

The estate answers: the right fix (pricing back to its previous task definition) brings the page's alarm back
to OK; a wrong one (a new deployment of mobile-bff) leaves it in ALARM, and rollback puts things back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain import Action, Mitigation, Phase, Plan, PlanStep
from bot.mitigation.catalogue import CATALOGUE, BoundAction, Refusal, Risk, bind, dry_run
from bot.mitigation.phases import apply, post_validate, pre_validate, rollback
from bot.mitigation.writers import Writers
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.world import simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.writes import ApiCall, AwsWriter, WriteFailed
from tests.fixtures_estate import T0

ALARM = "mobile-bff-5xx-rate-above-5pct"
CLUSTER = "grocerly-prod"


def flagship_plan(apply_step: PlanStep, rollback_td: str = "pricing:2") -> Plan:
    """The plan the engine makes for the flagship (see test_mitigation_slack for the engine's own)."""
    ecs = {"cluster": CLUSTER, "service": "pricing"}
    return Plan(
        mitigation=Mitigation.ROLLBACK,
        summary="Roll pricing back",
        steps=(
            PlanStep(phase=Phase.PREPARE, description="Note the running task definition"),
            PlanStep(
                phase=Phase.PRE_VALIDATE,
                description="alarm",
                action=Action.CHECK_ALARM,
                params={"alarm": ALARM},
            ),
            apply_step,
            PlanStep(
                phase=Phase.POST_VALIDATE,
                description="ok",
                action=Action.WAIT_ALARM_OK,
                params={"alarm": ALARM},
            ),
            PlanStep(
                phase=Phase.ROLLBACK,
                description="back",
                action=Action.ECS_UPDATE_SERVICE,
                params={**ecs, "task_definition": rollback_td},
                mutating=True,
            ),
        ),
    )


def rollback_step(td: str = "pricing:1") -> PlanStep:
    return PlanStep(
        phase=Phase.APPLY,
        description="Roll pricing back",
        action=Action.ECS_UPDATE_SERVICE,
        params={"cluster": CLUSTER, "service": "pricing", "task_definition": td},
        mutating=True,
    )


@pytest.fixture
def estate(estates: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The flagship estate, put back as the scenario left it (pricing on its bad release, alarm firing)."""
    world = simulate(load_scenario(resolve_scenario("flagship-cache-deploy")), T0)
    aws = estates.get(world)
    aws.reactions.recovery_s = 0.2
    for key, value in aws.env().items():
        if key != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(key, value)
    aws.client("ecs").update_service(cluster=CLUSTER, service="pricing", taskDefinition="pricing:2")
    aws.cloudwatch.set_state(ALARM, "ALARM", "Threshold Crossed (test reset)")
    yield aws


def writer(aws: Any) -> Writers:
    return Writers(AwsWriter(AwsClients(aws.region, max_attempts=1, endpoint_url=aws.endpoint_url)))


def test_bind_takes_every_parameter_from_the_plan_and_refuses_the_rest() -> None:
    plan = flagship_plan(rollback_step())
    bound = bind(plan, 2, 7)
    assert isinstance(bound, BoundAction)
    assert bound.params == {"cluster": CLUSTER, "service": "pricing", "task_definition": "pricing:1"}
    assert (bound.expect, bound.alarm, bound.risk) == ("pricing:2", ALARM, Risk.HIGH)
    assert bound.scope() != bind(flagship_plan(rollback_step("pricing:3")), 2, 7).scope()  # type: ignore[union-attr]
    assert isinstance(bind(plan, 1, 7), Refusal)  # a read check is not run from a button
    failover = PlanStep(phase=Phase.APPLY, description="Fail over the DB", mutating=True)
    refused = bind(flagship_plan(failover), 2, 7)
    assert isinstance(refused, Refusal) and refused.manual_steps == ["Fail over the DB"]
    missing = rollback_step().model_copy(update={"params": {"cluster": CLUSTER, "service": "pricing"}})
    refused = bind(flagship_plan(missing), 2, 7)
    assert isinstance(refused, Refusal) and "task_definition" in refused.reason


def test_dry_run_lists_the_exact_calls() -> None:
    bound = bind(flagship_plan(rollback_step()), 2, 7)
    assert isinstance(bound, BoundAction)
    lines = dry_run(bound, 10)
    assert (
        "apply: ecs:UpdateService cluster=grocerly-prod, service=pricing, taskDefinition=pricing:1" in lines
    )
    assert any(line.startswith("rollback") and "taskDefinition=pricing:2" in line for line in lines)
    assert any("DescribeAlarms AlarmNames=" + ALARM in line and "until OK" in line for line in lines)


def test_nothing_in_the_catalogue_deletes() -> None:
    values = {"config": '{"MemorySize": 512, "ReservedConcurrentExecutions": 5}', "document": "{}"}
    for spec in CATALOGUE.values():
        params = {k: values.get(k, "x/y") for k in spec.needs}
        for kind in ("role-inline", "managed", "bucket"):
            params["policy_kind"] = kind
            for call in spec.calls(params, values.get(spec.target or "", "1")):
                assert not any(w in call.operation for w in ("Delete", "Deregister", "Detach", "Remove"))
                if "Terminate" in call.operation:  # only a replacement: the group keeps its capacity
                    assert call.params["ShouldDecrementDesiredCapacity"] == "false"
    w = Writers(AwsWriter(AwsClients("eu-west-1", endpoint_url="http://127.0.0.1:9")))
    with pytest.raises(WriteFailed, match="not a write call"):
        w.perform(ApiCall("ecs", "DeleteService", {"cluster": "c", "service": "s"}))
    with pytest.raises(WriteFailed, match="not a write call"):
        w.perform(ApiCall("github", "DeleteRepository", {"repo": "a/b"}))


def test_the_right_fix_recovers_the_alarm(estate: Any) -> None:
    w = writer(estate)
    bound = bind(flagship_plan(rollback_step()), 2, 1)
    assert isinstance(bound, BoundAction)
    pre = pre_validate(w, bound)
    assert pre.ok and pre.before == "pricing:2", pre.text
    assert apply(w, bound).ok
    assert w.aws.ecs_task_definition(CLUSTER, "pricing") == "pricing:1"
    post = post_validate(w, bound, within_s=10, poll_s=0.1)
    assert post.ok, post.text
    # done once: doing it again is stopped before anything is called
    again = pre_validate(w, bound)
    assert not again.ok and "already in place" in again.text


def test_a_wrong_fix_does_not_recover_and_is_rolled_back(estate: Any) -> None:
    w = writer(estate)
    wrong = PlanStep(
        phase=Phase.APPLY,
        description="Restart mobile-bff",
        action=Action.ECS_FORCE_NEW_DEPLOYMENT,
        params={"cluster": CLUSTER, "service": "mobile-bff"},
        mutating=True,
    )
    bound = bind(flagship_plan(wrong), 2, 1)
    assert isinstance(bound, BoundAction)
    assert pre_validate(w, bound).ok and apply(w, bound).ok
    post = post_validate(w, bound, within_s=0.6, poll_s=0.1)
    assert not post.ok and "still ALARM" in post.text
    assert rollback(w, bound, "x").text == "nothing to undo"
    assert w.alarm_state(ALARM) == "ALARM"


def test_rollback_restores_what_was_there(estate: Any) -> None:
    w = writer(estate)
    bound = bind(flagship_plan(rollback_step()), 2, 1)
    assert isinstance(bound, BoundAction)
    pre = pre_validate(w, bound)
    assert apply(w, bound).ok
    back = rollback(w, bound, pre.before)
    assert back.ok and w.aws.ecs_task_definition(CLUSTER, "pricing") == "pricing:2"


def test_pre_validation_stops_when_the_world_changed(estate: Any) -> None:
    w = writer(estate)
    bound = bind(flagship_plan(rollback_step(), rollback_td="pricing:2"), 2, 1)
    assert isinstance(bound, BoundAction)
    estate.cloudwatch.set_state(ALARM, "OK", "recovered by itself")
    stopped = pre_validate(w, bound)
    assert not stopped.ok and "is OK, not ALARM" in stopped.text
    estate.cloudwatch.set_state(ALARM, "ALARM", "again")
    estate.client("ecs").update_service(cluster=CLUSTER, service="pricing", taskDefinition="pricing:1")
    stopped = pre_validate(w, bound)
    assert not stopped.ok and "already in place" in stopped.text
    gone = bind(flagship_plan(rollback_step("pricing:9")), 2, 1)
    assert isinstance(gone, BoundAction)
    assert not pre_validate(w, gone).ok


def _wrong_fix(step: PlanStep) -> BoundAction:
    plan = flagship_plan(step)
    bound = bind(plan.model_copy(update={"steps": plan.steps[:4]}), 2, 1)
    assert isinstance(bound, BoundAction)
    return bound


def test_a_lambda_alias_moves_and_is_put_back(estate: Any) -> None:
    w = writer(estate)
    fn = estate.client("lambda")
    fn.update_function_configuration(FunctionName="promo-rules", Description=f"test {uuid.uuid4().hex}")
    published = fn.publish_version(FunctionName="promo-rules")["Version"]
    before = fn.get_alias(FunctionName="promo-rules", Name="live")["FunctionVersion"]
    step = PlanStep(
        phase=Phase.APPLY,
        description="Point promo-rules live at the new version",
        action=Action.LAMBDA_UPDATE_ALIAS,
        params={"function": "promo-rules", "alias": "live", "version": published},
        mutating=True,
    )
    bound = _wrong_fix(step)
    pre = pre_validate(w, bound)
    assert pre.ok and pre.before == before, pre.text
    assert apply(w, bound).calls == [
        f"lambda:UpdateAlias FunctionName=promo-rules, Name=live, FunctionVersion={published}"
    ]
    assert fn.get_alias(FunctionName="promo-rules", Name="live")["FunctionVersion"] == published
    assert not post_validate(w, bound, within_s=0.5, poll_s=0.1).ok  # not the fix: the alarm stays
    assert rollback(w, bound, pre.before).ok
    assert fn.get_alias(FunctionName="promo-rules", Name="live")["FunctionVersion"] == before


def test_an_ecs_desired_count_is_only_raised(estate: Any) -> None:
    w = writer(estate)
    before = w.aws.ecs_desired(CLUSTER, "pricing")
    step = PlanStep(
        phase=Phase.APPLY,
        description="Scale pricing out",
        action=Action.SCALE_OUT,
        params={"cluster": CLUSTER, "service": "pricing", "desired": str(int(before) + 2), "kind": "ecs"},
        mutating=True,
    )
    bound = _wrong_fix(step)
    pre = pre_validate(w, bound)
    assert pre.ok and apply(w, bound).ok
    assert w.aws.ecs_desired(CLUSTER, "pricing") == str(int(before) + 2)
    assert rollback(w, bound, pre.before).ok and w.aws.ecs_desired(CLUSTER, "pricing") == before
    lower = _wrong_fix(step.model_copy(update={"params": {**step.params, "desired": "1"}}))
    stopped = pre_validate(w, lower)
    assert not stopped.ok and "would not raise" in stopped.text


def test_scaling_out_what_the_catalogue_cannot_scale_is_refused() -> None:
    rds = PlanStep(
        phase=Phase.APPLY,
        description="Scale out catalog-db",
        action=Action.SCALE_OUT,
        params={"target": "catalog-db", "kind": "rds"},
        mutating=True,
    )
    refused = bind(flagship_plan(rds), 2, 1)
    assert isinstance(refused, Refusal) and "scaling out a rds service" in refused.reason
    assert refused.manual_steps[0] == "Scale out catalog-db"
