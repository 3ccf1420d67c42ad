"""Every catalogue action clicked through: fake Slack (signed clicks), DBOS, moto and the fake GitHub.

For each action a simulated estate in which that action is the right fix: its plan is posted in an incident
thread, an approver clicks Approve, and the test checks that every phase ran (the dry run, pre-validate, apply,
post-validate), that the world changed as the action says, that the page's alarm came back to OK because the
estate reacted to the change (post-validation read it), and that the audit trail is complete. Rolling an ECS
service back to its previous task definition is clicked through in test_mitigation_slack.

Estates are derived from the project's scenarios (a new id, sometimes another truth, so each test has its own
estate and a test elsewhere that changes the same scenario's estate cannot disturb it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.analysis.plan import config_text, scaled_out
from bot.domain import Action, Mitigation, Phase, Plan, PlanStep
from bot.mitigation.audit import incident_audit
from bot.mitigation.catalogue import CATALOGUE, BoundAction, bind
from bot.mitigation.phases import apply, post_validate, pre_validate, rollback
from bot.mitigation.writers import Writers
from bot.sandbox.fake_github import FakeGitHub
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.github_estate import seed_github
from bot.sandbox.scenario import Scenario, load_scenario, resolve_scenario
from bot.sandbox.world import simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.writes import AwsWriter, canonical
from bot.sources.github import GithubSource, GithubWriter
from bot.storage.tables import ActionStatus
from tests import test_mitigation_slack as slack_tests
from tests.fixtures_estate import T0
from tests.test_mitigation_slack import ALICE, Box, Thread, click, post_plan, running, said, status, verbs

CLUSTER = "grocerly-prod"
EVERY_PHASE = ["request", "approve", "pre-validate", "apply", "post-validate"]


def derived(name: str, suffix: str, **truth: Any) -> Scenario:
    """A project scenario under its own id, with `truth` changed (the fix the estate answers to)."""
    sc = load_scenario(resolve_scenario(name))
    return sc.model_copy(update={"id": f"{sc.id}-{suffix}", "truth": sc.truth.model_copy(update=truth)})


def estate_of(estates: Any, monkeypatch: pytest.MonkeyPatch, scenario: Scenario) -> Any:
    """The scenario's estate with its page's alarm firing and nothing fixed yet."""
    aws = estates.get(simulate(scenario, T0))
    for key, value in aws.env().items():
        if key != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(key, value)
    aws.reactions.recovery_s = 0.2
    aws.cloudwatch.set_state(aws.alarm_name, "ALARM", "Threshold Crossed (test reset)")
    aws.reactions.fixed_by.clear()
    return aws


def plan_of(alarm: str, action: Action, params: dict[str, str], undo: dict[str, str] | None = None) -> Plan:
    """A plan as the engine makes it: the alarm checked, one executable apply step (index 2), the alarm
    awaited, and (when given) the rollback step naming the value in place now."""
    steps = [
        PlanStep(phase=Phase.PREPARE, description="Note what is in place"),
        PlanStep(
            phase=Phase.PRE_VALIDATE, description="alarm", action=Action.CHECK_ALARM, params={"alarm": alarm}
        ),
        PlanStep(
            phase=Phase.APPLY, description=f"Run {action.value}", action=action, params=params, mutating=True
        ),
        PlanStep(
            phase=Phase.POST_VALIDATE, description="ok", action=Action.WAIT_ALARM_OK, params={"alarm": alarm}
        ),
    ]
    if undo is not None:
        steps.append(
            PlanStep(phase=Phase.ROLLBACK, description="back", action=action, params=undo, mutating=True)
        )
    return Plan(mitigation=Mitigation.ROLLBACK, summary="fix", steps=tuple(steps))


def thread_text(b: Box, t: Thread) -> str:
    return "\n".join(str(m.get("text")) for m in b.fake.replies(b.channel, t.ts))


def approve_and_recover(b: Box, plan: Plan, calls: list[str]) -> Thread:
    """Approve the plan's apply step; every phase runs, the alarm recovers, the audit has the exact calls."""
    t = post_plan(b, plan)
    click(b, t, "plan_approve", ALICE)
    waiting = (None, ActionStatus.PROPOSED.value, ActionStatus.APPROVED.value, ActionStatus.RUNNING.value)
    assert wait_for(lambda: status(b, t) not in waiting, 60.0), thread_text(b, t)
    assert status(b, t) == ActionStatus.SUCCEEDED.value, thread_text(b, t)
    assert verbs(b, t) == EVERY_PHASE
    alarm = b.aws.alarm_name
    state = b.aws.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state == "OK"
    assert wait_for(lambda: said(b, t, "recovery confirmed"), 10.0), thread_text(b, t)
    assert said(b, t, "Dry run, the exact calls") and said(b, t, f"recovered: `{alarm}` is OK")
    for call in calls:
        assert said(b, t, call), (call, thread_text(b, t))
    inv = b.store.get_investigation(t.investigation_id)
    assert inv is not None
    lines = incident_audit(b.store, inv.incident_id)
    assert [line.split()[3] for line in lines] == EVERY_PHASE
    applied = next(
        a
        for a in b.store.audit_log(limit=1000)
        if a.verb == "apply" and a.subject.startswith(f"investigation:{t.investigation_id}:")
    )
    assert applied.actor == ALICE and applied.detail["calls"] == calls
    return t


