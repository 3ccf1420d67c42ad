"""The estate before the history: the shared network and front door, then each service by its ``kind``.

:func:`build_shared` makes the VPC, ALB, ECS cluster, SNS topics and IAM roles; :func:`build_service` makes
one service with the builder in :data:`KIND_BUILDERS` for its kind, then its stack, parameters and log groups.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.aws.fillins import RdsEvent
from bot.sandbox.aws.materialise_state import AMI, DEPLOY_ROLE, RELEASED_BEFORE, Build, handler_zip, tag_map
from bot.sandbox.aws.materialise_wiring import environment, user_data
from bot.sandbox.scenario import ServiceSpec
from bot.sandbox.world import baseline
from bot.sources.aws.catalog import ServiceResources, alb_dimension, instance_class_memory

#: The class every sandbox database runs on.
DB_CLASS = "db.r6g.large"

_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


# ---- shared ---------------------------------------------------------------------------------------------
def build_shared(b: Build) -> None:
    """The VPC and subnets, the ALB, the ECS cluster, the SNS topics and the IAM roles."""
    _drop_default_vpc(b)
    _network(b)
    b.image = AMI
    b.alb = b.c("elbv2").create_load_balancer(
        Name=f"{b.org}-prod",
        Subnets=[s["SubnetId"] for s in b.subnets[:2]],
        Scheme="internet-facing",
        Type="application",
        Tags=[{"Key": "Name", "Value": f"{b.org}-prod"}, {"Key": "service", "Value": "shared"}],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    b.c("ecs").create_cluster(clusterName=b.cluster, tags=[{"key": "Name", "value": b.cluster}])
    sns = b.c("sns")
    b.topic_arn = sns.create_topic(Name=f"{b.org}-oncall")["TopicArn"]
    b.pd_topic = sns.create_topic(Name=f"{b.org}-pagerduty")["TopicArn"]
    _roles(b)


def _drop_default_vpc(b: Build) -> None:
    """Delete the default VPC, its subnets and internet gateways.

    moto re-creates it while resetting, with ids that depend on which backends existed before; we build our
    own after the seed instead, so every id is the same run after run.
    """
    ec2 = b.c("ec2")
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        vpc_id = vpc["VpcId"]
        for sub in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=sub["SubnetId"])
        for igw in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vpc_id)


def _network(b: Build) -> None:
    """The ``<org>-prod`` VPC with a private subnet in each of the region's first three zones (its real ones:
    ap-northeast-1 has no ``b``, us-west-1 has two)."""
    ec2 = b.c("ec2")
    net = f"{b.org}-prod"
    vpc = ec2.create_vpc(
        CidrBlock="10.20.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": net}]}],
    )["Vpc"]["VpcId"]
    b.subnets = []
    zones = sorted(
        z["ZoneName"]
        for z in ec2.describe_availability_zones()["AvailabilityZones"]
        if z.get("ZoneType", "availability-zone") == "availability-zone"
    )[:3]
    for i, zone_name in enumerate(zones):
        zone = zone_name.removeprefix(b.region)
        sub = ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.20.{16 * i}.0/20",
            AvailabilityZone=zone_name,
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"{net}-private-{zone}"}]}
            ],
        )["Subnet"]
        b.subnets.append(sub)
    b.vpc = vpc


def _roles(b: Build) -> None:
    """The deploy role, and a task or function role per ecs, lambda and asg service."""
    iam = b.c("iam")
    trust = json.dumps(_LAMBDA_TRUST)
    iam.create_role(RoleName=DEPLOY_ROLE, AssumeRolePolicyDocument=trust)
    b.role_arns = {}
    for spec in b.sc.services:
        if spec.kind in ("ecs", "lambda", "asg"):
            role = f"{spec.name}-{'lambda' if spec.kind == 'lambda' else 'task'}"
            b.role_arns[spec.name] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"][
                "Arn"
            ]


# ---- one service ---------------------------------------------------------------------------------------
@dataclass
class NewService:
    """What the builders collect for one service: its resources for the catalog and its stack's rows."""

    spec: ServiceSpec
    tags: list[dict[str, str]]
    res: dict[str, Any]
    stack_rows: list[tuple[str, str, str]] = field(default_factory=list)  # (logical, physical, type)

    @property
    def name(self) -> str:
        return self.spec.name


