"""Block Kit rendering stays inside Slack's limits, splits long reports, and never lets untrusted text ping or link.

Also: the signal chart is a small valid PNG, and the app manifest asks for what the bot needs.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import (
    Action,
    Category,
    Change,
    ChangeSource,
    ChangeVia,
    Evidence,
    EvidenceKind,
    Gap,
    Hypothesis,
    Mitigation,
    Page,
    PageSource,
    Phase,
    Plan,
    PlanStep,
    Report,
    RuledOut,
    SignalKey,
    TimelineEntry,
)
from bot.slack.blocks import (
    APPROVE_ACTION,
    FEEDBACK_CALLBACK,
    FEEDBACK_DOWN_ACTION,
    FEEDBACK_UP_ACTION,
    MAX_BLOCKS,
    REJECT_ACTION,
    LinkBuilder,
    decode_value,
    feedback_modal,
    finding_blocks,
    report_messages,
    status_text,
)
from bot.slack.chart import signal_chart

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
LINKS = LinkBuilder(region="us-east-1")
EVIL = "<!channel> <@U0BOSS> <http://evil.example|click me> @here key AKIAIOSFODNN7EXAMPLE"


# -- a limits checker --------------------------------------------------------------------------------------------


def _texts(obj: Any, kind: str = "mrkdwn") -> Iterable[tuple[str, str]]:
    """(text type, text) for every text object under `obj`; bare strings count as mrkdwn (fallbacks, context)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "text" and isinstance(value, str):
                yield obj.get("type", kind) if obj.get("type") in ("plain_text", "mrkdwn") else kind, value
            else:
                yield from _texts(value, kind)
    elif isinstance(obj, list):
        for item in obj:
            yield from _texts(item, kind)


def _all_text(obj: Any) -> str:
    return "\n".join(t for _, t in _texts(obj))


def check_limits(blocks: list[dict[str, Any]]) -> None:
    """Assert Block Kit's documented limits and our safety rules on one message's blocks."""
    assert 0 < len(blocks) <= MAX_BLOCKS
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block_id must be unique in a message"
    for b in blocks:
        assert len(b.get("block_id", "")) <= 255
        if b["type"] == "section":
            if "text" in b:
                assert 1 <= len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        elif b["type"] == "header":
            assert b["text"]["type"] == "plain_text" and 1 <= len(b["text"]["text"]) <= 150
        elif b["type"] == "context":
            assert 1 <= len(b["elements"]) <= 10
            assert all(len(e["text"]) <= 2000 for e in b["elements"])
        elif b["type"] == "actions":
            assert 1 <= len(b["elements"]) <= 25
            ids = [e["action_id"] for e in b["elements"]]
            assert len(ids) == len(set(ids))
            for e in b["elements"]:
                assert e["text"]["type"] == "plain_text" and len(e["text"]["text"]) <= 75
                assert len(e.get("value", "")) <= 2000 and len(e["action_id"]) <= 255
        else:
            pytest.fail(f"unexpected block type {b['type']}")
    for kind, text in _texts(blocks):
        assert "<!" not in text and "<@" not in text and "<#" not in text
        assert "AKIAIOSFODNN7EXAMPLE" not in text
        assert not re.search(r"(?i)@(channel|here|everyone)\b", text)
        if kind == "mrkdwn":  # every < opens one of our links (plain_text is never parsed for links)
            for m in re.finditer(r"<", text):
                assert text.startswith(("<http://", "<https://"), m.start()), text[m.start() : m.start() + 40]


def check_message(fallback: str, blocks: list[dict[str, Any]]) -> None:
    assert fallback and len(fallback) <= 3000
    assert "<!" not in fallback and "AKIA" not in fallback
    check_limits(blocks)


# -- a report built by hand --------------------------------------------------------------------------------------


def _change(**fields: Any) -> Change:
    base: dict[str, Any] = {"id": "c1", "at": T0, "via": ChangeVia.API, "summary": "a change"}
    return Change(**{**base, **fields})


