"""Approve / Reject in Slack runs plan steps: through the fake Slack (signed clicks), DBOS and moto.

Each test posts a stored report with a plan into a thread of the incident channel (as the investigation
would), then clicks as people do. The simulated flagship estate answers: rolling pricing back brings the
page's alarm back to OK; a wrong fix does not, and the bot rolls it back by itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.domain import Action, Page, PageSource, Phase, Plan, PlanStep, Report
from bot.investigation.engine import Deps
from bot.investigation.ports import InvestigationRef
from bot.sandbox.fake_slack import FakeSlack, wait_for
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.signing import SlackEventSender
from bot.sandbox.world import simulate
from bot.slack.app import make_client
from bot.slack.blocks import encode_value
from bot.slack.server import HttpServer, SlackSurface, build_surface, wsgi_app
from bot.sources.aws.clients import AwsClients
from bot.storage.db import make_engine, migrate
from bot.storage.store import Store
from bot.storage.tables import ActionStatus
from tests.fixtures_estate import T0
from tests.test_mitigation_catalogue import ALARM, CLUSTER, flagship_plan, rollback_step
from tests.test_slack_app import SIGNING_SECRET, settings_for

ALICE, BOB, MALLORY = "U0ALICE01", "U0BOB0001", "U0MALLORY"

#: How long a wait may take before the test counts it as hung: generous, since CI runs three workers on two
#: cores beside the scenario evaluations (a wait that succeeds returns at once).
HANG = 60.0


@dataclass
class Box:
    """The running surface on the flagship estate, and the handles a test needs."""

    fake: FakeSlack
    surface: SlackSurface
    server: HttpServer
    sender: SlackEventSender
    channel: str
    aws: Any

    @property
    def store(self) -> Store:
        return self.surface.store


@contextmanager
def running(fake: FakeSlack, tmp: Path, aws: Any, **overrides: Any) -> Iterator[Box]:
    """The Slack surface (Bolt over HTTP, DBOS on SQLite in `tmp`) reading and writing the estate."""
    settings = settings_for(fake, tmp / "bot.sqlite").model_copy(
        update={
            "approvers": [ALICE, BOB],
            "approval_self_high_risk": True,
            "mitigation_recovery_minutes": 0.05,
            "mitigation_poll_seconds": 0.1,
            "aws_region": aws.region,
            "executor_id": "mitigation-test",
            **overrides,
        }
    )
    migrate(settings.database_url)
    store = Store(make_engine(settings.database_url))
    channel = fake.add_channel("inc-pricing")  # the existing one after a restart
    deps = Deps(aws=AwsClients(aws.region, max_attempts=1, endpoint_url=aws.endpoint_url))
    surface = build_surface(
        settings, client=make_client(settings), deps=deps, store=store, flush_interval=0.2
    )
    server = HttpServer(wsgi_app(surface.app, surface.intake)).start()
    sender = SlackEventSender(server.url + "/slack/events", SIGNING_SECRET, bot_user_id=fake.bot_user_id)
    try:
        yield Box(fake, surface, server, sender, channel, aws)
    finally:
        sender.close()
        server.stop()
        surface.close()


@pytest.fixture
def estate(estates: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    world = simulate(load_scenario(resolve_scenario("flagship-cache-deploy")), T0)
    aws = estates.get(world)
    for key, value in aws.env().items():
        if key != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(key, value)
    aws.reactions.recovery_s = 0.2
    aws.client("ecs").update_service(cluster=CLUSTER, service="pricing", taskDefinition="pricing:2")
    aws.cloudwatch.set_state(ALARM, "ALARM", "Threshold Crossed (test reset)")
    return aws


@pytest.fixture
def box(fake_slack: FakeSlack, tmp_path: Path, estate: Any) -> Iterator[Box]:
    with running(fake_slack, tmp_path, estate) as b:
        yield b


@dataclass
class Thread:
    ts: str
    investigation_id: int
    buttons: dict[str, dict[str, Any]]


def post_plan(b: Box, plan: Plan) -> Thread:
    """A page at the top of a thread, its investigation, and a stored report with `plan` posted in it."""
    ts = b.fake.add_message(
        b.channel, {"text": "ALARM: " + ALARM, "bot_id": "B0CHATBOT", "user": "U0CHATBOT"}
    )
    page = Page(
        source=PageSource.MANUAL,
        title=f"ALARM: {ALARM} {uuid.uuid4().hex[:6]}",
        fired_at=datetime.now(UTC),
        alarm_name=ALARM,
        state="ALARM",
        channel=b.channel,
        message_ts=ts,
    )
    incident, _ = b.store.open_incident(page)
    assert incident.id is not None
    inv = b.store.start_investigation(incident.id, f"test-{ts}")
    assert inv.id is not None
    report = Report(
        page_title=page.title, impact="pricing quotes fail", root_cause=None, plan=plan, version=1
    )
    b.store.save_report(inv.id, 1, report.model_dump(mode="json"))
    ref = InvestigationRef(inv.id, incident.id, inv.workflow_id, b.channel, ts)
    b.surface.notifier.report(ref, report)
    assert wait_for(lambda: _buttons(b, ts), HANG)
    return Thread(ts, inv.id, _buttons(b, ts))


def _buttons(b: Box, ts: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for m in b.fake.replies(b.channel, ts):
        for block in m.get("blocks") or []:
            for el in block.get("elements", []) if block.get("type") == "actions" else []:
                out[el["action_id"]] = {"message": m, "value": el["value"]}
    return out


def click(b: Box, t: Thread, action_id: str, user: str = ALICE) -> None:
    found = t.buttons[action_id]
    message = found["message"]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "api_app_id": "A0SREBOT",
        "team": {"id": "T0SANDBOX"},
        "channel": {"id": b.channel},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": b.channel},
        "message": {**message, "thread_ts": t.ts},
        "trigger_id": "1.2.trigger",
        "response_url": b.fake.base_url + "/webhook/act",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": found["value"]}],
    }
    assert b.sender.interaction(payload).status == 200


def said(b: Box, t: Thread, text: str) -> bool:
    return any(text in (m.get("text") or "") for m in b.fake.replies(b.channel, t.ts))


def status(b: Box, t: Thread) -> str | None:
    rows = b.store.actions(t.investigation_id)
    return rows[-1].status if rows else None


def verbs(b: Box, t: Thread) -> list[str]:
    return [
        a.verb
        for a in b.store.audit_log(limit=1000)
        if a.subject.startswith(f"investigation:{t.investigation_id}:")
    ]


def step_closed(b: Box, t: Thread, words: str) -> bool:
    msg = next(
        m for m in b.fake.replies(b.channel, t.ts) if m["ts"] == t.buttons["plan_approve"]["message"]["ts"]
    )
    blocks = msg.get("blocks") or []
    no_buttons = not any(bl.get("type") == "actions" and bl.get("block_id") == "plan_step:2" for bl in blocks)
    return no_buttons and words in json.dumps(blocks)


def ephemeral_to(b: Box, user: str) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in b.fake.calls_to("chat.postEphemeral")
        if c.params.get("user") == user
    ]


def ecs_td(aws: Any) -> str:
    svc = aws.client("ecs").describe_services(cluster=CLUSTER, services=["pricing"])["services"][0]
    return str(svc["taskDefinition"]).rsplit("/", 1)[-1]


# -- tests --------------------------------------------------------------------------------------------------------


def test_approve_runs_every_phase_recovers_and_audits(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    click(box, t, "plan_approve")
    assert wait_for(lambda: status(box, t) == ActionStatus.SUCCEEDED.value, HANG), status(box, t)
    assert ecs_td(box.aws) == "pricing:1"
    assert (
        box.aws.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"]
        == "OK"
    )
    for text in (
        "Dry run, the exact calls",
        "*pre-validate*",
        "*apply*",
        "recovered: `" + ALARM,
        "recovery confirmed",
    ):
        assert said(box, t, text), text
    assert said(box, t, "ecs:UpdateService cluster=grocerly-prod, service=pricing, taskDefinition=pricing:1")
    assert wait_for(lambda: step_closed(box, t, "approved by"), HANG)
    assert verbs(box, t) == ["request", "approve", "pre-validate", "apply", "post-validate"]
    apply_entry = next(
        a
        for a in box.store.audit_log(limit=1000)
        if a.verb == "apply" and a.subject.startswith(f"investigation:{t.investigation_id}:")
    )
    assert apply_entry.actor == ALICE and apply_entry.detail["calls"] == [
        "ecs:UpdateService cluster=grocerly-prod, service=pricing, taskDefinition=pricing:1"
    ]
    inv = box.store.get_investigation(t.investigation_id)
    assert inv is not None
    assert said(box, t, f"`sre-bot audit {inv.incident_id}`")
    env = {"DATABASE_URL": box.surface.settings.database_url}
    out = CliRunner().invoke(cli, ["audit", str(inv.incident_id)], env=env)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert [line.split()[3] for line in lines] == [
        "request",
        "approve",
        "pre-validate",
        "apply",
        "post-validate",
    ]
    assert ALICE in lines[0] and "taskDefinition=pricing:1" in lines[3]
    missing = CliRunner().invoke(cli, ["audit", "999999"], env=env)
    assert missing.exit_code == 2 and "no incident 999999" in missing.output


def test_reject_runs_nothing_and_closes_the_buttons(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    click(box, t, "plan_reject", BOB)
    assert wait_for(lambda: status(box, t) == ActionStatus.REJECTED.value, HANG)
    assert wait_for(lambda: step_closed(box, t, "rejected by"), HANG)
    assert ecs_td(box.aws) == "pricing:2"
    assert verbs(box, t) == ["request", "reject"]


def test_an_unauthorised_click_is_refused_and_audited(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    click(box, t, "plan_approve", MALLORY)
    assert wait_for(lambda: any("may not decide" in x for x in ephemeral_to(box, MALLORY)), HANG)
    assert wait_for(lambda: verbs(box, t) == ["refuse-unauthorised"], HANG)
    assert box.store.actions(t.investigation_id) == [] and ecs_td(box.aws) == "pricing:2"


def test_an_approver_group_member_may_approve(fake_slack: FakeSlack, tmp_path: Path, estate: Any) -> None:
    fake_slack.add_user_group("S0ONCALL", [MALLORY])
    with running(fake_slack, tmp_path, estate, approvers=[], approver_groups=["S0ONCALL"]) as b:
        t = post_plan(b, flagship_plan(rollback_step()))
        click(b, t, "plan_approve", MALLORY)
        assert wait_for(lambda: status(b, t) == ActionStatus.SUCCEEDED.value, HANG), status(b, t)


def test_a_double_click_runs_once(box: Box) -> None:
    before = box.aws.gateway.calls.get("ecs:UpdateService", 0)
    t = post_plan(box, flagship_plan(rollback_step()))
    click(box, t, "plan_approve")
    click(box, t, "plan_approve", BOB)
    assert wait_for(lambda: status(box, t) == ActionStatus.SUCCEEDED.value, HANG)
    click(box, t, "plan_approve")
    assert wait_for(lambda: any("decided already" in x for x in ephemeral_to(box, ALICE)), HANG)
    assert box.aws.gateway.calls.get("ecs:UpdateService", 0) - before == 1
    assert len(box.store.actions(t.investigation_id)) == 1
    assert verbs(box, t).count("apply") == 1


def test_a_high_risk_request_needs_another_approver_and_expires(
    fake_slack: FakeSlack, tmp_path: Path, estate: Any
) -> None:
    with running(fake_slack, tmp_path, estate, approval_self_high_risk=False, approval_ttl_minutes=0.03) as b:
        t = post_plan(b, flagship_plan(rollback_step()))
        click(b, t, "plan_approve", ALICE)
        assert wait_for(lambda: said(b, t, "needs another approver"), HANG)
        assert wait_for(lambda: status(b, t) == ActionStatus.EXPIRED.value, 15.0), status(b, t)
        assert wait_for(lambda: step_closed(b, t, "expired"), HANG)
        assert verbs(b, t) == ["request", "refuse-self-approval", "expire"]
        assert ecs_td(b.aws) == "pricing:2"


def test_a_restart_while_waiting_for_approval(fake_slack: FakeSlack, tmp_path: Path, estate: Any) -> None:
    with running(fake_slack, tmp_path, estate, approval_self_high_risk=False) as b:
        t = post_plan(b, flagship_plan(rollback_step()))
        click(b, t, "plan_approve", ALICE)
        assert wait_for(lambda: said(b, t, "needs another approver"), HANG)
    with running(fake_slack, tmp_path, estate, approval_self_high_risk=False) as b:  # same database, executor
        click(b, t, "plan_approve", BOB)
        assert wait_for(lambda: status(b, t) == ActionStatus.SUCCEEDED.value, HANG), status(b, t)
        assert verbs(b, t) == [
            "request",
            "refuse-self-approval",
            "approve",
            "pre-validate",
            "apply",
            "post-validate",
        ]


def test_a_failed_post_validation_rolls_back_by_itself(box: Box) -> None:
    name = "/pricing/log_level"
    ssm = box.aws.client("ssm")
    old = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    wrong = PlanStep(
        phase=Phase.APPLY,
        description="Turn pricing's logging up",
        action=Action.SSM_PUT_PARAMETER,
        params={"name": name, "value": "TRACE"},
        mutating=True,
    )
    plan = flagship_plan(wrong).model_copy(
        update={"steps": flagship_plan(wrong).steps[:4]}  # no rollback step: the value read first is restored
    )
    t = post_plan(box, plan)
    click(box, t, "plan_approve")
    assert wait_for(lambda: status(box, t) == ActionStatus.ROLLED_BACK.value, HANG), status(box, t)
    assert wait_for(lambda: said(box, t, "by myself"), HANG)
    assert said(box, t, "not recovered") and said(box, t, "rolled back: `ssm:PutParameter")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == old
    assert verbs(box, t)[-2:] == ["post-validate", "rollback"]


def test_pre_validation_stops_when_the_world_changed(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    box.aws.client("ecs").update_service(
        cluster=CLUSTER, service="pricing", taskDefinition="pricing:1"
    )  # someone
    click(box, t, "plan_approve")
    assert wait_for(lambda: status(box, t) == ActionStatus.STOPPED.value, 15.0), status(box, t)
    assert wait_for(lambda: said(box, t, "Nothing was changed"), HANG)
    assert said(box, t, "already in place")


def test_a_step_outside_the_catalogue_is_refused_with_manual_steps(box: Box) -> None:
    failover = PlanStep(
        phase=Phase.APPLY,
        description="Fail pricing's cache over to its replica",
        mutating=True,
        action=Action.AWS_REVERT_CHANGE,
        params={"resource": "cache", "change": "ModifyCacheCluster"},
    )
    t = post_plan(box, flagship_plan(failover))
    click(box, t, "plan_approve")
    assert wait_for(lambda: said(box, t, "not in the bot's action catalogue"), HANG)
    assert said(box, t, "Fail pricing's cache over to its replica")
    assert box.store.actions(t.investigation_id) == []
    assert verbs(box, t) == ["refuse-outside-catalogue"]


def test_button_values_do_not_choose_parameters(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    forged = encode_value(
        action="ecs.update_service",
        step=2,
        investigation=str(t.investigation_id),
        task_definition="pricing:9",
    )
    t.buttons["plan_approve"]["value"] = forged
    click(box, t, "plan_approve")
    assert wait_for(lambda: status(box, t) == ActionStatus.SUCCEEDED.value, HANG)
    assert ecs_td(box.aws) == "pricing:1"  # from the stored plan, whatever the button said


def test_a_button_of_a_superseded_plan_is_refused(box: Box) -> None:
    t = post_plan(box, flagship_plan(rollback_step()))
    restart = PlanStep(
        phase=Phase.APPLY,
        description="Restart pricing",
        action=Action.ECS_FORCE_NEW_DEPLOYMENT,
        params={"cluster": CLUSTER, "service": "pricing"},
        mutating=True,
    )
    newer = Report(page_title="v2", impact="pricing", root_cause=None, plan=flagship_plan(restart), version=2)
    box.store.save_report(t.investigation_id, 2, newer.model_dump(mode="json"))  # steering changed the plan
    click(box, t, "plan_approve")
    assert wait_for(lambda: any("The plan changed" in x for x in ephemeral_to(box, ALICE)), HANG)
    assert box.store.actions(t.investigation_id) == [] and verbs(box, t) == ["refuse-stale-plan"]
