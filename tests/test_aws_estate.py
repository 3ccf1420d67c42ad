"""The materialised AWS estate, seen only through boto3 against the gateway."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.sandbox.scenario import Scenario, parse_scenario
from bot.sandbox.world import World, baseline, simulate
from bot.sources.aws.catalog import ServiceResources, instance_class_memory, signal_metric, signals_for
from tests.fixtures_estate import T0, Estates

pytest.importorskip("moto")
cbor2 = pytest.importorskip("cbor2")

from bot.sandbox.aws import AwsEstate  # noqa: E402


def _estate(estates: Estates, world: World, **kw: Any) -> AwsEstate:
    est = estates.get(world, **kw)
    assert isinstance(est, AwsEstate)
    return est


def _signal_values(est: AwsEstate, world: World, service: str, signal: str) -> dict[int, float]:
    """Minute (relative to the page) -> the signal's value, read back through the catalog."""
    spec = world.scenario.service(service)
    sm = signal_metric(spec.kind, signal)
    assert sm is not None, f"{spec.kind} has no {signal} in the catalog"
    queries = sm.queries(est.resources[service])
    out = est.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries,
        StartTime=world.time(world.start),
        EndTime=world.time(1),
        ScanBy="TimestampAscending",
    )
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    series = sm.series({k: v["Timestamps"] for k, v in res.items()}, {k: v["Values"] for k, v in res.items()})
    return {round((t.timestamp() - T0.timestamp()) / 60): v for t, v in series.items()}  # type: ignore[attr-defined]


def _near(value: float, target: float, rel: float, absolute: float) -> bool:
    return abs(value - target) <= max(abs(target) * rel, absolute)


# ---- per public scenario -----------------------------------------------------------------------------