#: One finding of each shape a link is built from (or none is).
_FACTS: list[tuple[EvidenceKind, dict[str, Any]]] = [
    (EvidenceKind.METRIC, {"signal": SignalKey(service="orders-db", signal="error_rate"), "score": 9.5}),
    (
        EvidenceKind.CHANGE,
        {"change": _change(source=ChangeSource.GITHUB, repo="acme/checkout-api", commit="a1b2c3d4e5f6")},
    ),
    (EvidenceKind.LOG, {"log_group": "/ecs/checkout-api", "exception": "java.net.SocketTimeoutException"}),
    (
        EvidenceKind.CHANGE,
        {"change": _change(source=ChangeSource.CLOUDTRAIL, source_id="3f1c2a9e-0000-4bb5-9d0a-7b1e2c3d4e5f")},
    ),
    (EvidenceKind.STATUS, {}),
    (
        EvidenceKind.CHANGE,
        {"change": _change(source=ChangeSource.AUTOSCALING, resource="orders-workers-asg")},
    ),
    (
        EvidenceKind.CHANGE,
        {"change": _change(source=ChangeSource.GITHUB, repo="acme/checkout-api", source_id="987654321")},
    ),
    (EvidenceKind.TRACE, {}),
    (EvidenceKind.NOTE, {}),
]


def _evidence(n: int) -> list[Evidence]:
    out = []
    for i in range(n):
        kind, facts = _FACTS[i % len(_FACTS)]
        out.append(
            Evidence(
                kind=kind,
                service="checkout-api" if i % 2 else "orders-db",
                summary=f"finding {i}: 5xx rose from 0.1% to 12% after deploy; connection pool exhausted "
                * (1 + i % 3),
                at=T0 + timedelta(seconds=30 * i),
                source=[
                    "cloudwatch",
                    "github",
                    "logs",
                    "cloudtrail",
                    "ecs",
                    "autoscaling",
                    "actions",
                    "xray",
                    "note",
                ][i % 9],
                **facts,
            )
        )
    return out


def _report(n_evidence: int = 6) -> Report:
    rc = Hypothesis(
        service="checkout-api",
        category=Category.BAD_DEPLOYMENT,
        confidence=0.82,
        summary="Deploy a1b2c3d shrank the DB connection pool from 50 to 5; requests time out waiting for a connection.",
        change_id="deploy-checkout-api-a1b2c3d",
        evidence=("e1", "e2"),
    )
    plan = Plan(
        mitigation=Mitigation.ROLLBACK,
        summary="Roll checkout-api back to the previous task definition.",
        steps=(
            PlanStep(phase=Phase.PREPARE, description="Note the current task definition revision"),
            PlanStep(
                phase=Phase.PRE_VALIDATE,
                description="Previous revision :41 is healthy in staging",
                action=Action.DESCRIBE_TASK_DEFINITION,
                params={"revision": "41"},
            ),
            PlanStep(
                phase=Phase.APPLY,
                description="Roll back checkout-api to task definition :41",
                action=Action.ECS_UPDATE_SERVICE,
                params={"cluster": "prod", "service": "checkout-api", "revision": "41"},
                mutating=True,
            ),
            PlanStep(phase=Phase.APPLY, description="Tell #checkout the rollback is under way"),
            PlanStep(
                phase=Phase.POST_VALIDATE,
                description="5xx rate under 1% for 10 minutes",
                action=Action.WAIT_ALARM_OK,
            ),
            PlanStep(
                phase=Phase.ROLLBACK,
                description="Roll forward to :42 again",
                action=Action.ECS_UPDATE_SERVICE,
                params={"revision": "42"},
                mutating=True,
            ),
        ),
        long_term_fix="Validate pool size in CI; alarm on pool saturation, not only on 5xx.",
    )
    return Report(
        page_title="checkout-api-5xx-high",
        impact="12% of checkout requests failed for 18 minutes (about 2,300 orders).",
        root_cause=rc,
        hypotheses=(
            rc,
            Hypothesis(
                service="orders-db",
                category=Category.RESOURCE_EXHAUSTION,
                confidence=0.11,
                summary="orders-db CPU at 70%",
            ),
        ),
        evidence=tuple(_evidence(n_evidence)),
        timeline=(
            TimelineEntry(at=T0 + timedelta(minutes=2), text="5xx alarm fired"),
            TimelineEntry(at=T0 - timedelta(minutes=2), text="deploy a1b2c3d finished"),
        ),
        ruled_out=(
            RuledOut(
                subject="orders-db",
                reason="CPU rose after the onset, not before",
                signal=SignalKey(service="orders-db", signal="cpu"),
            ),
        ),
        gaps=(Gap(source="X-Ray", reason="AccessDenied on GetServiceGraph"),),
        plan=plan,
        version=2,
    )


