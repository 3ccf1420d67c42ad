"""Plans name the exact resources, have every phase, gate every production change behind approval, and never
guess: a step names an action only with every parameter it needs, else it says what to look up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.analysis.plan import ACTION_PARAMS, PlanContext, build_plan, config_text, scaled_out
from bot.domain import Action, Mitigation, Phase, Plan, PlanStep

FULL = PlanContext(
    service="api",
    kind="ecs",
    alarm="api-5xx",
    cluster="prod",
    ecs_service="api",
    current_task_definition="arn:task-definition/api:8",
    previous_task_definition="arn:task-definition/api:7",
    asg="api-asg",
    stack="api-stack",
    function="api-fn",
    alias="live",
    current_version="4",
    previous_version="3",
    parameter="/api/pool",
    parameter_old="40",
    parameter_new="4",
    instance="api-2",
    instance_id="i-0abc",
    resource="arn:aws:s3:::api-bucket",
    change_action="PutBucketPolicy",
    actor="alice",
    role="arn:aws:iam::1:role/api-task",
    repo="acme/api",
    commit="abcdef0123456789",
    parent_commit="0123456789abcdef",
    desired=4,
    policy_kind="bucket",
    policy="api-bucket",
    policy_old='{"Statement":[]}',
    policy_new='{"Statement":[{"Effect":"Deny"}]}',
    workflow="deploy.yml",
    good_run="41",
    bad_run="42",
)
BARE = PlanContext(service="svc", alarm="a")
EMPTY = PlanContext(service=None)

ALL_PHASES = list(Phase)
PHASES = {m: ALL_PHASES for m in Mitigation} | {
    Mitigation.NONE: [Phase.PREPARE, Phase.POST_VALIDATE, Phase.ROLLBACK]
}
# Mitigations the catalogue can carry out: with every resource known, their apply step is executable.
EXECUTABLE = set(Mitigation) - {Mitigation.FAILOVER, Mitigation.WAIT, Mitigation.NONE}


def _executable(step: PlanStep) -> bool:
    return step.action is not None and step.mutating


def _applies(plan: Plan) -> list[PlanStep]:
    return [s for s in plan.phase(Phase.APPLY) if _executable(s)]


def _assert_well_formed(plan: Plan) -> None:
    """Phases in order; a step names an `Action` only with all its params; nothing unknown is printed."""
    order = [ALL_PHASES.index(s.phase) for s in plan.steps]
    assert order == sorted(order)
    assert plan.summary and plan.long_term_fix
    for step in plan.steps:
        if step.action is not None:
            assert isinstance(step.action, Action)
            assert all(step.params.get(k) for k in ACTION_PARAMS[step.action]), step
        assert "None" not in step.description and "None" not in step.params.values(), step
        assert "``" not in step.description


def test_every_catalogue_action_lists_its_params() -> None:
    assert set(ACTION_PARAMS) == set(Action)


@pytest.mark.parametrize("mitigation", list(Mitigation))
def test_every_mitigation_builds_its_phases_and_executable_steps_carry_their_params(
    mitigation: Mitigation,
) -> None:
    plan = build_plan(mitigation, FULL, "CacheError")
    assert plan.mitigation is mitigation
    assert sorted({s.phase for s in plan.steps}, key=ALL_PHASES.index) == PHASES[mitigation]
    _assert_well_formed(plan)
    assert bool(_applies(plan)) == (mitigation in EXECUTABLE)


@pytest.mark.parametrize("ctx", [BARE, EMPTY], ids=["bare", "empty"])
@pytest.mark.parametrize("mitigation", list(Mitigation))
def test_without_resources_nothing_is_executable_and_nothing_is_invented(
    mitigation: Mitigation, ctx: PlanContext
) -> None:
    plan = build_plan(mitigation, ctx)
    assert sorted({s.phase for s in plan.steps}, key=ALL_PHASES.index) == PHASES[mitigation]
    _assert_well_formed(plan)
    assert not [s for s in plan.steps if _executable(s)]
    assert "`the " not in " ".join(s.description for s in plan.steps)  # no made-up name in backticks


def test_ecs_rollback_names_both_task_definitions() -> None:
    plan = build_plan(Mitigation.ROLLBACK, FULL, "CacheError")
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.mutating and apply.action is Action.ECS_UPDATE_SERVICE
    assert apply.params == {
        "cluster": "prod",
        "service": "api",
        "task_definition": "arn:task-definition/api:7",
    }
    assert apply.description == "Roll `api` (cluster `prod`) back to `arn:task-definition/api:7`"
    check = plan.phase(Phase.PRE_VALIDATE)[1]
    assert check.action is Action.DESCRIBE_TASK_DEFINITION and not check.mutating
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.action is Action.ECS_UPDATE_SERVICE
    assert undo.params["task_definition"] == "arn:task-definition/api:8"
    assert "CacheError" in plan.long_term_fix and "abcdef0" in plan.long_term_fix


def test_ecs_rollback_without_a_known_previous_revision_names_none() -> None:
    ctx = replace(FULL, previous_task_definition=None)
    plan = build_plan(Mitigation.ROLLBACK, ctx)
    _assert_well_formed(plan)
    text = " ".join(s.description for s in plan.steps) + " ".join(str(s.params) for s in plan.steps)
    assert "api:7" not in text  # never `rev - 1`
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.mutating and apply.action is None and "task_definition" not in apply.params
    assert "last good task definition" in apply.description
    find = plan.phase(Phase.PRE_VALIDATE)[1]
    assert find.action is None
    assert "PRIMARY" in find.description and "aws ecs describe-services" in find.description
    # going back to the running revision is still exact
    assert plan.phase(Phase.ROLLBACK)[0].params["task_definition"] == "arn:task-definition/api:8"


def test_lambda_rollback_points_the_alias_back() -> None:
    ctx = replace(FULL, ecs_service=None)
    plan = build_plan(Mitigation.ROLLBACK, ctx)
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.LAMBDA_UPDATE_ALIAS
    assert apply.params == {"function": "api-fn", "alias": "live", "version": "3"}
    assert apply.description == "Point alias `live` of `api-fn` back to version 3"
    assert plan.phase(Phase.ROLLBACK)[0].params == {"function": "api-fn", "alias": "live", "version": "4"}
    # without the alias or the current version, those steps are for a human
    plan = build_plan(Mitigation.ROLLBACK, replace(ctx, alias=None, current_version=None))
    _assert_well_formed(plan)
    assert not [s for s in plan.steps if _executable(s)]
    assert "aws lambda list-aliases" in plan.phase(Phase.PREPARE)[0].description


def test_rollback_without_ecs_or_lambda_redeploys_the_parent_commit() -> None:
    plan = build_plan(Mitigation.ROLLBACK, replace(FULL, ecs_service=None, function=None))
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.GITHUB_REDEPLOY
    assert apply.params == {
        "repo": "acme/api",
        "workflow": "deploy.yml",
        "run_id": "41",
        "ref": "0123456789abcdef",
        "revert": "abcdef0123456789",
    }
    assert apply.description.startswith("Redeploy api at 0123456 (revert abcdef0) — stack `api-stack`")
    assert apply.description.endswith("re-run `deploy.yml` run 41")
    assert plan.phase(Phase.ROLLBACK)[0].params == {
        "repo": "acme/api",
        "workflow": "deploy.yml",
        "run_id": "42",
        "ref": "abcdef0123456789",
    }
    unknown = build_plan(Mitigation.ROLLBACK, replace(FULL, ecs_service=None, function=None, good_run=None))
    assert unknown.phase(Phase.APPLY)[0].action is None  # no good run found: a person redeploys
    plan = build_plan(Mitigation.ROLLBACK, replace(BARE, repo="acme/svc"))
    assert not _applies(plan) and "acme/svc" in plan.phase(Phase.PREPARE)[0].description


def test_parameter_revert_names_the_old_value() -> None:
    ctx = PlanContext(service="orders", parameter="/orders/pool", parameter_old="40", parameter_new="4")
    plan = build_plan(Mitigation.REVERT_CONFIG, ctx)
    step = plan.phase(Phase.APPLY)[0]
    assert step.action is Action.SSM_PUT_PARAMETER and step.params == {"name": "/orders/pool", "value": "40"}
    restart = plan.phase(Phase.APPLY)[1]
    assert restart.mutating and restart.action is None  # no ECS service to force a deployment of
    ecs = build_plan(Mitigation.REVERT_CONFIG, replace(ctx, cluster="prod", ecs_service="orders"))
    assert ecs.phase(Phase.APPLY)[1].action is Action.ECS_FORCE_NEW_DEPLOYMENT


def test_missing_old_parameter_value_yields_no_executable_apply_step() -> None:
    ctx = PlanContext(service="orders", alarm="orders-5xx", parameter="/orders/pool", parameter_new="4")
    plan = build_plan(Mitigation.REVERT_CONFIG, ctx)
    _assert_well_formed(plan)
    assert not _applies(plan)
    step = plan.phase(Phase.APPLY)[0]
    assert step.mutating and step.params == {"name": "/orders/pool"}
    assert "aws ssm get-parameter-history" in plan.phase(Phase.PREPARE)[0].description
    # undoing the revert still knows the value it puts back
    assert plan.phase(Phase.ROLLBACK)[0].params == {"name": "/orders/pool", "value": "4"}


def test_cloudtrail_revert_undoes_the_change_and_a_human_reapplies_it() -> None:
    plan = build_plan(Mitigation.REVERT_CONFIG, replace(FULL, parameter=None))
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.AWS_REVERT_CHANGE
    assert apply.params == {"resource": "arn:aws:s3:::api-bucket", "change": "PutBucketPolicy"}
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.mutating and undo.action is None  # re-applying is not "revert the change" again


def test_permission_revert_simulates_the_role_and_restores_the_policy() -> None:
    plan = build_plan(Mitigation.REVERT_PERMISSION, FULL)
    simulate = plan.phase(Phase.PRE_VALIDATE)[1]
    assert simulate.action is Action.IAM_SIMULATE
    assert simulate.params == {"role": "arn:aws:iam::1:role/api-task", "resource": "arn:aws:s3:::api-bucket"}
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.IAM_RESTORE_POLICY
    assert (apply.params["policy_kind"], apply.params["policy"]) == ("bucket", "api-bucket")
    assert apply.params["document"] == '{"Statement":[]}'
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.action is Action.IAM_RESTORE_POLICY and undo.params["document"] == FULL.policy_new
    unknown = build_plan(Mitigation.REVERT_PERMISSION, replace(FULL, policy_old=None))
    assert unknown.phase(Phase.APPLY)[0].action is None  # the old document is not known: never guessed
    no_role = build_plan(Mitigation.REVERT_PERMISSION, replace(FULL, role=None))
    assert no_role.phase(Phase.PRE_VALIDATE)[1].action is None


def test_instance_replacement_needs_the_instance_id() -> None:
    ctx = PlanContext(service="forge", asg="forge-asg", instance="forge-2", instance_id="i-0abc", desired=3)
    plan = build_plan(Mitigation.REPLACE_INSTANCE, ctx)
    (step,) = _applies(plan)
    assert step.action is Action.ASG_REPLACE_INSTANCE
    assert step.params == {"asg": "forge-asg", "instance_id": "i-0abc"}
    assert plan.phase(Phase.ROLLBACK)[0].params == {"asg": "forge-asg", "desired": "4"}
    plan = build_plan(Mitigation.REPLACE_INSTANCE, replace(ctx, instance_id=None))
    _assert_well_formed(plan)
    assert not _applies(plan)
    (step,) = plan.phase(Phase.APPLY)
    assert step.params == {"asg": "forge-asg"}  # the Name tag is not an instance id
    assert "Look up the instance id of `forge-2`" in step.description


def test_scale_out_and_back_in_name_the_target_and_its_capacity() -> None:
    plan = build_plan(Mitigation.SCALE_OUT, FULL)
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.SCALE_OUT and apply.params == {
        "target": "api",
        "kind": "ecs",
        "cluster": "prod",
        "service": "api",
        "desired": "6",  # 4 x 1.5
    }
    asg = build_plan(Mitigation.SCALE_OUT, replace(FULL, ecs_service=None, kind="asg", desired=1))
    assert asg.phase(Phase.APPLY)[0].action is Action.ASG_SET_DESIRED
    assert asg.phase(Phase.APPLY)[0].params == {"asg": "api-asg", "desired": "2"}  # at least one more
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.action is Action.SCALE_IN and undo.params == {"target": "api", "kind": "ecs", "desired": "4"}
    unknown = build_plan(Mitigation.SCALE_OUT, replace(FULL, desired=None)).phase(Phase.ROLLBACK)[0]
    assert unknown.action is None and "desired" not in unknown.params


def test_a_database_that_ran_out_of_room_is_grown_in_place_not_given_tasks() -> None:
    db = build_plan(
        Mitigation.SCALE_OUT, replace(FULL, service="orders-db", kind="rds", ecs_service=None, asg=None)
    )
    _assert_well_formed(db)
    (apply,) = db.phase(Phase.APPLY)
    assert apply.params == {"target": "orders-db", "kind": "rds"} and "AllocatedStorage" in apply.description
    assert db.phase(Phase.ROLLBACK)[0].action is None


def test_a_lambda_configuration_change_is_restored_to_its_previous_settings() -> None:
    old = config_text({"ReservedConcurrentExecutions": 200, "MemorySize": "1024"})
    new = config_text({"ReservedConcurrentExecutions": 20, "MemorySize": 512})
    ctx = replace(FULL, parameter=None, function_config_old=old, function_config_new=new)
    plan = build_plan(Mitigation.REVERT_CONFIG, ctx)
    _assert_well_formed(plan)
    (apply,) = plan.phase(Phase.APPLY)
    assert apply.action is Action.LAMBDA_RESTORE_CONFIG
    assert apply.params == {
        "function": "api-fn",
        "config": '{"MemorySize":1024,"ReservedConcurrentExecutions":200}',
    }
    assert "MemorySize 1024, ReservedConcurrentExecutions 200" in apply.description
    assert plan.phase(Phase.ROLLBACK)[0].params["config"] == new
    without = build_plan(Mitigation.REVERT_CONFIG, replace(ctx, function_config_old=None))
    assert without.phase(Phase.APPLY)[0].action is Action.AWS_REVERT_CHANGE  # the generic revert instead


def test_scaled_out_is_half_as_much_again_and_at_least_one_more() -> None:
    assert [scaled_out(n) for n in (0, 1, 2, 3, 4, 10)] == [1, 2, 3, 5, 6, 15]
