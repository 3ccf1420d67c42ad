"""Each scenario change as the APIs and CloudTrail show it: one builder per ``via`` in :data:`CHANGE_BUILDERS`.

A builder runs at the change's time on moto's clock; it makes the change through moto where moto can hold
it (a task definition revision, a function version, a stack update, a parameter value) and records the calls
that made it in CloudTrail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.aws import moto_times
from bot.sandbox.aws.fillins import StackResource
from bot.sandbox.aws.materialise_services import image_uri, register_task, stack_template
from bot.sandbox.aws.materialise_state import BUILT_BEFORE, Build, handler_zip, user_identity
from bot.sandbox.scenario import ChangeSpec, Event, ServiceSpec

#: Where a GitHub Actions deploy's calls come from.
_GITHUB_ACTIONS = {
    "source_ip": "4.175.114.51",
    "user_agent": "aws-cli/2.22.4 md/command#deploy exec-env/GitHubActions",
}
#: Where an operator's SSM session calls come from.
_CLOUDSHELL = {
    "source_ip": "198.51.100.23",
    "user_agent": "aws-cli/2.22.4 Python/3.12.6 exec-env/CloudShell",
}

ChangeBuilder = Callable[[Build, ChangeSpec, ServiceSpec, datetime], None]


def apply_change(b: Build, ev: Event, when: datetime) -> None:
    """Make the change event `ev` at `when`."""
    ch = ev.change
    assert ch is not None
    CHANGE_BUILDERS[ch.via](b, ch, b.sc.service(ch.service), when)


def _user(b: Build, ch: ChangeSpec, default: str) -> str:
    """The change's user, or the IAM user `default`."""
    return ch.user or f"arn:aws:iam::{b.account}:user/{default}"


def _version(b: Build, ch: ChangeSpec) -> str:
    """The version a deploy ships: the commit, or a made-up stack version."""
    return ch.commit.sha if ch.commit else f"stack-{b.hexid(7)}"