def test_alarm_is_in_alarm_with_history(estates: Estates, public_world: World) -> None:
    est = _estate(estates, public_world)
    page = public_world.scenario.page
    cw = est.client("cloudwatch")
    alarm = cw.describe_alarms(AlarmNames=[page.name])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed")
    history = cw.describe_alarm_history(AlarmName=page.name, HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]
    latest = history[0]
    assert latest["HistorySummary"] == "Alarm updated from OK to ALARM"
    assert latest["Timestamp"].timestamp() == public_world.time(page.at).timestamp()
    data = json.loads(latest["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK" and data["newState"]["stateValue"] == "ALARM"
    for_metric = alarm.get("Metrics") or []
    assert alarm.get("MetricName") or for_metric, "the alarm names its metric or metric math"


def test_page_signal_onset_is_at_the_right_minute(estates: Estates, public_world: World) -> None:
    est = _estate(estates, public_world)
    sc = public_world.scenario
    page = sc.page
    effects = sorted(
        (
            e
            for e in sc.events
            if e.effect
            and e.effect.service == page.service
            and page.signal in e.effect.levels
            and e.effect.instance is None
        ),
        key=lambda e: e.at,
    )
    assert effects, "the page signal has an effect on the paged service"
    first = effects[0]
    assert first.effect is not None
    onset = math.floor(first.at)
    ramp = max(1, math.ceil(first.effect.ramp))
    level = first.effect.levels[page.signal]
    base = baseline(sc.service(page.service))[page.signal]
    values = _signal_values(est, public_world, page.service, page.signal)
    before = [values[m] for m in range(onset - 3, onset) if m in values]
    after = [values[m] for m in range(onset + ramp, min(onset + ramp + 3, 1)) if m in values]
    assert before and after
    tolerance = 0.01 if page.signal == "error_rate" else 0.0
    assert all(_near(v, base, 0.25, tolerance) for v in before), (base, before)
    assert all(_near(v, level, 0.25, tolerance) for v in after), (level, after)


def test_error_logs_and_stack_traces_are_there(estates: Estates, public_world: World) -> None:
    est = _estate(estates, public_world)
    sc = public_world.scenario
    logs = est.client("logs")
    checked = 0
    for ev in sc.events:
        if ev.logs is None or ev.logs.service not in est.log_groups:
            continue
        group = est.log_groups[ev.logs.service][0]
        word = max((w.strip(":'\"(),.;") for w in ev.logs.message.split() if "{" not in w), key=len)
        prefix = ev.logs.message.split("{", 1)[0]
        found = logs.filter_log_events(logGroupName=group, filterPattern=word, limit=200)["events"]
        found = [e for e in found if prefix in e["message"]]
        assert found, f"{word!r} in {group}"
        assert all(e["timestamp"] >= public_world.time(math.floor(ev.at)).timestamp() * 1000 for e in found)
        if ev.logs.stack:
            assert all("\nTraceback (most recent call last):" in e["message"] for e in found)
        q = logs.start_query(
            logGroupName=group,
            startTime=int(public_world.time(public_world.start).timestamp()),
            endTime=int(public_world.time(0).timestamp()),
            queryString=f"filter @message like {_quote(prefix)} | stats count(*) as n by bin(1m) | sort n desc | limit 100",
        )
        rows = logs.get_query_results(queryId=q["queryId"])
        assert rows["status"] == "Complete" and rows["results"]
        first_bin = min(
            cell["value"] for row in rows["results"] for cell in row if cell["field"] == "bin(1m)"
        )
        assert first_bin >= public_world.time(math.floor(ev.at)).strftime("%Y-%m-%d %H:%M")
        checked += 1
    assert checked or not any(e.logs for e in sc.events)


def test_changes_appear_at_their_scenario_time(estates: Estates, public_world: World) -> None:
    est = _estate(estates, public_world)
    sc = public_world.scenario
    trail = est.client("cloudtrail")
    for ev in public_world.changes():
        ch = ev.change
        assert ch is not None
        when = public_world.time(ev.at)
        spec = sc.service(ch.service)
        if ch.via == "github-actions" and spec.kind == "ecs":
            svc = est.client("ecs").describe_services(
                cluster=est.resources[spec.name].cluster, services=[spec.name]
            )["services"][0]
            deployment = svc["deployments"][0]
            td = est.client("ecs").describe_task_definition(taskDefinition=deployment["taskDefinition"])[
                "taskDefinition"
            ]
            if ch.commit and td["containerDefinitions"][0]["image"].endswith(f":{ch.commit.sha}"):
                assert deployment["createdAt"].timestamp() == when.timestamp()
            revisions = est.client("ecs").list_task_definitions(familyPrefix=spec.name)["taskDefinitionArns"]
            assert len(revisions) >= 2, "the previous revision stays for rollback"
            names = [e["EventName"] for e in _lookup(trail, "ResourceName", spec.name)]
            assert "UpdateService" in names
        elif ch.via in ("github-actions", "cloudformation") and spec.kind == "asg":
            events = est.client("cloudformation").describe_stack_events(StackName=spec.name)["StackEvents"]
            own = [e for e in events if e["LogicalResourceId"] == spec.name]
            began = {e["Timestamp"].timestamp() for e in own if e["ResourceStatus"] == "UPDATE_IN_PROGRESS"}
            assert when.timestamp() in began, "the stack update starts at the change's time"
            done = [e for e in own if e["ResourceStatus"] == "UPDATE_COMPLETE" and e["Timestamp"] >= when]
            assert done and min(e["Timestamp"] for e in done) - when < timedelta(minutes=5)
            touched = {
                e["ResourceType"]
                for e in events
                if e["Timestamp"] >= when and e["LogicalResourceId"] != spec.name
            }
            assert "AWS::EC2::LaunchTemplate" in touched, "a release updates the launch template"
            versions = est.client("ec2").describe_launch_template_versions(
                LaunchTemplateName=f"{spec.name}-lt"
            )["LaunchTemplateVersions"]
            assert any(v["CreateTime"].timestamp() == when.timestamp() for v in versions)
        elif ch.via == "github-actions" and spec.kind == "lambda":
            versions = est.client("lambda").list_versions_by_function(FunctionName=spec.name)["Versions"]
            assert len(versions) >= 3  # $LATEST, the release before, this deploy
        elif ch.via in ("console", "iam", "ssm-session", "parameter", "scaling"):
            name = {
                "ssm-session": "StartSession",
                "parameter": "PutParameter",
                "scaling": "SetDesiredCapacity",
            }.get(ch.via, ch.action)
            records = _lookup(trail, "EventName", str(name)) or [
                e for e in _all_events(trail) if re.fullmatch(rf"{name}(\d{{8}}(v\d+)?)?", e["EventName"])
            ]
            assert records, f"CloudTrail has {name}"
            rec = records[0]
            assert rec["EventTime"].timestamp() == when.timestamp()
            doc = json.loads(rec["CloudTrailEvent"])
            assert doc["eventName"] == name and doc["userIdentity"]["arn"]
            if ch.user:
                assert rec["Username"] == ch.user.rsplit("/", 1)[-1]
            if ch.via == "ssm-session":
                real = est.instance_ids[str(ch.instance)]
                assert doc["requestParameters"]["target"] == real
                assert {"ResourceType": "AWS::EC2::Instance", "ResourceName": ch.instance} in rec["Resources"]
            if ch.via == "iam":
                assert doc["requestParameters"]["policy"] == ch.policy


def _quote(text: str) -> str:
    return f'"{text}"' if "'" in text else f"'{text}'"


def _all_events(trail: Any) -> list[dict[str, Any]]:
    return [e for page in trail.get_paginator("lookup_events").paginate() for e in page["Events"]]


def _lookup(trail: Any, key: str, value: str) -> list[dict[str, Any]]:
    out = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], MaxResults=50
    )
    return list(out["Events"])