def _all_blocks(messages: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    return [b for _, blocks in messages for b in blocks]


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_report_fits_one_message_with_every_part() -> None:
    messages = report_messages(_report(), LINKS, investigation_id="inv-42")
    assert len(messages) == 1
    fallback, blocks = messages[0]
    check_message(fallback, blocks)
    assert "82%" in fallback
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Report: checkout-api-5xx-high", "emoji": True},
    }
    text = _all_text(blocks)
    for part in ("*Impact*", "*Root cause* · 82% confidence", "*Other hypotheses*", "*Evidence* (6)", "*Timeline* (UTC)",
                 "*Ruled out*", "*Could not check*", "X-Ray: AccessDenied", "*Long-term fix*", "Mitigation plan: rollback"):  # fmt: skip
        assert part in text, part
    # the timeline is in time order
    assert text.index("deploy a1b2c3d finished") < text.index("5xx alarm fired")
    # phases in order
    positions = [
        text.index(p)
        for p in ("1. Prepare", "2. Pre-validate", "3. Apply", "4. Post-validate", "5. Rollback")
    ]
    assert positions == sorted(positions)


def test_evidence_links_point_at_console_and_github() -> None:
    _, blocks = report_messages(_report(9), LINKS)[0]
    text = _all_text(blocks)
    assert "<https://github.com/acme/checkout-api/commit/a1b2c3d4e5f6|github>" in text
    assert "<https://github.com/acme/checkout-api/actions/runs/987654321|actions>" in text
    assert (
        "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/3f1c2a9e-"
        in text
    )
    assert "#logsV2:logs-insights$3FqueryDetail$3D~(" in text and "*2fecs*2fcheckout-api" in text
    assert "java.net.SocketTimeoutException*2f" in text  # the query filters on the log's exception
    assert "#AutoScalingGroupDetails:id=orders-workers-asg;view=activity" in text
    # a metric, a status page, a trace and a note carry nothing to link to: their source is plain text
    assert "· `14:00:00` · cloudwatch" in text and "· ecs" in text


def test_approve_buttons_only_on_executable_mutating_steps() -> None:
    blocks = _all_blocks(report_messages(_report(), LINKS, investigation_id="inv-42"))
    approve = [b for b in _buttons(blocks) if b["action_id"] == APPROVE_ACTION]
    reject = [b for b in _buttons(blocks) if b["action_id"] == REJECT_ACTION]
    assert len(approve) == len(reject) == 1  # not the read-only checks, not the rollback step
    assert decode_value(approve[0]["value"]) == {
        "action": "ecs.update_service",
        "step": 2,
        "investigation": "inv-42",
    }
    assert approve[0]["style"] == "primary" and reject[0]["style"] == "danger"
    assert approve[0]["confirm"]["confirm"]["text"] == "Run it"


def test_feedback_buttons_close_the_report() -> None:
    messages = report_messages(_report(200), LINKS, investigation_id="inv-42")
    last = messages[-1][1]
    ids = [e["action_id"] for e in last[-1]["elements"]]
    assert ids == [FEEDBACK_UP_ACTION, FEEDBACK_DOWN_ACTION]
    assert decode_value(last[-1]["elements"][0]["value"]) == {"investigation": "inv-42", "version": 2}


def test_long_report_splits_into_messages_within_limits() -> None:
    report = _report(200)
    messages = report_messages(report, LINKS)
    assert len(messages) > 1
    for fallback, blocks in messages:
        check_message(fallback, blocks)
    assert "continued, part 2 of" in messages[1][0]
    text = _all_text(_all_blocks(messages))
    for i in range(200):
        assert f"finding {i}:" in text  # nothing dropped
    assert text.count("Approve") == 1
    # the step and its buttons stay in the same message
    for _, blocks in messages:
        for i, b in enumerate(blocks):
            if b["type"] == "actions" and b.get("block_id", "").startswith("plan_step:"):
                assert ":arrow_forward:" in blocks[i - 1]["text"]["text"]


