"""Demo-style: the flagship scenario's alarm delivered by EventBridge (API destination) and again by the alarm's
Lambda action, into the real surface on the simulated estate: one page posted, one investigation, one report."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from bot.config import Settings
from bot.sandbox.demo import FLAGSHIP
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.pages import AlarmNotice, alarm_state_change_event, eventbridge_delivery
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.signing import deliver
from bot.slack.server import HttpServer, build_surface, wsgi_app
from bot.sources.aws.telemetry import Telemetry
from bot.storage.db import migrate
from tests.test_slack_app import SIGNING_SECRET

pytestmark = pytest.mark.slow

KEY = "demo-eventbridge-key"


def test_each_route_of_one_alarm_starts_exactly_one_investigation() -> None:
    sc = load_scenario(resolve_scenario(FLAGSHIP))
    with sandbox(sc) as box, FakeSlack() as fake, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bot.sqlite'}",
            slack_bot_token="xoxb-demo-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.api_url,
            page_channel="#incidents",
            aws_region=box.aws.region,
            executor_id="routes-demo",
            eventbridge_secret=KEY,
        )
        migrate(settings.database_url)
        fake.add_channel("incidents")
        deps = box.deps()
        page = box.page
        assert page.alarm_name
        alarm = Telemetry(deps.aws).alarm(page.alarm_name).data
        assert alarm is not None
        notice = AlarmNotice(
            alarm_name=page.alarm_name,
            metric_name=alarm.metric or "metric",
            namespace=alarm.namespace or "AWS",
            dimensions=tuple(sorted(alarm.dimensions.items())),
            state_change_time=page.fired_at,
            region=box.aws.region,
            account_id=box.aws.account_id,
            threshold=alarm.threshold or 0.0,
        )
        surface = build_surface(settings, deps=deps, flush_interval=0.5)
        server = HttpServer(wsgi_app(surface.app, surface.intake)).start()
        try:
            answers = []
            for as_lambda in (False, True):
                body, headers = eventbridge_delivery(
                    alarm_state_change_event(notice, lambda_action=as_lambda), KEY
                )
                answers.append(deliver(server.url + "/webhooks/eventbridge", body, headers))
            assert [a.status for a in answers] == [202, 202]
            assert [json.loads(a.body)["outcome"] for a in answers] == ["new", "joined"]

            def thread() -> list[dict[str, object]]:
                pages = [
                    m
                    for m in fake.messages("incidents")
                    if str(m.get("text", "")).startswith(":rotating_light:")
                ]
                return fake.replies("incidents", str(pages[0]["ts"])) if len(pages) == 1 else []

            assert wait_for(lambda: any(str(m.get("text", "")).startswith("Report:") for m in thread()), 90.0)
            incidents = surface.store.recent_incidents()
            assert len(incidents) == 1 and len(surface.store.investigations_of(incidents[0].id or 0)) == 1
        finally:
            server.stop()
            surface.settle()
            surface.close()