def build_service(b: Build, spec: ServiceSpec, built: datetime) -> None:
    """Make one service's resources as of `built` (ecs and lambda as of their last release)."""
    new = NewService(spec, b.tags(spec.name, spec.name), {"service": spec.name})
    b.markers[spec.name] = [spec.name]
    if spec.kind in ("ecs", "asg"):
        _target_group(b, new)
    KIND_BUILDERS[spec.kind](b, new, built)
    b.resources[spec.name] = ServiceResources(**new.res)
    if spec.kind != "external":
        _stack_parameters_and_logs(b, new, built)


def _target_group(b: Build, new: NewService) -> None:
    """``<name>-tg`` behind its own listener on the shared ALB."""
    elb = b.c("elbv2")
    tg = elb.create_target_group(
        Name=f"{new.name}-tg"[:32],
        Protocol="HTTP",
        Port=8080,
        VpcId=b.vpc,
        TargetType="ip" if new.spec.kind == "ecs" else "instance",
        HealthCheckPath="/ping",
        Tags=new.tags,
    )["TargetGroups"][0]["TargetGroupArn"]
    b.tg_arns[new.name] = tg
    new.res.update(load_balancer=alb_dimension(b.alb), target_group=alb_dimension(tg))
    new.stack_rows.append(("TargetGroup", tg, "AWS::ElasticLoadBalancingV2::TargetGroup"))
    elb.create_listener(
        LoadBalancerArn=b.alb,
        Protocol="HTTP",
        Port=8000 + len(b.tg_arns),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )


def _ecs(b: Build, new: NewService, built: datetime) -> None:
    name = new.name
    released = b.t(b.world.start) - RELEASED_BEFORE
    b.at(released)
    td = register_task(b, new.spec, "release-" + b.hexid(7))
    hosts = int(baseline(new.spec).get("healthy_hosts", 3))
    b.c("ecs").create_service(
        cluster=b.cluster,
        serviceName=name,
        taskDefinition=td,
        desiredCount=hosts,
        launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": b.tg_arns[name], "containerName": name, "containerPort": 8080}],
        tags=[{"key": t["Key"], "value": t["Value"]} for t in new.tags],
        propagateTags="SERVICE",
    )
    b.ecs_tasks[name] = [b.hexid(32) for _ in range(hosts)]
    b.ecs_events[name] = [
        (released + timedelta(minutes=4), b.uid(), f"(service {name}) has reached a steady state."),
    ]
    new.res.update(cluster=b.cluster, ecs_service=name)
    svc_arn = f"arn:aws:ecs:{b.region}:{b.account}:service/{b.cluster}/{name}"
    new.stack_rows += [
        ("Service", svc_arn, "AWS::ECS::Service"),
        ("TaskDefinition", td, "AWS::ECS::TaskDefinition"),
    ]
    b.log_groups[name] = [f"/ecs/{name}"]


def _asg(b: Build, new: NewService, built: datetime) -> None:
    name = new.name
    b.at(built)
    lt = b.c("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={
            "ImageId": b.image,
            "InstanceType": "m6i.large",
            "UserData": user_data(b, new.spec),
        },
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": new.tags}],
    )["LaunchTemplate"]["LaunchTemplateId"]
    b.lt_ids[name] = lt
    group = f"{name}-asg"
    b.c("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
        MinSize=0,
        MaxSize=max(new.spec.instances * 3, 6),
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(s["SubnetId"] for s in b.subnets),
        TargetGroupARNs=[b.tg_arns[name]],
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
            for t in new.tags
        ],
    )
    new.res.update(asg=group)
    b.markers[name] += [group, f"{name}-lt"]
    new.stack_rows += [
        ("AutoScalingGroup", group, "AWS::AutoScaling::AutoScalingGroup"),
        ("LaunchTemplate", lt, "AWS::EC2::LaunchTemplate"),
    ]
    b.log_groups[name] = [f"/ec2/{name}"]


