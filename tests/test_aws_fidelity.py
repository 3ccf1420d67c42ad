"""Every change shows where AWS would show it: read back through boto3 against the sandbox.

One estate (in a region whose zones are not a, b, c) holds a stack update that changes two properties through a
change set, a code release through a stack, console changes to a function's memory and a queue's attributes,
an ECS scale-in and a task-size cut, DB reboots, a parameter group edit, policy edits on a bucket and a key, and
changes made by a person, a pipeline and an AWS service.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import World, simulate
from tests.fixtures_estate import T0, Estates

pytest.importorskip("moto")

from bot.sandbox.aws import AwsEstate

ACCOUNT = "210987654321"
REGION = "ap-northeast-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5b8e2f14-7c3a-4d9e-a1f6-0e4b72c9d813"
STACK_CHANGE = """Stack resize-prod UPDATE_COMPLETE (change set cap-resize-2291, by ci-deployer)
AWS::Lambda::Function ResizeFunction: Modify
  ReservedConcurrentExecutions: 200 -> 20
  Timeout: 30 -> 10
Description: "cap concurrency so a batch cannot starve the pool"
"""


def _change(at: int, eid: str, **change: Any) -> dict[str, Any]:
    return {"at": at, "id": eid, "change": change}


FIDELITY: dict[str, Any] = {
    "format": "scenario/1",
    "id": "fidelity-check",
    "title": "every change where AWS shows it",
    "history_minutes": 90,
    "account": {"region": REGION, "account_id": ACCOUNT, "org": "fid"},
    "services": [
        {"name": "api", "kind": "ecs", "calls": ["resize", "orders-db", "jobs"], "repo": "fid/api"},
        {"name": "resize", "kind": "lambda", "deploy": "cloudformation"},
        {"name": "thumbs", "kind": "lambda", "deploy": "cloudformation"},
        {"name": "orders-db", "kind": "rds"},
        {"name": "jobs", "kind": "sqs"},
        {"name": "workers", "kind": "asg", "instances": 2, "deploy": "cloudformation"},
    ],
    "events": [
        _change(-70, "stack", service="resize", via="cloudformation", stack_change=STACK_CHANGE),
        _change(
            -60,
            "memory",
            service="resize",
            via="console",
            action="UpdateFunctionConfiguration",
            detail="MemorySize 3008 -> 512 (cost review); LOG_LEVEL: info -> debug",
            actor={"kind": "person", "name": "k.okafor"},
        ),
        _change(-55, "scale-in", service="api", via="scaling", desired=2),
        _change(
            -50,
            "task-size",
            service="api",
            via="console",
            action="UpdateService",
            detail="task memory 2048 -> 1024",
            actor={"kind": "pipeline", "name": "deploy-bot", "role": "ci-deploy"},
        ),
        _change(
            -45,
            "reboot",
            service="orders-db",
            via="console",
            action="RebootDBInstance",
            detail="with failover",
        ),
        _change(
            -40,
            "maintenance",
            service="orders-db",
            via="console",
            action="RebootDBInstance",
            actor={"kind": "aws-service", "name": "rds"},
        ),
        _change(
            -35,
            "bucket-policy",
            service="api",
            via="iam",
            action="PutBucketPolicy",
            resource="arn:aws:s3:::fid-uploads",
            policy='{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}',
        ),
        _change(
            -33,
            "key-policy",
            service="jobs",
            via="iam",
            action="PutKeyPolicy",
            resource=KEY,
            policy='{"Statement":[]}',
            user=f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-admin/t.nakamura",
        ),
        _change(
            -30,
            "sg",
            service="orders-db",
            via="console",
            action="RevokeSecurityGroupIngress",
            resource="sg-0a41c7e9d2b83f105 (orders-db-sg)",
            detail='{"groupId": "sg-0a41c7e9d2b83f105", "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 5432}]}',
        ),
        _change(-25, "release", service="workers", via="cloudformation", stack_change="launch template bump"),
        _change(-22, "code", service="thumbs", via="cloudformation", stack_change="thumbs 1.4.2 (MEDIA-88)"),
        _change(
            -20,
            "visibility",
            service="jobs",
            via="console",
            action="SetQueueAttributes",
            detail="VisibilityTimeout: 30 -> 5",
        ),
        _change(
            -15,
            "pg",
            service="orders-db",
            via="console",
            action="ModifyDBParameterGroup",
            resource=f"arn:aws:rds:{REGION}:{ACCOUNT}:pg:orders-pg16",
            detail="max_connections 1000 -> 200 (ApplyMethod immediate)",
        ),
        {
            "at": -12,
            "logs": {
                "service": "orders-db",
                "level": "WARN",
                "rate_per_min": 2,
                "until": -10,
                "message": "RDS-EVENT-0221 DB instance has reached the storage-full threshold",
            },
        },
        {"at": -9, "instances": {"service": "api", "launched": 1, "terminated": 1, "every_minutes": 4}},
    ],
    "page": {"source": "pagerduty", "service": "api", "signal": "error_rate", "name": "api 5xx", "at": 0},
    "truth": {
        "root_cause_service": "resize",
        "category": "config-change",
        "change": "stack",
        "mitigation": "revert-config",
    },
}


@pytest.fixture(scope="module")
def world() -> World:
    return simulate(parse_scenario(FIDELITY, "<fidelity>"), T0)


@pytest.fixture
def est(estates: Estates, world: World) -> AwsEstate:
    got = estates.get(world)
    assert isinstance(got, AwsEstate)
    return got


def _events(est: AwsEstate) -> list[dict[str, Any]]:
    trail = est.client("cloudtrail")
    return [e for page in trail.get_paginator("lookup_events").paginate() for e in page["Events"]]


def _named(est: AwsEstate, name: str) -> list[dict[str, Any]]:
    return [e for e in _events(est) if e["EventName"] == name]


def _doc(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event["CloudTrailEvent"]))


# ---- item 1: a stack update's change set, events and templates ----------------------------------------
def test_a_stack_update_is_a_change_set_listing_each_property(est: AwsEstate, world: World) -> None:
    cfn = est.client("cloudformation")
    summaries = cfn.list_change_sets(StackName="resize")["Summaries"]
    update = next(s for s in summaries if s["ChangeSetName"] == "cap-resize-2291")
    assert update["ExecutionStatus"] == "EXECUTE_COMPLETE"
    assert update["Description"] == "cap concurrency so a batch cannot starve the pool"
    described = cfn.describe_change_set(ChangeSetName=update["ChangeSetId"], IncludePropertyValues=True)
    [change] = described["Changes"]
    rc = change["ResourceChange"]
    assert (rc["Action"], rc["LogicalResourceId"], rc["ResourceType"]) == (
        "Modify",
        "ResizeFunction",
        "AWS::Lambda::Function",
    )
    assert rc["Scope"] == ["Properties"] and rc["Replacement"] == "False"
    values = {
        d["Target"]["Name"]: (d["Target"]["BeforeValue"], d["Target"]["AfterValue"]) for d in rc["Details"]
    }
    assert values == {"ReservedConcurrentExecutions": ("200", "20"), "Timeout": ("30", "10")}
    assert json.loads(rc["BeforeContext"])["Properties"]["ReservedConcurrentExecutions"] == 200
    plain = cfn.describe_change_set(ChangeSetName="cap-resize-2291", StackName="resize")["Changes"][0]
    assert "BeforeValue" not in plain["ResourceChange"]["Details"][0]["Target"], "values only when asked for"


def test_the_template_differs_in_exactly_the_changed_properties(est: AwsEstate) -> None:
    cfn = est.client("cloudformation")
    summaries = sorted(cfn.list_change_sets(StackName="resize")["Summaries"], key=lambda s: s["CreationTime"])
    before = cfn.get_template(StackName="resize", ChangeSetName=summaries[0]["ChangeSetId"])["TemplateBody"]
    after = cfn.get_template(StackName="resize")["TemplateBody"]
    assert after == cfn.get_template(StackName="resize", ChangeSetName="cap-resize-2291")["TemplateBody"]
    old, new = (
        before["Resources"]["ResizeFunction"]["Properties"],
        after["Resources"]["ResizeFunction"]["Properties"],
    )
    assert {k for k in set(old) | set(new) if old.get(k) != new.get(k)} == {
        "ReservedConcurrentExecutions",
        "Timeout",
    }
    assert (old["ReservedConcurrentExecutions"], new["ReservedConcurrentExecutions"]) == (200, 20)
    rows = cfn.list_stack_resources(StackName="resize")["StackResourceSummaries"]
    assert [r["LogicalResourceId"] for r in rows] == ["ResizeFunction"], "named as the update names it"


def test_stack_events_per_resource_and_cloudtrail_calls(est: AwsEstate, world: World) -> None:
    when = world.time(-70)
    events = est.client("cloudformation").describe_stack_events(StackName="resize")["StackEvents"]
    mine = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events if e["Timestamp"] >= when]
    assert ("resize", "UPDATE_IN_PROGRESS") in mine and ("resize", "UPDATE_COMPLETE") in mine
    assert ("ResizeFunction", "UPDATE_IN_PROGRESS") in mine and ("ResizeFunction", "UPDATE_COMPLETE") in mine
    [execute] = _named(est, "ExecuteChangeSet")[-1:]
    assert execute["EventTime"] == when
    assert _named(est, "CreateChangeSet")[-1]["EventTime"] < when
    put = [e for e in _named(est, "PutFunctionConcurrency20171031") if e["EventTime"] >= when]
    assert _doc(put[-1])["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    assert _doc(put[-1])["requestParameters"] == {
        "functionName": "resize",
        "reservedConcurrentExecutions": 20,
    }


def test_a_stack_update_that_names_no_resource_is_a_new_version(est: AwsEstate) -> None:
    cfn = est.client("cloudformation")
    latest = max(cfn.list_change_sets(StackName="workers")["Summaries"], key=lambda s: s["CreationTime"])
    described = cfn.describe_change_set(ChangeSetName=latest["ChangeSetId"], IncludePropertyValues=True)
    assert (
        dict((p["ParameterKey"], p["ParameterValue"]) for p in described["Parameters"])["Version"]
        != "initial"
    )
    by = {c["ResourceChange"]["ResourceType"]: c["ResourceChange"] for c in described["Changes"]}
    lt = by["AWS::EC2::LaunchTemplate"]["Details"][0]
    assert (lt["ChangeSource"], lt["CausingEntity"]) == ("ParameterReference", "Version")
    assert by["AWS::AutoScaling::AutoScalingGroup"]["Details"][0]["ChangeSource"] == "ResourceAttribute"


def test_a_stack_release_of_a_function_puts_its_new_code_in_place(est: AwsEstate, world: World) -> None:
    cfn = est.client("cloudformation")
    latest = max(cfn.list_change_sets(StackName="thumbs")["Summaries"], key=lambda s: s["CreationTime"])
    [change] = cfn.describe_change_set(ChangeSetName=latest["ChangeSetId"])["Changes"]
    detail = change["ResourceChange"]["Details"][0]
    assert (detail["Target"]["Name"], detail["CausingEntity"]) == ("Code", "Version")
    code = [e for e in _named(est, "UpdateFunctionCode20150331v2") if e["EventTime"] >= world.time(-22)]
    assert code and _doc(code[0])["userIdentity"]["invokedBy"] == "cloudformation.amazonaws.com"
    lam = est.client("lambda")
    latest_code = lam.get_function(FunctionName="thumbs", Qualifier="$LATEST")["Configuration"]["CodeSha256"]
    released = lam.get_function(FunctionName="thumbs", Qualifier="1")["Configuration"]["CodeSha256"]
    assert latest_code != released, "the stack's new Version is new code"


# ---- item 2: every change where AWS shows it -----------------------------------------------------------
def test_function_settings_show_in_lambda_and_cloudtrail(est: AwsEstate) -> None:
    lam = est.client("lambda")
    config = lam.get_function_configuration(FunctionName="resize")
    assert (config["MemorySize"], config["Timeout"]) == (512, 10)
    assert lam.get_function_concurrency(FunctionName="resize")["ReservedConcurrentExecutions"] == 20
    records = _named(est, "UpdateFunctionConfiguration20150331v2")
    by_stack = [_doc(e) for e in records if _doc(e)["userIdentity"].get("invokedBy")]
    assert [d["requestParameters"] for d in by_stack] == [{"functionName": "resize", "timeout": 10}]
    [doc] = [_doc(e) for e in records if not _doc(e)["userIdentity"].get("invokedBy")]
    assert doc["requestParameters"] == {
        "functionName": "resize",
        "memorySize": 512,
        "environment": {"variables": "HIDDEN_DUE_TO_SECURITY_REASONS"},
    }
    assert config["Environment"]["Variables"] == {"LOG_LEVEL": "debug"}
    assert doc["sessionCredentialFromConsole"] == "true"
    arn = doc["userIdentity"]["arn"]
    assert arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_") and arn.endswith(
        "/k.okafor"
    )


def test_desired_count_and_task_limits_show_in_ecs(est: AwsEstate) -> None:
    ecs = est.client("ecs")
    svc = ecs.describe_services(cluster="fid-prod", services=["api"])["services"][0]
    assert svc["desiredCount"] == 2
    scale = [e for e in _named(est, "UpdateService") if "desiredCount" in _doc(e)["requestParameters"]]
    assert _doc(scale[0])["requestParameters"] == {"cluster": "fid-prod", "service": "api", "desiredCount": 2}
    current = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    family, revision = current["family"], current["revision"]
    previous = ecs.describe_task_definition(taskDefinition=f"{family}:{revision - 1}")["taskDefinition"]
    assert (previous["memory"], current["memory"]) == ("2048", "1024"), "each revision has its own limits"
    assert previous["containerDefinitions"][0]["image"] == current["containerDefinitions"][0]["image"]
    register = _named(est, "RegisterTaskDefinition")[0]
    ident = _doc(register)["userIdentity"]
    assert ident["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/deploy-bot"
    assert ident["sessionContext"]["sessionIssuer"]["userName"] == "ci-deploy"


def test_queue_attributes_and_db_parameter_group(est: AwsEstate, world: World) -> None:
    sqs = est.client("sqs")
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "5"
    [pg] = _named(est, "ModifyDBParameterGroup")
    assert _doc(pg)["requestParameters"] == {
        "dBParameterGroupName": "orders-pg16",
        "parameters": [
            {"parameterName": "max_connections", "parameterValue": "200", "applyMethod": "immediate"}
        ],
    }
    events = est.client("rds").describe_events(
        SourceType="db-parameter-group", StartTime=world.time(-20), EndTime=world.time(0)
    )["Events"]
    assert [e["Message"] for e in events] == [
        "Updated parameter max_connections to 200 with apply method immediate"
    ]


def test_rds_events_for_reboots_and_failovers(est: AwsEstate, world: World) -> None:
    rds = est.client("rds")
    window = rds.describe_events(
        SourceIdentifier="orders-db",
        SourceType="db-instance",
        StartTime=world.time(-50),
        EndTime=world.time(0),
    )["Events"]
    messages = [e["Message"] for e in window]
    assert (
        "Multi-AZ instance failover started." in messages
        and "Multi-AZ instance failover completed." in messages
    )
    assert messages.count("DB instance restarted") == 2
    failover = [e for e in window if "failover" in e["EventCategories"]]
    assert all(world.time(-45) <= e["Date"] <= world.time(-45) + timedelta(minutes=2) for e in failover)
    created = rds.describe_events(
        SourceIdentifier="orders-db", StartTime=world.time(-90) - timedelta(days=31)
    )
    assert "DB instance created" in [e["Message"] for e in created["Events"]]
    assert not rds.describe_events(StartTime=world.time(-89), EndTime=world.time(-80))["Events"]
    service = [
        e for e in _named(est, "RebootDBInstance") if _doc(e)["userIdentity"].get("type") == "AWSService"
    ]
    assert _doc(service[0])["userIdentity"]["invokedBy"] == "rds.amazonaws.com"


def test_cloudtrail_resources_have_their_real_types(est: AwsEstate) -> None:
    types = {
        name: _named(est, name)[0]["Resources"][0]["ResourceType"]
        for name in (
            "PutBucketPolicy",
            "PutKeyPolicy",
            "RevokeSecurityGroupIngress",
            "ModifyDBParameterGroup",
        )
    }
    assert types == {
        "PutBucketPolicy": "AWS::S3::Bucket",
        "PutKeyPolicy": "AWS::KMS::Key",
        "RevokeSecurityGroupIngress": "AWS::EC2::SecurityGroup",
        "ModifyDBParameterGroup": "AWS::RDS::DBParameterGroup",
    }
    sg = _doc(_named(est, "RevokeSecurityGroupIngress")[0])
    assert (
        sg["eventSource"] == "ec2.amazonaws.com"
        and sg["requestParameters"]["groupId"] == "sg-0a41c7e9d2b83f105"
    )
    key = _doc(_named(est, "PutKeyPolicy")[0])["userIdentity"]
    assert key["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/platform-admin/t.nakamura"
    bucket = _doc(_named(est, "PutBucketPolicy")[0])["userIdentity"]
    assert bucket["arn"] == f"arn:aws:iam::{ACCOUNT}:user/unknown" and bucket["type"] == "IAMUser"


def test_a_callers_configuration_names_what_it_calls(est: AwsEstate) -> None:
    """Who calls whom shows where a real account shows it (no namespace of our own): the caller's latest
    task definition (after a console resize too) names each callee's endpoint as AWS answers it."""
    td = est.client("ecs").describe_task_definition(taskDefinition="api")["taskDefinition"]
    env = {e["name"]: e["value"] for c in td["containerDefinitions"] for e in c.get("environment", [])}
    db = est.client("rds").describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]
    assert env["ORDERS_DB_HOST"] == db["Endpoint"]["Address"]
    assert env["RESIZE_FUNCTION_ARN"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:resize"
    assert env["JOBS_QUEUE_URL"].endswith(f"/{ACCOUNT}/jobs")
    assert td["memory"] == "1024" and len(env) == 3
    thumbs = est.client("lambda").get_function_configuration(FunctionName="thumbs")
    assert not (thumbs.get("Environment") or {}).get("Variables")  # calls nothing, names nothing


def test_every_subnet_is_in_one_of_the_regions_real_zones(est: AwsEstate) -> None:
    ec2 = est.client("ec2")
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    assert f"{REGION}b" not in zones, "ap-northeast-1 has no b zone"
    used = {s["AvailabilityZone"] for s in ec2.describe_subnets()["Subnets"]}
    assert used and used <= zones and len(used) == 3


def test_the_github_deploy_role_comes_through_its_oidc_provider(est: AwsEstate) -> None:
    [execute] = _named(est, "ExecuteChangeSet")[:1]
    ident = _doc(execute)["userIdentity"]
    assert ident["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/github-actions-deploy/GitHubActions"
    provider = ident["sessionContext"]["webIdFederationData"]["federatedProvider"]
    assert provider.endswith("oidc-provider/token.actions.githubusercontent.com")


def _what_changed(est: AwsEstate) -> str:
    cfn, rds = est.client("cloudformation"), est.client("rds")
    out: dict[str, Any] = {"trail": [(e["EventName"], e["CloudTrailEvent"]) for e in _events(est)]}
    for stack in ("resize", "workers", "api"):
        sets = cfn.list_change_sets(StackName=stack)["Summaries"]
        out[stack] = [
            sets,
            [
                cfn.describe_change_set(ChangeSetName=s["ChangeSetId"], IncludePropertyValues=True)["Changes"]
                for s in sets
            ],
            cfn.describe_stack_events(StackName=stack)["StackEvents"],
            cfn.get_template(StackName=stack)["TemplateBody"],
        ]
    out["rds"] = rds.describe_events(StartTime=T0 - timedelta(days=40), EndTime=T0)["Events"]
    out["tasks"] = est.client("ecs").list_task_definitions()["taskDefinitionArns"]
    return json.dumps(out, sort_keys=True, default=str)


def test_the_same_scenario_gives_the_same_changes(estates: Estates, world: World) -> None:
    first = _what_changed(estates.get(world))  # type: ignore[arg-type]
    estates.release()
    second = _what_changed(estates.get(world))  # type: ignore[arg-type]
    assert first == second


def test_an_rds_event_written_in_the_database_log_is_also_in_describe_events(
    est: AwsEstate, world: World
) -> None:
    got = est.client("rds").describe_events(
        SourceIdentifier="orders-db",
        SourceType="db-instance",
        StartTime=world.time(-13),
        EndTime=world.time(0),
    )["Events"]
    storage = [e for e in got if "storage-full" in e["Message"]]
    assert [e["Message"] for e in storage] == ["DB instance has reached the storage-full threshold"]
    assert storage[0]["EventCategories"] == ["low storage"]
    assert world.time(-12) <= storage[0]["Date"] <= world.time(-11)


def test_task_churn_on_an_ecs_service_shows_in_its_service_events(est: AwsEstate, world: World) -> None:
    svc = est.client("ecs").describe_services(cluster="fid-prod", services=["api"])["services"][0]
    said = [e["message"] for e in svc["events"] if e["createdAt"] >= world.time(-10)]
    assert sum("has stopped 1 running tasks" in m for m in said) == 3, said  # at -9, -5 and -1
    assert sum("has started 1 tasks" in m for m in said) == 3, said


def test_the_engine_reads_rds_events_and_task_comings_and_goings(
    est: AwsEstate, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.sources.aws.clients import AwsClients
    from bot.sources.aws.telemetry import Telemetry
    from bot.sources.aws.topology import TopologyReader

    for key, value in est.env().items():
        monkeypatch.setenv(key, value)
    clients = AwsClients(est.region, max_attempts=1, endpoint_url=est.endpoint_url)
    events = Telemetry(clients).rds_events("orders-db", world.time(-50), world.time(0)).data or []
    said = [r.message for r in events]
    assert "RDS event (failover): Multi-AZ instance failover started." in said
    assert "RDS event (low storage): DB instance has reached the storage-full threshold" in said
    api = TopologyReader(clients).cached(world.time(-90), world.time(0)).services["api"]
    churned = [t for t, at in api.stopped.items() if at >= world.time(-10)]
    assert len(churned) == 3 and all(t.startswith("task ") and t in api.launched for t in churned)
