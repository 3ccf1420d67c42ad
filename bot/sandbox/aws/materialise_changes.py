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
from bot.sandbox.aws.materialise_actors import (
    CLI,
    CLOUDSHELL,
    CONSOLE,
    GITHUB_ACTIONS,
    event_source,
    principal_of,
    resource_type,
)
from bot.sandbox.aws.materialise_calls import direct_calls
from bot.sandbox.aws.materialise_services import image_uri, register_task, stack_template
from bot.sandbox.aws.materialise_settings import ApiCall, apply_settings
from bot.sandbox.aws.materialise_stacks import execute_change_set, release_version
from bot.sandbox.aws.materialise_state import BUILT_BEFORE, Build, Principal, handler_zip
from bot.sandbox.aws.materialise_wiring import user_data
from bot.sandbox.aws.stacks import StackResource
from bot.sandbox.scenario import ChangeSpec, Event, ServiceSpec

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


def record(b: Build, calls: list[ApiCall], when: datetime, who: Principal, gap_s: int = 3) -> None:
    """Record `calls` in CloudTrail, `gap_s` seconds apart from `when`, as made by `who`."""
    for i, call in enumerate(calls):
        b.trail_event(
            call.name,
            when + timedelta(seconds=gap_s * i),
            call.source,
            None,
            call.request,
            call.resources,
            principal=who,
            response=call.response,
            **({"extra": {**who.context.get("extra", {}), **call.extra}} if call.extra else {}),
        )


