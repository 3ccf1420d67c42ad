"""`sre-bot demo`: the whole bot, offline, through the fake Slack.

Boots the scenario's simulated estate (AWS and GitHub stand-ins), the fake Slack Web API, and the real Bolt
app over HTTP on 127.0.0.1 with the real durable investigation runtime (DBOS) on a temporary SQLite. The
page is put into the incident channel as AWS Chatbot (CloudWatch pages) or the PagerDuty app (PagerDuty
pages) would post it, then delivered to the app as a signed Events API callback. The thread is printed as it
grows; with ``as_json`` nothing is printed and every Web API call the bot made is returned instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import PageSource
from bot.sandbox.fake_anthropic import FakeAnthropic
from bot.sandbox.fake_slack import Call, FakeSlack
from bot.sandbox.pages import AlarmNotice, PdIncident, chatbot_alarm_message, pagerduty_app_message
from bot.sandbox.runner import Sandbox, sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario
from bot.sandbox.scripted_model import echo_model
from bot.sandbox.signing import SlackEventSender
from bot.slack.blocks import APPROVE_ACTION
from bot.slack.server import HttpServer, build_surface, wsgi_app
from bot.sources.aws.telemetry import Telemetry

FLAGSHIP = "flagship-cache-deploy"
SIGNING_SECRET = "demo-signing-secret"
#: How long the demo waits for the report, and then for the chart and the last findings.
REPORT_TIMEOUT_S = 45.0
AFTER_REPORT_S = 6.0
#: How the model pass's reply begins (a second opinion, or why there is none).
_MODEL_REPLIES = ("*Second opinion", "Model pass unavailable")
#: Who approves the fix in the demo, and how long the demo follows it.
ONCALL, LEAD = "U0DEMOONCALL", "U0DEMOLEAD"
ACTION_TIMEOUT_S = 90.0
#: The lines that end an action's story in the thread.
_ACTION_ENDS = (
    ":tada:",
    ":leftwards_arrow_with_hook:",
    "Nothing was changed",
    ":rotating_light:",
    ":x: *apply*",
    "I will not run this",
)
_SHOWN = ("chat.postMessage", "chat.update", "files.completeUploadExternal", "conversations.join")


def page_event(box: Sandbox, channel: str) -> dict[str, Any]:
    """The Slack message that announces the scenario's page, as its source's app posts it."""
    page = box.page
    if page.source is PageSource.CLOUDWATCH and page.alarm_name:
        alarm = Telemetry(box.deps().aws).alarm(page.alarm_name).data
        notice = AlarmNotice(
            alarm_name=page.alarm_name,
            metric_name=(alarm.metric if alarm else None) or "metric",
            namespace=(alarm.namespace if alarm else None) or "AWS",
            dimensions=tuple(sorted((alarm.dimensions if alarm else {}).items())),
            state_change_time=page.fired_at,
            region=box.aws.region,
            account_id=box.aws.account_id,
            threshold=(alarm.threshold if alarm and alarm.threshold is not None else 0.0),
            new_state_reason=alarm.reason if alarm and alarm.reason else "",
        )
        return chatbot_alarm_message(notice, channel, f"{time.time():.6f}")
    incident = PdIncident(
        number=int(page.incident_number or 1000),
        title=page.title,
        service_name=page.service_hint or "unknown",
        created_at=page.fired_at,
    )
    return pagerduty_app_message(incident, channel, f"{time.time():.6f}")


def _call_json(c: Call, t0: float) -> dict[str, Any]:
    p, r = c.params, c.response
    return {
        "method": c.method,
        "channel": p.get("channel") or p.get("channel_id") or r.get("channel"),
        "thread_ts": p.get("thread_ts"),
        "ts": r.get("ts") or p.get("ts"),
        "text": p.get("text") or p.get("initial_comment"),
        "blocks": p.get("blocks"),
        "at": round(c.at - t0, 3),
    }


def _line(c: Call, t0: float, status_ts: set[str]) -> str | None:
    if c.method not in _SHOWN or not c.ok:
        return None
    p = c.params
    if c.method == "files.completeUploadExternal":
        files = ", ".join(str(f.get("title") or "file") for f in p.get("files") or [])
        what, text = "thread", f"[uploaded {files}] {p.get('initial_comment') or ''}"
    elif c.method == "conversations.join":
        what, text = "channel", f"[joined {p.get('channel')}]"
    elif c.method == "chat.update":
        text = str(p.get("text") or "")
        what = "report, edited" if text.startswith("Report:") else "status, edited"
    else:
        what = "thread" if p.get("thread_ts") else "channel"
        if not p.get("thread_ts") and c.response.get("ts"):
            status_ts.add(str(c.response["ts"]))
        text = str(p.get("text") or "")
    room = 1500 if text.startswith(_MODEL_REPLIES) else 400
    body = text if len(text) < room else text[: room - 3] + "..."
    indent = "\n" + " " * 30
    return f"+{c.at - t0:6.1f}s  sre-bot ({what:>14}) " + body.replace("\n", indent)


@contextlib.contextmanager
def _quiet(as_json: bool) -> Iterator[None]:
    """Keep stdout for the transcript (or the one JSON object); libraries' chatter goes to stderr or nowhere."""
    logging.getLogger().setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if as_json:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        else:
            yield