# ---- github-actions and cloudformation -----------------------------------------------------------------
def _github_actions(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """ecs and lambda ship a new task definition or function version; other kinds update their stack."""
    version = _version(b, ch)
    deploy = _APP_DEPLOYS.get(spec.kind)
    if deploy is not None:
        deploy(b, spec, version, when)
    else:
        _update_stack(b, ch, spec, version, when, None, _GITHUB_ACTIONS)


def _cloudformation(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    version = _version(b, ch)
    _update_stack(b, ch, spec, version, when, ch.user, _GITHUB_ACTIONS if ch.user is None else {})


def _deploy_ecs(b: Build, spec: ServiceSpec, version: str, when: datetime) -> None:
    """Register a task definition revision at image tag `version`, roll the service onto it."""
    name = spec.name
    td = register_task(b, spec, version)
    b.c("ecs").update_service(cluster=b.cluster, service=name, taskDefinition=td, forceNewDeployment=True)
    moto_times.set_deployment_updated(b.account, b.region, b.cluster, name, when + timedelta(minutes=4))
    register = {
        "family": name,
        "containerDefinitions": [{"name": name, "image": image_uri(b, name, version)}],
    }
    b.trail_event(
        "RegisterTaskDefinition",
        when,
        "ecs.amazonaws.com",
        None,
        register,
        [("AWS::ECS::TaskDefinition", td)],
        **_GITHUB_ACTIONS,
    )
    update = {"cluster": b.cluster, "service": name, "taskDefinition": td, "forceNewDeployment": True}
    b.trail_event(
        "UpdateService",
        when + timedelta(seconds=3),
        "ecs.amazonaws.com",
        None,
        update,
        [("AWS::ECS::Service", name)],
        **_GITHUB_ACTIONS,
    )
    _roll_tasks(b, name, when)
    b.stack_resources.add(
        StackResource(name, b.stack_ids[name], "TaskDefinition", td, "AWS::ECS::TaskDefinition", when)
    )


def _roll_tasks(b: Build, name: str, when: datetime) -> None:
    """New task ids replace the old, with the service events a rolling deployment writes."""
    tasks = b.ecs_tasks[name]
    new = [b.hexid(32) for _ in tasks]
    started = " ".join(f"(task {t})" for t in new)
    stopped = " ".join(f"(task {t})" for t in tasks)
    b.ecs_events[name] += [
        (when + timedelta(seconds=20), b.uid(), f"(service {name}) has started {len(new)} tasks: {started}."),
        (
            when + timedelta(minutes=2),
            b.uid(),
            f"(service {name}) has stopped {len(tasks)} running tasks: {stopped}.",
        ),
        (when + timedelta(minutes=4), b.uid(), f"(service {name}) deployment completed."),
        (when + timedelta(minutes=5), b.uid(), f"(service {name}) has reached a steady state."),
    ]
    b.ecs_tasks[name] = new


def _deploy_lambda(b: Build, spec: ServiceSpec, version: str, when: datetime) -> None:
    """Publish new code as a version and point the ``live`` alias at it."""
    name = spec.name
    lam = b.c("lambda")
    fn = lam.update_function_code(
        FunctionName=name,
        ZipFile=handler_zip(f"def main(event, context):\n    return {{'release': '{version}'}}\n"),
        Publish=True,
    )
    ver = fn.get("Version", "$LATEST")
    if ver == "$LATEST":
        ver = lam.publish_version(FunctionName=name, Description=version)["Version"]
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=ver)
    arn = f"arn:aws:lambda:{b.region}:{b.account}:function:{name}"
    calls: list[tuple[str, int, dict[str, Any]]] = [
        ("UpdateFunctionCode20150331v2", 0, {"functionName": name, "publish": True}),
        ("PublishVersion20150331", 2, {"functionName": name, "description": version}),
        ("UpdateAlias20150331", 4, {"functionName": name, "name": "live", "functionVersion": ver}),
    ]
    for event, seconds, request in calls:
        b.trail_event(
            event,
            when + timedelta(seconds=seconds),
            "lambda.amazonaws.com",
            None,
            request,
            [("AWS::Lambda::Function", arn)],
            **_GITHUB_ACTIONS,
        )


_APP_DEPLOYS: dict[str, Callable[[Build, ServiceSpec, str, datetime], None]] = {
    "ecs": _deploy_ecs,
    "lambda": _deploy_lambda,
}


def _update_stack(
    b: Build,
    ch: ChangeSpec,
    spec: ServiceSpec,
    version: str,
    when: datetime,
    user: str | None,
    context: dict[str, str],
) -> None:
    """A new launch template version (asg), and the stack updated to `version` by `user`."""
    name = spec.name
    if name in b.lt_ids:
        _new_launch_template_version(b, name, version, when)
    if name not in b.stack_ids:
        return
    desc = ch.stack_change or (ch.commit.message if ch.commit else f"{name} update")
    b.c("cloudformation").update_stack(
        StackName=name,
        TemplateBody=stack_template(version, desc),
        Parameters=[{"ParameterKey": "Version", "ParameterValue": version}],
    )
    b.trail_event(
        "UpdateStack",
        when,
        "cloudformation.amazonaws.com",
        user,
        {"stackName": name, "parameters": [{"parameterKey": "Version", "parameterValue": version}]},
        [("AWS::CloudFormation::Stack", b.stack_ids[name])],
        **context,
    )


def _new_launch_template_version(b: Build, name: str, version: str, when: datetime) -> None:
    """Add a launch template version described as `version` and put the group on it."""
    lt = b.lt_ids[name]
    ltv = b.c("ec2").create_launch_template_version(
        LaunchTemplateId=lt,
        SourceVersion="$Latest",
        VersionDescription=version,
        LaunchTemplateData={"ImageId": b.image, "InstanceType": "m6i.large", "UserData": ""},
    )["LaunchTemplateVersion"]["VersionNumber"]
    b.c("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=f"{name}-asg", LaunchTemplate={"LaunchTemplateId": lt, "Version": str(ltv)}
    )
    b.stack_resources.add(
        StackResource(name, b.stack_ids[name], "LaunchTemplate", lt, "AWS::EC2::LaunchTemplate", when)
    )


# ---- parameter -----------------------------------------------------------------------------------------
def _parameter(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """Overwrite an SSM parameter (its old value set half-way through the estate's life, when given)."""
    par = ch.parameter
    assert par is not None
    ssm = b.c("ssm")
    if par.old is not None:
        b.at(b.t(b.world.start) - BUILT_BEFORE / 2)
        ssm.put_parameter(Name=par.name, Value=par.old, Type="String", Overwrite=True)
        b.at(when)
    ssm.put_parameter(Name=par.name, Value=par.new, Type="String", Overwrite=True)
    path = par.name if par.name.startswith("/") else "/" + par.name
    b.trail_event(
        "PutParameter",
        when,
        "ssm.amazonaws.com",
        _user(b, ch, "ops"),
        {"name": par.name, "type": "String", "overwrite": True, "value": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        [("AWS::SSM::Parameter", f"arn:aws:ssm:{b.region}:{b.account}:parameter{path}")],
        response={"version": 2, "tier": "Standard"},
    )
    b.markers[spec.name].append(par.name)


# ---- console and iam -----------------------------------------------------------------------------------
def _console(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    _direct_call(b, ch, spec, when, "AWS Internal")


def _iam(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    _direct_call(b, ch, spec, when, "aws-cli/2.22.4 Python/3.12.6")


def _direct_call(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime, user_agent: str) -> None:
    """Only a CloudTrail record: someone called `ch.action` on `ch.resource` (the service by default)."""
    action = ch.action or "Unknown"
    resource = ch.resource or spec.name
    source = event_source(resource, action, spec.kind)
    req: dict[str, Any] = {"resourceArn" if resource.startswith("arn:") else "resourceName": resource}
    if ch.detail:
        req["detail"] = ch.detail
    if ch.policy:
        req["policy"] = ch.policy
        if source == "iam.amazonaws.com":
            req["policyDocument"] = ch.policy
    b.trail_event(
        action,
        when,
        source,
        _user(b, ch, "unknown"),
        req,
        [(resource_type(resource, spec.kind), resource)],
        user_agent=user_agent,
        source_ip="198.51.100.23",
    )


# ---- ssm-session and scaling ---------------------------------------------------------------------------
def _ssm_session(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """A Session Manager session on one instance, six minutes long."""
    target = b.instance_ids.get(ch.instance or "", ch.instance or "")
    user = _user(b, ch, "unknown")
    _, username = user_identity(user, b.account)
    session = f"{username}-{b.hexid(17)}"
    stream = f"wss://ssmmessages.{b.region}.amazonaws.com/v1/data-channel/{session}?role=publish_subscribe"
    b.trail_event(
        "StartSession",
        when,
        "ssm.amazonaws.com",
        user,
        {"target": target},
        [("AWS::EC2::Instance", target), ("AWS::EC2::Instance", ch.instance or target)],
        response={
            "sessionId": session,
            "tokenValue": "Value hidden due to security reasons.",
            "streamUrl": stream,
        },
        **_CLOUDSHELL,
    )
    b.trail_event(
        "TerminateSession",
        when + timedelta(minutes=6, seconds=12),
        "ssm.amazonaws.com",
        user,
        {"sessionId": session},
        [("AWS::SSM::Session", session)],
        response={"sessionId": session},
        **_CLOUDSHELL,
    )


def _scaling(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """Only a CloudTrail record: someone set the group's desired capacity."""
    group = f"{spec.name}-asg"
    b.trail_event(
        "SetDesiredCapacity",
        when,
        "autoscaling.amazonaws.com",
        _user(b, ch, "ops"),
        {"autoScalingGroupName": group, "desiredCapacity": ch.desired, "honorCooldown": False},
        [("AWS::AutoScaling::AutoScalingGroup", group)],
    )


CHANGE_BUILDERS: dict[str, ChangeBuilder] = {
    "github-actions": _github_actions,
    "cloudformation": _cloudformation,
    "parameter": _parameter,
    "console": _console,
    "ssm-session": _ssm_session,
    "iam": _iam,
    "scaling": _scaling,
}


# ---- CloudTrail naming ---------------------------------------------------------------------------------
def event_source(resource: str, action: str, kind: str) -> str:
    """The eventSource of a call on `resource` (an ARN, or a name of a `kind` service)."""
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


def resource_type(resource: str, kind: str) -> str:
    """The CloudTrail ResourceType of `resource` (an ARN, or a name of a `kind` service)."""
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
