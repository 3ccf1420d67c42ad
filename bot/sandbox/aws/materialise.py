"""Materialise a simulated World into AWS: moto plus our stand-ins behind one gateway.

Resource naming and topology (``org`` and ``account`` from the scenario; every resource is tagged
``service=<name>`` and ``Name``):

* shared: a VPC ``<org>-prod`` (instead of the default one) with three subnets, an ALB ``<org>-prod`` in it,
  an ECS cluster ``<org>-prod``, SNS topics ``<org>-oncall`` (CloudWatch pages) and ``<org>-pagerduty``, IAM
  roles ``github-actions-deploy`` and ``<name>-task`` / ``<name>-lambda``.
* ``ecs``: ECS service ``<name>`` in the cluster, task definition family ``<name>`` (revision 1 is the release
  before the history; each github-actions deploy registers a revision with image tag ``<sha>`` and updates
  the service, the old revision stays for rollback), target group ``<name>-tg`` on the ALB, log group
  ``/ecs/<name>`` with a stream ``ecs/<name>/<task id>`` per task.
* ``asg``: Auto Scaling group ``<name>-asg`` on launch template ``<name>-lt`` (a deploy makes a new version),
  EC2 instances tagged ``Name=<world instance name>`` (``i-forge-2``; their ids are moto's, see
  ``AwsEstate.instance_ids``), target group ``<name>-tg``, log group ``/ec2/<name>`` with a stream per instance id.
* ``lambda``: function ``<name>`` with published versions and an alias ``live``; log group ``/aws/lambda/<name>``.
* ``dynamodb`` table ``<name>``; ``rds`` DB instance ``<name>`` (postgres, db.r6g.large); ``sqs`` queue ``<name>``.
* every service: a CloudFormation stack ``<name>`` listing the resources above, created by a change set, with a
  template whose resources carry their properties (parameter ``Version``); a ``via: cloudformation`` change is
  a change set executed at its scenario time (see ``materialise_stacks``); SSM parameters under ``/<name>/``
  (``log_level``, plus the scenario's parameters).
* changes show where AWS shows them: a console change to a function's memory in ``GetFunctionConfiguration``,
  a scale-in in ``DescribeServices``, a reboot in RDS ``DescribeEvents`` (``materialise_settings``,
  ``materialise_calls``); who made each is the scenario's ``actor`` (``materialise_actors``).
* CloudWatch metrics per :mod:`bot.sources.aws.catalog`, at 1-minute resolution over the whole history; the
  page's alarm (named ``page.name``) on the page signal, OK before and ALARM at the page.

The steps live in sibling modules: ``materialise_state`` (what one build holds), ``materialise_services``
(the estate as built), ``materialise_stacks`` (stacks, templates, change sets), ``materialise_timeline`` and
``materialise_changes`` (the history on moto's clock; ``materialise_settings`` / ``materialise_calls`` /
``materialise_actors`` for what a change sets, calls and who makes it), ``materialise_telemetry`` (logs,
traces, metrics, the alarm).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.request import Request as UrlRequest
from urllib.request import urlopen

import boto3

from bot.sandbox.aws import moto_times
from bot.sandbox.aws.cloudtrail import CloudTrailStore
from bot.sandbox.aws.cloudwatch import CloudWatchStore
from bot.sandbox.aws.ecs_lists import sorted_task_definitions
from bot.sandbox.aws.gateway import Gaps, Gateway, Handler
from bot.sandbox.aws.materialise_calls import initial_encryption, initial_settings
from bot.sandbox.aws.materialise_services import build_service, build_shared
from bot.sandbox.aws.materialise_stacks import open_stack
from bot.sandbox.aws.materialise_state import AMI, BUILT_BEFORE, CFG, DEPLOY_ROLE, RELEASED_BEFORE, Build
from bot.sandbox.aws.materialise_telemetry import (
    page_alarm,
    write_logs,
    write_metrics,
    write_rds_events,
    write_traces,
)
from bot.sandbox.aws.materialise_timeline import play_timeline, trail_background
from bot.sandbox.aws.materialise_wiring import event_sources
from bot.sandbox.aws.reactions import Reactions, bad_instance_names, broken_state
from bot.sandbox.scenario import parse_scenario
from bot.sandbox.world import World, simulate
from bot.sources.aws.catalog import ServiceResources

__all__ = [
    "AMI",
    "BUILT_BEFORE",
    "DEPLOY_ROLE",
    "RELEASED_BEFORE",
    "WARM_UP",
    "AwsEstate",
    "MotoServer",
    "materialise_aws",
]


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
        {"name": "w-sqs", "kind": "sqs", "calls": ["w-lambda"]},
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
        _build(Build(world, self.url), traces_per_minute=1, trace_minutes=5)

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
    #: How the estate answers a fix (the right one brings the page's alarm back to OK).
    reactions: Reactions | None = None

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
        kwargs.setdefault("config", CFG)
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
        b = Build(world, server.url)
        _build(b, traces_per_minute, trace_minutes)
    except Exception:
        if owns:
            server.stop()
        raise
    gw = Gateway(server.url, _handlers(b), _gaps(b, gaps), latency)
    root = world.scenario.truth.root_cause_service
    res = b.resources.get(root) if root else None
    bad = frozenset(b.instance_ids[n] for n in bad_instance_names(world.scenario) if n in b.instance_ids)
    reactions = Reactions(world.scenario, res, b.cw, b.alarm_name, broken_state(b.c, res), bad_instances=bad)
    gw.after += [sorted_task_definitions, reactions.react]
    gw.start()
    return AwsEstate(
        endpoint_url=gw.url,
        region=b.region,
        account_id=b.account,
        gateway=gw,
        moto=server,
        owns_moto=owns,
        instance_ids=dict(b.instance_ids),
        resources=dict(b.resources),
        log_groups=dict(b.log_groups),
        alarm_name=b.alarm_name,
        alarm_arn=b.alarm_arn,
        topic_arn=b.topic_arn,
        cloudwatch=b.cw,
        cloudtrail=b.trail,
        reactions=reactions,
    )


def _gaps(b: Build, gaps: list[str] | None) -> Gaps:
    """The gateway's AccessDenied policy: `gaps`, or else the scenario's."""
    return Gaps(
        gaps=list(b.sc.gaps if gaps is None else gaps),
        log_groups=b.log_groups,
        markers=b.markers,
        region=b.region,
        account_id=b.account,
    )


def _handlers(b: Build) -> dict[str, Handler]:
    """The stand-ins that answer in front of moto, by signing name."""
    return {
        "monitoring": b.cloudwatch_handler,
        "cloudtrail": b.trail_service.handle,
        "logs": b.insights.handle,
        "xray": b.xray.handle,
        "autoscaling": b.activities.handle,
        "cloudformation": b.stacks.handle,
        "rds": b.rds_events.handle,
    }


def _build(b: Build, traces_per_minute: int, trace_minutes: int) -> None:
    """Seed moto and the stand-ins: the estate as built, the history on moto's clock, then telemetry."""
    with moto_times.scenario_clock() as clock:
        b.clock = clock
        built = b.built
        b.at(built)
        build_shared(b)
        for spec in b.sc.services:
            build_service(b, spec, built)
            open_stack(b, spec)
            initial_settings(b, spec)
            initial_encryption(b, spec)
        b.at(built)
        event_sources(b)
        play_timeline(b)
        b.at(b.t(0))
        write_logs(b)
        write_rds_events(b)
        write_traces(b, traces_per_minute, trace_minutes)
    write_metrics(b)
    page_alarm(b)
    trail_background(b)
    _fix_moto_times(b)


def _fix_moto_times(b: Build) -> None:
    """Backdate what moto stamps with the wall clock: log ingestion, group creation, ECS service events."""
    moto_times.fix_log_events(b.account, b.region, b.ingestion)
    for spec in b.sc.services:
        if spec.kind == "asg":
            moto_times.fix_asg_created(b.account, b.region, f"{spec.name}-asg", b.built)
    for name, events in b.ecs_events.items():
        moto_times.fix_ecs_service(b.account, b.region, b.cluster, name, len(b.ecs_tasks[name]), events)
