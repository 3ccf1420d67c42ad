"""Who made a change, as CloudTrail records it, and what it was made on.

:func:`principal_of` turns a scenario change's ``actor`` (or its older ``user``) into the record's
``userIdentity``, ``Username``, ``userAgent`` and source address: a person's console or SSO session, a pipeline's
role session (the GitHub Actions deploy role's through its OIDC provider), or an AWS service acting itself
(``invokedBy``). :func:`resource_type` and :func:`event_source` name a resource the way CloudTrail does
(``AWS::S3::Bucket``, ``AWS::KMS::Key``, ``AWS::EC2::SecurityGroup``...).
"""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.aws.materialise_state import DEPLOY_ROLE, Build, Principal, deploy_identity, user_identity
from bot.sandbox.scenario import ActorSpec, ChangeSpec

#: Where a GitHub Actions deploy's calls come from.
GITHUB_ACTIONS: dict[str, Any] = {
    "source_ip": "4.175.114.51",
    "user_agent": "aws-cli/2.22.4 md/command#deploy exec-env/GitHubActions",
}
#: Where another pipeline's calls come from (a runner inside the VPC).
PIPELINE: dict[str, Any] = {
    "source_ip": "10.20.33.17",
    "user_agent": "aws-cli/2.22.4 Python/3.12.6 Linux/6.8.0-1017-aws botocore/2.4.5",
}
#: Where an operator's shell calls come from.
CLOUDSHELL: dict[str, Any] = {
    "source_ip": "198.51.100.23",
    "user_agent": "aws-cli/2.22.4 Python/3.12.6 exec-env/CloudShell",
}
#: A person's call from the AWS console.
CONSOLE: dict[str, Any] = {
    "source_ip": "198.51.100.23",
    "user_agent": "AWS Internal",
    "extra": {"sessionCredentialFromConsole": "true"},
}
#: A person's call from their own terminal.
CLI: dict[str, Any] = {"source_ip": "198.51.100.23", "user_agent": "aws-cli/2.22.4 Python/3.12.6"}


def principal_of(b: Build, ch: ChangeSpec, default_user: str | None, context: dict[str, Any]) -> Principal:
    """Who made `ch`: its actor, else its user, else `default_user` (None: the GitHub Actions deploy role),
    calling from `context` (user agent, source address) unless the actor says otherwise."""
    if ch.actor is not None:
        return _actor(b, ch.actor, ch.user, context)
    user = ch.user if ch.user is not None else default_user
    if user is None:
        return Principal(deploy_identity(b.account), "GitHubActions", dict(context or GITHUB_ACTIONS))
    ident, username = user_identity(user, b.account)
    return Principal(ident, username, dict(context))


def _actor(b: Build, actor: ActorSpec, user: str | None, context: dict[str, Any]) -> Principal:
    if actor.kind == "aws-service":
        host = actor.name if "." in actor.name else f"{actor.name}.amazonaws.com"
        return Principal(
            {"type": "AWSService", "invokedBy": host}, host, {"user_agent": host, "source_ip": host}
        )
    if actor.kind == "pipeline":
        role = actor.role or DEPLOY_ROLE
        if user is not None:
            ident, username = user_identity(user, b.account)
        else:
            ident, username = deploy_identity(b.account, actor.name, role), actor.name
        github = role == DEPLOY_ROLE or "github" in f"{role} {actor.name}".lower()
        return Principal(ident, username, dict(GITHUB_ACTIONS if github else PIPELINE))
    if user is not None:
        ident, username = user_identity(user, b.account)
    else:
        role = actor.role or f"AWSReservedSSO_AdministratorAccess_{b.stable_hex('sso:' + actor.name, 16)}"
        ident, username = user_identity(
            f"arn:aws:sts::{b.account}:assumed-role/{role}/{actor.name}", b.account
        )
    personal = context if context in (CONSOLE, CLI, CLOUDSHELL) else CONSOLE
    return Principal(ident, username, dict(personal))