def test_scaling_activities_for_churn(estates: Estates, public_world: World) -> None:
    if not public_world.activities:
        pytest.skip("no instance churn in this scenario")
    est = _estate(estates, public_world)
    for service in sorted({a.service for a in public_world.activities}):
        acts = est.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=f"{service}-asg")[
            "Activities"
        ]
        expected = [a for a in public_world.activities if a.service == service]
        assert len(acts) == len(expected)
        assert acts == sorted(acts, key=lambda a: a["StartTime"], reverse=True)
        first = min(a.minute for a in expected)
        assert min(a["StartTime"] for a in acts) >= public_world.time(first)
        assert all(a["StatusCode"] == "Successful" and a["Cause"].startswith("At ") for a in acts)
        live = est.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[f"{service}-asg"]
        )
        alive = {est.instance_ids[i.name] for i in public_world.instances[service] if i.alive(0)}
        assert {i["InstanceId"] for i in live["AutoScalingGroups"][0]["Instances"]} == alive


def test_every_service_signal_reads_back(estates: Estates, public_world: World) -> None:
    est = _estate(estates, public_world)
    for spec in public_world.scenario.services:
        for sm in signals_for(spec.kind):
            if sm.queries(est.resources[spec.name]):
                values = _signal_values(est, public_world, spec.name, sm.signal)
                assert len(values) > len(public_world.minutes) * 0.9, (spec.name, sm.signal)


# ---- gaps, determinism, protocols, latency --------------------------------------------------------------

GAP_SCENARIO: dict[str, Any] = {
    "format": "scenario/1",
    "id": "gaps-check",
    "title": "gaps answer AccessDenied",
    "history_minutes": 30,
    "services": [
        {"name": "gateway", "kind": "ecs", "calls": ["forge"]},
        {"name": "forge", "kind": "asg", "instances": 2},
    ],
    "events": [
        {"at": -10, "logs": {"service": "forge", "level": "ERROR", "rate_per_min": 5, "message": "boom"}},
        {
            "at": -9,
            "change": {
                "service": "forge",
                "via": "ssm-session",
                "instance": "i-forge-1",
                "user": "arn:aws:iam::123456789012:user/dyana",
            },
        },
        {"at": -8, "effect": {"service": "gateway", "error_rate": 0.3}},
    ],
    "page": {"source": "pagerduty", "service": "gateway", "signal": "error_rate", "name": "gw", "at": 0},
    "gaps": ["cloudtrail", "logs:forge"],
    "truth": {"root_cause_service": "forge", "category": "manual-change", "mitigation": "replace-instance"},
}


