"""The planner binds the catalogue's parameters from what it read, never guessed: a Lambda's settings before the
guilty change, the desired count to scale out from, a policy's previous document, the deploy run to re-run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import Action, Change, ChangeSource, ChangeVia, Phase
from bot.investigation.planning import function_settings
from bot.mitigation.catalogue import BoundAction, bind
from bot.sandbox.history import investigate
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.world import simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.plan_reads import PlanReads
from bot.sources.aws.writes import canonical
from tests.fixtures_estate import T0

GOOD = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
BAD = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "arn:aws:kms:us-east-1:123456789012:key/staging",
        }
    ],
}


def _apply_step(plan: Any) -> tuple[int, Any]:
    return next((i, s) for i, s in enumerate(plan.steps) if s.phase is Phase.APPLY and s.action is not None)


def test_the_engine_binds_a_lambda_configuration_restore(estates: Any, moto_server: Any) -> None:
    estates.release()  # the investigation materialises its own estate on the shared moto server
    plan = investigate("media-resize-concurrency", moto=moto_server).outcome.report.plan
    assert plan is not None
    index, step = _apply_step(plan)
    assert step.action is Action.LAMBDA_RESTORE_CONFIG
    assert step.params == {"function": "image-resize", "config": '{"ReservedConcurrentExecutions":200}'}
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.params["config"] == '{"ReservedConcurrentExecutions":20}'
    bound = bind(plan, index, 1)
    assert isinstance(bound, BoundAction) and bound.expect == undo.params["config"]


def test_the_engine_scales_out_from_the_observed_count(estates: Any, moto_server: Any) -> None:
    estates.release()
    plan = investigate("payslip-workers-scaled-in", moto=moto_server).outcome.report.plan
    assert plan is not None
    index, step = _apply_step(plan)
    assert step.action is Action.ASG_SET_DESIRED
    assert step.params == {"asg": "payslip-workers-asg", "desired": "3"}  # 2 observed, x1.5 rounded up
    assert isinstance(bind(plan, index, 1), BoundAction)


BLIND = Path(__file__).resolve().parents[1] / "bot" / "sandbox" / "scenarios" / "blind"


def test_the_engine_binds_a_rerun_of_the_last_good_deploy(estates: Any, moto_server: Any) -> None:
    """A bad release of a Lambda shipped by GitHub Actions, no alias version to go back to: re-run the deploy
    run before it (the parent commit's), and its rollback re-runs the guilty one."""
    estates.release()
    found = investigate(
        str(BLIND / "checking" / "promo-evaluator-importerror-two-hops.yaml"), moto=moto_server
    )
    plan = found.outcome.report.plan
    assert plan is not None
    index, step = _apply_step(plan)
    assert step.action is Action.GITHUB_REDEPLOY
    guilty = found.outcome.report.guilty_change
    assert guilty is not None and guilty.source_id
    assert step.params["repo"] == "mercato/promo-evaluator" and step.params["workflow"] == "deploy.yml"
    assert step.params["ref"] == guilty.parent_commit and step.params["run_id"] != guilty.source_id
    (undo,) = plan.phase(Phase.ROLLBACK)
    assert undo.params["run_id"] == guilty.source_id
    assert isinstance(bind(plan, index, 1), BoundAction)


def test_function_settings_come_from_the_changes_detail() -> None:
    change = Change(
        id="c",
        at=T0,
        via=ChangeVia.CLOUDFORMATION,
        summary="stack update",
        source=ChangeSource.CLOUDFORMATION,
        changed=(
            "AWS::Lambda::Function Fn ReservedConcurrentExecutions 200 → 20",
            "AWS::Lambda::Function Fn MemorySize 1024 → 512",
            "fn timeout → 3",  # no value before: not bound
        ),
    )
    assert function_settings(change) == (
        {"ReservedConcurrentExecutions": 200, "MemorySize": 1024},
        {"ReservedConcurrentExecutions": 20, "MemorySize": 512},
    )


@pytest.fixture
def reads(estates: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, PlanReads]:
    scenario = load_scenario(resolve_scenario("statements-kms-permission"))
    aws = estates.get(simulate(scenario.model_copy(update={"id": "statements-kms-permission-reads"}), T0))
    for key, value in aws.env().items():
        if key != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(key, value)
    return aws, PlanReads(AwsClients(aws.region, max_attempts=1, endpoint_url=aws.endpoint_url))


def test_a_managed_policys_previous_version_is_its_old_document(reads: tuple[Any, PlanReads]) -> None:
    aws, plan_reads = reads
    iam = aws.client("iam")
    name = f"decrypt-{len(iam.list_policies(Scope='Local')['Policies'])}"
    arn = iam.create_policy(PolicyName=name, PolicyDocument=canonical(GOOD))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=canonical(BAD), SetAsDefault=True)
    change = Change(
        id="c",
        at=T0,
        via=ChangeVia.IAM,
        summary="CreatePolicyVersion",
        source=ChangeSource.CLOUDTRAIL,
        action="CreatePolicyVersion",
        request={"policyArn": arn, "policyDocument": canonical(BAD), "setAsDefault": True},
    )
    got = plan_reads.policy_before(change)
    assert got.ok and got.data is not None, got.message
    assert (got.data.kind, got.data.where) == ("managed", arn)
    assert (got.data.old, got.data.new) == (canonical(GOOD), canonical(BAD))


def test_an_inline_policys_old_document_is_its_previous_write(reads: tuple[Any, PlanReads]) -> None:
    aws, plan_reads = reads
    role = "arn:aws:iam::123456789012:role/statement-builder-exec (inline policy statement-builder-access)"
    earlier = T0 - timedelta(days=3)
    aws.cloudtrail.record(
        event_id="11111111-2222-3333-4444-555555555555",
        name="PutRolePolicy",
        time=earlier,
        source="iam.amazonaws.com",
        identity={"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Admin/k.okafor"},
        username="k.okafor",
        request={
            "roleName": "statement-builder-exec",
            "policyName": "statement-builder-access",
            "policyDocument": canonical(GOOD),
        },
        resources=[("AWS::IAM::Role", "statement-builder-exec")],
    )
    change = Change(
        id="c",
        at=T0 - timedelta(minutes=13),
        via=ChangeVia.IAM,
        summary="PutRolePolicy",
        source=ChangeSource.CLOUDTRAIL,
        source_id="guilty",
        action="PutRolePolicy",
        resource=role,
        request={"resourceArn": role, "policyDocument": canonical(BAD)},
    )
    got = plan_reads.policy_before(change)
    assert got.ok and got.data is not None, got.message
    assert (got.data.kind, got.data.where) == (
        "role-inline",
        "statement-builder-exec/statement-builder-access",
    )
    assert (got.data.old, got.data.new) == (canonical(GOOD), canonical(BAD))
    unknown = change.model_copy(update={"at": earlier - timedelta(days=1)})  # nothing written before it
    assert plan_reads.policy_before(unknown).data.old is None  # type: ignore[union-attr]
