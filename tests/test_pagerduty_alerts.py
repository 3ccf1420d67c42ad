"""PagerDuty incidents from its CloudWatch integration: titles in every form, and the first alert's body read through
the REST API (a stand-in on loopback, reached through PAGERDUTY_API_URL) when the webhook's title is not enough."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.sandbox.fake_pagerduty import FakePagerDuty, cloudwatch_alert_body, events_v2_alert_body
from bot.sandbox.fake_slack import wait_for
from bot.sandbox.pages import AlarmNotice, PdIncident, pagerduty_webhook
from bot.sandbox.signing import pagerduty_signature
from bot.slack.parsers import cloudwatch_title, read_pagerduty_webhook
from tests import test_slack_intake
from tests.test_slack_app import PD_SECRET, Stack

TOKEN = "pd-readonly-u+abc123"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(
    ("title", "name", "region"),
    [
        ('ALARM: "orders-p99-high" in US East (N. Virginia)', "orders-p99-high", "us-east-1"),
        ("ALARM: orders-p99-high in EU (Ireland)", "orders-p99-high", "eu-west-1"),
        ("ALARM: orders-p99-high in Europe (Ireland)", "orders-p99-high", "eu-west-1"),
        ("ALARM: latency in checkout in US West (Or...", "latency in checkout", "us-west-2"),
        ('ALARM: "orders-p99-high" in Asia Pacific (Tok…', "orders-p99-high", "ap-northeast-1"),
        ("OK: orders-p99-high", "orders-p99-high", None),
        ('[#42] ALARM: "db cpu" in us-east-2', "db cpu", "us-east-2"),
    ],
)
def test_cloudwatch_integration_titles_in_every_form(title: str, name: str, region: str | None) -> None:
    read = cloudwatch_title(title)
    assert read is not None and (read.name, read.region) == (name, region)


def test_a_title_cut_inside_the_name_gives_no_name_but_its_prefix() -> None:
    for title in ('ALARM: "checkout-queue-age-very-lo...', "ALARM: checkout-queue-age-very-lo..."):
        read = cloudwatch_title(title)
        assert read is not None and read.name is None and read.prefix == "checkout-queue-age-very-lo"
    assert cloudwatch_title("Disk full on db-1 (ALARM)") is None


def test_the_webhook_parser_reads_an_unquoted_title() -> None:
    incident = PdIncident(
        number=5, title="ALARM: orders-p99-high in EU (Ireland)", service_name="x", created_at=NOW
    )
    body, _ = pagerduty_webhook(incident, PD_SECRET)
    parsed = read_pagerduty_webhook(body)
    assert parsed is not None and (parsed.page.alarm_name, parsed.page.region) == (
        "orders-p99-high",
        "eu-west-1",
    )


# -- over HTTP, with the REST stand-in ---------------------------------------------------------------------------


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty(TOKEN) as server:
        yield server


@pytest.fixture(autouse=True)
def _pagerduty_api(pd: FakePagerDuty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    monkeypatch.setenv("PAGERDUTY_API_URL", pd.base_url)


#: The Slack surface on loopback (the PagerDuty API settings are set first, above).
s = test_slack_intake.s


def test_a_cut_title_is_completed_from_the_first_alert_body(s: Stack, pd: FakePagerDuty) -> None:
    notice = AlarmNotice(
        alarm_name="checkout-queue-age-very-long-name",
        metric_name="ApproximateAgeOfOldestMessage",
        namespace="AWS/SQS",
        dimensions=[("QueueName", "checkout-jobs")],
        state_change_time=NOW,
        region="eu-west-1",
        threshold=600,
        value=1840,
    )
    incident = PdIncident(
        number=81, title='ALARM: "checkout-queue-age-very-lo...', service_name="shop", created_at=NOW
    )
    pd.add_alert(incident.incident_id, cloudwatch_alert_body(notice.message()), summary=incident.title)
    body, headers = pagerduty_webhook(incident, PD_SECRET)
    status, answer = s.post("/webhooks/pagerduty", body, headers)
    assert status == 202 and json.loads(answer)["status"] == "accepted"
    page = s.investigations.opened[0]
    assert page.alarm_name == "checkout-queue-age-very-long-name" and page.region == "eu-west-1"
    assert (page.namespace, page.metric, page.dimensions) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        {"QueueName": "checkout-jobs"},
    )
    assert page.incident_number == "81" and page.title == incident.title
    asked = [r for r in pd.requests if r.path.endswith("/alerts")]
    assert len(asked) == 1 and asked[0].header("authorization") == f"Token token={TOKEN}"


def test_another_monitors_alert_or_a_refused_api_leaves_the_incident_as_it_came(
    s: Stack, pd: FakePagerDuty
) -> None:
    first = PdIncident(
        number=82, title="Disk almost full on reports-db", service_name="reports", created_at=NOW
    )
    pd.add_alert(first.incident_id, events_v2_alert_body("Disk almost full", "reports-db-1", {"disk": "93%"}))
    body, headers = pagerduty_webhook(first, PD_SECRET)
    assert s.post("/webhooks/pagerduty", body, headers)[0] == 202
    pd.token = "rotated"  # our key no longer works: 401 from the API, the page is still taken
    second = PdIncident(number=83, title="ALARM: web-5xx in EU (Ireland)", service_name="web", created_at=NOW)
    body, headers = pagerduty_webhook(second, PD_SECRET)
    assert s.post("/webhooks/pagerduty", body, headers)[0] == 202
    pages = s.investigations.opened
    assert [p.alarm_name for p in pages] == [None, "web-5xx"] and pages[0].service_hint == "reports"
    assert pages[0].dimensions == {"source": "reports-db-1", "disk": "93%"}  # the alert's source and details
    assert pages[1].region == "eu-west-1" and pages[1].metric is None
    assert len([r for r in pd.requests if r.path.endswith("/alerts")]) == 2


def test_an_incident_event_that_names_no_incident_is_posted_as_unreadable(s: Stack) -> None:
    raw = {
        "event": {"id": "01EVTNOINCIDENT", "event_type": "incident.triggered", "data": {"type": "incident"}}
    }
    body = json.dumps(raw).encode()
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": pagerduty_signature(PD_SECRET, body),
    }
    status, answer = s.post("/webhooks/pagerduty", body, headers)
    assert status == 202 and json.loads(answer) == {"status": "unreadable", "posted": True}

    def warned() -> list[str]:
        return [
            str(m["text"])
            for m in s.fake.messages("incidents")
            if str(m.get("text", "")).startswith(":warning:")
        ]

    assert wait_for(lambda: len(warned()) == 1, 5.0)
    assert "01EVTNOINCIDENT" in warned()[0] and s.investigations.opened == []
    counts = s.surface.intake.refusals.snapshot()  # type: ignore[union-attr]
    assert counts == {"pagerduty unreadable: an incident event that names no incident": 1}