# ---- CloudTrail naming ---------------------------------------------------------------------------------
#: (ARN service, resource kind) -> CloudFormation resource type, as CloudTrail names resources.
_ARN_TYPES = {
    ("dynamodb", "table"): "AWS::DynamoDB::Table",
    ("iam", "role"): "AWS::IAM::Role",
    ("iam", "policy"): "AWS::IAM::Policy",
    ("iam", "user"): "AWS::IAM::User",
    ("iam", "group"): "AWS::IAM::Group",
    ("iam", "instance-profile"): "AWS::IAM::InstanceProfile",
    ("kms", "key"): "AWS::KMS::Key",
    ("kms", "alias"): "AWS::KMS::Alias",
    ("ec2", "security-group"): "AWS::EC2::SecurityGroup",
    ("ec2", "instance"): "AWS::EC2::Instance",
    ("ec2", "launch-template"): "AWS::EC2::LaunchTemplate",
    ("ec2", "vpc"): "AWS::EC2::VPC",
    ("ec2", "subnet"): "AWS::EC2::Subnet",
    ("ec2", "vpc-endpoint"): "AWS::EC2::VPCEndpoint",
    ("lambda", "function"): "AWS::Lambda::Function",
    ("lambda", "event-source-mapping"): "AWS::Lambda::EventSourceMapping",
    ("ecs", "service"): "AWS::ECS::Service",
    ("ecs", "task-definition"): "AWS::ECS::TaskDefinition",
    ("ecs", "cluster"): "AWS::ECS::Cluster",
    ("rds", "db"): "AWS::RDS::DBInstance",
    ("rds", "cluster"): "AWS::RDS::DBCluster",
    ("rds", "pg"): "AWS::RDS::DBParameterGroup",
    ("rds", "cluster-pg"): "AWS::RDS::DBClusterParameterGroup",
    ("rds", "secgrp"): "AWS::RDS::DBSecurityGroup",
    ("rds", "subgrp"): "AWS::RDS::DBSubnetGroup",
    ("ssm", "parameter"): "AWS::SSM::Parameter",
    ("secretsmanager", "secret"): "AWS::SecretsManager::Secret",
    ("route53", "hostedzone"): "AWS::Route53::HostedZone",
    ("logs", "log-group"): "AWS::Logs::LogGroup",
    ("events", "rule"): "AWS::Events::Rule",
    ("elasticloadbalancing", "loadbalancer"): "AWS::ElasticLoadBalancingV2::LoadBalancer",
    ("elasticloadbalancing", "targetgroup"): "AWS::ElasticLoadBalancingV2::TargetGroup",
    ("elasticloadbalancing", "listener"): "AWS::ElasticLoadBalancingV2::Listener",
    ("autoscaling", "autoScalingGroup"): "AWS::AutoScaling::AutoScalingGroup",
    ("cloudformation", "stack"): "AWS::CloudFormation::Stack",
    ("states", "stateMachine"): "AWS::StepFunctions::StateMachine",
}
#: ARN services whose resource part is the resource itself (no kind prefix).
_BARE = {
    "s3": "AWS::S3::Bucket",
    "sqs": "AWS::SQS::Queue",
    "sns": "AWS::SNS::Topic",
}
#: EC2 id prefixes -> their type (``sg-0a41c7e9d2b83f105 (inventory-db-sg)``).
_ID_PREFIXES = {
    "sg": "AWS::EC2::SecurityGroup",
    "i": "AWS::EC2::Instance",
    "vpc": "AWS::EC2::VPC",
    "subnet": "AWS::EC2::Subnet",
    "lt": "AWS::EC2::LaunchTemplate",
    "ami": "AWS::EC2::Image",
    "vol": "AWS::EC2::Volume",
    "eni": "AWS::EC2::NetworkInterface",
    "acl": "AWS::EC2::NetworkAcl",
    "rtb": "AWS::EC2::RouteTable",
    "vpce": "AWS::EC2::VPCEndpoint",
    "nat": "AWS::EC2::NatGateway",
}
_KINDS = {
    "ecs": "AWS::ECS::Service",
    "asg": "AWS::AutoScaling::AutoScalingGroup",
    "lambda": "AWS::Lambda::Function",
    "dynamodb": "AWS::DynamoDB::Table",
    "rds": "AWS::RDS::DBInstance",
    "sqs": "AWS::SQS::Queue",
}
_EC2_ID = re.compile(r"^(sg|i|vpc|subnet|lt|ami|vol|eni|acl|rtb|vpce|nat)-[0-9a-f]{8,17}\b")


def resource_type(resource: str, kind: str) -> str:
    """The CloudTrail ResourceType of `resource` (an ARN, an EC2 id, or a name of a `kind` service)."""
    if resource.startswith("arn:"):
        parts = resource.split(":", 5)
        svc, rest = parts[2], parts[5] if len(parts) > 5 else ""
        if svc in _BARE and "/" not in rest.split(" ", 1)[0]:
            return _BARE[svc]
        if svc == "s3":
            return "AWS::S3::Object"
        kind_part = re.split(r"[/:]", rest, maxsplit=1)[0]
        return _ARN_TYPES.get((svc, kind_part), f"AWS::{svc.upper()}::{_camel(kind_part) or 'Resource'}")
    found = _EC2_ID.match(resource)
    if found:
        return _ID_PREFIXES[found.group(1)]
    return _KINDS.get(kind, "AWS::Resource")


def _camel(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[-_]", text) if w)


def event_source(resource: str, action: str, kind: str) -> str:
    """The eventSource of a call on `resource` (an ARN, an EC2 id, or a name of a `kind` service)."""
    if resource.startswith("arn:"):
        return f"{resource.split(':')[2]}.amazonaws.com"
    if _EC2_ID.match(resource):
        return "ec2.amazonaws.com"
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
