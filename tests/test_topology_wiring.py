"""Who calls whom without traces: read from configuration as an SRE would (environment variables naming other
services' endpoints, launch template user data, event-source mappings), never from a metric namespace.

Two kinds of estate: one built by hand with boto3 on moto (independent of the sandbox, so a sandbox that agreed
with the engine by mistake would not hide a fault), and a scenario materialised by the sandbox with X-Ray
readable and unreadable.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.topology import Estate, TopologyReader
from bot.sources.aws.wiring import ResourceIndex, Wiring, edges, user_data_values, vendor
from tests.fixtures_estate import T0, Estates

pytest.importorskip("moto")

REGION = "eu-west-1"
LOGICAL = ("web", "api", "worker", "notify", "batch", "carts", "jobs", "ledger")
#: What the hand-built estate's configuration says, in logical names (payfast is a third party).
EXPECTED = {
    ("web", "api"),
    ("web", "ledger"),
    ("web", "jobs"),
    ("web", "payfast"),
    ("api", "worker"),
    ("api", "carts"),
    ("jobs", "worker"),
    ("worker", "carts"),
    ("batch", "ledger"),
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def moto_url(estates: Estates, moto_server: Any, aws_env: None) -> Iterator[str]:
    """The shared moto server, emptied (the sandbox's live estate is let go first)."""
    estates.release()
    moto_server.reset()
    yield str(moto_server.url)
    moto_server.reset()


def _hand_built(url: str, n: dict[str, str]) -> None:
    """An estate made with boto3 alone; `n` names each logical service."""

    def c(service: str) -> Any:
        return boto3.client(service, endpoint_url=url, region_name=REGION)

    def tags(logical: str) -> list[dict[str, str]]:
        return [{"Key": "service", "Value": n[logical]}, {"Key": "Name", "Value": n[logical]}]

    role = c("iam").create_role(RoleName="app", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    c("dynamodb").create_table(
        TableName=n["carts"],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=tags("carts"),
    )
    sqs = c("sqs")
    queue_url = sqs.create_queue(QueueName=n["jobs"], tags={"service": n["jobs"]})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    db = c("rds").create_db_instance(
        DBInstanceIdentifier=n["ledger"],
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="password123",
        AllocatedStorage=20,
        Tags=tags("ledger"),
    )["DBInstance"]
    db_host = db.get("Endpoint", {}).get("Address") or f"{n['ledger']}.c9akciq32.{REGION}.rds.amazonaws.com"
    lam = c("lambda")
    functions = {}
    for logical, env in (
        ("worker", {"CARTS_TABLE": n["carts"], "LOG_LEVEL": "info"}),
        ("notify", {"LOG_LEVEL": "warn", "TIMEOUT_MS": "800", "REGION": REGION, "MODE": "batch"}),
    ):
        functions[logical] = lam.create_function(
            FunctionName=n[logical],
            Runtime="python3.12",
            Role=role,
            Handler="h.main",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            Environment={"Variables": env},
            Tags={"service": n[logical]},
        )["FunctionArn"]
    lam.create_event_source_mapping(EventSourceArn=queue_arn["QueueArn"], FunctionName=n["worker"])
    ecs = c("ecs")
    ecs.create_cluster(clusterName="shop")
    for logical, env in (
        (
            "web",
            {
                "API_BASE": f"http://{n['api']}.shop.internal:8080/v1",
                "LEDGER_DSN": f"postgres://app@{db_host}:5432/ledger?sslmode=require",
                "JOBS": queue_url,
                "PAYMENTS_URL": "https://api.payfast.io/v2",
                "SELF_URL": f"http://{n['web']}.shop.internal",
                "WORKERS": "4",
            },
        ),
        ("api", {"WORKER_FN": f"{functions['worker']}:live", "CARTS": n["carts"], "STAGE": "prod"}),
    ):
        td = ecs.register_task_definition(
            family=n[logical],
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "nginx",
                    "memory": 512,
                    "environment": [{"name": k, "value": v} for k, v in env.items()],
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster="shop",
            serviceName=n[logical],
            taskDefinition=td,
            desiredCount=1,
            tags=[{"key": t["Key"], "value": t["Value"]} for t in tags(logical)],
        )
    script = f"#!/bin/bash\ncat > /etc/app.env <<'EOF'\nexport LEDGER_HOST={db_host}\nEOF\n"
    lt = c("ec2").create_launch_template(
        LaunchTemplateName=f"{n['batch']}-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "UserData": base64.b64encode(script.encode()).decode(),
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    c("cloudwatch").put_metric_data(  # a namespace of the organisation's own: telemetry, not topology
        Namespace="Shop/Dependencies",
        MetricData=[
            {
                "MetricName": "Calls",
                "Dimensions": [
                    {"Name": "Service", "Value": n["notify"]},
                    {"Name": "Dependency", "Value": n["carts"]},
                ],
                "Value": 12.0,
            }
        ],
    )
    c("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=f"{n['batch']}-asg",
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "service", "Value": n["batch"], "PropagateAtLaunch": True}],
    )


def _discover(url: str) -> Estate:
    reader = TopologyReader(AwsClients(REGION, endpoint_url=url))
    return reader.discover(T0 - timedelta(hours=1), T0)


def test_configuration_gives_the_call_graph_where_nothing_is_traced(moto_url: str) -> None:
    _hand_built(moto_url, {name: name for name in LOGICAL})
    estate = _discover(moto_url)
    assert not estate.gaps
    assert estate.edges == EXPECTED
    assert estate.services["payfast"].kind == "external"
    assert estate.services["notify"].kind == "lambda"
    assert not {e for e in estate.edges if "notify" in e}  # its environment names nothing of the estate
    assert estate.org == "Shop"  # its dependency metrics are found, and read as telemetry only


def test_renaming_every_service_renames_the_edges_and_nothing_else(moto_url: str) -> None:
    renamed = {name: f"zq{i}-{name[::-1]}" for i, name in enumerate(LOGICAL)}
    _hand_built(moto_url, renamed)
    back = {v: k for k, v in renamed.items()}
    estate = _discover(moto_url)
    assert {(back.get(a, a), back.get(b, b)) for a, b in estate.edges} == EXPECTED


# ---- the sandbox publishes what AWS would, and nothing of its own --------------------------------------
WIRED: dict[str, Any] = {
    "format": "scenario/1",
    "id": "wiring-check",
    "title": "every calls edge where a real account shows it",
    "history_minutes": 30,
    "account": {"region": REGION, "account_id": "111122223333", "org": "kite"},
    "services": [
        {
            "name": "web",
            "kind": "ecs",
            "calls": ["pricing", "resize", "orders-db", "jobs", "carts", "novapay"],
            "repo": "kite/web",
        },
        {"name": "pricing", "kind": "asg", "instances": 1, "calls": ["orders-db", "jobs"]},
        {"name": "resize", "kind": "lambda", "calls": ["carts", "fx-rates"]},
        {"name": "orders-db", "kind": "rds"},
        {"name": "jobs", "kind": "sqs", "calls": ["worker"]},
        {"name": "worker", "kind": "lambda"},
        {"name": "carts", "kind": "dynamodb"},
        {"name": "novapay", "kind": "external"},
        {"name": "fx-rates", "kind": "external"},
        {"name": "lonely", "kind": "ecs"},
    ],
    "events": [],
    "page": {"source": "cloudwatch", "service": "web", "signal": "error_rate", "name": "web 5xx"},
    "truth": {"root_cause_service": None, "category": "false-alarm", "mitigation": "none"},
}


@pytest.mark.parametrize("gaps", [[], ["xray"]], ids=["traced", "xray-unreadable"])
def test_the_sandbox_estate_has_the_same_edges_with_or_without_xray(
    estates: Estates, aws_env: None, gaps: list[str]
) -> None:
    world = simulate(parse_scenario(WIRED, "<wired>"), T0)
    est = estates.get(world, gaps=gaps)
    reader = TopologyReader(AwsClients(REGION, endpoint_url=est.endpoint_url))  # type: ignore[attr-defined]
    estate = reader.discover(world.time(-30), world.time(0))
    calls = {(s["name"], c) for s in WIRED["services"] for c in s.get("calls", [])}
    assert estate.edges == calls
    assert [g.source for g in estate.gaps] == (["xray:GetServiceGraph"] if gaps else [])
    assert {estate.services[n].kind for n in ("novapay", "fx-rates")} == {"external"}
    assert estate.org == "Kite"  # the dependency metrics stay, as telemetry


# ---- reading one value ---------------------------------------------------------------------------------
INDEX = ResourceIndex.build(
    {
        "checkout": (["arn:aws:ecs:eu-west-1:1:service/shop/checkout"], ["checkout"]),
        "orders": (["arn:aws:dynamodb:eu-west-1:1:table/orders"], ["orders"]),
        "mailer": (["arn:aws:lambda:eu-west-1:1:function:mailer"], ["mailer"]),
    }
)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("orders", "orders"),
        ("arn:aws:dynamodb:eu-west-1:1:table/orders/stream/2026-01-01T00:00:00.000", "orders"),
        ("arn:aws:lambda:eu-west-1:1:function:mailer:live", "mailer"),
        ("http://checkout.shop.internal:8080/api", "checkout"),
        ("https://api.stripe.com/v1", "stripe"),
        ("https://api.example.co.uk", "example"),
        ("jdbc:postgresql://orders.abc.eu-west-1.rds.amazonaws.com:5432/app", "orders"),
        ("http://127.0.0.1:4566/000000000000/orders", "orders"),  # a queue URL's shape
        ("https://checkout.somevendor.com", "somevendor"),  # a public host is a third party's
        ("info", None),
        ("8080", None),
        ("1.2.3", None),
        ("http://10.0.0.4:8080", None),
        ("http://localhost:9000", None),
        ("https://dynamodb.eu-west-1.amazonaws.com", None),
        ("http://unknown.shop.internal", None),
        ("arn:aws:s3:::acme-*-data", None),
        ("*", None),
        ("", None),
    ],
)
def test_what_one_value_names(value: str, named: str | None) -> None:
    assert INDEX.named_by(value) == named


def test_no_edge_from_an_unknown_owner_or_to_itself() -> None:
    wiring = Wiring(
        values=[
            ("arn:aws:ecs:eu-west-1:1:service/shop/checkout", "http://checkout.shop.internal"),
            ("arn:aws:ecs:eu-west-1:1:service/shop/other", "orders"),
            ("arn:aws:ecs:eu-west-1:1:service/shop/checkout", "orders"),
        ],
        mappings=[("arn:aws:sqs:eu-west-1:1:nowhere", "arn:aws:lambda:eu-west-1:1:function:mailer")],
    )
    assert edges(wiring, INDEX) == {("checkout", "orders")}


def test_user_data_values_and_vendors() -> None:
    script = "#!/bin/bash\nexport A=1\nB='x y'\necho C=3\n"
    assert user_data_values(base64.b64encode(script.encode()).decode()) == ["1", "'x y'"]
    assert vendor("api.eu.payfast.io") == "payfast" and vendor("s3.amazonaws.com") is None