def _gap_world() -> World:
    return simulate(parse_scenario(GAP_SCENARIO, "gaps-check"), T0)


def test_gaps_answer_access_denied(estates: Estates) -> None:
    from botocore.exceptions import ClientError

    world = _gap_world()
    est = _estate(estates, world)
    with pytest.raises(ClientError) as err:
        est.client("cloudtrail").lookup_events(MaxResults=5)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "cloudtrail:LookupEvents" in err.value.response["Error"]["Message"]
    assert "assumed-role/sre-bot/sre-bot" in err.value.response["Error"]["Message"]
    logs = est.client("logs")
    with pytest.raises(ClientError) as err:
        logs.filter_log_events(logGroupName="/ec2/forge", filterPattern="boom")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "log-group:/ec2/forge" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        logs.start_query(
            logGroupNames=["/ecs/gateway", "/ec2/forge"],
            startTime=0,
            endTime=int(T0.timestamp()),
            queryString="fields @message",
        )
    assert logs.filter_log_events(logGroupName="/ecs/gateway", limit=1)["events"]
    assert logs.describe_log_groups()["logGroups"]
    assert est.client("cloudwatch").describe_alarms()["MetricAlarms"]


def test_gaps_in_every_protocol(estates: Estates) -> None:
    """metrics (json 1.0 / cbor), autoscaling (query), xray (rest-json) all answer AccessDenied."""
    from botocore.exceptions import ClientError

    world = _gap_world()
    est = _estate(estates, world, gaps=["metrics", "autoscaling", "xray", "ecs"])
    calls: list[tuple[Any, dict[str, Any], str]] = [
        (est.client("cloudwatch").describe_alarms, {}, "AccessDenied"),
        (est.client("autoscaling").describe_scaling_activities, {}, "AccessDenied"),
        (
            est.client("xray").get_service_graph,
            {"StartTime": T0 - timedelta(hours=1), "EndTime": T0},
            "AccessDeniedException",
        ),
        (est.client("ecs").list_services, {"cluster": "acme-prod"}, "AccessDeniedException"),
    ]
    for fn, kwargs, code in calls:
        with pytest.raises(ClientError) as err:
            fn(**kwargs)
        assert err.value.response["Error"]["Code"] == code
    assert est.client("cloudtrail").lookup_events(MaxResults=1)["Events"]
    status, body = _cbor_call(est, "DescribeAlarms", {})
    assert status == 403 and body["__type"] == "AccessDeniedException"


