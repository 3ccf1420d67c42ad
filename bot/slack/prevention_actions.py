"""Slack listeners for recommendations (Keep / Discard with a reason / Implemented) and the digest poster."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.config import Settings
from bot.prevention.digest import Digest
from bot.prevention.lifecycle import decide
from bot.prevention.schedules import digest_cron, install_schedules, nightly_cron
from bot.slack.blocks import decode_value
from bot.slack.learning_blocks import (
    REC_DISCARD_ACTION,
    REC_DISCARD_CALLBACK,
    REC_IMPLEMENTED_ACTION,
    REC_KEEP_ACTION,
    REC_REASON_ACTION,
    REC_REASON_BLOCK,
    digest_blocks,
    digest_text,
    discard_modal,
)
from bot.slack.safety import untrusted
from bot.storage.recommendations import Recommendations
from bot.storage.store import Store

log = logging.getLogger(__name__)

#: Runs a job off the request thread, telling the clicker when it fails.
Submit = Callable[[Callable[..., None], dict[str, Any]], object]
#: Tells the person who clicked, privately.
Tell = Callable[[dict[str, Any], str], None]


def _rec_id(body: dict[str, Any]) -> int:
    raw = decode_value(((body.get("actions") or [{}])[0]).get("value")).get("rec")
    try:
        return int(str(raw))
    except ValueError:
        raise ValueError(f"the button carries no recommendation id (value {raw!r})") from None


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "unknown")


class PreventionWork:
    """What the recommendation buttons do."""

    def __init__(self, store: Store, client: WebClient, tell: Tell) -> None:
        self.store = store
        self.client = client
        self.tell = tell

    def keep(self, body: dict[str, Any]) -> None:
        """Keep: it stays open and does not expire."""
        row = decide(self.store, _rec_id(body), "keep", _user(body))
        self.tell(body, f"Kept: {untrusted(row.title, 300)}. It stays open until it is implemented.")

    def implemented(self, body: dict[str, Any]) -> None:
        """Implemented: closed for good."""
        row = decide(self.store, _rec_id(body), "implemented", _user(body))
        self.tell(body, f"Marked implemented: {untrusted(row.title, 300)}. Thanks!")

    def ask_reason(self, body: dict[str, Any]) -> None:
        """Discard: ask why, in a modal."""
        rec_id = _rec_id(body)
        row = Recommendations(self.store).get(rec_id)
        if row is None:
            raise LookupError(f"no recommendation {rec_id}")
        self.client.views_open(trigger_id=body["trigger_id"], view=discard_modal(rec_id, row.title))

    def discarded(self, body: dict[str, Any]) -> None:
        """The discard modal's answer."""
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        reason = ((values.get(REC_REASON_BLOCK) or {}).get(REC_REASON_ACTION) or {}).get("value") or ""
        decide(self.store, int(str(view.get("private_metadata"))), "discard", _user(body), reason)


def register_prevention(app: App, work: PreventionWork, submit: Submit, background: Submit) -> None:
    """The recommendation buttons and the discard modal; each acks at once and works in the pool."""

    @app.action(REC_KEEP_ACTION)
    def on_keep(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.keep, body)

    @app.action(REC_IMPLEMENTED_ACTION)
    def on_implemented(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.implemented, body)

    @app.action(REC_DISCARD_ACTION)
    def on_discard(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.ask_reason, body)

    @app.view(REC_DISCARD_CALLBACK)
    def on_reason(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        background(work.discarded, body)  # a modal has no channel to answer in: logged only


#: Message metadata that marks a posted digest, so a step retried after a crash finds it instead of posting again.
DIGEST_EVENT = "sre_bot_digest"


def digest_poster(client: WebClient, channel: str) -> Callable[[Digest], str]:
    """A function that posts a digest into `channel` once per week and returns the message's ts."""

    def post(d: Digest) -> str:
        key = f"digest:{d.start:%Y-%m-%d}"
        recent = client.conversations_history(channel=channel, include_all_metadata=True, limit=100)
        for msg in recent.get("messages") or []:
            meta = msg.get("metadata") or {}
            if meta.get("event_type") == DIGEST_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return str(msg["ts"])
        resp = client.chat_postMessage(
            channel=channel,
            text=digest_text(d),
            blocks=digest_blocks(d),
            metadata={"event_type": DIGEST_EVENT, "event_payload": {"key": key}},
        )
        return str(resp["ts"])

    return post


def install_prevention(settings: Settings, store: Store, client: WebClient) -> None:
    """Apply the nightly and weekly schedules (a process that runs workflows calls this after launch); the
    digest is posted in `DIGEST_CHANNEL`, and not at all when none is set."""
    post = digest_poster(client, settings.digest_channel) if settings.digest_channel else None
    install_schedules(
        store,
        post,
        nightly=nightly_cron(settings.nightly_hour),
        digest=digest_cron(settings.digest_day, settings.digest_hour),
    )