def test_report_without_root_cause_or_plan() -> None:
    report = Report(
        page_title="mystery", impact="", root_cause=None, gaps=(Gap(source="CloudTrail", reason="throttled"),)
    )
    messages = report_messages(report, LINKS)
    assert len(messages) == 1
    fallback, blocks = messages[0]
    check_message(fallback, blocks)
    assert "root cause not established" in fallback
    assert not [b for b in _buttons(blocks) if b["action_id"] == APPROVE_ACTION]


def test_untrusted_text_is_neutralised_everywhere() -> None:
    evil_ev = Evidence(
        kind=EvidenceKind.LOG, service=EVIL, summary=EVIL, source=EVIL, link="javascript:alert(1)"
    )
    rc = Hypothesis(
        service=EVIL, category=Category.CONFIG_CHANGE, confidence=1.5, summary=EVIL, change_id="`x` " + EVIL
    )
    report = Report(
        page_title=EVIL * 5,
        impact=EVIL,
        root_cause=rc,
        evidence=(evil_ev,),
        timeline=(TimelineEntry(at=T0, text=EVIL),),
        ruled_out=(RuledOut(subject=EVIL, reason=EVIL, change_id=EVIL),),
        gaps=(Gap(source=EVIL, reason=EVIL),),
        plan=Plan(
            mitigation=Mitigation.REVERT_CONFIG,
            summary=EVIL,
            steps=(
                PlanStep(
                    phase=Phase.APPLY,
                    description=EVIL,
                    action=Action.SSM_PUT_PARAMETER,
                    params={"k": EVIL},
                    mutating=True,
                ),
            ),
            long_term_fix=EVIL,
        ),
    )
    for fallback, blocks in report_messages(report, LINKS):
        check_message(fallback, blocks)
        assert "javascript:" not in str(blocks)
    assert "100%" in report_messages(report, LINKS)[0][0]  # confidence is clamped


_EVIL_TEXT = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["<!here>", "<@U1>", "<http://x|y>", "@channel", "&", "`", "|", ">"]),
    ),
    max_size=20,
).map("".join)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(list(EvidenceKind)), _EVIL_TEXT, _EVIL_TEXT), max_size=80), _EVIL_TEXT
)
def test_any_report_renders_within_limits(items: list[tuple[EvidenceKind, str, str]], title: str) -> None:
    evidence = tuple(Evidence(kind=k, service=s or None, summary=t, source=s) for k, s, t in items)
    report = Report(page_title=title, impact=title, root_cause=None, evidence=evidence)
    for fallback, blocks in report_messages(report, LINKS):
        check_message(fallback, blocks)
    if evidence:
        check_limits(finding_blocks(list(evidence), LINKS))


# -- findings ----------------------------------------------------------------------------------------------------


def test_finding_blocks_are_compact_and_grouped() -> None:
    findings = _evidence(6)
    blocks = finding_blocks(findings, LINKS)
    check_limits(blocks)
    text = _all_text(blocks)
    assert text.count("\n") + 1 == 6  # one line per finding
    assert (
        ":chart_with_upwards_trend:" in text and ":twisted_rightwards_arrows:" in text and ":scroll:" in text
    )
    # grouped by kind: both CHANGE findings are adjacent
    lines = text.splitlines()
    change_rows = [i for i, line in enumerate(lines) if line.startswith(":twisted_rightwards_arrows:")]
    assert change_rows == list(range(change_rows[0], change_rows[0] + len(change_rows)))
    assert "`14:00:30`" in text


def test_finding_blocks_overflow_is_summarised() -> None:
    blocks = finding_blocks(_evidence(2000), LINKS)
    check_limits(blocks)
    assert blocks[-1]["type"] == "context" and "more findings" in blocks[-1]["elements"][0]["text"]


def test_no_findings_no_blocks() -> None:
    assert finding_blocks([]) == []


# -- links -------------------------------------------------------------------------------------------------------


def test_link_builder_escapes_names() -> None:
    links = LinkBuilder(region="eu-west-1", github_base="https://github.example.com/")
    assert links.alarm("payments errors (prod)") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/payments%20errors%20%28prod%29"
    )
    assert links.commit("acme/api", "abc") == "https://github.example.com/acme/api/commit/abc"
    assert links.cloudtrail_history("sg-123").endswith("#/events?ResourceName=sg-123")
    assert (
        LinkBuilder(region="cn-north-1", console_base="https://console.amazonaws.cn")
        .asg("a")
        .startswith("https://console.amazonaws.cn/ec2/")
    )