@pytest.fixture
def box_of(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Any]:
    """Start the Slack surface on an estate (with settings overrides); stopped after the test."""
    opened: list[Any] = []

    def start(aws: Any, **overrides: Any) -> Box:
        ctx = running(fake_slack, tmp_path, aws, **overrides)
        opened.append(ctx)
        return ctx.__enter__()

    yield start
    for ctx in reversed(opened):
        ctx.__exit__(None, None, None)


def writers(aws: Any) -> Writers:
    return Writers(AwsWriter(AwsClients(aws.region, max_attempts=1, endpoint_url=aws.endpoint_url)))


# -- ECS ------------------------------------------------------------------------------------------------------


def test_force_new_deployment(estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any) -> None:
    aws = estate_of(estates, monkeypatch, derived("flagship-cache-deploy", "restart", mitigation="restart"))
    before = aws.gateway.calls.get("ecs:UpdateService", 0)
    b = box_of(aws)
    plan = plan_of(
        aws.alarm_name, Action.ECS_FORCE_NEW_DEPLOYMENT, {"cluster": CLUSTER, "service": "pricing"}
    )
    approve_and_recover(
        b, plan, ["ecs:UpdateService cluster=grocerly-prod, service=pricing, forceNewDeployment=true"]
    )
    assert aws.gateway.calls.get("ecs:UpdateService", 0) - before == 1
    assert aws.reactions.fixed_by == ["new deployment of pricing"]


def test_raise_an_ecs_desired_count(estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any) -> None:
    aws = estate_of(estates, monkeypatch, derived("flagship-cache-deploy", "scale", mitigation="scale-out"))
    ecs = aws.client("ecs")
    ecs.update_service(cluster=CLUSTER, service="pricing", desiredCount=4)  # as the scenario left it
    aws.reactions.fixed_by.clear()
    more = str(scaled_out(4))
    b = box_of(aws)
    params = {"cluster": CLUSTER, "service": "pricing", "desired": more, "kind": "ecs", "target": "pricing"}
    approve_and_recover(
        b,
        plan_of(aws.alarm_name, Action.SCALE_OUT, params),
        [f"ecs:UpdateService cluster=grocerly-prod, service=pricing, desiredCount={more}"],
    )
    assert ecs.describe_services(cluster=CLUSTER, services=["pricing"])["services"][0]["desiredCount"] == int(
        more
    )


# -- Lambda ---------------------------------------------------------------------------------------------------


def test_point_a_lambda_alias_back(estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any) -> None:
    scenario = derived(
        "flagship-cache-deploy", "alias", root_cause_service="promo-rules", mitigation="rollback"
    )
    aws = estate_of(estates, monkeypatch, scenario)
    fn = aws.client("lambda")
    fn.update_function_configuration(FunctionName="promo-rules", Description="the bad release")
    bad = fn.publish_version(FunctionName="promo-rules")["Version"]
    aws.reactions.broken.alias_version = bad  # the release the page is about (so moving to it fixes nothing)
    fn.update_alias(FunctionName="promo-rules", Name="live", FunctionVersion=bad)
    b = box_of(aws)
    lam = {"function": "promo-rules", "alias": "live"}
    plan = plan_of(
        aws.alarm_name, Action.LAMBDA_UPDATE_ALIAS, {**lam, "version": "1"}, {**lam, "version": bad}
    )
    approve_and_recover(
        b, plan, ["lambda:UpdateAlias FunctionName=promo-rules, Name=live, FunctionVersion=1"]
    )
    assert fn.get_alias(FunctionName="promo-rules", Name="live")["FunctionVersion"] == "1"


