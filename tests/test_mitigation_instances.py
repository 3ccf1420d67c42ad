"""Replacing a broken Auto Scaling instance, against the simulated pdf-render estate (one instance's disk is full).

Replacing that instance brings the page's alarm back to OK; replacing a healthy one does not.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import Action, Mitigation, Phase, Plan, PlanStep
from bot.mitigation.catalogue import BoundAction, bind, dry_run
from bot.mitigation.phases import apply, post_validate, pre_validate, rollback
from bot.mitigation.writers import Writers
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.world import simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.writes import AwsWriter
from tests.fixtures_estate import T0

ASG = "pdf-render-asg"


@pytest.fixture
def estate(estates: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    aws = estates.get(simulate(load_scenario(resolve_scenario("pdf-render-disk-full")), T0))
    for key, value in aws.env().items():
        if key != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(key, value)
    aws.reactions.recovery_s = 0.2
    aws.cloudwatch.set_state(aws.alarm_name, "ALARM", "Threshold Crossed (test reset)")
    return aws


def replace(aws: Any, name: str) -> BoundAction:
    step = PlanStep(
        phase=Phase.APPLY,
        description=f"Terminate {name} in {ASG} without lowering desired capacity",
        action=Action.ASG_REPLACE_INSTANCE,
        params={"asg": ASG, "instance_id": aws.instance_ids[name]},
        mutating=True,
    )
    check = PlanStep(
        phase=Phase.PRE_VALIDATE,
        description="alarm",
        action=Action.CHECK_ALARM,
        params={"alarm": aws.alarm_name},
    )
    plan = Plan(mitigation=Mitigation.REPLACE_INSTANCE, summary="Replace", steps=(check, step))
    bound = bind(plan, 1, 1)
    assert isinstance(bound, BoundAction)
    return bound


def test_replacing_the_broken_instance_recovers(estate: Any) -> None:
    w = Writers(AwsWriter(AwsClients(estate.region, max_attempts=1, endpoint_url=estate.endpoint_url)))
    wrong = replace(estate, "i-pdf-render-1")
    assert pre_validate(w, wrong).ok and apply(w, wrong).ok
    assert not post_validate(w, wrong, within_s=0.6, poll_s=0.1).ok  # a healthy one: the alarm stays
    assert rollback(w, wrong, "x").text == "nothing to undo"
    right = replace(estate, "i-pdf-render-2")
    lines = dry_run(right, 10)
    assert any(
        "autoscaling:TerminateInstanceInAutoScalingGroup" in x and "ShouldDecrementDesiredCapacity=false" in x
        for x in lines
    )
    assert pre_validate(w, right).ok and apply(w, right).ok
    assert post_validate(w, right, within_s=10, poll_s=0.1).ok
    again = pre_validate(w, right)  # replaced already: not in the group any more
    assert not again.ok and "not in Auto Scaling group" in again.text
