"""The history in time order: instances launched and terminated, changes, scaling activities, and the
ordinary CloudTrail traffic around them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.aws.fillins import Activity
from bot.sandbox.aws.materialise_changes import apply_change
from bot.sandbox.aws.materialise_state import DEPLOY_ROLE, Build
from bot.sandbox.world import Instance, ScalingActivity


def play_timeline(b: Build) -> None:
    """Launches, terminations and changes in time order on moto's clock, then the scaling activities."""
    steps: list[tuple[float, int, str, Any]] = []
    for _svc, fleet in sorted(b.world.instances.items()):
        for inst in fleet:
            launched = b.world.start - 60 * 24 * 2 if inst.launched is None else inst.launched
            steps.append((launched, 0, "launch", inst))
            if inst.terminated is not None:
                steps.append((inst.terminated, 1, "terminate", inst))
    for i, ev in enumerate(b.world.changes()):
        steps.append((ev.at, 2 + i, "change", ev))
    steps.sort(key=lambda s: (s[0], s[1], s[2]))
    for minute, _, what, obj in steps:
        when = b.t(minute)
        b.at(when)
        if what == "launch":
            _launch(b, obj)
        elif what == "terminate":
            _terminate(b, obj)
        else:
            apply_change(b, obj, when)
    for act in sorted(b.world.activities, key=lambda a: (a.minute, a.description)):
        _activity(b, act)
    _ecs_task_churn(b)


def _ecs_task_churn(b: Build) -> None:
    """Tasks an ECS service stops and replaces (a scenario's `instances` churn on an ecs service): the service
    events ECS writes for each (the reason is the scenario's logs' to tell, as a stopped task's is)."""
    for ev in sorted(b.sc.events, key=lambda e: e.at):
        churn = ev.instances
        if churn is None or b.sc.service(churn.service).kind != "ecs":
            continue
        name, minute = churn.service, float(ev.at)
        while minute < 0:
            when = b.t(minute)
            tasks = b.ecs_tasks[name]
            gone = tasks[: churn.terminated]
            new = [b.stable_hex(f"churn:{name}:{when.isoformat()}:{i}", 32) for i in range(churn.launched)]
            if gone:
                stopped = " ".join(f"(task {t})" for t in gone)
                b.ecs_events[name].append(
                    (
                        when,
                        b.stable_uuid(f"stop:{name}:{when}"),
                        f"(service {name}) has stopped {len(gone)} running tasks: {stopped}.",
                    )
                )
            if new:
                started = " ".join(f"(task {t})" for t in new)
                b.ecs_events[name].append(
                    (
                        when + timedelta(seconds=20),
                        b.stable_uuid(f"start:{name}:{when}"),
                        f"(service {name}) has started {len(new)} tasks: {started}.",
                    )
                )
            b.ecs_tasks[name] = tasks[len(gone) :] + new
            if not churn.every_minutes:
                break
            minute += churn.every_minutes


def _named_zones(b: Build, service: str) -> dict[str, str]:
    """The zone each of a service's instances is said to run in by its own log lines (``az=us-east-1c``)."""
    zones = {sub["AvailabilityZone"] for sub in b.subnets}
    out: dict[str, str] = {}
    for ev in b.sc.events:
        said = ev.logs
        if said is None or said.service != service or said.instance is None or said.instance in out:
            continue
        named = [z for z in re.findall(rf"\b{re.escape(b.region)}[a-z]\b", said.message) if z in zones]
        if named:
            out[said.instance] = named[0]
    return out


def _subnet_for(b: Build, inst: Instance) -> dict[str, Any]:
    """The subnet an instance runs in: the zone its own log lines name, as the world the scenario tells would
    have it; else, as Auto Scaling balances a group, the zone with the fewest of its instances (counting
    those said to run in each)."""
    by_zone = {sub["AvailabilityZone"]: sub for sub in b.subnets}
    named = _named_zones(b, inst.service)
    if inst.name in named:
        return by_zone[named[inst.name]]
    placed = {z: 0 for z in by_zone}
    for zone in named.values():
        placed[zone] += 1
    for other in b.world.instances.get(inst.service, []):
        iid = b.instance_ids.get(other.name)
        if other.name not in named and iid is not None:
            placed[b.instance_subnets[iid]["AvailabilityZone"]] += 1
    return by_zone[min(placed, key=lambda z: (placed[z], z))]


