"""The fake Slack Web API, driven only through slack_sdk's WebClient, and the signed event injector."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.signing import SlackEventSender, slack_signature


def test_auth_test_names_our_bot(slack_client: WebClient) -> None:
    resp = slack_client.auth_test()
    assert resp["bot_id"] == "B0SREBOT"
    assert resp["user_id"] == "U0SREBOT"


def test_bad_or_missing_token_is_refused(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token="nope", base_url=fake_slack.api_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=fake_slack.api_url).auth_test()
    assert err.value.response["error"] == "not_authed"


def test_post_reply_update_and_list_a_thread(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-checkout")
    parent = slack_client.chat_postMessage(channel="#inc-checkout", text="Investigating")
    assert parent["channel"] == cid
    reply = slack_client.chat_postMessage(
        channel=cid,
        thread_ts=parent["ts"],
        text="Looking at deploys",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*deploys*"}}],
        metadata={"event_type": "sre_finding", "event_payload": {"n": 1}},
        unfurl_links=False,
        mrkdwn=True,
    )
    assert float(reply["ts"]) > float(parent["ts"])
    slack_client.chat_update(channel=cid, ts=parent["ts"], text="Root cause found")

    replies = slack_client.conversations_replies(channel=cid, ts=parent["ts"])["messages"]
    assert [m["text"] for m in replies] == ["Root cause found", "Looking at deploys"]
    assert replies[0]["reply_count"] == 1
    assert replies[1]["thread_ts"] == parent["ts"]
    assert replies[1]["blocks"][0]["text"]["text"] == "*deploys*"
    assert replies[1]["bot_id"] == "B0SREBOT"

    history = slack_client.conversations_history(channel=cid)["messages"]
    assert [m["ts"] for m in history] == [parent["ts"]]  # replies stay in the thread
    assert fake_slack.replies(cid, parent["ts"])[0]["metadata"]["event_type"] == "sre_finding"
    post = fake_slack.calls_to("chat.postMessage")[1]
    assert post.params["thread_ts"] == parent["ts"]
    assert post.params["unfurl_links"] is False
    assert post.token == "xoxb-sandbox-token"
    assert fake_slack.methods() == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "conversations.replies",
        "conversations.history",
    ]


def test_reply_broadcast_shows_in_channel(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-a")
    parent = slack_client.chat_postMessage(channel=cid, text="p")
    slack_client.chat_postMessage(channel=cid, thread_ts=parent["ts"], text="summary", reply_broadcast=True)
    assert [m["text"] for m in fake_slack.messages(cid)] == ["p", "summary"]
    assert [m["text"] for m in fake_slack.replies(cid, parent["ts"])] == ["summary"]


def test_errors_are_slack_errors(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-b")
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel="#nowhere", text="x")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel=cid, thread_ts="1.000001", text="x")
    assert err.value.response["error"] == "thread_not_found"
    theirs = fake_slack.add_message(cid, {"user": "U0HUMAN", "text": "hi"})
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_update(channel=cid, ts=theirs, text="edited")
    assert err.value.response["error"] == "cant_update_message"


def test_rate_limit_is_retried_after_retry_after(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    fake_slack.add_channel("inc-c")
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    resp = slack_client.chat_postMessage(channel="#inc-c", text="after the limit")
    assert resp["ok"]
    calls = fake_slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}
    assert len(fake_slack.messages("inc-c")) == 1


def test_rate_limit_without_retry_handler_surfaces(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("inc-d")
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)
    client = WebClient(token="xoxb-x", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="#inc-d", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"


def test_scripted_error_for_n_calls(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    fake_slack.fail_next("conversations.info", error="channel_not_found", times=2)
    cid = fake_slack.add_channel("inc-e")
    for _ in range(2):
        with pytest.raises(SlackApiError):
            slack_client.conversations_info(channel=cid)
    assert slack_client.conversations_info(channel=cid)["channel"]["name"] == "inc-e"


def test_channels_users_reactions_permalink(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-f", bot_is_member=False)
    uid = fake_slack.add_user("alice", real_name="Alice Example", email="alice@example.com")
    assert slack_client.conversations_info(channel=cid)["channel"]["is_member"] is False
    slack_client.conversations_join(channel=cid)
    created = slack_client.conversations_create(name="inc-new")["channel"]
    names = [c["name"] for c in slack_client.conversations_list()["channels"]]
    assert names == ["inc-f", "inc-new"]
    assert created["is_member"]
    assert slack_client.users_info(user=uid)["user"]["profile"]["email"] == "alice@example.com"

    ts = slack_client.chat_postMessage(channel=cid, text="x")["ts"]
    slack_client.reactions_add(channel=cid, timestamp=ts, name="eyes")
    assert fake_slack.message(cid, ts)["reactions"] == [{"name": "eyes", "users": ["U0SREBOT"], "count": 1}]  # type: ignore[index]
    slack_client.reactions_remove(channel=cid, timestamp=ts, name="eyes")
    assert fake_slack.message(cid, ts)["reactions"] == []  # type: ignore[index]
    link = slack_client.chat_getPermalink(channel=cid, message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/{cid}/p{ts.replace('.', '')}")
    slack_client.chat_postEphemeral(channel=cid, user=uid, text="only you")
    assert fake_slack.ephemerals[0]["to_user"] == uid
    slack_client.chat_delete(channel=cid, ts=ts)
    assert fake_slack.messages(cid) == []


def test_history_paginates_with_cursor(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-g")
    for i in range(5):
        slack_client.chat_postMessage(channel=cid, text=str(i))
    seen = [
        m["text"]
        for page in slack_client.conversations_history(channel=cid, limit=2)
        for m in page["messages"]
    ]
    assert seen == ["4", "3", "2", "1", "0"]


def test_views_and_app_home(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    uid = fake_slack.add_user("bob")
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Approve"}, "blocks": []}
    opened = slack_client.views_open(trigger_id="1.2.3", view=view)["view"]
    slack_client.views_update(view_id=opened["id"], view={**view, "blocks": [{"type": "divider"}]})
    assert fake_slack.views[opened["id"]]["blocks"] == [{"type": "divider"}]
    slack_client.views_publish(user_id=uid, view={"type": "home", "blocks": []})
    assert fake_slack.home_views[uid]["type"] == "home"


def test_files_upload_v2(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-h")
    parent = slack_client.chat_postMessage(channel=cid, text="p")["ts"]
    resp = slack_client.files_upload_v2(
        channel=cid,
        thread_ts=parent,
        content=b"\x89PNG fake",
        filename="onset.png",
        title="Onset",
        initial_comment="chart",
    )
    fid = resp["file"]["id"]
    assert fake_slack.files[fid]["content"] == b"\x89PNG fake"
    assert fake_slack.files[fid]["title"] == "Onset"
    reply = fake_slack.replies(cid, parent)[0]
    assert reply["text"] == "chart"
    assert reply["files"][0]["id"] == fid
    assert fake_slack.methods()[-3:] == [
        "files.getUploadURLExternal",
        "files.upload",
        "files.completeUploadExternal",
    ]


def test_socket_mode_url_and_response_url(fake_slack: FakeSlack) -> None:
    app_client = WebClient(token="xapp-1-test", base_url=fake_slack.api_url)
    assert app_client.apps_connections_open(app_token="xapp-1-test")["url"].startswith("ws://127.0.0.1:")
    hook = WebhookClient(f"{fake_slack.base_url}/webhook/resp1")
    assert hook.send(text="approved", replace_original=False).status_code == 200
    assert fake_slack.webhooks["resp1"] == [{"text": "approved", "replace_original": False}]


def test_latency_is_injected(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    fake_slack.latency = 0.1
    started = time.monotonic()
    slack_client.auth_test()
    assert time.monotonic() - started >= 0.1


def test_streaming_messages(fake_slack: FakeSlack, slack_client: WebClient) -> None:
    cid = fake_slack.add_channel("inc-s")
    parent = slack_client.chat_postMessage(channel=cid, text="p")["ts"]
    ts = slack_client.chat_startStream(channel=cid, thread_ts=parent, markdown_text="Looking")["ts"]
    slack_client.chat_appendStream(channel=cid, ts=ts, markdown_text=" at deploys")
    slack_client.chat_stopStream(channel=cid, ts=ts, markdown_text=".")
    assert fake_slack.message(cid, ts)["text"] == "Looking at deploys."  # type: ignore[index]


# -- the signed event injector ----------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """A minimal receiving app: verifies the signature with slack_sdk and records what came."""

    secret = "s3cret"
    received: ClassVar[list[tuple[dict[str, str], bytes, bool]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k: v for k, v in self.headers.items()}
        ok = SignatureVerifier(self.secret).is_valid_request(body, headers)
        type(self).received.append((headers, body, ok))
        out = b'{"ok": true}' if ok else b"invalid"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    server.shutdown()
    server.server_close()


def test_injected_event_is_signed_as_slack_signs(recorder: str) -> None:
    with SlackEventSender(recorder, "s3cret") as sender:
        event = {
            "type": "app_mention",
            "user": "U1",
            "text": "<@U0SREBOT> help",
            "ts": "1700000000.000100",
            "channel": "C1",
        }
        d = sender.event(event)
    assert d.status == 200
    assert d.elapsed > 0
    headers, body, ok = _Recorder.received[0]
    assert ok
    envelope = json.loads(body)
    assert envelope["type"] == "event_callback"
    assert envelope["event"] == event
    assert envelope["event_id"].startswith("Ev")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Slack-Signature"] == slack_signature(
        "s3cret", headers["X-Slack-Request-Timestamp"], body
    )


def test_injector_wrong_secret_stale_and_retries(recorder: str) -> None:
    with SlackEventSender(recorder, "s3cret") as sender:
        assert sender.event({"type": "message", "text": "x", "ts": "1.0"}, wrong_secret=True).status == 401
        assert sender.event({"type": "message", "text": "x", "ts": "1.0"}, stale_seconds=600).status == 401
        assert sender.event({"type": "message", "text": "x", "ts": "1.0"}, retry_num=1).status == 200
    retried = _Recorder.received[-1][0]
    assert retried["X-Slack-Retry-Num"] == "1"
    assert retried["X-Slack-Retry-Reason"] == "http_timeout"


def test_injector_form_bodies(recorder: str) -> None:
    with SlackEventSender(recorder, "s3cret") as sender:
        payload = {"type": "block_actions", "actions": [{"action_id": "approve", "value": "a1"}]}
        assert sender.interaction(payload).status == 200
        assert sender.command("/sre", "status", channel_id="C9").status == 200
    (h1, b1, ok1), (_, b2, ok2) = _Recorder.received
    assert ok1 and ok2
    assert h1["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(urllib.parse.parse_qs(b1.decode())["payload"][0]) == payload
    form = urllib.parse.parse_qs(b2.decode())
    assert form["command"] == ["/sre"]
    assert form["text"] == ["status"]
    assert form["channel_id"] == ["C9"]
