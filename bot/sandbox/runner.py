"""Run a scenario end to end offline: simulate it, materialise it into the stand-ins, page the engine, and
investigate through boto3 and PyGithub exactly as in production."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from bot.domain import Page, PageSource, Report
from bot.investigation.engine import Deps, Investigator, Listener, Outcome
from bot.investigation.render import report_text
from bot.investigation.steering import Steering
from bot.sandbox.aws.materialise import AwsEstate, MotoServer, materialise_aws
from bot.sandbox.fake_github import FakeGitHub
from bot.sandbox.github_estate import seed_github
from bot.sandbox.scenario import Scenario, load_scenario, resolve_scenario
from bot.sandbox.status_pages import StatusPagesServer
from bot.sandbox.world import World, simulate
from bot.sources.aws.clients import AwsClients
from bot.sources.github import GithubSource
from bot.sources.status import StatusPages


@dataclass
class Sandbox:
    """A running simulated estate: the world, AWS behind its gateway, GitHub, and the page it raises."""

    world: World
    aws: AwsEstate
    github: FakeGitHub
    page: Page
    status: StatusPagesServer

    def deps(self, concurrency: int = 8) -> Deps:
        """Dependencies that read this estate through the real SDKs."""
        for key, value in self.aws.env().items():
            if key.startswith("AWS_") and key not in ("AWS_ENDPOINT_URL",):
                os.environ.setdefault(key, value)
        return Deps(
            aws=AwsClients(self.aws.region, endpoint_url=self.aws.endpoint_url),
            github=GithubSource(token="sandbox-token", base_url=self.github.base_url),
            status=StatusPages(self.status.pages()),
            concurrency=concurrency,
        )


def page_for(sc: Scenario, world: World, aws: AwsEstate) -> Page:
    """The page as its source describes it: a CloudWatch alarm by name, or a PagerDuty incident by title."""
    if sc.page.source == "cloudwatch":
        return Page(
            source=PageSource.CLOUDWATCH,
            title=f"ALARM: {aws.alarm_name}",
            fired_at=world.time(sc.page.at),
            alarm_name=aws.alarm_name,
            state="ALARM",
            severity=sc.page.severity,
            channel=sc.channel,
            region=aws.region,
        )
    number = str(1000 + sc.effective_seed % 9000)
    return Page(
        source=PageSource.PAGERDUTY,
        title=sc.page.name,
        fired_at=world.time(sc.page.at),
        service_hint=sc.page.service,
        severity=sc.page.severity,
        incident_number=number,
        incident_id=f"Q{sc.effective_seed:08X}"[:14],
        channel=sc.channel,
        region=aws.region,
    )


_MOTO: MotoServer | None = None
_MOTO_LOCK = threading.Lock()


def shared_moto() -> MotoServer:
    """The process's moto server (moto keeps its state in module globals, so one per process; reset per use)."""
    global _MOTO
    with _MOTO_LOCK:
        if _MOTO is None:
            _MOTO = MotoServer()
        return _MOTO


@contextmanager
def sandbox(
    sc: Scenario, *, t0: datetime | None = None, latency: float = 0.0, moto: MotoServer | None = None
) -> Iterator[Sandbox]:
    """Boot the estate for a scenario; everything stops on exit."""
    world = simulate(sc, t0)
    with FakeGitHub(latency=latency).start() as gh:
        if any(g.partition(":")[0] == "github" for g in sc.gaps):
            gh.fail_next(".*", status=403, times=10**9, message="Resource not accessible by integration")
        seed_github(gh, world)
        with (
            StatusPagesServer(world, latency=latency).start() as status,
            materialise_aws(world, moto=moto or shared_moto(), latency=latency) as aws,
        ):
            yield Sandbox(world, aws, gh, page_for(sc, world, aws), status)


def run_scenario(
    sc: Scenario,
    *,
    t0: datetime | None = None,
    latency: float = 0.0,
    moto: MotoServer | None = None,
    listener: Listener | None = None,
    steering: Steering | None = None,
) -> Outcome:
    """Investigate one scenario's page in its own freshly built estate."""
    with sandbox(sc, t0=t0, latency=latency, moto=moto) as box:
        return Investigator(box.deps()).investigate(box.page, listener, steering)


@dataclass
class Printed:
    """An outcome with its text rendering."""

    outcome: Outcome
    text: str

    @property
    def report(self) -> Report:
        """The report."""
        return self.outcome.report


def investigate_scenario(ref: str) -> Printed:
    """`sre-bot investigate --scenario`: the report as text."""
    sc = load_scenario(resolve_scenario(ref))
    outcome = run_scenario(sc)
    head = (
        f"Investigated {sc.id}: first finding after {outcome.first_finding_s or 0:.2f} s, "
        f"report after {outcome.report_s:.2f} s\n\n"
    )
    return Printed(outcome, head + report_text(outcome.report))