# ---- github-actions and cloudformation -----------------------------------------------------------------
def _github_actions(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """ecs and lambda ship a new task definition or function version; other kinds update their stack."""
    version = _version(b, ch)
    who = principal_of(b, ch if ch.actor else _no_user(ch), None, GITHUB_ACTIONS)
    deploy = _APP_DEPLOYS.get(spec.kind)
    if deploy is not None:
        deploy(b, spec, version, when, who)
    else:
        _update_stack(b, spec, version, when, who)


def _no_user(ch: ChangeSpec) -> ChangeSpec:
    """A GitHub Actions deploy runs as the deploy role, whoever wrote the commit."""
    return ch.model_copy(update={"user": None})


def _cloudformation(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """A change set created and executed (its text says what it changes; else a new version of the code)."""
    version = _version(b, ch)
    who = principal_of(b, ch, None, GITHUB_ACTIONS if ch.user is None else CONSOLE)
    if spec.name in b.lt_ids and _releases_code(ch, spec.kind):
        _new_launch_template_version(b, spec.name, version, when)
    execute_change_set(b, ch.stack_change or "", spec, version, when, who)


def _releases_code(ch: ChangeSpec, kind: str) -> bool:
    from bot.sandbox.aws.stack_changes import parse_stack_change

    return not parse_stack_change(ch.stack_change or "", kind).explicit


def _deploy_ecs(b: Build, spec: ServiceSpec, version: str, when: datetime, who: Principal) -> None:
    """Register a task definition revision at image tag `version`, roll the service onto it."""
    name = spec.name
    td = register_task(b, spec, version)
    b.c("ecs").update_service(cluster=b.cluster, service=name, taskDefinition=td, forceNewDeployment=True)
    moto_times.set_deployment_updated(b.account, b.region, b.cluster, name, when + timedelta(minutes=4))
    cpu, memory = b.task_limits[name]
    register = {
        "family": name,
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [{"name": name, "image": image_uri(b, name, version)}],
    }
    update = {"cluster": b.cluster, "service": name, "taskDefinition": td, "forceNewDeployment": True}
    record(
        b,
        [
            ApiCall(
                "RegisterTaskDefinition", "ecs.amazonaws.com", register, [("AWS::ECS::TaskDefinition", td)]
            ),
            ApiCall("UpdateService", "ecs.amazonaws.com", update, [("AWS::ECS::Service", name)]),
        ],
        when,
        who,
    )
    _roll_tasks(b, name, when)
    logical = b.logicals.get(name, {}).get("AWS::ECS::TaskDefinition", "TaskDefinition")
    b.stacks.add(StackResource(name, b.stack_ids[name], logical, td, "AWS::ECS::TaskDefinition", when))


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


def _deploy_lambda(b: Build, spec: ServiceSpec, version: str, when: datetime, who: Principal) -> None:
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
    res = [("AWS::Lambda::Function", arn)]
    src = "lambda.amazonaws.com"
    calls = [
        ApiCall("UpdateFunctionCode20150331v2", src, {"functionName": name, "publish": True}, res),
        ApiCall("PublishVersion20150331", src, {"functionName": name, "description": version}, res),
        ApiCall(
            "UpdateAlias20150331", src, {"functionName": name, "name": "live", "functionVersion": ver}, res
        ),
    ]
    record(b, calls, when, who, gap_s=2)


_APP_DEPLOYS: dict[str, Callable[[Build, ServiceSpec, str, datetime, Principal], None]] = {
    "ecs": _deploy_ecs,
    "lambda": _deploy_lambda,
}


def _update_stack(b: Build, spec: ServiceSpec, version: str, when: datetime, who: Principal) -> None:
    """A new launch template version (asg), and the stack updated straight to `version` (no change set)."""
    name = spec.name
    if name in b.lt_ids:
        _new_launch_template_version(b, name, version, when)
    if name not in b.stack_ids:
        return
    b.c("cloudformation").update_stack(
        StackName=name,
        TemplateBody=stack_template(version, b.templates[name].get("Description", name)),
        Parameters=[{"ParameterKey": "Version", "ParameterValue": version}],
    )
    release_version(b, spec, version, when)
    request = {"stackName": name, "parameters": [{"parameterKey": "Version", "parameterValue": version}]}
    call = ApiCall(
        "UpdateStack",
        "cloudformation.amazonaws.com",
        request,
        [("AWS::CloudFormation::Stack", b.stack_ids[name])],
    )
    record(b, [call], when, who)


def _new_launch_template_version(b: Build, name: str, version: str, when: datetime) -> None:
    """Add a launch template version described as `version` and put the group on it."""
    lt = b.lt_ids[name]
    ltv = b.c("ec2").create_launch_template_version(
        LaunchTemplateId=lt,
        SourceVersion="$Latest",
        VersionDescription=version,
        LaunchTemplateData={
            "ImageId": b.image,
            "InstanceType": "m6i.large",
            "UserData": user_data(b, b.sc.service(name)),
        },
    )["LaunchTemplateVersion"]["VersionNumber"]
    b.c("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=f"{name}-asg", LaunchTemplate={"LaunchTemplateId": lt, "Version": str(ltv)}
    )
    logical = b.logicals.get(name, {}).get("AWS::EC2::LaunchTemplate", "LaunchTemplate")
    b.stacks.add(
        StackResource(
            name, b.stack_ids[name], logical, lt, "AWS::EC2::LaunchTemplate", when, "UPDATE_COMPLETE"
        )
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
    version = ssm.put_parameter(Name=par.name, Value=par.new, Type="String", Overwrite=True)["Version"]
    path = par.name if par.name.startswith("/") else "/" + par.name
    request = {
        "name": par.name,
        "type": "String",
        "overwrite": True,
        "value": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    arn = f"arn:aws:ssm:{b.region}:{b.account}:parameter{path}"
    who = principal_of(b, ch, _user(b, ch, "ops"), {})
    call = ApiCall(
        "PutParameter",
        "ssm.amazonaws.com",
        request,
        [("AWS::SSM::Parameter", arn)],
        {"version": version, "tier": "Standard"},
    )
    record(b, [call], when, who)
    b.markers[spec.name].append(par.name)


# ---- console and iam -----------------------------------------------------------------------------------
def _console(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    _direct_call(b, ch, spec, when, CONSOLE)


def _iam(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    _direct_call(b, ch, spec, when, CLI)


def _direct_call(
    b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime, context: dict[str, Any]
) -> None:
    """Someone called `ch.action` on `ch.resource` (the service by default): through the service's own API
    where the sandbox models it (a function's settings, a desired count, a DB parameter group, a reboot),
    else only as its CloudTrail record."""
    who = principal_of(b, ch, _user(b, ch, "unknown"), context)
    calls = direct_calls(b, ch, spec)
    if calls:
        record(b, calls, when, who, gap_s=1)
        return
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
    record(b, [ApiCall(action, source, req, [(resource_type(resource, spec.kind), resource)])], when, who)


# ---- ssm-session and scaling ---------------------------------------------------------------------------
def _ssm_session(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """A Session Manager session on one instance, six minutes long."""
    target = b.instance_ids.get(ch.instance or "", ch.instance or "")
    who = principal_of(b, ch, _user(b, ch, "unknown"), CLOUDSHELL)
    session = f"{who.username}-{b.hexid(17)}"
    stream = f"wss://ssmmessages.{b.region}.amazonaws.com/v1/data-channel/{session}?role=publish_subscribe"
    start = ApiCall(
        "StartSession",
        "ssm.amazonaws.com",
        {"target": target},
        [("AWS::EC2::Instance", target), ("AWS::EC2::Instance", ch.instance or target)],
        {"sessionId": session, "tokenValue": "Value hidden due to security reasons.", "streamUrl": stream},
    )
    end = ApiCall(
        "TerminateSession",
        "ssm.amazonaws.com",
        {"sessionId": session},
        [("AWS::SSM::Session", session)],
        {"sessionId": session},
    )
    record(b, [start], when, who)
    record(b, [end], when + timedelta(minutes=6, seconds=12), who)


def _scaling(b: Build, ch: ChangeSpec, spec: ServiceSpec, when: datetime) -> None:
    """Someone set the capacity: an ECS service's desired count, a function's reserved concurrency, else the
    Auto Scaling group's desired capacity (whose instances the world launches and terminates)."""
    who = principal_of(b, ch, _user(b, ch, "ops"), CONSOLE)
    desired = int(ch.desired or 0)
    if spec.kind == "ecs":
        record(b, apply_settings(b, spec, "AWS::ECS::Service", {"DesiredCount": desired}), when, who)
        return
    if spec.kind == "lambda":
        calls = apply_settings(b, spec, "AWS::Lambda::Function", {"ReservedConcurrentExecutions": desired})
        record(b, calls, when, who)
        return
    group = f"{spec.name}-asg"
    request = {"autoScalingGroupName": group, "desiredCapacity": ch.desired, "honorCooldown": False}
    call = ApiCall(
        "SetDesiredCapacity",
        "autoscaling.amazonaws.com",
        request,
        [("AWS::AutoScaling::AutoScalingGroup", group)],
    )
    record(b, [call], when, who)


CHANGE_BUILDERS: dict[str, ChangeBuilder] = {
    "github-actions": _github_actions,
    "cloudformation": _cloudformation,
    "parameter": _parameter,
    "console": _console,
    "ssm-session": _ssm_session,
    "iam": _iam,
    "scaling": _scaling,
}