def test_restore_a_lambdas_previous_configuration(
    estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any
) -> None:
    aws = estate_of(estates, monkeypatch, derived("media-resize-concurrency", "config"))
    fn = aws.client("lambda")
    fn.put_function_concurrency(
        FunctionName="image-resize", ReservedConcurrentExecutions=20
    )  # the stack update
    fn.update_function_configuration(FunctionName="image-resize", MemorySize=512)
    aws.reactions.fixed_by.clear()
    old = config_text({"MemorySize": 1024, "ReservedConcurrentExecutions": 200})
    new = config_text({"MemorySize": 512, "ReservedConcurrentExecutions": 20})
    b = box_of(aws)
    plan = plan_of(
        aws.alarm_name,
        Action.LAMBDA_RESTORE_CONFIG,
        {"function": "image-resize", "config": old},
        {"function": "image-resize", "config": new},
    )
    approve_and_recover(
        b,
        plan,
        [
            "lambda:UpdateFunctionConfiguration FunctionName=image-resize, MemorySize=1024",
            "lambda:PutFunctionConcurrency FunctionName=image-resize, ReservedConcurrentExecutions=200",
        ],
    )
    assert fn.get_function_concurrency(FunctionName="image-resize")["ReservedConcurrentExecutions"] == 200
    assert fn.get_function_configuration(FunctionName="image-resize")["MemorySize"] == 1024