def _launch(b: Build, inst: Instance) -> None:
    """Run the instance from its group's launch template and attach it to the group and target group."""
    spec = b.sc.service(inst.service)
    subnet = _subnet_for(b, inst)
    r = b.c("ec2").run_instances(
        ImageId=b.image,
        InstanceType="m6i.large",
        MinCount=1,
        MaxCount=1,
        ClientToken=f"{inst.name}-{b.hexid(12)}",
        SubnetId=subnet["SubnetId"],
        LaunchTemplate={"LaunchTemplateId": b.lt_ids[spec.name], "Version": "$Latest"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": b.tags(spec.name, inst.name)}],
    )
    iid = r["Instances"][0]["InstanceId"]
    b.instance_ids[inst.name] = iid
    b.instance_subnets[iid] = subnet
    b.c("autoscaling").attach_instances(InstanceIds=[iid], AutoScalingGroupName=f"{spec.name}-asg")
    b.c("elbv2").register_targets(TargetGroupArn=b.tg_arns[spec.name], Targets=[{"Id": iid, "Port": 8080}])
    b.c("logs").create_log_stream(logGroupName=f"/ec2/{spec.name}", logStreamName=iid)
    b.markers[spec.name] += [iid, inst.name]


def _terminate(b: Build, inst: Instance) -> None:
    iid = b.instance_ids[inst.name]
    group = f"{inst.service}-asg"
    b.c("autoscaling").detach_instances(
        InstanceIds=[iid], AutoScalingGroupName=group, ShouldDecrementDesiredCapacity=True
    )
    b.c("elbv2").deregister_targets(
        TargetGroupArn=b.tg_arns[inst.service], Targets=[{"Id": iid, "Port": 8080}]
    )
    b.c("ec2").terminate_instances(InstanceIds=[iid])


def _activity(b: Build, act: ScalingActivity) -> None:
    """One Auto Scaling activity, worded as AWS words it."""
    when = b.t(act.minute) + timedelta(seconds=5 + b.rng.randint(0, 40))
    iid = b.instance_ids.get(act.instance or "", act.instance or "")
    group = f"{act.service}-asg"
    desc, why = _activity_words(b, act, iid)
    cause = f"At {when.strftime('%Y-%m-%dT%H:%M:%SZ')} {why}."
    subnet = b.instance_subnets.get(iid, b.subnets[0])
    b.activities.activities.append(
        Activity(
            activity_id=b.uid(),
            group=group,
            group_arn=f"arn:aws:autoscaling:{b.region}:{b.account}:autoScalingGroup:{b.uid()}:autoScalingGroupName/{group}",
            description=desc,
            cause=cause,
            start=when,
            end=when + timedelta(seconds=30 + b.rng.randint(0, 90)),
            details=json.dumps(
                {"Subnet ID": subnet["SubnetId"], "Availability Zone": subnet["AvailabilityZone"]}
            ),
        )
    )


def _activity_words(b: Build, act: ScalingActivity, iid: str) -> tuple[str, str]:
    """The activity's description and why it happened."""
    if act.description.startswith("Launching"):
        fleet = b.world.instances.get(act.service, [])
        before = sum(1 for i in fleet if i.alive(act.minute - 1))
        after = sum(1 for i in fleet if i.alive(act.minute))
        return f"Launching a new EC2 instance: {iid}", (
            "an instance was started in response to a difference between desired and actual capacity, "
            f"increasing the capacity from {min(before, after)} to {max(before, after)}"
        )
    reason = act.cause
    if "health" in reason.lower():
        why = "an instance was taken out of service in response to an ELB system health check failure"
    else:
        why = f"an instance was taken out of service in response to {reason}"
    return f"Terminating EC2 instance: {iid}", why


# ---- ordinary CloudTrail traffic -----------------------------------------------------------------------
_USERS = ["lee", "priya", "mo", "sam"]
#: (event, source, role/session or None for the deploy role, read-only)
_READERS = [
    ("DescribeInstances", "ec2.amazonaws.com", "observability-readonly/datadog", True),
    ("DescribeServices", "ecs.amazonaws.com", "observability-readonly/datadog", True),
    ("ListFunctions20150331", "lambda.amazonaws.com", "observability-readonly/datadog", True),
    ("DescribeAutoScalingGroups", "autoscaling.amazonaws.com", "karpenter/karpenter", True),
    ("GetParameter", "ssm.amazonaws.com", "ci-runner/build", True),
    ("CreateLogStream", "logs.amazonaws.com", "ecs-task-execution/ecs-agent", False),
    ("AssumeRoleWithWebIdentity", "sts.amazonaws.com", None, False),
    ("PutObject", "s3.amazonaws.com", "backup/nightly", False),
]


def trail_background(b: Build) -> None:
    """About one minute in three, a console login or a routine call by a robot."""
    for m in range(b.world.start, 0):
        if b.rng.random() > 0.3:
            continue
        when = b.t(m) + timedelta(seconds=b.rng.randint(0, 59))
        if b.rng.random() < 0.1:
            _console_login(b, when)
            continue
        name, source, role, read_only = b.rng.choice(_READERS)
        who = (
            f"arn:aws:sts::{b.account}:assumed-role/{role}"
            if role
            else f"arn:aws:sts::{b.account}:assumed-role/{DEPLOY_ROLE}/GitHubActions"
        )
        b.trail_event(
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


def _console_login(b: Build, when: datetime) -> None:
    user = b.rng.choice(_USERS)
    b.trail_event(
        "ConsoleLogin",
        when,
        "signin.amazonaws.com",
        f"arn:aws:iam::{b.account}:user/{user}",
        None,
        [],
        response={"ConsoleLogin": "Success"},
        user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
        source_ip="198.51.100.77",
    )
