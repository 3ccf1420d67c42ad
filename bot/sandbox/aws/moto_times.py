"""Every place we reach into moto's in-process state, in one module: its clock and a few fix-ups.

Why: moto stamps ECS deployments, CloudFormation stack events, SSM parameter versions, Lambda versions, EC2
launch times and log ingestion times with the real current time, but a scenario's changes happened at their
scenario times (``World.time(at)``). ThreadedMotoServer runs in our own process, so while the materialiser
seeds moto it holds :func:`scenario_clock` and sets the clock to each change's time before making the API
call; moto's own ``utcnow`` (imported by name into each of its modules) then answers that time. Outside the
block the clock is the real one. Only one materialisation seeds at a time (a process-wide lock).

The fix-ups after seeding cover what a clock cannot: moto numbers log events with a process-wide counter
(so two materialisations would differ), stamps ingestion at put time, and leaves ECS services with no running
tasks or service events.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import moto.core.utils as _moto_utils

_REAL_UTCNOW = _moto_utils.utcnow
_LOCK = threading.RLock()
_now: datetime | None = None

#: moto modules whose objects we create while the clock is set (imported up front so they can be patched).
_MODULES = (
    "moto.autoscaling.models",
    "moto.awslambda.models",
    "moto.cloudformation.models",
    "moto.cloudformation.parsing",
    "moto.dynamodb.models.table",
    "moto.dynamodb.models",
    "moto.ec2.models.instances",
    "moto.ec2.models.launch_templates",
    "moto.ecs.models",
    "moto.elbv2.models",
    "moto.iam.models",
    "moto.logs.models",
    "moto.rds.models",
    "moto.sns.models",
    "moto.sqs.models",
    "moto.ssm.models",
    "moto.xray.models",
)


def _utcnow() -> datetime:
    now = _now
    return now if now is not None else _REAL_UTCNOW()


def _install() -> None:
    for name in _MODULES:
        importlib.import_module(name)
    for name, mod in list(sys.modules.items()):
        if name.startswith("moto") and getattr(mod, "utcnow", None) is _REAL_UTCNOW:
            mod.utcnow = _utcnow  # type: ignore[attr-defined]


class Clock:
    """The scenario clock while seeding: ``clock.set(datetime)``."""

    def set(self, when: datetime) -> None:
        global _now
        _now = when.astimezone(UTC).replace(tzinfo=None)


@contextmanager
def scenario_clock() -> Iterator[Clock]:
    """Hold moto's clock for one materialisation; it is the real clock again afterwards."""
    global _now
    with _LOCK:
        _install()
        try:
            yield Clock()
        finally:
            _now = None


def _backend(module: str, attr: str, account: str, region: str) -> Any:
    """Moto's in-process backend. Moto files everything under its default account (it only maps access keys it
    issued itself to other accounts), whatever account the scenario names, so that is where to look."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    del account
    return getattr(importlib.import_module(module), attr)[DEFAULT_ACCOUNT_ID][region]


def fix_log_events(account: str, region: str, ingestion_delay_ms: dict[tuple[str, str, int], int]) -> None:
    """Number log events per stream from 0 and set ingestion = timestamp + the given delay."""
    logs = _backend("moto.logs.models", "logs_backends", account, region)
    for group_name in sorted(logs.groups):
        group = logs.groups[group_name]
        counter = 0
        for stream_name in sorted(group.streams):
            for ev in group.streams[stream_name].events:
                ev.event_id = counter
                counter += 1
                ev.ingestion_time = ev.timestamp + ingestion_delay_ms.get(
                    (group_name, stream_name, ev.timestamp), 1000
                )


def fix_ecs_service(
    account: str,
    region: str,
    cluster: str,
    service: str,
    running: int,
    events: list[tuple[datetime, str, str]],
) -> None:
    """Running tasks as desired, the deployment finished on the service's task definition (moto leaves its
    first one there after UpdateService), and the service's event messages (newest first)."""
    ecs = _backend("moto.ecs.models", "ecs_backends", account, region)
    svc = ecs.services[f"{cluster}:{service}"]
    svc.running_count = running
    svc.pending_count = 0
    for dep in svc.deployments:
        if dep.get("status") == "PRIMARY" and svc.task_definition:
            dep["taskDefinition"] = svc.task_definition
        dep["runningCount"] = running
        dep["pendingCount"] = 0
        dep["rolloutState"] = "COMPLETED"
        dep["rolloutStateReason"] = "ECS deployment completed."
    svc.events = [
        {"id": event_id, "createdAt": when.astimezone(UTC).replace(tzinfo=None), "message": message}
        for when, event_id, message in sorted(events, key=lambda e: e[0], reverse=True)
    ]


def set_deployment_updated(account: str, region: str, cluster: str, service: str, updated: datetime) -> None:
    """When the current deployment finished rolling out."""
    ecs = _backend("moto.ecs.models", "ecs_backends", account, region)
    for dep in ecs.services[f"{cluster}:{service}"].deployments:
        dep["updatedAt"] = updated.astimezone(UTC).replace(tzinfo=None)


def fix_asg_created(account: str, region: str, group: str, when: datetime) -> None:
    """moto stamps an Auto Scaling group with the local wall-clock time (``datetime.now()``), not ``utcnow``."""
    asg = _backend("moto.autoscaling.models", "autoscaling_backends", account, region)
    asg.autoscaling_groups[group].created_time = when.astimezone(UTC).replace(tzinfo=None).isoformat()