def test_a_lambda_configuration_restore_is_rolled_back_and_checked_first(
    estates: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = estate_of(estates, monkeypatch, derived("media-resize-concurrency", "config-rollback"))
    fn = aws.client("lambda")
    fn.put_function_concurrency(FunctionName="image-resize", ReservedConcurrentExecutions=20)
    fn.update_function_configuration(FunctionName="image-resize", Timeout=30)
    w = writers(aws)
    old, new = (
        config_text({"Timeout": 60, "ReservedConcurrentExecutions": 200}),
        config_text({"Timeout": 30, "ReservedConcurrentExecutions": 20}),
    )
    plan = plan_of(
        aws.alarm_name,
        Action.LAMBDA_RESTORE_CONFIG,
        {"function": "image-resize", "config": old},
        {"function": "image-resize", "config": new},
    )
    bound = bind(plan, 2, 1)
    assert isinstance(bound, BoundAction) and bound.expect == new
    pre = pre_validate(w, bound)
    assert pre.ok and json.loads(pre.before) == {"ReservedConcurrentExecutions": 20, "Timeout": 30}, pre.text
    assert apply(w, bound).ok
    assert fn.get_function_configuration(FunctionName="image-resize")["Timeout"] == 60
    back = rollback(w, bound, pre.before)
    assert back.ok and len(back.calls) == 2, back.text
    assert fn.get_function_configuration(FunctionName="image-resize")["Timeout"] == 30
    assert fn.get_function_concurrency(FunctionName="image-resize")["ReservedConcurrentExecutions"] == 20
    fn.put_function_concurrency(FunctionName="image-resize", ReservedConcurrentExecutions=50)  # someone else
    stopped = pre_validate(w, bound)
    assert not stopped.ok and "the world changed" in stopped.text


# -- parameters, policies -------------------------------------------------------------------------------------


def test_restore_an_ssm_parameter_with_the_write_role(
    estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any
) -> None:
    aws = estate_of(estates, monkeypatch, derived("orders-db-pool-parameter", "ssm"))
    ((name, old),) = aws.reactions._parameters().items()
    ssm = aws.client("ssm")
    now = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assumed = aws.gateway.calls.get("sts:AssumeRole", 0)
    b = box_of(aws, aws_write_role_arn=f"arn:aws:iam::{aws.account_id}:role/sre-bot-write")
    plan = plan_of(
        aws.alarm_name, Action.SSM_PUT_PARAMETER, {"name": name, "value": old}, {"name": name, "value": now}
    )
    approve_and_recover(b, plan, [f"ssm:PutParameter Name={name}, Value={old}, Overwrite=true"])
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == old
    assert aws.gateway.calls.get("sts:AssumeRole", 0) - assumed == 1  # the writes ran on the write role


KMS_PROD = "arn:aws:kms:us-east-1:123456789012:key/3b9f61d4-7e02-4c58-b1aa-5d2e8c07f913"


def test_restore_an_iam_role_policy(estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any) -> None:
    scenario = derived("statements-kms-permission", "policy")
    aws = estate_of(estates, monkeypatch, scenario)
    guilty = scenario.event("role-policy-edit")
    assert guilty is not None and guilty.change is not None and guilty.change.policy
    bad = canonical(guilty.change.policy)
    good = canonical(bad.replace(json.loads(bad)["Statement"][1]["Resource"], KMS_PROD))
    iam = aws.client("iam")
    if "statement-builder-exec" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]:
        iam.create_role(RoleName="statement-builder-exec", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(  # the world as diagnosed: the edit in place
        RoleName="statement-builder-exec", PolicyName="statement-builder-access", PolicyDocument=bad
    )
    aws.reactions.fixed_by.clear()
    b = box_of(aws)
    where = {"policy_kind": "role-inline", "policy": "statement-builder-exec/statement-builder-access"}
    plan = plan_of(
        aws.alarm_name, Action.IAM_RESTORE_POLICY, {**where, "document": good}, {**where, "document": bad}
    )
    approve_and_recover(
        b,
        plan,
        [
            "iam:PutRolePolicy RoleName=statement-builder-exec, PolicyName=statement-builder-access, "
            f"PolicyDocument={good}"
        ],
    )
    got = iam.get_role_policy(RoleName="statement-builder-exec", PolicyName="statement-builder-access")
    assert canonical(got["PolicyDocument"]) == good
    assert aws.reactions.fixed_by == [f"the policy of {guilty.change.resource} restored"]


def test_restore_a_managed_policy_and_a_bucket_policy(estates: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    aws = estate_of(estates, monkeypatch, derived("statements-kms-permission", "policy"))
    w = writers(aws)
    good = canonical(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::acme-statements-prod/*",
                }
            ],
        }
    )
    bad = canonical(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::acme-statements-stg/*",
                }
            ],
        }
    )
    iam, s3 = aws.client("iam"), aws.client("s3")
    arn = iam.create_policy(
        PolicyName=f"statements-read-{len(iam.list_policies()['Policies'])}", PolicyDocument=good
    )["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=bad, SetAsDefault=True)
    s3.create_bucket(Bucket="acme-statements-prod")
    s3.put_bucket_policy(Bucket="acme-statements-prod", Policy=bad)
    for kind, where, call in (
        (
            "managed",
            arn,
            f"iam:CreatePolicyVersion PolicyArn={arn}, PolicyDocument={good}, SetAsDefault=true",
        ),
        ("bucket", "acme-statements-prod", f"s3:PutBucketPolicy Bucket=acme-statements-prod, Policy={good}"),
    ):
        p = {"policy_kind": kind, "policy": where}
        bound = bind(
            plan_of(
                aws.alarm_name, Action.IAM_RESTORE_POLICY, {**p, "document": good}, {**p, "document": bad}
            ),
            2,
            1,
        )
        assert isinstance(bound, BoundAction)
        pre = pre_validate(w, bound)
        assert pre.ok and pre.before == bad, pre.text
        done = apply(w, bound)
        assert done.ok and done.calls == [call], done.text
        assert CATALOGUE[Action.IAM_RESTORE_POLICY].read(w, bound.params) == good
        assert rollback(w, bound, pre.before).ok
        assert CATALOGUE[Action.IAM_RESTORE_POLICY].read(w, bound.params) == bad


# -- Auto Scaling ---------------------------------------------------------------------------------------------


def test_raise_an_auto_scaling_groups_desired_capacity(
    estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any
) -> None:
    aws = estate_of(estates, monkeypatch, derived("payslip-workers-scaled-in", "asg"))
    asg = aws.client("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName="payslip-workers-asg", DesiredCapacity=2)  # as scaled in
    aws.reactions.fixed_by.clear()
    b = box_of(aws)
    more = str(scaled_out(2))
    plan = plan_of(aws.alarm_name, Action.ASG_SET_DESIRED, {"asg": "payslip-workers-asg", "desired": more})
    approve_and_recover(
        b,
        plan,
        [f"autoscaling:SetDesiredCapacity AutoScalingGroupName=payslip-workers-asg, DesiredCapacity={more}"],
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["payslip-workers-asg"])[
        "AutoScalingGroups"
    ][0]
    assert group["DesiredCapacity"] == 3


def test_replace_an_auto_scaling_instance(estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any) -> None:
    aws = estate_of(estates, monkeypatch, derived("pdf-render-disk-full", "replace"))
    bad = aws.instance_ids["i-pdf-render-2"]
    b = box_of(aws)
    plan = plan_of(aws.alarm_name, Action.ASG_REPLACE_INSTANCE, {"asg": "pdf-render-asg", "instance_id": bad})
    approve_and_recover(
        b,
        plan,
        [
            f"autoscaling:TerminateInstanceInAutoScalingGroup InstanceId={bad}, "
            "ShouldDecrementDesiredCapacity=false"
        ],
    )
    group = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["pdf-render-asg"])
    assert bad not in [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]


# -- GitHub ---------------------------------------------------------------------------------------------------


def test_rerun_the_last_good_deploy(
    estates: Any, monkeypatch: pytest.MonkeyPatch, box_of: Any, fake_github: FakeGitHub
) -> None:
    scenario = derived("flagship-cache-deploy", "redeploy")
    aws = estate_of(estates, monkeypatch, scenario)
    seed_github(fake_github, simulate(scenario, T0))
    fake_github.on_rerun = aws.reactions.redeployed
    repo = "grocerly/pricing"
    bad = next(r for r in fake_github.repos[repo].runs if r.head_sha.startswith("b7d41e9a6f3c"))
    found = GithubSource("ghp_read", fake_github.base_url).last_good_run(
        repo, str(bad.id)
    )  # as the planner reads it
    assert found.ok and found.data, found.message
    good = found.data["run_id"]
    assert found.data["workflow"] == "deploy.yml" and found.data["head_sha"] != bad.head_sha
    b = box_of(aws, github_write_token="ghp_write", github_api_url=fake_github.base_url)
    params = {"repo": repo, "workflow": "deploy.yml"}
    plan = plan_of(
        aws.alarm_name, Action.GITHUB_REDEPLOY, {**params, "run_id": good}, {**params, "run_id": str(bad.id)}
    )
    approve_and_recover(b, plan, [f"github:ReRunWorkflowRun repo={repo}, run_id={good}"])
    reruns = [r for r in fake_github.gh_requests if r.method == "POST" and r.path.endswith("/rerun")]
    assert [r.path for r in reruns] == [f"/repos/{repo}/actions/runs/{good}/rerun"]
    assert next(r for r in fake_github.repos[repo].runs if str(r.id) == good).run_attempt == 2
    assert aws.reactions.fixed_by == [f"{repo} redeployed at {found.data['head_sha'][:7]}"]


def test_a_wrong_redeploy_does_not_recover_and_is_rolled_back(
    estates: Any, monkeypatch: pytest.MonkeyPatch, fake_github: FakeGitHub
) -> None:
    scenario = derived("flagship-cache-deploy", "redeploy")
    aws = estate_of(estates, monkeypatch, scenario)
    seed_github(fake_github, simulate(scenario, T0))
    fake_github.on_rerun = aws.reactions.redeployed
    repo = "grocerly/mobile-bff"  # not the service that broke
    runs = sorted(fake_github.repos[repo].runs, key=lambda r: r.created_at)
    older, latest = str(runs[-2].id), str(runs[-1].id)
    w = Writers(writers(aws).aws, GithubWriter("ghp_write", fake_github.base_url))
    params = {"repo": repo, "workflow": "deploy.yml"}
    bound = bind(plan_of(aws.alarm_name, Action.GITHUB_REDEPLOY, {**params, "run_id": older}), 2, 1)
    assert isinstance(bound, BoundAction)
    pre = pre_validate(w, bound)
    assert pre.ok and pre.before == latest, pre.text
    assert apply(w, bound).ok
    post = post_validate(w, bound, within_s=0.6, poll_s=0.1)
    assert not post.ok and "still ALARM" in post.text
    back = rollback(w, bound, pre.before)
    assert back.ok and back.calls == [f"github:ReRunWorkflowRun repo={repo}, run_id={latest}"]
    assert w.latest_run(repo, "deploy.yml") == latest and aws.reactions.fixed_by == []


def test_every_catalogue_action_is_clicked_through() -> None:
    clicked = {
        Action.ECS_UPDATE_SERVICE: slack_tests.test_approve_runs_every_phase_recovers_and_audits,
        Action.ECS_FORCE_NEW_DEPLOYMENT: test_force_new_deployment,
        Action.SCALE_OUT: test_raise_an_ecs_desired_count,
        Action.LAMBDA_UPDATE_ALIAS: test_point_a_lambda_alias_back,
        Action.LAMBDA_RESTORE_CONFIG: test_restore_a_lambdas_previous_configuration,
        Action.SSM_PUT_PARAMETER: test_restore_an_ssm_parameter_with_the_write_role,
        Action.IAM_RESTORE_POLICY: test_restore_an_iam_role_policy,
        Action.ASG_SET_DESIRED: test_raise_an_auto_scaling_groups_desired_capacity,
        Action.ASG_REPLACE_INSTANCE: test_replace_an_auto_scaling_instance,
        Action.GITHUB_REDEPLOY: test_rerun_the_last_good_deploy,
    }
    assert set(clicked) == set(CATALOGUE)
