"""Materialise a simulated World into AWS: moto plus our stand-ins behind one gateway.

Resource naming and topology (``org`` and ``account`` from the scenario; every resource is tagged
``service=<name>`` and ``Name``):

* shared: an ALB ``<org>-prod`` in the default VPC, an ECS cluster ``<org>-prod``, SNS topics
  ``<org>-oncall`` (CloudWatch pages) and ``<org>-pagerduty``, IAM roles ``github-actions-deploy`` and
  ``<name>-task`` / ``<name>-lambda``.
* ``ecs``: ECS service ``<name>`` in the cluster, task definition family ``<name>`` (revision 1 is the release
  before the history; each github-actions deploy registers a revision with image tag ``<sha>`` and updates
  the service, the old revision stays for rollback), target group ``<name>-tg`` on the ALB, log group
  ``/ecs/<name>`` with a stream ``ecs/<name>/<task id>`` per task.
* ``asg``: Auto Scaling group ``<name>-asg`` on launch template ``<name>-lt`` (a deploy makes a new version),
  EC2 instances tagged ``Name=<world instance name>`` (``i-forge-2``; their ids are moto's, see
  ``AwsEstate.instance_ids``), target group ``<name>-tg``, log group ``/ec2/<name>`` with a stream per instance id.
* ``lambda``: function ``<name>`` with published versions and an alias ``live``; log group ``/aws/lambda/<name>``.
* ``dynamodb`` table ``<name>``; ``rds`` DB instance ``<name>`` (postgres, db.r6g.large); ``sqs`` queue ``<name>``.
* every service: a CloudFormation stack ``<name>`` listing the resources above (updates at their scenario time,
  parameter ``Version``), SSM parameters under ``/<name>/`` (``log_level``, plus the scenario's parameters).
* CloudWatch metrics per :mod:`bot.sources.aws.catalog`, at 1-minute resolution over the whole history; the
  page's alarm (named ``page.name``) on the page signal, OK before and ALARM at the page.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import random
import statistics
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.request import Request as UrlRequest
from urllib.request import urlopen

import boto3
from botocore.config import Config

from bot.sandbox.aws import moto_times
from bot.sandbox.aws.cloudtrail import CloudTrailService, CloudTrailStore
from bot.sandbox.aws.cloudwatch import CloudWatchService, CloudWatchStore, alarm_reason, metric_key
from bot.sandbox.aws.fillins import Activity, ScalingActivities, StackResource, StackResources
from bot.sandbox.aws.gateway import Gaps, Gateway, Handler
from bot.sandbox.aws.logs_insights import InsightsService, LogRecord
from bot.sandbox.aws.protocol import Reply, Request
from bot.sandbox.aws.xray import GraphModel, MinuteStats, XRayService, trace_documents
from bot.sandbox.scenario import Event, ServiceSpec, parse_scenario
from bot.sandbox.world import SeriesKey, World, baseline, simulate
from bot.sources.aws.catalog import (
    AlarmSpec,
    ServiceResources,
    SignalMetric,
    alb_dimension,
    dependency_signals,
    instance_signals,
    signal_metric,
    signals_for,
)

_CFG = Config(retries={"max_attempts": 1})
DEPLOY_ROLE = "github-actions-deploy"
#: How long before the history starts the estate was built, and when the release before it shipped.
BUILT_BEFORE = timedelta(days=30)
RELEASED_BEFORE = timedelta(days=3)
#: The image every instance runs (moto does not validate AMIs; DescribeImages is slow in moto).
AMI = "ami-0fa3fe0fa7920f68e"


#: A tiny estate with every kind of service, to warm moto up (see MotoServer.warm_up).
WARM_UP: dict[str, Any] = {
    "format": "scenario/1",
    "id": "warm-up",
    "title": "warm-up",
    "history_minutes": 30,
    "services": [
        {"name": "w-ecs", "kind": "ecs", "calls": ["w-lambda", "w-ext"], "repo": "o/w"},
        {"name": "w-asg", "kind": "asg", "instances": 1, "calls": ["w-ddb", "w-rds", "w-sqs"], "repo": "o/a"},
        {"name": "w-lambda", "kind": "lambda", "repo": "o/l"},
        {"name": "w-ddb", "kind": "dynamodb"},
        {"name": "w-rds", "kind": "rds"},
        {"name": "w-sqs", "kind": "sqs"},
        {"name": "w-ext", "kind": "external"},
    ],
    "events": [
        {
            "at": -20,
            "change": {
                "service": "w-ecs",
                "via": "github-actions",
                "commit": {"sha": "abcdef1", "message": "m", "author": "a"},
            },
        },
        {
            "at": -19,
            "change": {
                "service": "w-lambda",
                "via": "github-actions",
                "commit": {"sha": "abcdef2", "message": "m", "author": "a"},
            },
        },
        {"at": -18, "change": {"service": "w-asg", "via": "cloudformation", "stack_change": "lt"}},
        {
            "at": -17,
            "change": {
                "service": "w-asg",
                "via": "parameter",
                "parameter": {"name": "/w-asg/x", "old": "1", "new": "2"},
            },
        },
        {"at": -16, "instances": {"service": "w-asg", "launched": 1, "terminated": 1}},
        {"at": -5, "logs": {"service": "w-ecs", "level": "ERROR", "rate_per_min": 2, "message": "x"}},
    ],
    "page": {"source": "cloudwatch", "service": "w-ecs", "signal": "error_rate", "name": "w"},
    "truth": {"root_cause_service": None, "category": "false-alarm", "mitigation": "none"},
}


class MotoServer:
    """A ThreadedMotoServer on 127.0.0.1, port 0; reusable across materialisations with :meth:`reset`."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self._warm: set[str] = set()

    def _post(self, path: str) -> None:
        with urlopen(UrlRequest(self.url + path, data=b"", method="POST"), timeout=30) as resp:
            resp.read()

    def reset(self) -> None:
        """Forget every resource."""
        self._post("/moto-api/reset")

    def seed(self, seed: int) -> None:
        """Make moto's random ids deterministic from here on."""
        self._post(f"/moto-api/seed?a={seed}")

    def warm_up(self, region: str) -> None:
        """Once per server and region, materialise a tiny estate of every kind and throw it away.

        moto's first use of a service in a process draws random numbers that later uses do not (lazy
        imports and backend set-up), so without this the first estate's ids would differ from every later one.
        """
        if region in self._warm:
            return
        self._warm.add(region)
        data = dict(WARM_UP)
        data["account"] = {"region": region}
        world = simulate(parse_scenario(data, "<warm-up>"), datetime(2026, 1, 1, tzinfo=UTC))
        self.seed(1)
        self.reset()
        self.seed(1)
        _Builder(world, self.url).build(traces_per_minute=1, trace_minutes=5)

    def stop(self) -> None:
        self._server.stop()


