"""Plans name the exact resources, have every phase, and gate every production change behind approval."""

from __future__ import annotations

import pytest

from bot.analysis.plan import PlanContext, build_plan
from bot.domain import Mitigation, Phase


def test_ecs_rollback_names_both_task_definitions() -> None:
    ctx = PlanContext(
        service="api",
        kind="ecs",
        alarm="api-5xx",
        cluster="prod",
        ecs_service="api",
        current_task_definition="arn:task-definition/api:8",
        previous_task_definition="arn:task-definition/api:7",
    )
    plan = build_plan(Mitigation.ROLLBACK, ctx, "CacheError")
    apply = plan.phase(Phase.APPLY)[0]
    assert apply.mutating and apply.action == "ecs.update_service"
    assert apply.params["task_definition"] == "arn:task-definition/api:7"
    assert plan.phase(Phase.ROLLBACK)[0].params["task_definition"] == "arn:task-definition/api:8"
    assert "CacheError" in plan.long_term_fix


def test_parameter_revert_names_the_old_value_and_instance_replacement_the_instance() -> None:
    ctx = PlanContext(service="orders", parameter="/orders/pool", parameter_old="40", parameter_new="4")
    step = build_plan(Mitigation.REVERT_CONFIG, ctx).phase(Phase.APPLY)[0]
    assert step.params == {"name": "/orders/pool", "value": "40"}
    ctx = PlanContext(service="forge", asg="forge-asg", instance="i-forge-2", instance_id="i-0abc")
    step = next(s for s in build_plan(Mitigation.REPLACE_INSTANCE, ctx).phase(Phase.APPLY) if s.mutating)
    assert step.params == {"asg": "forge-asg", "instance_id": "i-0abc"}


@pytest.mark.parametrize("mitigation", list(Mitigation))
def test_every_plan_has_its_phases_and_mutating_steps_name_an_action(mitigation: Mitigation) -> None:
    plan = build_plan(mitigation, PlanContext(service="svc", alarm="a"))
    assert plan.mitigation is mitigation and plan.summary and plan.long_term_fix
    assert plan.phase(Phase.ROLLBACK)
    assert all(s.action for s in plan.steps if s.mutating)