# -- status line and modal ---------------------------------------------------------------------------------------

PAGE = Page(
    source=PageSource.PAGERDUTY,
    title='ALARM: "checkout-api-5xx-high" <!channel>',
    fired_at=T0,
    incident_number="1234",
    service_hint="checkout-api",
    region="us-east-1",
    links=["https://acme.pagerduty.com/incidents/Q1CHK5XX"],
)


@pytest.mark.parametrize(
    ("state", "badge"),
    [
        ("investigating", ":mag: *Investigating*"),
        ("root cause found", ":dart: *Root cause found*"),
        ("root_cause_found", ":dart: *Root cause found*"),
        ("mitigation proposed", ":hammer_and_wrench: *Mitigation proposed*"),
        ("resolved", ":white_check_mark: *Resolved*"),
        ("something <!here>", ":information_source: *something &lt;!here&gt;*"),
    ],
)
def test_status_text(state: str, badge: str) -> None:
    text = status_text(state, PAGE, None)
    assert text.startswith(badge)
    assert (
        '<https://acme.pagerduty.com/incidents/Q1CHK5XX|[#1234] ALARM: "checkout-api-5xx-high" &lt;!channel&gt;>'
        in text
    )
    assert "checkout-api · us-east-1" in text
    assert "<!" not in text


def test_status_text_with_root_cause() -> None:
    text = status_text("root_cause_found", PAGE, "pool shrunk by deploy a1b2c3d <@U1>")
    assert text.endswith("\n> pool shrunk by deploy a1b2c3d &lt;@U1&gt;")


def test_feedback_modal() -> None:
    modal = feedback_modal("inv-42")
    assert modal["type"] == "modal" and modal["callback_id"] == FEEDBACK_CALLBACK
    assert modal["private_metadata"] == "inv-42"
    assert len(modal["title"]["text"]) <= 24
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    assert inputs and inputs[0]["element"]["type"] == "plain_text_input"


# -- chart -------------------------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _points() -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=i), 1.0 + (30.0 if i >= 62 else 0.0)) for i in range(90)]


def test_signal_chart_is_a_small_deterministic_png() -> None:
    png = signal_chart(
        _points(),
        T0 + timedelta(minutes=62),
        T0 + timedelta(minutes=58),
        "deploy a1b2c3d $x$",
        "checkout 5xx",
    )
    width, height = _png_size(png)
    assert (width, height) == (720, 300)
    assert 5_000 < len(png) < 200_000
    assert png == signal_chart(
        _points(),
        T0 + timedelta(minutes=62),
        T0 + timedelta(minutes=58),
        "deploy a1b2c3d $x$",
        "checkout 5xx",
    )


def test_signal_chart_draws_the_alarm_threshold() -> None:
    plain = signal_chart(_points(), None, None, None, "checkout-5xx-high")
    with_threshold = signal_chart(_points(), None, None, None, "checkout-5xx-high", threshold=15.0)
    assert _png_size(with_threshold) == (720, 300) and with_threshold != plain


def test_signal_chart_without_data_or_marks() -> None:
    assert _png_size(signal_chart([], None, None, None, "nothing yet")) == (720, 300)
    naive = [(datetime(2026, 3, 2, 14, i), float(i)) for i in range(10)]
    assert _png_size(signal_chart(naive, datetime(2026, 3, 2, 14, 5), None, None, "naive times")) == (
        720,
        300,
    )


# -- manifest ----------------------------------------------------------------------------------------------------


def test_manifest_asks_for_what_the_bot_needs() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[1] / "bot" / "slack" / "manifest.yaml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {
        "chat:write", "chat:write.public", "channels:history", "channels:read", "channels:join", "groups:history",
        "groups:read", "app_mentions:read", "reactions:write", "files:write", "commands", "users:read", "im:history",
    }  # fmt: skip
    settings_ = manifest["settings"]
    assert set(settings_["event_subscriptions"]["bot_events"]) == {
        "message.channels", "message.groups", "app_mention", "channel_created", "member_joined_channel", "app_home_opened",
    }  # fmt: skip
    assert settings_["interactivity"]["is_enabled"] is True
    assert settings_["event_subscriptions"]["request_url"] == "https://YOUR-HOST/slack/events"
    assert settings_["interactivity"]["request_url"] == "https://YOUR-HOST/slack/events"
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/sre"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