@dataclass
class AwsEstate:
    """A materialised world: the gateway's URL, the env a client needs, and names for tests."""

    endpoint_url: str
    region: str
    account_id: str
    gateway: Gateway
    moto: MotoServer
    owns_moto: bool
    instance_ids: dict[str, str] = field(default_factory=dict)  # world instance name -> EC2 id
    resources: dict[str, ServiceResources] = field(default_factory=dict)  # per service, for the catalog
    log_groups: dict[str, list[str]] = field(default_factory=dict)  # per service
    alarm_name: str = ""
    alarm_arn: str = ""
    topic_arn: str = ""
    cloudwatch: CloudWatchStore | None = None
    cloudtrail: CloudTrailStore | None = None

    @property
    def latency(self) -> float:
        """Seconds every AWS call sleeps before it is answered."""
        return self.gateway.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.gateway.latency = seconds

    def env(self) -> dict[str, str]:
        """Environment variables that point any AWS SDK at this estate."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for this estate (no retries unless `config` says otherwise)."""
        kwargs.setdefault("config", _CFG)
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            **kwargs,
        )

    def stop(self) -> None:
        """Stop the gateway (and moto, when this estate started it)."""
        self.gateway.stop()
        if self.owns_moto:
            self.moto.stop()

    def __enter__(self) -> AwsEstate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def materialise_aws(
    world: World,
    *,
    moto: MotoServer | None = None,
    latency: float = 0.0,
    gaps: list[str] | None = None,
    traces_per_minute: int = 1,
    trace_minutes: int = 60,
) -> AwsEstate:
    """Seed moto and the stand-ins from `world` and start the gateway in front of them.

    `moto`: a running server to reuse (it is reset first); by default a new one is started and stopped with
    the estate. `gaps` overrides the scenario's ``gaps``. `latency` (seconds) is slept in every request's
    thread. Same seed and t0 give the same estate, byte for byte, through the APIs.
    """
    owns = moto is None
    server = moto or MotoServer()
    # moto's backends are process-wide: always start from empty. Resetting can itself create resources
    # (the default VPC), so seed before and after it.
    seed = world.scenario.effective_seed % (2**32)
    server.warm_up(world.scenario.account.region)
    server.seed(seed)
    server.reset()
    server.seed(seed)
    try:
        builder = _Builder(world, server.url)
        builder.build(traces_per_minute, trace_minutes)
    except Exception:
        if owns:
            server.stop()
        raise
    sc = world.scenario
    gap_policy = Gaps(
        gaps=list(sc.gaps if gaps is None else gaps),
        log_groups=builder.log_groups,
        markers=builder.markers,
        region=builder.region,
        account_id=builder.account,
    )
    handlers: dict[str, Handler] = {
        "monitoring": builder.cloudwatch_handler,
        "cloudtrail": builder.trail_service.handle,
        "logs": builder.insights.handle,
        "xray": builder.xray.handle,
        "autoscaling": builder.activities.handle,
        "cloudformation": builder.stack_resources.handle,
    }
    gw = Gateway(server.url, handlers, gap_policy, latency).start()
    return AwsEstate(
        endpoint_url=gw.url,
        region=builder.region,
        account_id=builder.account,
        gateway=gw,
        moto=server,
        owns_moto=owns,
        instance_ids=dict(builder.instance_ids),
        resources=dict(builder.resources),
        log_groups=dict(builder.log_groups),
        alarm_name=builder.alarm_name,
        alarm_arn=builder.alarm_arn,
        topic_arn=builder.topic_arn,
        cloudwatch=builder.cw,
        cloudtrail=builder.trail,
    )


def _user_identity(user: str, account: str) -> tuple[dict[str, Any], str]:
    """CloudTrail userIdentity and Username for a user ARN or plain name."""
    if ":assumed-role/" in user:
        role, _, session = user.split(":assumed-role/", 1)[1].partition("/")
        ident = {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE{abs(hash(role)) % 10**8:08d}:{session}",
            "arn": user,
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                }
            },
        }
        return ident, session or role
    name = user.rsplit("/", 1)[-1]
    arn = user if user.startswith("arn:") else f"arn:aws:iam::{account}:user/{name}"
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper():0<17}"[:21],
        "arn": arn,
        "accountId": account,
        "userName": name,
    }, name


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("handler.py", date_time=(2026, 1, 1, 0, 0, 0))
        zf.writestr(info, text)
    return buf.getvalue()