def run_demo(scenario_ref: str | None, as_json: bool) -> dict[str, Any] | None:
    """Run one scenario's page through the real Slack app and the fake Slack; see the module docstring."""
    sc = load_scenario(resolve_scenario(scenario_ref or FLAGSHIP))
    out = sys.stdout
    with (
        _quiet(as_json),
        sandbox(sc) as box,
        FakeSlack() as fake,
        FakeAnthropic() as model,
        tempfile.TemporaryDirectory() as tmp,
    ):
        model.responder = echo_model  # a scripted model pass after the report (no real model, no key)
        settings = Settings(
            anthropic_api_key="sandbox-key",
            anthropic_base_url=model.base_url,
            database_url=f"sqlite:///{Path(tmp) / 'bot.sqlite'}",
            slack_bot_token="xoxb-demo-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake.api_url,
            page_channel="#incidents",
            aws_region=box.aws.region,
            executor_id="demo",
            approvers=[ONCALL, LEAD],
            mitigation_recovery_minutes=1.0,
            mitigation_poll_seconds=1.0,
        )
        channel = fake.add_channel(sc.channel)
        fake.add_channel("incidents")
        deps = box.deps()
        surface = build_surface(settings, deps=deps, flush_interval=2.0)
        server = HttpServer(wsgi_app(surface.app, surface.intake)).start()
        try:
            event = page_event(box, channel)
            fake.add_message(channel, event)
            if not as_json:
                print(f"scenario {sc.id}: page in #{sc.channel} from {box.page.source.value}", file=out)
                print(f"+{0.0:6.1f}s  {'page':>24} {box.page.title}", file=out)
            with SlackEventSender(
                server.url + "/slack/events", SIGNING_SECRET, bot_user_id=fake.bot_user_id
            ) as s:
                t0 = time.monotonic()
                s.event(event)
                shown = _follow(fake, t0, None if as_json else out)
                _approve(fake, s, channel, t0, None if as_json else out, shown)
        finally:
            server.stop()
            surface.settle()
            surface.close()
        calls = [_call_json(c, t0) for c in list(fake.calls)]
    return {"calls": calls} if as_json else None


def _follow(fake: FakeSlack, t0: float, out: Any) -> int:
    """Print the thread as it grows until the report (and then its chart) is in, or time runs out; returns how
    many Web API calls it has gone through."""
    shown = 0
    status_ts: set[str] = set()
    reported_at: float | None = None
    while True:
        calls = list(fake.calls)
        for c in calls[shown:]:
            if out is not None and (line := _line(c, t0, status_ts)) is not None:
                print(line, file=out, flush=True)
            if (
                reported_at is None
                and c.method == "chat.postMessage"
                and str(c.params.get("text", "")).startswith("Report:")
            ):
                reported_at = time.monotonic()
        shown = len(calls)
        now = time.monotonic()
        charted = any(c.method == "files.completeUploadExternal" for c in calls)
        opined = any(str(c.params.get("text", "")).startswith(_MODEL_REPLIES) for c in calls)
        if reported_at is not None and ((charted and opined) or now - reported_at > AFTER_REPORT_S):
            break
        if now - t0 > REPORT_TIMEOUT_S:
            if out is not None:
                print("(no report within the demo's time limit)", file=out)
            break
        time.sleep(0.1)
    return shown


def _approve(
    fake: FakeSlack, sender: SlackEventSender, channel: str, t0: float, out: Any, shown: int
) -> None:
    """The on-call engineer approves the plan's first executable step; print the thread until it is done."""
    found = None
    threads = {
        str(c.params["thread_ts"]) for c in fake.calls_to("chat.postMessage") if c.params.get("thread_ts")
    }
    messages = [m for ts in sorted(threads) for m in fake.replies(channel, ts)]
    for m in messages:
        for block in m.get("blocks") or []:
            for el in block.get("elements", []) if block.get("type") == "actions" else []:
                if el.get("action_id") == APPROVE_ACTION and found is None:
                    found = (m, el["value"])
    if found is None:
        return
    message, value = found
    clicks = [ONCALL, LEAD]  # a high-risk fix: the on-call asks, the lead approves
    deadline = time.monotonic() + ACTION_TIMEOUT_S
    while time.monotonic() < deadline:
        calls = list(fake.calls)
        for c in calls[shown:]:
            if out is not None and (line := _line(c, t0, set())) is not None:
                print(line, file=out, flush=True)
        shown = len(calls)
        texts = [str(c.params.get("text", "")) for c in calls]
        if any(t.startswith(_ACTION_ENDS) for t in texts):
            return
        if clicks and (len(clicks) == 2 or any("needs another approver" in t for t in texts)):
            _click(sender, channel, message, value, clicks.pop(0), t0, out)
        time.sleep(0.1)


def _click(
    sender: SlackEventSender, channel: str, message: Any, value: str, user: str, t0: float, out: Any
) -> None:
    if out is not None:
        who = "<@oncall>" if user == ONCALL else "<@lead>"
        print(f"+{time.monotonic() - t0:6.1f}s  {who + ' clicks':>24} Approve", file=out, flush=True)
    sender.interaction(
        {
            "type": "block_actions",
            "user": {"id": user},
            "team": {"id": "T0SANDBOX"},
            "channel": {"id": channel},
            "message": message,
            "trigger_id": "1.2.demo",
            "actions": [{"action_id": APPROVE_ACTION, "block_id": "plan", "type": "button", "value": value}],
        }
    )
