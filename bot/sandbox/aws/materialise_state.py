"""One materialisation in progress: the world, the clients, the clock, and what has been built so far.

Every step of :func:`bot.sandbox.aws.materialise.materialise_aws` (services, timeline, changes, telemetry)
reads and writes one :class:`Build`; its helpers draw ids from one seeded rng, so ids are deterministic.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from bot.sandbox.aws import moto_times
from bot.sandbox.aws.cloudtrail import CloudTrailService, CloudTrailStore
from bot.sandbox.aws.cloudwatch import CloudWatchService, CloudWatchStore
from bot.sandbox.aws.fillins import RdsEvents, ScalingActivities
from bot.sandbox.aws.logs_insights import InsightsService, LogRecord
from bot.sandbox.aws.protocol import Reply, Request
from bot.sandbox.aws.stacks import Stacks
from bot.sandbox.aws.xray import GraphModel, XRayService
from bot.sandbox.world import World
from bot.sources.aws.catalog import ServiceResources

CFG = Config(retries={"max_attempts": 1})
DEPLOY_ROLE = "github-actions-deploy"
#: How long before the history starts the estate was built, and when the release before it shipped.
BUILT_BEFORE = timedelta(days=30)
RELEASED_BEFORE = timedelta(days=3)
#: The image every instance runs (moto does not validate AMIs; DescribeImages is slow in moto).
AMI = "ami-0fa3fe0fa7920f68e"


def user_identity(user: str, account: str) -> tuple[dict[str, Any], str]:
    """CloudTrail userIdentity and Username for a user ARN or plain name (a role ARN is a session of it)."""
    if ":role/" in user and ":assumed-role/" not in user:
        role = user.split(":role/", 1)[1].rsplit("/", 1)[-1]
        user = f"arn:aws:sts::{account}:assumed-role/{role}/{role}"
    if ":assumed-role/" in user:
        role, _, session = user.split(":assumed-role/", 1)[1].partition("/")
        ident = {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE{int(hashlib.sha256(role.encode()).hexdigest()[:8], 16) % 10**8:08d}:{session}",
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


@dataclass(frozen=True)
class Principal:
    """Who a CloudTrail record says made a call: its userIdentity and Username, and where the call came from
    (``user_agent``, ``source_ip``, more top-level record fields in ``extra``)."""

    identity: dict[str, Any]
    username: str
    context: dict[str, Any] = field(default_factory=dict)


#: The OIDC provider GitHub Actions' deploy role trusts.
GITHUB_OIDC = "token.actions.githubusercontent.com"


def deploy_identity(account: str, session: str = "GitHubActions", role: str = DEPLOY_ROLE) -> dict[str, Any]:
    """A pipeline's role session; the GitHub Actions deploy role's sessions come through its OIDC provider."""
    ident, _ = user_identity(f"arn:aws:sts::{account}:assumed-role/{role}/{session}", account)
    if role == DEPLOY_ROLE:
        ident["sessionContext"]["webIdFederationData"] = {
            "federatedProvider": f"arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC}",
            "attributes": {},
        }
    return ident


def handler_zip(text: str) -> bytes:
    """A Lambda deployment package holding `text` as handler.py (fixed timestamp, so the same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("handler.py", date_time=(2026, 1, 1, 0, 0, 0))
        zf.writestr(info, text)
    return buf.getvalue()


def tag_map(tags: list[dict[str, str]]) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` as ``{k: v}``."""
    return {t["Key"]: t["Value"] for t in tags}


class Build:
    """The state of one materialisation; one use."""

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
        self.stacks = Stacks()
        self.rds_events = RdsEvents()
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
        self.pd_topic = ""
        self._clients: dict[str, Any] = {}
        self.tg_arns: dict[str, str] = {}
        self.lt_ids: dict[str, str] = {}
        self.stack_ids: dict[str, str] = {}
        self.templates: dict[str, dict[str, Any]] = {}  # stack -> its current template
        self.stack_versions: dict[str, str] = {}  # stack -> its Version parameter
        self.ecs_images: dict[str, str] = {}  # ecs service -> the image tag it runs
        self.task_limits: dict[str, tuple[str, str]] = {}  # ecs service -> (cpu, memory) of its revision
        self.role_arns: dict[str, str] = {}
        self.subnets: list[dict[str, Any]] = []
        self.vpc = ""
        self.alb = ""
        self.cluster = f"{self.org}-prod"
        self.ecs_tasks: dict[str, list[str]] = {}
        self.ecs_events: dict[str, list[tuple[datetime, str, str]]] = {}
        self.ingestion: dict[tuple[str, str, int], int] = {}
        self.image = ""
        self.db_subnet_group = ""
        self.clock: moto_times.Clock | None = None
        self.now: datetime | None = None
        self.instance_subnets: dict[str, dict[str, Any]] = {}  # instance id -> the subnet it runs in
        self.stack_rows: dict[
            str, list[tuple[str, str, str]]
        ] = {}  # stack -> (logical, physical, type) as built
        self.logicals: dict[str, dict[str, str]] = {}  # stack -> resource type -> its logical id
        self.cw_service = CloudWatchService(self.cw)

    def c(self, service: str) -> Any:
        """A cached boto3 client straight to moto."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.moto_url,
                region_name=self.region,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=CFG,
            )
        return self._clients[service]

    def at(self, when: datetime) -> None:
        """Set moto's clock."""
        assert self.clock is not None
        self.clock.set(when)
        self.now = when

    def clock_time(self) -> datetime:
        """The time moto's clock is set to."""
        assert self.now is not None, "the clock has not been set"
        return self.now

    def t(self, minute: float) -> datetime:
        return self.world.time(minute)

    @property
    def built(self) -> datetime:
        """When the estate was built, before the history."""
        return self.t(self.world.start) - BUILT_BEFORE

    @property
    def settled(self) -> datetime:
        """Just after the release before the history: the settings a change's "old" value names were in place."""
        return self.t(self.world.start) - RELEASED_BEFORE + timedelta(minutes=5)

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def stable_hex(self, text: str, n: int) -> str:
        """`n` hex digits derived from `text` and the scenario's seed, without drawing from the rng (so adding
        one does not move every later id)."""
        digest = hashlib.sha256(f"{self.sc.effective_seed}:{text}".encode()).hexdigest()
        return (digest * (n // 64 + 1))[:n]

    def stable_uuid(self, text: str) -> str:
        """A UUID derived from `text` (see :meth:`stable_hex`)."""
        return str(uuid.UUID(hex=self.stable_hex(text, 32), version=4))

    def tags(self, spec_name: str, name: str) -> list[dict[str, str]]:
        return [
            {"Key": "Name", "Value": name},
            {"Key": "service", "Value": spec_name},
            {"Key": "env", "Value": "prod"},
        ]

    def _records_for(self, groups: list[str]) -> list[LogRecord]:
        return [r for g in groups for r in self.records.get(g, [])]

    def cloudwatch_handler(self, req: Request) -> Reply | None:
        return self.cw_service.handle(req)

    def trail_event(
        self,
        name: str,
        when: datetime,
        source: str,
        user: str | None,
        request: dict[str, Any] | None,
        resources: list[tuple[str, str]],
        principal: Principal | None = None,
        **kw: Any,
    ) -> None:
        """Record a CloudTrail event by `principal`, else by `user` (None: the GitHub Actions deploy role)."""
        if principal is not None:
            ident, username = principal.identity, principal.username
            kw = {**principal.context, **kw}
        elif user is None:
            ident, username = deploy_identity(self.account), "GitHubActions"
        else:
            ident, username = user_identity(user, self.account)
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