class _Builder:
    """Does the seeding; one use."""

    def __init__(self, world: World, moto_url: str) -> None:
        self.world = world
        self.sc = world.scenario
        self.region = self.sc.account.region
        self.account = self.sc.account.account_id
        self.org = self.sc.account.org
        self.moto_url = moto_url
        self.rng = random.Random(self.sc.effective_seed ^ 0x5EED)
        self.cw = CloudWatchStore(self.account, self.region)
        self.trail = CloudTrailStore(self.account, self.region)
        self.trail_service = CloudTrailService(self.trail)
        self.activities = ScalingActivities()
        self.stack_resources = StackResources()
        self.records: dict[str, list[LogRecord]] = {}
        self.insights = InsightsService(self.account, self._records_for)
        self.xray = XRayService(GraphModel(self.account, {}, {}))
        self.instance_ids: dict[str, str] = {}
        self.resources: dict[str, ServiceResources] = {}
        self.log_groups: dict[str, list[str]] = {}
        self.markers: dict[str, list[str]] = {}
        self.alarm_name = self.sc.page.name
        self.alarm_arn = ""
        self.topic_arn = ""
        self._clients: dict[str, Any] = {}
        self.tg_arns: dict[str, str] = {}
        self.lt_ids: dict[str, str] = {}
        self.stack_ids: dict[str, str] = {}
        self.subnets: list[dict[str, Any]] = []
        self.cluster = f"{self.org}-prod"
        self.ecs_tasks: dict[str, list[str]] = {}
        self.ecs_events: dict[str, list[tuple[datetime, str, str]]] = {}
        self.ingestion: dict[tuple[str, str, int], int] = {}
        self.image = ""
        self.db_subnet_group = ""
        self.clock: moto_times.Clock | None = None

    # ---- helpers ---------------------------------------------------------------------------------------
    def c(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.moto_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=_CFG,
            )
        return self._clients[service]

    def at(self, when: datetime) -> None:
        assert self.clock is not None
        self.clock.set(when)

    def t(self, minute: float) -> datetime:
        return self.world.time(minute)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def tags(self, spec_name: str, name: str) -> list[dict[str, str]]:
        return [
            {"Key": "Name", "Value": name},
            {"Key": "service", "Value": spec_name},
            {"Key": "env", "Value": "prod"},
        ]

    def _records_for(self, groups: list[str]) -> list[LogRecord]:
        return [r for g in groups for r in self.records.get(g, [])]

    def cloudwatch_handler(self, req: Request) -> Reply | None:
        return self._cw_service.handle(req)

    # ---- the whole build -------------------------------------------------------------------------------
    def build(self, traces_per_minute: int, trace_minutes: int) -> None:
        self._cw_service = CloudWatchService(self.cw)
        with moto_times.scenario_clock() as clock:
            self.clock = clock
            built = self.t(self.world.start) - BUILT_BEFORE
            self.at(built)
            self._shared(built)
            for spec in self.sc.services:
                self._service(spec, built)
            self._timeline()
            self.at(self.t(0))
            self._logs()
            self._traces(traces_per_minute, trace_minutes)
        self._metrics()
        self._alarm()
        self._trail_background()
        moto_times.fix_log_events(self.account, self.region, self.ingestion)
        for spec in self.sc.services:
            if spec.kind == "asg":
                moto_times.fix_asg_created(
                    self.account, self.region, f"{spec.name}-asg", self.t(self.world.start) - BUILT_BEFORE
                )
        for name, events in self.ecs_events.items():
            moto_times.fix_ecs_service(
                self.account, self.region, self.cluster, name, len(self.ecs_tasks[name]), events
            )

    def _shared(self, built: datetime) -> None:
        ec2 = self.c("ec2")
        # moto re-creates the default VPC while resetting, with ids that depend on which backends existed
        # before; remove it and build our own after the seed, so every id is the same run after run.
        for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
            for sub in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
                "Subnets"
            ]:
                ec2.delete_subnet(SubnetId=sub["SubnetId"])
            for igw in ec2.describe_internet_gateways(
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
            )["InternetGateways"]:
                ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc["VpcId"])
                ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
            ec2.delete_vpc(VpcId=vpc["VpcId"])
        net = f"{self.org}-prod"
        vpc = ec2.create_vpc(
            CidrBlock="10.20.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": net}]}],
        )["Vpc"]["VpcId"]
        self.subnets = []
        for i, zone in enumerate(("a", "b", "c")):
            az = f"{self.region}{zone}"
            sub = ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=f"10.20.{16 * i}.0/20",
                AvailabilityZone=az,
                TagSpecifications=[
                    {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{net}-private-{zone}"}]}
                ],
            )["Subnet"]
            self.subnets.append(sub)
        self.image = AMI
        self.vpc = vpc
        elb = self.c("elbv2")
        self.alb = elb.create_load_balancer(
            Name=f"{self.org}-prod",
            Subnets=[s["SubnetId"] for s in self.subnets[:2]],
            Scheme="internet-facing",
            Type="application",
            Tags=[{"Key": "Name", "Value": f"{self.org}-prod"}, {"Key": "service", "Value": "shared"}],
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self.c("ecs").create_cluster(clusterName=self.cluster, tags=[{"key": "Name", "value": self.cluster}])
        sns = self.c("sns")
        self.topic_arn = sns.create_topic(Name=f"{self.org}-oncall")["TopicArn"]
        self.pd_topic = sns.create_topic(Name=f"{self.org}-pagerduty")["TopicArn"]
        iam = self.c("iam")
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
        iam.create_role(RoleName=DEPLOY_ROLE, AssumeRolePolicyDocument=trust)
        self.role_arns: dict[str, str] = {}
        for spec in self.sc.services:
            if spec.kind in ("ecs", "lambda", "asg"):
                role = f"{spec.name}-{'lambda' if spec.kind == 'lambda' else 'task'}"
                self.role_arns[spec.name] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)[
                    "Role"
                ]["Arn"]

    def _stack(self, spec: ServiceSpec, version: str, description: str) -> str:
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": description,
            "Parameters": {"Version": {"Type": "String", "Default": version}},
            "Resources": {"DeployMarker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        }
        return json.dumps(template, sort_keys=True)

    def _service(self, spec: ServiceSpec, built: datetime) -> None:
        name = spec.name
        tags = self.tags(name, name)
        res: dict[str, Any] = {"service": name}
        stack_rows: list[tuple[str, str, str]] = []
        self.markers[name] = [name]
        released = self.t(self.world.start) - RELEASED_BEFORE
        if spec.kind in ("ecs", "asg"):
            tg = self.c("elbv2").create_target_group(
                Name=f"{name}-tg"[:32],
                Protocol="HTTP",
                Port=8080,
                VpcId=self.vpc,
                TargetType="ip" if spec.kind == "ecs" else "instance",
                HealthCheckPath="/ping",
                Tags=tags,
            )["TargetGroups"][0]["TargetGroupArn"]
            self.tg_arns[name] = tg
            res.update(load_balancer=alb_dimension(self.alb), target_group=alb_dimension(tg))
            stack_rows.append(("TargetGroup", tg, "AWS::ElasticLoadBalancingV2::TargetGroup"))
            self.c("elbv2").create_listener(
                LoadBalancerArn=self.alb,
                Protocol="HTTP",
                Port=8000 + len(self.tg_arns),
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            )
        if spec.kind == "ecs":
            self.at(released)
            td = self._register_task(spec, "release-" + self.hexid(7))
            hosts = int(baseline(spec).get("healthy_hosts", 3))
            self.c("ecs").create_service(
                cluster=self.cluster,
                serviceName=name,
                taskDefinition=td,
                desiredCount=hosts,
                launchType="FARGATE",
                loadBalancers=[
                    {"targetGroupArn": self.tg_arns[name], "containerName": name, "containerPort": 8080}
                ],
                tags=[{"key": t["Key"], "value": t["Value"]} for t in tags],
                propagateTags="SERVICE",
            )
            self.ecs_tasks[name] = [self.hexid(32) for _ in range(hosts)]
            self.ecs_events[name] = [
                (
                    released + timedelta(minutes=4),
                    self.uid(),
                    f"(service {name}) has reached a steady state.",
                ),
            ]
            res.update(cluster=self.cluster, ecs_service=name)
            svc_arn = f"arn:aws:ecs:{self.region}:{self.account}:service/{self.cluster}/{name}"
            stack_rows += [
                ("Service", svc_arn, "AWS::ECS::Service"),
                ("TaskDefinition", td, "AWS::ECS::TaskDefinition"),
            ]
            self.log_groups[name] = [f"/ecs/{name}"]
        elif spec.kind == "asg":
            self.at(built)
            lt = self.c("ec2").create_launch_template(
                LaunchTemplateName=f"{name}-lt",
                LaunchTemplateData={"ImageId": self.image, "InstanceType": "m6i.large", "UserData": ""},
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
            )["LaunchTemplate"]["LaunchTemplateId"]
            self.lt_ids[name] = lt
            group = f"{name}-asg"
            self.c("autoscaling").create_auto_scaling_group(
                AutoScalingGroupName=group,
                LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
                MinSize=0,
                MaxSize=max(spec.instances * 3, 6),
                DesiredCapacity=0,
                VPCZoneIdentifier=",".join(s["SubnetId"] for s in self.subnets),
                TargetGroupARNs=[self.tg_arns[name]],
                HealthCheckType="ELB",
                HealthCheckGracePeriod=120,
                Tags=[
                    {
                        "Key": t["Key"],
                        "Value": t["Value"],
                        "PropagateAtLaunch": True,
                        "ResourceId": group,
                        "ResourceType": "auto-scaling-group",
                    }
                    for t in tags
                ],
            )
            res.update(asg=group)
            self.markers[name] += [group, f"{name}-lt"]
            stack_rows += [
                ("AutoScalingGroup", group, "AWS::AutoScaling::AutoScalingGroup"),
                ("LaunchTemplate", lt, "AWS::EC2::LaunchTemplate"),
            ]
            self.log_groups[name] = [f"/ec2/{name}"]
        elif spec.kind == "lambda":
            self.at(released)
            fn = self.c("lambda").create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=self.role_arns[name],
                Handler="handler.main",
                Code={"ZipFile": _zip("def main(event, context):\n    return {'release': 'initial'}\n")},
                Publish=True,
                Tags={t["Key"]: t["Value"] for t in tags},
                MemorySize=512,
                Timeout=30,
            )
            self.c("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion="1")
            res.update(function=name)
            stack_rows.append(("Function", fn["FunctionArn"], "AWS::Lambda::Function"))
            self.log_groups[name] = [f"/aws/lambda/{name}"]
        elif spec.kind == "dynamodb":
            self.at(built)
            table = self.c("dynamodb").create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=tags,
            )["TableDescription"]["TableArn"]
            res.update(table=name)
            stack_rows.append(("Table", name, "AWS::DynamoDB::Table"))
            self.markers[name].append(table)
        elif spec.kind == "rds":
            self.at(built)
            if not self.db_subnet_group:
                self.db_subnet_group = f"{self.org}-prod"
                self.c("rds").create_db_subnet_group(
                    DBSubnetGroupName=self.db_subnet_group,
                    DBSubnetGroupDescription=f"{self.org} production databases",
                    SubnetIds=[s["SubnetId"] for s in self.subnets],
                )
            sg = self.c("ec2").create_security_group(
                GroupName=f"{name}-db", Description=f"{name} database", VpcId=self.vpc
            )["GroupId"]
            self.c("rds").create_db_instance(
                DBSubnetGroupName=self.db_subnet_group,
                VpcSecurityGroupIds=[sg],
                DBInstanceIdentifier=name,
                DBInstanceClass="db.r6g.large",
                Engine="postgres",
                EngineVersion="16.3",
                MasterUsername="app",
                MasterUserPassword="sandbox-password",
                AllocatedStorage=200,
                Tags=tags,
            )
            res.update(db_instance=name)
            stack_rows.append(("Database", name, "AWS::RDS::DBInstance"))
        elif spec.kind == "sqs":
            self.at(built)
            url = self.c("sqs").create_queue(QueueName=name, tags={t["Key"]: t["Value"] for t in tags})[
                "QueueUrl"
            ]
            res.update(queue=name)
            stack_rows.append(("Queue", url, "AWS::SQS::Queue"))
        self.resources[name] = ServiceResources(**res)
        if spec.kind == "external":
            return
        # Stack, parameters, log groups.
        self.at(built)
        stack_id = self.c("cloudformation").create_stack(
            StackName=name,
            TemplateBody=self._stack(spec, "initial", f"{name} ({spec.kind})"),
            Parameters=[{"ParameterKey": "Version", "ParameterValue": "initial"}],
            Tags=tags,
        )["StackId"]
        self.stack_ids[name] = stack_id
        for logical, physical, rtype in stack_rows:
            self.stack_resources.add(StackResource(name, stack_id, logical, physical, rtype, built))
        self.c("ssm").put_parameter(Name=f"/{name}/log_level", Value="info", Type="String", Tags=tags)
        for group in self.log_groups.get(name, []):
            self.c("logs").create_log_group(logGroupName=group, tags={t["Key"]: t["Value"] for t in tags})
            self.c("logs").put_retention_policy(logGroupName=group, retentionInDays=30)

    def _register_task(self, spec: ServiceSpec, tag: str) -> str:
        name = spec.name
        return str(
            self.c("ecs").register_task_definition(
                family=name,
                taskRoleArn=self.role_arns[name],
                executionRoleArn=self.role_arns[name],
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="512",
                memory="1024",
                containerDefinitions=[
                    {
                        "name": name,
                        "image": f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{name}:{tag}",
                        "essential": True,
                        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": f"/ecs/{name}",
                                "awslogs-region": self.region,
                                "awslogs-stream-prefix": "ecs",
                            },
                        },
                    }
                ],
                tags=[{"key": "service", "value": name}],
            )["taskDefinition"]["taskDefinitionArn"]
        )

    # ---- the story in time order ----------------------------------------------------------------------
    def _timeline(self) -> None:
        steps: list[tuple[float, int, str, Any]] = []
        for _svc, fleet in sorted(self.world.instances.items()):
            for inst in fleet:
                launched = self.world.start - 60 * 24 * 2 if inst.launched is None else inst.launched
                steps.append((launched, 0, "launch", inst))
                if inst.terminated is not None:
                    steps.append((inst.terminated, 1, "terminate", inst))
        for i, ev in enumerate(self.world.changes()):
            steps.append((ev.at, 2 + i, "change", ev))
        steps.sort(key=lambda s: (s[0], s[1], s[2]))
        for minute, _, what, obj in steps:
            when = self.t(minute)
            self.at(when)
            if what == "launch":
                self._launch(obj, when)
            elif what == "terminate":
                self._terminate(obj, when)
            else:
                self._change(obj, when)
        for act in sorted(self.world.activities, key=lambda a: (a.minute, a.description)):
            self._activity(act)

    def _launch(self, inst: Any, when: datetime) -> None:
        spec = self.sc.service(inst.service)
        subnet = self.subnets[len(self.instance_ids) % len(self.subnets)]
        r = self.c("ec2").run_instances(
            ImageId=self.image,
            InstanceType="m6i.large",
            MinCount=1,
            MaxCount=1,
            ClientToken=f"{inst.name}-{self.hexid(12)}",
            SubnetId=subnet["SubnetId"],
            LaunchTemplate={"LaunchTemplateId": self.lt_ids[spec.name], "Version": "$Latest"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": self.tags(spec.name, inst.name)}],
        )
        iid = r["Instances"][0]["InstanceId"]
        self.instance_ids[inst.name] = iid
        self.c("autoscaling").attach_instances(InstanceIds=[iid], AutoScalingGroupName=f"{spec.name}-asg")
        self.c("elbv2").register_targets(
            TargetGroupArn=self.tg_arns[spec.name], Targets=[{"Id": iid, "Port": 8080}]
        )
        self.c("logs").create_log_stream(logGroupName=f"/ec2/{spec.name}", logStreamName=iid)
        self.markers[spec.name] += [iid, inst.name]

    def _terminate(self, inst: Any, when: datetime) -> None:
        iid = self.instance_ids[inst.name]
        group = f"{inst.service}-asg"
        self.c("autoscaling").detach_instances(
            InstanceIds=[iid], AutoScalingGroupName=group, ShouldDecrementDesiredCapacity=True
        )
        self.c("elbv2").deregister_targets(
            TargetGroupArn=self.tg_arns[inst.service], Targets=[{"Id": iid, "Port": 8080}]
        )
        self.c("ec2").terminate_instances(InstanceIds=[iid])

    def _activity(self, act: Any) -> None:
        when = self.t(act.minute) + timedelta(seconds=5 + self.rng.randint(0, 40))
        iid = self.instance_ids.get(act.instance or "", act.instance or "")
        group = f"{act.service}-asg"
        launching = act.description.startswith("Launching")
        fleet = self.world.instances.get(act.service, [])
        before = sum(1 for i in fleet if i.alive(act.minute - 1))
        after = sum(1 for i in fleet if i.alive(act.minute))
        if launching:
            desc = f"Launching a new EC2 instance: {iid}"
            why = (
                "an instance was started in response to a difference between desired and actual capacity, "
                f"increasing the capacity from {min(before, after)} to {max(before, after)}"
            )
        else:
            desc = f"Terminating EC2 instance: {iid}"
            reason = act.cause
            if "health" in reason.lower():
                why = "an instance was taken out of service in response to an ELB system health check failure"
            else:
                why = f"an instance was taken out of service in response to {reason}"
        cause = f"At {when.strftime('%Y-%m-%dT%H:%M:%SZ')} {why}."
        subnet = (
            self.subnets[sorted(self.instance_ids.values()).index(iid) % len(self.subnets)]
            if iid in self.instance_ids.values()
            else self.subnets[0]
        )
        self.activities.activities.append(
            Activity(
                activity_id=self.uid(),
                group=group,
                group_arn=f"arn:aws:autoscaling:{self.region}:{self.account}:autoScalingGroup:{self.uid()}:autoScalingGroupName/{group}",
                description=desc,
                cause=cause,
                start=when,
                end=when + timedelta(seconds=30 + self.rng.randint(0, 90)),
                details=json.dumps(
                    {"Subnet ID": subnet["SubnetId"], "Availability Zone": subnet["AvailabilityZone"]}
                ),
            )
        )

    def _deploy_identity(self) -> tuple[dict[str, Any], str]:
        return _user_identity(
            f"arn:aws:sts::{self.account}:assumed-role/{DEPLOY_ROLE}/GitHubActions", self.account
        )

    def _ct(
        self,
        name: str,
        when: datetime,
        source: str,
        user: str | None,
        request: dict[str, Any] | None,
        resources: list[tuple[str, str]],
        **kw: Any,
    ) -> None:
        ident, username = self._deploy_identity() if user is None else _user_identity(user, self.account)
        self.trail.record(
            event_id=self.uid(),
            name=name,
            time=when,
            source=source,
            identity=ident,
            username=username,
            request=request,
            resources=resources,
            **kw,
        )

    def _change(self, ev: Event, when: datetime) -> None:
        ch = ev.change
        assert ch is not None
        spec = self.sc.service(ch.service)
        name = spec.name
        gh = {
            "source_ip": "4.175.114.51",
            "user_agent": "aws-cli/2.22.4 md/command#deploy exec-env/GitHubActions",
        }
        if ch.via in ("github-actions", "cloudformation"):
            version = ch.commit.sha if ch.commit else f"stack-{self.hexid(7)}"
            user = ch.user if ch.via == "cloudformation" else None
            ctx = gh if user is None else {}
            if ch.via == "github-actions" and spec.kind == "ecs":
                td = self._register_task(spec, version)
                self.c("ecs").update_service(
                    cluster=self.cluster, service=name, taskDefinition=td, forceNewDeployment=True
                )
                moto_times.set_deployment_updated(
                    self.account, self.region, self.cluster, name, when + timedelta(minutes=4)
                )
                self._ct(
                    "RegisterTaskDefinition",
                    when,
                    "ecs.amazonaws.com",
                    None,
                    {
                        "family": name,
                        "containerDefinitions": [
                            {
                                "name": name,
                                "image": f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{name}:{version}",
                            }
                        ],
                    },
                    [("AWS::ECS::TaskDefinition", td)],
                    **ctx,
                )
                self._ct(
                    "UpdateService",
                    when + timedelta(seconds=3),
                    "ecs.amazonaws.com",
                    None,
                    {
                        "cluster": self.cluster,
                        "service": name,
                        "taskDefinition": td,
                        "forceNewDeployment": True,
                    },
                    [("AWS::ECS::Service", name)],
                    **ctx,
                )
                tasks = self.ecs_tasks[name]
                new = [self.hexid(32) for _ in tasks]
                self.ecs_events[name] += [
                    (
                        when + timedelta(seconds=20),
                        self.uid(),
                        f"(service {name}) has started {len(new)} tasks: "
                        + " ".join(f"(task {t})" for t in new)
                        + ".",
                    ),
                    (
                        when + timedelta(minutes=2),
                        self.uid(),
                        f"(service {name}) has stopped {len(tasks)} running tasks: "
                        + " ".join(f"(task {t})" for t in tasks)
                        + ".",
                    ),
                    (when + timedelta(minutes=4), self.uid(), f"(service {name}) deployment completed."),
                    (
                        when + timedelta(minutes=5),
                        self.uid(),
                        f"(service {name}) has reached a steady state.",
                    ),
                ]
                self.ecs_tasks[name] = new
                self.stack_resources.add(
                    StackResource(
                        name, self.stack_ids[name], "TaskDefinition", td, "AWS::ECS::TaskDefinition", when
                    )
                )
            elif ch.via == "github-actions" and spec.kind == "lambda":
                fn = self.c("lambda").update_function_code(
                    FunctionName=name,
                    ZipFile=_zip(f"def main(event, context):\n    return {{'release': '{version}'}}\n"),
                    Publish=True,
                )
                ver = fn.get("Version", "$LATEST")
                if ver == "$LATEST":
                    ver = self.c("lambda").publish_version(FunctionName=name, Description=version)["Version"]
                self.c("lambda").update_alias(FunctionName=name, Name="live", FunctionVersion=ver)
                arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
                self._ct(
                    "UpdateFunctionCode20150331v2",
                    when,
                    "lambda.amazonaws.com",
                    None,
                    {"functionName": name, "publish": True},
                    [("AWS::Lambda::Function", arn)],
                    **ctx,
                )
                self._ct(
                    "PublishVersion20150331",
                    when + timedelta(seconds=2),
                    "lambda.amazonaws.com",
                    None,
                    {"functionName": name, "description": version},
                    [("AWS::Lambda::Function", arn)],
                    **ctx,
                )
                self._ct(
                    "UpdateAlias20150331",
                    when + timedelta(seconds=4),
                    "lambda.amazonaws.com",
                    None,
                    {"functionName": name, "name": "live", "functionVersion": ver},
                    [("AWS::Lambda::Function", arn)],
                    **ctx,
                )
            if (
                spec.kind == "asg"
                or ch.via == "cloudformation"
                or (ch.via == "github-actions" and spec.kind not in ("ecs", "lambda"))
            ):
                if name in self.lt_ids:
                    ltv = self.c("ec2").create_launch_template_version(
                        LaunchTemplateId=self.lt_ids[name],
                        SourceVersion="$Latest",
                        VersionDescription=version,
                        LaunchTemplateData={
                            "ImageId": self.image,
                            "InstanceType": "m6i.large",
                            "UserData": "",
                        },
                    )["LaunchTemplateVersion"]["VersionNumber"]
                    self.c("autoscaling").update_auto_scaling_group(
                        AutoScalingGroupName=f"{name}-asg",
                        LaunchTemplate={"LaunchTemplateId": self.lt_ids[name], "Version": str(ltv)},
                    )
                    self.stack_resources.add(
                        StackResource(
                            name,
                            self.stack_ids[name],
                            "LaunchTemplate",
                            self.lt_ids[name],
                            "AWS::EC2::LaunchTemplate",
                            when,
                        )
                    )
                if name in self.stack_ids:
                    desc = ch.stack_change or (ch.commit.message if ch.commit else f"{name} update")
                    self.c("cloudformation").update_stack(
                        StackName=name,
                        TemplateBody=self._stack(spec, version, desc),
                        Parameters=[{"ParameterKey": "Version", "ParameterValue": version}],
                    )
                    self._ct(
                        "UpdateStack",
                        when,
                        "cloudformation.amazonaws.com",
                        user,
                        {
                            "stackName": name,
                            "parameters": [{"parameterKey": "Version", "parameterValue": version}],
                        },
                        [("AWS::CloudFormation::Stack", self.stack_ids[name])],
                        **ctx,
                    )
        elif ch.via == "parameter":
            par = ch.parameter
            assert par is not None
            ssm = self.c("ssm")
            if par.old is not None:
                self.at(self.t(self.world.start) - BUILT_BEFORE / 2)
                ssm.put_parameter(Name=par.name, Value=par.old, Type="String", Overwrite=True)
                self.at(when)
            ssm.put_parameter(Name=par.name, Value=par.new, Type="String", Overwrite=True)
            self._ct(
                "PutParameter",
                when,
                "ssm.amazonaws.com",
                ch.user or f"arn:aws:iam::{self.account}:user/ops",
                {
                    "name": par.name,
                    "type": "String",
                    "overwrite": True,
                    "value": "HIDDEN_DUE_TO_SECURITY_REASONS",
                },
                [
                    (
                        "AWS::SSM::Parameter",
                        f"arn:aws:ssm:{self.region}:{self.account}:parameter{par.name if par.name.startswith('/') else '/' + par.name}",
                    )
                ],
                response={"version": 2, "tier": "Standard"},
            )
            self.markers[name].append(par.name)
        elif ch.via in ("console", "iam"):
            action = ch.action or "Unknown"
            resource = ch.resource or name
            source = _event_source(resource, action, spec.kind)
            req: dict[str, Any] = {"resourceArn" if resource.startswith("arn:") else "resourceName": resource}
            if ch.detail:
                req["detail"] = ch.detail
            if ch.policy:
                req["policy"] = ch.policy
                if source == "iam.amazonaws.com":
                    req["policyDocument"] = ch.policy
            kw: dict[str, Any] = {
                "user_agent": "AWS Internal" if ch.via == "console" else "aws-cli/2.22.4 Python/3.12.6",
                "source_ip": "198.51.100.23",
            }
            self._ct(
                action,
                when,
                source,
                ch.user or f"arn:aws:iam::{self.account}:user/unknown",
                req,
                [(_resource_type(resource, spec.kind), resource)],
                **kw,
            )
        elif ch.via == "ssm-session":
            target = self.instance_ids.get(ch.instance or "", ch.instance or "")
            user = ch.user or f"arn:aws:iam::{self.account}:user/unknown"
            _, username = _user_identity(user, self.account)
            session = f"{username}-{self.hexid(17)}"
            res = [("AWS::EC2::Instance", target), ("AWS::EC2::Instance", ch.instance or target)]
            self._ct(
                "StartSession",
                when,
                "ssm.amazonaws.com",
                user,
                {"target": target},
                res,
                response={
                    "sessionId": session,
                    "tokenValue": "Value hidden due to security reasons.",
                    "streamUrl": f"wss://ssmmessages.{self.region}.amazonaws.com/v1/data-channel/{session}?role=publish_subscribe",
                },
                source_ip="198.51.100.23",
                user_agent="aws-cli/2.22.4 Python/3.12.6 exec-env/CloudShell",
            )
            self._ct(
                "TerminateSession",
                when + timedelta(minutes=6, seconds=12),
                "ssm.amazonaws.com",
                user,
                {"sessionId": session},
                [("AWS::SSM::Session", session)],
                response={"sessionId": session},
                source_ip="198.51.100.23",
                user_agent="aws-cli/2.22.4 Python/3.12.6 exec-env/CloudShell",
            )
        elif ch.via == "scaling":
            user = ch.user or f"arn:aws:iam::{self.account}:user/ops"
            self._ct(
                "SetDesiredCapacity",
                when,
                "autoscaling.amazonaws.com",
                user,
                {
                    "autoScalingGroupName": f"{name}-asg",
                    "desiredCapacity": ch.desired,
                    "honorCooldown": False,
                },
                [("AWS::AutoScaling::AutoScalingGroup", f"{name}-asg")],
            )

    # ---- logs ----------------------------------------------------------------------------------------------
    def _logs(self) -> None:
        streams: dict[tuple[str, str], list[tuple[int, str]]] = {}
        lambda_streams: dict[tuple[str, int], str] = {}
        for line in self.world.logs:
            spec = self.sc.service(line.service)
            groups = self.log_groups.get(spec.name)
            if not groups:
                continue
            group = groups[0]
            ts = round(self.t(line.minute).timestamp() * 1000)
            if spec.kind == "asg":
                stream = self.instance_ids.get(line.instance or "", "")
                if not stream:
                    fleet = [
                        i for i in self.world.instances.get(spec.name, []) if i.alive(math.floor(line.minute))
                    ]
                    stream = self.instance_ids[fleet[0].name] if fleet else "unknown"
            elif spec.kind == "ecs":
                tasks = self._tasks_at(spec.name, line.minute)
                stream = f"ecs/{spec.name}/{tasks[self.rng.randrange(len(tasks))]}"
            else:
                hour = math.floor(line.minute / 60)
                key = (spec.name, hour)
                if key not in lambda_streams:
                    day = self.t(hour * 60).strftime("%Y/%m/%d")
                    lambda_streams[key] = f"{day}/[$LATEST]{self.hexid(32)}"
                stream = lambda_streams[key]
            text = f"{line.level} {line.message}"
            if line.stack:
                text += "\n" + line.stack.rstrip("\n")
            streams.setdefault((group, stream), []).append((ts, text))
        logs = self.c("logs")
        for (group, stream), events in sorted(streams.items()):
            events.sort()
            existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]
            if not any(s["logStreamName"] == stream for s in existing):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            recs = self.records.setdefault(group, [])
            for i in range(0, len(events), 5000):
                batch = events[i : i + 5000]
                logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": t, "message": m} for t, m in batch],
                )
            for t, m in events:
                delay = 600 + self.rng.randrange(2400)
                self.ingestion[(group, stream, t)] = delay
                recs.append(LogRecord(group, stream, t, t + delay, m))

    def _tasks_at(self, service: str, minute: float) -> list[str]:
        return self.ecs_tasks[service]

    # ---- traces --------------------------------------------------------------------------------------
    def _minute_stats(self) -> None:
        model = self.xray.model
        for spec in self.sc.services:
            model.kinds[spec.name] = spec.kind
            model.calls[spec.name] = list(spec.calls)
            per: dict[int, MinuteStats] = {}
            last: dict[str, float] = {}

            def held(signal: str, minute: int, default: float) -> float:
                """The value, or the last one seen where a datapoint is missing (traces have no gaps)."""
                v = self._v(spec.name, signal, minute)  # noqa: B023
                if v is None:
                    return last.get(signal, default)  # noqa: B023
                last[signal] = v  # noqa: B023
                return v

            for m in self.world.minutes:
                if SeriesKey(spec.name, "requests_per_min") not in self.world.series:
                    continue
                req = held("requests_per_min", m, 0.0)
                err = held("error_rate", m, 0.0)
                p50 = held("latency_p50_ms", m, 20.0)
                p99 = max(held("latency_p99_ms", m, p50 * 4), p50)
                thr = held("throttles_per_min", m, 0.0)
                per[self._epoch_minute(m)] = MinuteStats(
                    req, req * err, req * 0.001, thr, p50 / 1000, p99 / 1000
                )
            model.stats[spec.name] = per

    def _traces(self, per_minute: int, minutes: int) -> None:
        self._minute_stats()
        if per_minute <= 0:
            return
        window = [self._epoch_minute(m) for m in range(max(self.world.start, -minutes), 0)]
        docs = trace_documents(self.xray.model, window, per_minute, self.sc.effective_seed)
        xray = self.c("xray")
        for i in range(0, len(docs), 50):
            xray.put_trace_segments(TraceSegmentDocuments=docs[i : i + 50])

    # ---- metrics -------------------------------------------------------------------------------------
    def _v(self, service: str, signal: str, minute: int, instance: str | None = None) -> float | None:
        s = self.world.series.get(SeriesKey(service, signal, instance))
        return None if s is None else s[minute - self.world.start]

    def _epoch_minute(self, minute: int) -> int:
        return int(self.t(minute).timestamp()) // 60

    def _metrics(self) -> None:
        for spec in self.sc.services:
            res = self.resources[spec.name]
            self._write_signals(spec.name, signals_for(spec.kind), res, None)
            if spec.kind == "asg":
                for inst in self.world.instances.get(spec.name, []):
                    ires = ServiceResources(
                        service=spec.name, instance_id=self.instance_ids[inst.name], asg=res.asg
                    )
                    self._write_signals(spec.name, instance_signals(spec.kind, self.org), ires, inst.name)
            callers = [s for s in self.sc.services if spec.name in s.calls]
            for caller in callers:
                dres = ServiceResources(service=caller.name, dependency=spec.name)
                self._write_signals(
                    spec.name, dependency_signals(self.org), dres, None, share=1 / len(callers)
                )

    def _write_signals(
        self,
        service: str,
        signals: list[SignalMetric],
        res: ServiceResources,
        instance: str | None,
        share: float = 1.0,
    ) -> None:
        """Per minute, collect every metric's statistic hints from the signals, then store one StatSet each."""
        fleet = self.world.instances.get(service, [])
        for m in self.world.minutes:
            hints: dict[tuple[Any, ...], dict[str, float]] = {}
            units: dict[tuple[Any, ...], str] = {}
            alive = max(1, sum(1 for i in fleet if i.alive(m))) if fleet else 1
            inst_obj = next((i for i in fleet if i.name == instance), None)
            if inst_obj is not None and not inst_obj.alive(m):
                continue
            requests = self._v(service, "requests_per_min", m)
            if requests is not None:
                requests *= share / (alive if instance else 1)

            for sm in signals:
                v = self._value(service, sm.signal, m, instance, requests)
                if v is None:
                    continue
                num = sm.numerator
                dims = num.dimension_values(res)
                if dims is None:
                    continue
                key = metric_key(num.namespace, num.metric, dims)
                if sm.denominator is None:
                    hints.setdefault(key, {})[num.statistic] = sm.to_metric(v)
                    units[key] = num.unit
                else:
                    if requests is None:
                        continue
                    hints.setdefault(key, {})[num.statistic] = round(requests * v)
                    units[key] = num.unit
                    den = sm.denominator
                    dkey = metric_key(den.namespace, den.metric, den.dimension_values(res))
                    hints.setdefault(dkey, {})[den.statistic] = round(requests)
                    units[dkey] = den.unit
            minute = self._epoch_minute(m)
            for key, h in hints.items():
                self._store(key, minute, h, units[key], requests)

    def _value(
        self, service: str, signal: str, minute: int, instance: str | None, requests: float | None
    ) -> float | None:
        """A signal's value for a service or one instance (the instance's own series where it has one)."""
        if instance is not None:
            v = self._v(service, signal, minute, instance)
            if v is not None or SeriesKey(service, signal, instance) in self.world.series:
                return v
            if signal != "requests_per_min" and any(
                k.service == service and k.signal == signal and k.instance not in (None, instance)
                for k in self.world.series
            ):
                # The scenario names the instance this signal's movement belongs to: its siblings stay healthy,
                # at a level from the quiet start of the service's own history.
                quiet = self.world.start + (minute - self.world.start) % 30
                return self._v(service, signal, quiet)
        if signal == "requests_per_min":
            return requests
        return self._v(service, signal, minute)

    def _store(self, key: Any, minute: int, h: dict[str, float], unit: str, requests: float | None) -> None:
        pct = {float(k[1:]) / 100: v for k, v in h.items() if k.startswith("p")}
        count = h.get("SampleCount") or (max(requests, 1.0) if requests else 1.0)
        if pct:
            p50 = pct.get(0.5, min(pct.values()))
            p99 = max(pct.get(0.99, p50 * 4), p50)
            lo, hi = p50 * 0.35, p99 * 1.35
            points = ((0.0, lo), (0.5, p50), (0.99, p99), (1.0, hi))
            mean = sum((q1 - q0) * (v0 + v1) / 2 for (q0, v0), (q1, v1) in itertools.pairwise(points))
            self.cw.put(
                key, minute, count=count, total=mean * count, minimum=lo, maximum=hi, points=points, unit=unit
            )
        elif "Average" in h and "Maximum" in h:
            avg, mx = h["Average"], max(h["Maximum"], h["Average"])
            self.cw.put(
                key,
                minute,
                count=60,
                total=avg * 60,
                minimum=avg * 0.35,
                maximum=mx,
                points=((0.0, avg * 0.35), (0.5, avg), (1.0, mx)),
                unit=unit,
            )
        elif "SampleCount" in h and len(h) == 1:
            self.cw.put(key, minute, count=count, total=0.0, minimum=0.0, maximum=0.0, unit=unit)
        else:
            v = next(iter(h.values()))
            self.cw.put(key, minute, value=v, unit=unit)

    # ---- the alarm -----------------------------------------------------------------------------------
    def _alarm(self) -> None:
        page = self.sc.page
        spec = self.sc.service(page.service)
        sm = signal_metric(spec.kind, page.signal)
        res = self.resources[spec.name]
        if sm is None:  # e.g. an external service: alarm on its callers' view of it
            callers = [s for s in self.sc.services if spec.name in s.calls]
            sm = next((d for d in dependency_signals(self.org) if d.signal == page.signal), None)
            if sm is None or not callers:
                return
            res = ServiceResources(service=callers[0].name, dependency=spec.name)
        series = [v for v in self.world.series.get(SeriesKey(spec.name, page.signal), []) if v is not None]
        if not series:
            return
        head = series[: max(5, len(series) // 3)]
        base = statistics.median(head)
        level = statistics.median(series[-3:])
        threshold = _nice(base + (level - base) * 0.5)
        comparison = "GreaterThanThreshold" if level >= base else "LessThanThreshold"
        actions = (self.topic_arn,) if page.source == "cloudwatch" else (self.pd_topic,)
        spec_alarm = AlarmSpec(
            name=page.name,
            signal=sm,
            resources=res,
            threshold=threshold,
            comparison=comparison,
            description=f"{page.severity}: {page.signal} of {spec.name}",
            actions=actions,
        )
        params = spec_alarm.put_kwargs()
        built = self.t(self.world.start) - BUILT_BEFORE
        self.cw.put_alarm(params, at=built)
        self.cw.set_state(
            page.name,
            "OK",
            "Threshold Crossed: datapoints were not breaching the threshold.",
            at=built + timedelta(minutes=3),
        )
        page_at = self.t(page.at)
        recent = []
        for m in range(math.floor(page.at) - 3, math.floor(page.at)):
            v = self._alarm_value(sm, res, m)
            if v is not None:
                recent.append((self.t(m), v))
        shown_threshold = sm.to_metric(threshold)
        reason, data = alarm_reason(page.signal, shown_threshold, recent, str(params["ComparisonOperator"]))
        self.cw.set_state(page.name, "ALARM", reason, data, at=page_at)
        self.alarm_arn = self.cw.alarms[page.name]["AlarmArn"]

    def _alarm_value(self, sm: SignalMetric, res: ServiceResources, minute: int) -> float | None:
        start = self.t(minute)
        end = start + timedelta(minutes=1)

        def one(ref: Any) -> float | None:
            key = metric_key(ref.namespace, ref.metric, ref.dimension_values(res))
            pts = self.cw.series(key, ref.statistic, start, end, 60)
            return pts[0][1] if pts else None

        num = one(sm.numerator)
        if sm.denominator is None:
            return num
        den = one(sm.denominator)
        if not den:
            return None
        return round((num or 0.0) / den, 4)

    # ---- ordinary CloudTrail traffic -------------------------------------------------------------------
    def _trail_background(self) -> None:
        users = ["lee", "priya", "mo", "sam"]
        readers = [
            ("DescribeInstances", "ec2.amazonaws.com", "observability-readonly/datadog", True),
            ("DescribeServices", "ecs.amazonaws.com", "observability-readonly/datadog", True),
            ("ListFunctions20150331", "lambda.amazonaws.com", "observability-readonly/datadog", True),
            ("DescribeAutoScalingGroups", "autoscaling.amazonaws.com", "karpenter/karpenter", True),
            ("GetParameter", "ssm.amazonaws.com", "ci-runner/build", True),
            ("CreateLogStream", "logs.amazonaws.com", "ecs-task-execution/ecs-agent", False),
            ("AssumeRoleWithWebIdentity", "sts.amazonaws.com", None, False),
            ("PutObject", "s3.amazonaws.com", "backup/nightly", False),
        ]
        for m in range(self.world.start, 0):
            if self.rng.random() > 0.3:
                continue
            when = self.t(m) + timedelta(seconds=self.rng.randint(0, 59))
            if self.rng.random() < 0.1:
                user = self.rng.choice(users)
                self._ct(
                    "ConsoleLogin",
                    when,
                    "signin.amazonaws.com",
                    f"arn:aws:iam::{self.account}:user/{user}",
                    None,
                    [],
                    response={"ConsoleLogin": "Success"},
                    user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
                    source_ip="198.51.100.77",
                )
                continue
            name, source, role, read_only = self.rng.choice(readers)
            who = (
                f"arn:aws:sts::{self.account}:assumed-role/{role}"
                if role
                else f"arn:aws:sts::{self.account}:assumed-role/{DEPLOY_ROLE}/GitHubActions"
            )
            self._ct(
                name,
                when,
                source,
                who,
                {},
                [],
                read_only=read_only,
                user_agent="Boto3/1.35.0 md/Botocore#1.35.0",
                source_ip="10.0.12.34",
            )


def _nice(v: float) -> float:
    if v == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(v)))
    return round(v, max(digits, 0))