def _cbor_call(est: AwsEstate, op: str, params: dict[str, Any]) -> tuple[int, Any]:
    """A raw smithy-rpc-v2-cbor call (the protocol CloudWatch lists first)."""
    req = urllib.request.Request(
        f"{est.endpoint_url}/service/GraniteServiceVersion20100801/operation/{op}",
        data=cbor2.dumps(params),
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, cbor2.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, cbor2.loads(exc.read())


def test_cloudwatch_speaks_cbor_as_botocore_parses_it(estates: Estates) -> None:
    import botocore.parsers
    import botocore.session

    world = _gap_world()
    est = _estate(estates, world)
    model = botocore.session.get_session().get_service_model("cloudwatch")
    params = {
        "MetricDataQueries": [
            {
                "Id": "p99",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": "TargetResponseTime",
                        "Dimensions": _tg_dims(est, "gateway"),
                    },
                    "Period": 300,
                    "Stat": "p99",
                },
            }
        ],
        "StartTime": cbor2.CBORTag(1, (T0 - timedelta(minutes=20)).timestamp()),
        "EndTime": cbor2.CBORTag(1, T0.timestamp()),
    }
    req = urllib.request.Request(
        f"{est.endpoint_url}/service/GraniteServiceVersion20100801/operation/GetMetricData",
        data=cbor2.dumps(params),
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "Authorization": "Credential=t/20261122/us-east-1/monitoring/aws4_request",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = {"body": resp.read(), "headers": dict(resp.headers.items()), "status_code": resp.status}
    parser = botocore.parsers.create_parser("smithy-rpc-v2-cbor")
    parsed = parser.parse(raw, model.operation_model("GetMetricData").output_shape)
    result = parsed["MetricDataResults"][0]
    assert len(result["Values"]) == 4 and isinstance(result["Timestamps"][0], datetime)


def _tg_dims(est: AwsEstate, service: str) -> list[dict[str, str]]:
    res = est.resources[service]
    return [
        {"Name": "LoadBalancer", "Value": str(res.load_balancer)},
        {"Name": "TargetGroup", "Value": str(res.target_group)},
    ]


def test_percentiles_differ_and_statistics_are_real(estates: Estates) -> None:
    world = _gap_world()
    est = _estate(estates, world)
    cw = est.client("cloudwatch")
    out = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        Dimensions=_tg_dims(est, "gateway"),
        StartTime=T0 - timedelta(minutes=10),
        EndTime=T0,
        Period=60,
        Statistics=["SampleCount", "Average", "Maximum"],
        ExtendedStatistics=["p50", "p99"],
    )
    points = out["Datapoints"]
    assert len(points) >= 9
    for p in points:
        ext = p["ExtendedStatistics"]
        assert ext["p50"] < ext["p99"] <= p["Maximum"]
        assert 0.03 < ext["p50"] < 0.07 and 0.15 < ext["p99"] < 0.3  # seconds, the ecs defaults 45 / 220 ms
        assert p["SampleCount"] > 100 and p["Unit"] == "Seconds"
    cw.put_metric_data(
        Namespace="Test/Put",
        MetricData=[
            {
                "MetricName": "Lat",
                "Values": [1.0, 2.0, 100.0],
                "Counts": [50, 49, 1],
                "Timestamp": T0 - timedelta(minutes=1),
            }
        ],
    )
    got = cw.get_metric_statistics(
        Namespace="Test/Put",
        MetricName="Lat",
        StartTime=T0 - timedelta(minutes=5),
        EndTime=T0,
        Period=300,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"][0]
    assert got["SampleCount"] == 100 and got["Sum"] == 50 + 98 + 100
    metrics = cw.list_metrics(Namespace="AWS/ApplicationELB", MetricName="RequestCount")["Metrics"]
    assert len(metrics) == 2  # gateway and forge target groups


def test_latency_is_applied_concurrently(estates: Estates) -> None:
    world = _gap_world()
    est = _estate(estates, world)
    clients = [est.client("cloudwatch") for _ in range(6)]
    for c in clients:
        c.describe_alarms()  # warm connections
    est.latency = 0.5
    try:
        started = time.monotonic()
        threads = [threading.Thread(target=c.describe_alarms) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        est.latency = 0.0
    # concurrently: about 0.5 s; one call after another would take 3 s (the margin is for a busy machine)
    assert 0.5 <= elapsed < 2.0


def test_service_graph_and_traces(estates: Estates) -> None:
    world = _gap_world()
    est = _estate(estates, world)
    xray = est.client("xray")
    graph = xray.get_service_graph(StartTime=T0 - timedelta(minutes=5), EndTime=T0)["Services"]
    by_name = {s["Name"]: s for s in graph}
    assert set(by_name) == {"client", "gateway", "forge"}
    edge = by_name["gateway"]["Edges"][0]
    assert edge["ReferenceId"] == by_name["forge"]["ReferenceId"]
    gw = by_name["gateway"]["SummaryStatistics"]
    assert gw["FaultStatistics"]["TotalCount"] > 0.2 * gw["TotalCount"]
    summaries = xray.get_trace_summaries(StartTime=T0 - timedelta(minutes=30), EndTime=T0)["TraceSummaries"]
    assert summaries


def _dump(est: AwsEstate, world: World) -> str:
    """A canonical dump of many describe/get calls."""
    out: dict[str, Any] = {}
    cw = est.client("cloudwatch")
    out["alarms"] = cw.describe_alarms()["MetricAlarms"]
    out["history"] = cw.describe_alarm_history()["AlarmHistoryItems"]
    for spec in world.scenario.services:
        for sm in signals_for(spec.kind):
            q = sm.queries(est.resources[spec.name])
            if q:
                out[f"metric/{spec.name}/{sm.signal}"] = cw.get_metric_data(
                    MetricDataQueries=q, StartTime=world.time(world.start), EndTime=world.time(1)
                )["MetricDataResults"]
    ecs = est.client("ecs")
    out["ecs"] = ecs.describe_services(
        cluster="acme-prod", services=[s.name for s in world.scenario.services if s.kind == "ecs"]
    )["services"]
    out["taskdefs"] = ecs.list_task_definitions()["taskDefinitionArns"]
    out["instances"] = est.client("ec2").describe_instances()["Reservations"]
    out["asgs"] = est.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    out["activities"] = est.client("autoscaling").describe_scaling_activities()["Activities"]
    cfn = est.client("cloudformation")
    for stack in cfn.describe_stacks()["Stacks"]:
        out[f"stack/{stack['StackName']}"] = [
            stack,
            cfn.describe_stack_events(StackName=stack["StackName"])["StackEvents"],
            cfn.list_stack_resources(StackName=stack["StackName"])["StackResourceSummaries"],
        ]
    out["trail"] = est.client("cloudtrail").lookup_events(MaxResults=50)["Events"]
    logs = est.client("logs")
    for group in sorted(g for gs in est.log_groups.values() for g in gs):
        out[f"logs/{group}"] = logs.filter_log_events(logGroupName=group, limit=200)["events"]
        out[f"streams/{group}"] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    out["ssm"] = est.client("ssm").describe_parameters()["Parameters"]
    out["graph"] = est.client("xray").get_service_graph(StartTime=world.time(-30), EndTime=world.time(0))[
        "Services"
    ]
    out["traces"] = est.client("xray").get_trace_summaries(StartTime=world.time(-30), EndTime=world.time(0))[
        "TraceSummaries"
    ]
    out["tables"] = [
        est.client("dynamodb").describe_table(TableName=t)["Table"]
        for t in est.client("dynamodb").list_tables()["TableNames"]
    ]
    out["tgs"] = est.client("elbv2").describe_target_groups()["TargetGroups"]
    for v in out.values():
        if isinstance(v, dict):
            v.pop("ResponseMetadata", None)
    return json.dumps(out, sort_keys=True, default=str)


def test_same_seed_and_t0_give_the_same_estate(estates: Estates) -> None:
    from tests.fixtures_estate import SCENARIOS

    path = SCENARIOS / "forge-cache-serialization.yaml"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    from bot.sandbox.scenario import load_scenario

    sc: Scenario = load_scenario(path)
    first = _dump(_estate(estates, simulate(sc, T0)), simulate(sc, T0))
    estates.release()
    second = _dump(_estate(estates, simulate(sc, T0)), simulate(sc, T0))
    if first != second:
        a, b = json.loads(first), json.loads(second)
        diff = [k for k in a if a[k] != b.get(k)]
        pytest.fail(f"estates differ in {diff}")


@pytest.mark.parametrize(
    ("instance_class", "gib"),
    [
        ("db.r6g.large", 16),
        ("db.m5.xlarge", 16),
        ("db.r5.4xlarge", 128),
        ("db.t3.micro", 1),
        ("db.t4g.medium", 4),
        ("db.x2g.large", 32),
    ],
)
def test_an_rds_instance_class_memory_comes_from_aws_s_ratios(instance_class: str, gib: int) -> None:
    assert instance_class_memory(instance_class) == gib * 1024**3


def test_an_unknown_instance_class_has_no_memory_and_its_memory_share_is_not_read() -> None:
    assert instance_class_memory("db.z1d.large") is None and instance_class_memory("weird") is None
    memory = next(sm for sm in signals_for("rds") if sm.signal == "memory_pct")
    assert memory.bound(ServiceResources(service="db", db_instance="db")) is None
    bound = memory.bound(ServiceResources(service="db", db_instance="db", memory_bytes=8 * 1024**3))
    assert bound is not None and bound.value(2 * 1024**3) == pytest.approx(75.0)