def encryption_key(b: Build, spec: ServiceSpec) -> str | None:
    """The KMS key a change on the service acts on: what the service is encrypted with (a queue's messages,
    a function's environment), as AWS would show it all along."""
    for ev in sorted(b.world.changes(), key=lambda e: e.at):
        ch = ev.change
        if ch is not None and ch.service == spec.name and ch.resource and ":kms:" in ch.resource:
            return ch.resource.split(",")[0].split(" ")[0]
    return None


def _lambda(b: Build, new: NewService, built: datetime) -> None:
    name = new.name
    b.at(b.t(b.world.start) - RELEASED_BEFORE)
    fn = b.c("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=b.role_arns[name],
        Handler="handler.main",
        Code={"ZipFile": handler_zip("def main(event, context):\n    return {'release': 'initial'}\n")},
        Publish=True,
        Tags=tag_map(new.tags),
        MemorySize=512,
        Timeout=30,
        Environment={"Variables": environment(b, new.spec)},
        **({"KMSKeyArn": key} if (key := encryption_key(b, new.spec)) else {}),
    )
    b.c("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    new.res.update(function=name)
    new.stack_rows.append(("Function", fn["FunctionArn"], "AWS::Lambda::Function"))
    b.log_groups[name] = [f"/aws/lambda/{name}"]


def _dynamodb(b: Build, new: NewService, built: datetime) -> None:
    b.at(built)
    table = b.c("dynamodb").create_table(
        TableName=new.name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=new.tags,
    )["TableDescription"]["TableArn"]
    new.res.update(table=new.name)
    new.stack_rows.append(("Table", new.name, "AWS::DynamoDB::Table"))
    b.markers[new.name].append(table)


def _rds(b: Build, new: NewService, built: datetime) -> None:
    name = new.name
    b.at(built)
    if not b.db_subnet_group:
        b.db_subnet_group = f"{b.org}-prod"
        b.c("rds").create_db_subnet_group(
            DBSubnetGroupName=b.db_subnet_group,
            DBSubnetGroupDescription=f"{b.org} production databases",
            SubnetIds=[s["SubnetId"] for s in b.subnets],
        )
    sg = b.c("ec2").create_security_group(
        GroupName=f"{name}-db", Description=f"{name} database", VpcId=b.vpc
    )["GroupId"]
    b.c("rds").create_db_instance(
        DBSubnetGroupName=b.db_subnet_group,
        VpcSecurityGroupIds=[sg],
        DBInstanceIdentifier=name,
        DBInstanceClass=DB_CLASS,
        Engine="postgres",
        EngineVersion="16.3",
        MasterUsername="app",
        MasterUserPassword="sandbox-password",
        AllocatedStorage=200,
        Tags=new.tags,
    )
    new.res.update(db_instance=name, memory_bytes=instance_class_memory(DB_CLASS))
    new.stack_rows.append(("Database", name, "AWS::RDS::DBInstance"))
    # The database's own log (PostgreSQL's), exported to CloudWatch Logs as RDS does when log exports are on.
    b.log_groups[name] = [f"/aws/rds/instance/{name}/postgresql"]
    arn = f"arn:aws:rds:{b.region}:{b.account}:db:{name}"
    for minutes, message, category in (
        (1, "DB instance created", "creation"),
        (6, "Backing up DB instance", "backup"),
        (9, "Finished DB Instance backup", "backup"),
    ):
        b.rds_events.events.append(
            RdsEvent(name, "db-instance", message, (category,), built + timedelta(minutes=minutes), arn)
        )


def _sqs(b: Build, new: NewService, built: datetime) -> None:
    b.at(built)
    url = b.c("sqs").create_queue(QueueName=new.name, tags=tag_map(new.tags))["QueueUrl"]
    new.res.update(queue=new.name)
    new.stack_rows.append(("Queue", url, "AWS::SQS::Queue"))


def _external(b: Build, new: NewService, built: datetime) -> None:
    """Nothing in AWS: callers see it only through their dependency metrics."""


KIND_BUILDERS: dict[str, Callable[[Build, NewService, datetime], None]] = {
    "ecs": _ecs,
    "asg": _asg,
    "lambda": _lambda,
    "dynamodb": _dynamodb,
    "rds": _rds,
    "sqs": _sqs,
    "external": _external,
}


def _stack_parameters_and_logs(b: Build, new: NewService, built: datetime) -> None:
    """The service's stack (with its rows), its ``log_level`` parameter and its log groups."""
    name = new.name
    b.at(built)
    stack_id = b.c("cloudformation").create_stack(
        StackName=name,
        TemplateBody=stack_template("initial", f"{name} ({new.spec.kind})"),
        Parameters=[{"ParameterKey": "Version", "ParameterValue": "initial"}],
        Tags=new.tags,
    )["StackId"]
    b.stack_ids[name] = stack_id
    b.stack_rows[name] = list(new.stack_rows)
    b.c("ssm").put_parameter(Name=f"/{name}/log_level", Value="info", Type="String", Tags=new.tags)
    for group in b.log_groups.get(name, []):
        b.c("logs").create_log_group(logGroupName=group, tags=tag_map(new.tags))
        b.c("logs").put_retention_policy(logGroupName=group, retentionInDays=30)


# ---- shared with the changes ---------------------------------------------------------------------------
def stack_template(version: str, description: str, revision: str = "") -> str:
    """The template moto holds for a service's stack at `version`: its parameters, and nothing moto would try to
    create (the stack's real template is :mod:`bot.sandbox.aws.stacks`'); `revision` tells moto an update that
    changes no parameter is an update."""
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
        "Parameters": {"Version": {"Type": "String", "Default": version}},
        "Resources": {"DeployMarker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
    if revision:
        template["Metadata"] = {"Revision": revision}
    return json.dumps(template, sort_keys=True)


def register_task(
    b: Build, spec: ServiceSpec, tag: str, cpu: str | None = None, memory: str | None = None
) -> str:
    """Register the next revision of the service's task definition, running image tag `tag`, with the limits
    given (by default the current revision's)."""
    name = spec.name
    cpu, memory = (
        cpu or b.task_limits.get(name, ("512", "1024"))[0],
        memory or b.task_limits.get(name, ("512", "1024"))[1],
    )
    b.task_limits[name] = (cpu, memory)
    b.ecs_images[name] = tag
    return str(
        b.c("ecs").register_task_definition(
            family=name,
            taskRoleArn=b.role_arns[name],
            executionRoleArn=b.role_arns[name],
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=cpu,
            memory=memory,
            containerDefinitions=[
                {
                    "name": name,
                    "image": image_uri(b, name, tag),
                    "essential": True,
                    "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                    "environment": [{"name": k, "value": v} for k, v in environment(b, spec).items()],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": f"/ecs/{name}",
                            "awslogs-region": b.region,
                            "awslogs-stream-prefix": "ecs",
                        },
                    },
                }
            ],
            tags=[{"key": "service", "value": name}],
        )["taskDefinition"]["taskDefinitionArn"]
    )


def image_uri(b: Build, name: str, tag: str) -> str:
    """The service's ECR image at `tag`."""
    return f"{b.account}.dkr.ecr.{b.region}.amazonaws.com/{name}:{tag}"