def _event_source(resource: str, action: str, kind: str) -> str:
    if resource.startswith("arn:"):
        svc = resource.split(":")[2]
        return f"{svc}.amazonaws.com"
    return {
        "ecs": "ecs.amazonaws.com",
        "asg": "ec2.amazonaws.com",
        "lambda": "lambda.amazonaws.com",
        "dynamodb": "dynamodb.amazonaws.com",
        "rds": "rds.amazonaws.com",
        "sqs": "sqs.amazonaws.com",
    }.get(
        kind, "iam.amazonaws.com" if action.startswith(("Put", "Attach", "Detach")) else "ec2.amazonaws.com"
    )


def _resource_type(resource: str, kind: str) -> str:
    if resource.startswith("arn:"):
        parts = resource.split(":")
        svc, rest = parts[2], parts[5] if len(parts) > 5 else ""
        rtype = rest.split("/", 1)[0].split(":", 1)[0]
        known = {
            ("dynamodb", "table"): "AWS::DynamoDB::Table",
            ("iam", "role"): "AWS::IAM::Role",
            ("iam", "policy"): "AWS::IAM::Policy",
            ("iam", "user"): "AWS::IAM::User",
            ("s3", ""): "AWS::S3::Bucket",
            ("ec2", "security-group"): "AWS::EC2::SecurityGroup",
            ("ec2", "instance"): "AWS::EC2::Instance",
            ("lambda", "function"): "AWS::Lambda::Function",
            ("ecs", "service"): "AWS::ECS::Service",
        }
        return known.get((svc, rtype), f"AWS::{svc.upper()}::{rtype.title() or 'Resource'}")
    return {
        "ecs": "AWS::ECS::Service",
        "asg": "AWS::AutoScaling::AutoScalingGroup",
        "lambda": "AWS::Lambda::Function",
        "dynamodb": "AWS::DynamoDB::Table",
        "rds": "AWS::RDS::DBInstance",
        "sqs": "AWS::SQS::Queue",
    }.get(kind, "AWS::Resource")
