"""The Bolt app: listeners that record what must not be lost before they answer, and hand the rest to a pool.

Acknowledged means kept. A page posted in an incident channel and a person's reply in an investigation's
thread are recorded in the request, before Bolt answers (``process_before_response``): the page with its
delivery, incident and investigation rows and the enqueue of its workflow (``Investigations.accept``), the
reply with its delivery (``Investigations.steer``). If that fails -- the database is away -- the listener
raises, Slack gets a 500 and delivers the event again (``X-Slack-Retry-Num``); the re-delivery is recognised
by its ``event_id`` and finishes what the first one started. A page whose identifiers cannot be stored gets
a 400 naming what is wrong. Everything else (answers to questions, /sre, buttons, App Home, joining
channels) is handed to `WorkPool` and deduplicated there through ``Store.record_delivery``; a person who
asked sees the answer, or an error id.

Only incident channels (:class:`~bot.slack.channels.IncidentChannels`: ``INCIDENT_CHANNEL_PATTERNS`` and
``PAGE_CHANNEL``) have their pages investigated. Elsewhere the bot stays silent, unless someone asks: an
@-mention ``investigate <service or alarm>`` starts one, ``investigate`` in a page's thread investigates
that page; any other mention outside an incident channel gets one line on how to use the bot.

"Which investigation is this thread?" is answered once per event, by the global middleware
`thread_investigation`, which puts the answer into Bolt's ``context`` (``context["investigation"]``) for the
listeners to pass on. Only a person's reply in a thread needs the answer, so only those events are looked up.

A job that fails is logged with an error id (:mod:`bot.slack.errors`), and whoever asked is told that id:
in the thread, privately, or in the slash command's response.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import Settings
from bot.domain import Page
from bot.investigation.inbound import BadInput, check_id, clean_page, clean_text
from bot.investigation.ports import Delivery, InvestigationRef, Investigations
from bot.investigation.questions import Answer, Questions, manual_page
from bot.mitigation.fixes import Fixes
from bot.mitigation.ports import Where
from bot.mitigation.service import Click, Mitigations
from bot.slack.blocks import (
    APPROVE_ACTION,
    FEEDBACK_CALLBACK,
    FEEDBACK_DOWN_ACTION,
    FEEDBACK_INPUT_ACTION,
    FEEDBACK_INPUT_BLOCK,
    FEEDBACK_UP_ACTION,
    FIX_ISSUE_ACTION,
    FIX_REVERT_ACTION,
    REJECT_ACTION,
    decode_value,
    feedback_modal,
)
from bot.slack.channels import IncidentChannels
from bot.slack.errors import apology, log_failure
from bot.slack.home import home_view
from bot.slack.parsers import ParsedPage, claims_page, read_page_message
from bot.slack.prevention_actions import PreventionWork, register_prevention
from bot.slack.safety import code_span, untrusted
from bot.slack.slack_pages import SlackPages
from bot.storage.recommendations import Recommendations
from bot.storage.store import Store
from bot.storage.tables import Verdict

log = logging.getLogger(__name__)

SRE_HELP = (
    "*/sre* commands:\n• `/sre investigate <service or alarm>` starts an investigation\n"
    "• `/sre status` lists open investigations\n• `/sre ask <question>` answers from the read-only tools\n"
    "• `/sre help` shows this\n"
    "Mention me with a question (`@sre what changed for checkout in the last 2 hours`) for more."
)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
#: "investigate" with nothing after it (or "this"): investigate the page at the top of the thread.
_INVESTIGATE_THIS = re.compile(
    r"^\s*(?:please\s+)?(?:investigate|look\s+into|dig\s+into)"
    r"(?:\s+(?:this|it|that|th(?:is|e)\s+(?:page|alarm|incident)))?\s*[.?!]*\s*$",
    re.I,
)
#: The longest steering reply stored (Slack messages are at most 40,000 characters).
_REPLY_LIMIT = 8000
#: Where `thread_investigation` puts the investigation whose thread an event is in (None: not one).
INVESTIGATION = "investigation"
#: Message subtypes that are a person writing (a reply, a reply also sent to the channel, a file).
_PERSON_SUBTYPES = (None, "thread_broadcast", "file_share")

#: Slack's answers when the bot cannot post in a channel (a person can fix that by inviting it).
_NOT_THERE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: Told the error id when a job fails, so the person who asked hears of it.
OnError = Callable[[str], object]


def make_client(settings: Settings, *, max_retries: int = 2) -> WebClient:
    """The bot's Web API client: our base URL, and retries on 429 (not in slack_sdk's defaults)."""
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ],
    )


class WorkPool:
    """A bounded thread pool for the work listeners hand off.

    A failing job is logged with an error id, never raised; `on_error`, when given, is then told the id so
    the person who asked can be told too.
    """

    def __init__(self, size: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="slack-work")

    def submit(self, fn: Callable[..., Any], *args: Any, on_error: OnError | None = None) -> Future[Any]:
        """Run `fn(*args)` in the pool."""
        return self._executor.submit(self._guard, fn, args, on_error)

    @staticmethod
    def _guard(fn: Callable[..., Any], args: tuple[Any, ...], on_error: OnError | None) -> Any:
        name = getattr(fn, "__name__", fn)
        try:
            return fn(*args)
        except Exception:
            error_id = log_failure(log, "slack job %s failed", name)
        if on_error is not None:
            try:
                on_error(error_id)
            except Exception:
                log_failure(log, "telling the user of error %s from %s failed", error_id, name)
        return None

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs and (optionally) wait for the running ones."""
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


@dataclass
class SlackDeps:
    """What the Slack surface needs, built once at start-up."""

    settings: Settings
    store: Store
    investigations: Investigations
    questions: Questions | None
    pool: WorkPool
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: Runs approved plan steps (None: buttons are refused, e.g. a process without AWS write access).
    mitigations: Mitigations | None = None
    #: Opens the long-term fix's GitHub issue and revert pull request.
    fixes: Fixes | None = None
    #: Which of the approver user groups a user is in.
    mitigation_groups: Callable[[str, frozenset[str]], frozenset[str]] = lambda user, groups: frozenset()


def refusal(error: BadInput) -> BoltResponse:
    """A 400 naming what in the event cannot be stored (Slack shows it in the app's delivery log)."""
    body = json.dumps({"error": str(error)})
    return BoltResponse(status=400, body=body, headers={"content-type": "application/json"})


def usage_line(settings: Settings, bot_user_id: str) -> str:
    """The one line a mention outside an incident channel gets."""
    patterns = ", ".join(f"`{p}`" for p in settings.incident_channel_patterns) or "incident channels"
    me = f"<@{bot_user_id}>"
    return (
        f"I investigate pages in incident channels ({patterns}). Here, ask me: "
        f"`{me} investigate <service or alarm>`, or `{me} investigate` in a page's thread."
    )


class Work:
    """What the listeners do: pages and steering replies in the request, the rest as jobs in the pool."""

    def __init__(
        self,
        deps: SlackDeps,
        client: WebClient,
        bot_user_id: str,
        bot_id: str,
        channels: IncidentChannels | None = None,
    ) -> None:
        self.deps = deps
        self.client = client
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.channels = channels or IncidentChannels(
            client, deps.settings.incident_channel_patterns, deps.settings.page_channel
        )
        self.pages = SlackPages.from_settings(deps.settings, client, deps.pool.submit)

    def first_delivery(self, body: dict[str, Any]) -> bool:
        """False when this event_id was seen already (a Slack retry or a duplicate)."""
        event_id = body.get("event_id")
        return not event_id or self.deps.store.record_delivery("slack", str(event_id)[:128])

    # -- messages: recorded before the answer ----------------------------------------------------------------------

    def message(self, body: dict[str, Any], ref: InvestigationRef | None) -> BoltResponse | None:
        """In the request: a page from another app in an incident channel is recorded and its investigation
        enqueued; a person's reply in an investigation's thread (`ref`, found by `thread_investigation`) is
        recorded for it. Raises when recording fails (Slack gets a 500 and delivers again); returns a 400
        for an event whose identifiers cannot be stored; None (200) otherwise."""
        event = body.get("event") or {}
        try:
            if _is_bot_message(event):
                self._page(body, event)
            elif ref is not None and event.get("subtype") in _PERSON_SUBTYPES and event.get("user"):
                self._steer(body, event, ref)
        except BadInput as err:
            self.pages.refusals.refused("slack", 400, str(err))
            return refusal(err)
        return None

    def _delivery(self, body: dict[str, Any], event: dict[str, Any]) -> Delivery:
        """The event's delivery: its event_id (the message's channel and ts when Slack sent none)."""
        event_id = body.get("event_id")
        if event_id is None:
            event_id = f"{event.get('channel')}:{event.get('event_ts') or event.get('ts')}"
        return Delivery("slack", check_id("event_id", event_id))

    def _page(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        parsed = self._parsed_page(event)
        if parsed is None:
            self._unreadable_page(body, event)
            return
        if parsed.page.state == "ACKNOWLEDGED":
            return
        if event.get("subtype") == "message_changed" and not self._state_changed(event, parsed):
            return  # an edit that says nothing new (a reply count, an unfurl): not a page again
        channel = check_id("channel", event.get("channel"), 64)
        if not self.channels.is_incident(channel):
            return  # not an incident channel: silent (someone may ask with "investigate" in its thread)
        if parsed.page.state == "INSUFFICIENT_DATA":  # investigated only when its silence is the trouble
            trouble = self.pages.silence(parsed, lambda: self.first_delivery(body))
            if trouble is None:
                return
            parsed = ParsedPage(trouble, parsed.facts)
        page = clean_page(self.pages.complete(parsed).page)
        self.deps.investigations.accept(page, self._delivery(body, event), reopened=_reopened(parsed))

    def _unreadable_page(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Another bot's new top-level post in an incident channel that claims to be a page we cannot read."""
        ts, channel = event.get("ts"), event.get("channel")
        if event.get("subtype") == "message_changed" or (event.get("thread_ts") not in (None, ts)):
            return
        if not isinstance(ts, str) or not isinstance(channel, str):
            return
        if claims_page(event, own_bot_ids=[self.bot_id]) and self.channels.is_incident(channel):
            self.pages.unreadable(event, channel, ts, lambda: self.first_delivery(body))

    def _state_changed(self, event: dict[str, Any], parsed: ParsedPage) -> bool:
        """Whether an edit of a page changed what it says (PagerDuty's app edits its post as the incident
        moves: triggered, acknowledged, resolved); Slack's own edits (hidden) never do."""
        if event.get("hidden"):
            return False
        before = event.get("previous_message")
        if not isinstance(before, dict):
            return True
        earlier = read_page_message(
            {**before, "channel": event.get("channel")}, self.deps.clock(), own_bot_ids=[self.bot_id]
        )
        return earlier is None or earlier.page.state != parsed.page.state

    def _steer(self, body: dict[str, Any], event: dict[str, Any], ref: InvestigationRef) -> None:
        text = clean_text(_MENTION.sub("", event.get("text") or ""), _REPLY_LIMIT).strip()
        if text:
            user = check_id("user", event["user"], 64)
            self.deps.investigations.steer(ref, user, text, delivery=self._delivery(body, event))

    def _parsed_page(self, event: dict[str, Any]) -> ParsedPage | None:
        """The page a bot's top-level message announces (bots talking in threads are not new pages)."""
        thread_ts = event.get("thread_ts")
        if thread_ts and thread_ts != event.get("ts"):
            return None
        return read_page_message(event, self.deps.clock(), own_bot_ids=[self.bot_id])

    def mention_failed(self, body: dict[str, Any], error_id: str) -> None:
        """Tell the mention's thread that answering it failed."""
        event = body.get("event") or {}
        self.say_in_thread(event.get("channel"), event.get("thread_ts") or event.get("ts"), apology(error_id))

    def say_in_thread(self, channel: str | None, thread_ts: str | None, text: str) -> None:
        """A plain reply in a thread (when there is one)."""
        if channel and thread_ts:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False)

    # -- mentions: jobs in the pool ---------------------------------------------------------------------------------

    def mention(self, body: dict[str, Any], ref: InvestigationRef | None) -> None:
        """Answer a question, or start an investigation by hand, in the mention's thread. A mention in an
        investigation's thread (`ref`) is a steering reply: the message listener takes it up. Outside incident
        channels only "investigate" is taken up; anything else gets one line on how to use the bot."""
        if not self.first_delivery(body) or ref is not None:
            return
        event = body.get("event") or {}
        channel, ts = event.get("channel"), event.get("ts")
        thread = event.get("thread_ts") or ts
        if not channel or not ts:
            return
        text = _MENTION.sub("", event.get("text") or "").strip()
        if _INVESTIGATE_THIS.match(text) and event.get("thread_ts"):
            self.investigate_thread(str(channel), str(event["thread_ts"]), event.get("user"))
            return
        incident_channel = self.channels.is_incident(str(channel))
        answer = self._answer(text)
        if answer.investigate:
            self.start_manual(answer.investigate, channel, thread, event.get("user"))
            return
        reply = (
            render_answer(answer) if incident_channel else usage_line(self.deps.settings, self.bot_user_id)
        )
        self.client.chat_postMessage(channel=channel, thread_ts=thread, text=reply, unfurl_links=False)

    def investigate_thread(self, channel: str, thread_ts: str, user: str | None) -> None:
        """Someone asked, in a thread, to investigate the page at its top (in any channel)."""
        resp = self.client.conversations_history(channel=channel, latest=thread_ts, inclusive=True, limit=1)
        root = next(iter(resp.get("messages") or []), None)
        parsed = (
            read_page_message({**root, "channel": channel}, self.deps.clock(), own_bot_ids=[self.bot_id])
            if root
            else None
        )
        if parsed is None or root is None or str(root.get("ts")) != thread_ts:
            hint = (
                "I found no page at the top of this thread; mention me with `investigate <service or alarm>`."
            )
            self.say_in_thread(channel, thread_ts, hint)
            return
        if parsed.page.state in ("OK", "ACKNOWLEDGED", "INSUFFICIENT_DATA"):
            self.say_in_thread(
                channel, thread_ts, f"This page says `{parsed.page.state}`: nothing to investigate."
            )
            return
        page = clean_page(parsed.page.model_copy(update={"channel": channel, "message_ts": thread_ts}))
        accepted = self.deps.investigations.accept(page, Delivery("ask", f"{channel}:{thread_ts}"))
        if not accepted.started and not accepted.duplicate:
            what = (
                "resolved already"
                if accepted.outcome in ("resolved", "ignored")
                else "being investigated already"
            )
            self.say_in_thread(channel, thread_ts, f"This page is {what}.")
        self.deps.store.audit(user or "unknown", "investigate", f"thread:{channel}:{thread_ts}", {})

    def _answer(self, text: str) -> Answer:
        questions = self.deps.questions
        if questions is None:
            return Answer(
                "I can't answer questions here", ["No read-only tools are configured."], understood=False
            )
        try:
            return questions.answer(text)
        except Exception:  # an answer that failed is still an answer
            error_id = log_failure(log, "question %r failed", text[:200])
            return Answer(
                "I could not answer that",
                [apology(error_id, "Reading the environment failed")],
                understood=False,
            )

    def start_manual(self, target: str, channel: str, thread_ts: str | None, user: str | None) -> None:
        """Open an investigation of a service or alarm named by a person, in `thread_ts` or a new message."""
        questions = self.deps.questions
        is_alarm = questions.is_alarm(target) if questions is not None else False
        page = manual_page(target, self.deps.clock(), alarm=is_alarm)
        who = f" (asked by <@{user}>)" if user else ""
        if thread_ts is None:
            resp = self.client.chat_postMessage(
                channel=channel, text=f":mag: Investigating {code_span(target, 200)}{who}", unfurl_links=False
            )
            channel, thread_ts = str(resp["channel"]), str(resp["ts"])
        page = clean_page(page.model_copy(update={"channel": channel, "message_ts": thread_ts}))
        self.deps.investigations.accept(page, Delivery("manual", f"{channel}:{thread_ts}"))
        self.deps.store.audit(
            user or "unknown", "investigate", f"manual:{target[:100]}", {"channel": channel}
        )

    # -- channels and home ----------------------------------------------------------------------------------------

    def channel_created(self, body: dict[str, Any]) -> None:
        """Join a new channel whose name matches an incident pattern."""
        if not self.first_delivery(body):
            return
        ch = (body.get("event") or {}).get("channel") or {}
        name, cid = str(ch.get("name") or ""), ch.get("id")
        if not cid:
            return
        self.channels.learn(str(cid), name)
        if any(fnmatch.fnmatch(name, p) for p in self.deps.settings.incident_channel_patterns):
            self.client.conversations_join(channel=cid)
            log.info("joined #%s", name)

    def publish_home(self, user: str) -> None:
        """Publish App Home for `user`."""
        view = home_view(
            self.deps.investigations.open_investigations(),
            self.deps.store.recent_incidents(10),
            Recommendations(self.deps.store).open(),
        )
        self.client.views_publish(user_id=user, view=view)

    # -- /sre -----------------------------------------------------------------------------------------------------

    def command(self, payload: dict[str, Any], respond: Respond) -> None:
        """``/sre investigate <x>``, ``/sre status``, ``/sre help``."""
        verb, _, rest = (payload.get("text") or "").strip().partition(" ")
        verb = verb.lower()
        if verb == "investigate" and rest.strip():
            try:
                self.start_manual(rest.strip(), payload["channel_id"], None, payload.get("user_id"))
            except SlackApiError as err:
                if err.response.get("error") not in _NOT_THERE:
                    raise  # the job fails: logged with an error id, and the id is the response
                error = err.response.get("error")
                respond(text=f"I could not start it here: `{error}`. Invite me to the channel first.")
                return
            respond(
                text=f"Started an investigation of {code_span(rest.strip(), 200)}; follow it in the channel."
            )
        elif verb in ("status", "open"):
            answer = (
                self.deps.questions.open_investigations()
                if self.deps.questions is not None
                else Answer(
                    "Open investigations", [i.title for i in self.deps.investigations.open_investigations()]
                )
            )
            respond(text=render_answer(answer))
        elif verb == "ask" and rest.strip():
            respond(text=render_answer(self._answer(rest.strip())))
        else:
            respond(text=SRE_HELP)

    # -- buttons and the feedback modal ---------------------------------------------------------------------------

    def feedback(self, body: dict[str, Any], verdict: Verdict, note: str = "") -> int:
        """Store a rating of an investigation and audit it; returns the investigation id."""
        user = (body.get("user") or {}).get("id") or "unknown"
        if body.get("type") == "view_submission":
            raw = (body.get("view") or {}).get("private_metadata")
        else:
            raw = decode_value(((body.get("actions") or [{}])[0]).get("value")).get("investigation")
        investigation_id = int(str(raw))  # unreadable: the job fails, and the person is told its error id
        self.deps.store.add_feedback(investigation_id, user, verdict, note[:3000])
        self.deps.store.audit(
            user, f"feedback:{verdict.value}", f"investigation:{investigation_id}", {"note": note[:500]}
        )
        return investigation_id

    def feedback_up(self, body: dict[str, Any]) -> None:
        """👍: store it and thank the person, privately."""
        self.feedback(body, Verdict.UP)
        self.tell_clicker(body, "Thanks, noted: this analysis was right.")

    def feedback_down(self, body: dict[str, Any]) -> None:
        """👎: ask what the cause really was, in a modal (stored when submitted)."""
        value = decode_value(((body.get("actions") or [{}])[0]).get("value"))
        investigation = str(value.get("investigation") or "")
        self.client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(investigation))

    def feedback_submitted(self, body: dict[str, Any]) -> None:
        """The 👎 modal's answer."""
        values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        note = ((values.get(FEEDBACK_INPUT_BLOCK) or {}).get(FEEDBACK_INPUT_ACTION) or {}).get("value") or ""
        self.feedback(body, Verdict.DOWN, note)

    def decide(self, body: dict[str, Any], approved: bool) -> None:
        """A person's Approve / Reject of a plan step, handed to the mitigation use case (which audits it,
        checks who may decide, and runs an approved step in its durable workflow); a refusal is told to the
        clicker, or in the thread when it names the manual steps instead. A click whose investigation id is
        unreadable fails the job: nothing is recorded and the person is told."""
        user = (body.get("user") or {}).get("id") or "unknown"
        value = decode_value(((body.get("actions") or [{}])[0]).get("value"))
        investigation, step = int(str(value.get("investigation"))), int(str(value.get("step")))
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        where = Where(
            channel, str(message.get("thread_ts") or message.get("ts") or ""), str(message.get("ts"))
        )
        mitigations = self.deps.mitigations
        if mitigations is None:
            self.deps.store.audit(
                user, "refuse-no-executor", f"investigation:{investigation}:step:{step}", {}
            )
            self.tell_clicker(
                body, "Actions cannot run from this process (no mitigation executor is set up)."
            )
            return
        groups = mitigations.policy.groups
        member_of = self.deps.mitigation_groups(user, groups) if groups else frozenset()
        shown = str(value.get("action") or "")
        answer = mitigations.click(Click(investigation, step, user, member_of, approved, where, shown))
        if answer.text and answer.public:
            self.say_in_thread(where.channel, where.thread_ts, answer.text)
        elif answer.text:
            self.tell_clicker(body, answer.text)

    def open_fix(self, body: dict[str, Any], kind: str) -> None:
        """The long-term fix's button: open the GitHub issue or revert pull request (approvers only)."""
        user = (body.get("user") or {}).get("id") or "unknown"
        value = decode_value(((body.get("actions") or [{}])[0]).get("value"))
        investigation = int(str(value.get("investigation")))
        fixes = self.deps.fixes
        if fixes is None:
            self.tell_clicker(body, "GitHub fixes cannot be opened from this process.")
            return
        groups = fixes.policy.groups
        member_of = self.deps.mitigation_groups(user, groups) if groups else frozenset()
        answer = fixes.open(kind, investigation, user, member_of)
        message = body.get("message") or {}
        thread = str(message.get("thread_ts") or message.get("ts") or "")
        if answer.public:
            self.say_in_thread((body.get("channel") or {}).get("id"), thread, answer.text)
        else:
            self.tell_clicker(body, answer.text)

    def tell_clicker(self, body: dict[str, Any], text: str) -> None:
        """Tell the person who clicked a button, privately, in the button's channel (and thread)."""
        channel = (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            thread = (body.get("message") or {}).get("thread_ts")
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread)


def render_answer(answer: Answer) -> str:
    """An answer as mrkdwn: the title in bold, each (untrusted) line escaped."""
    lines = [f"*{untrusted(answer.title, 200)}*"] + [
        f"• {untrusted(line, 600)}" for line in answer.lines[:40]
    ]
    return "\n".join(lines)[:3900]


def _reopened(parsed: ParsedPage) -> bool:
    """Whether a PagerDuty page says its incident was re-opened (a webhook's event type, the app's status)."""
    facts = parsed.facts
    return facts.get("event_type") == "incident.reopened" or facts.get("status") == "reopened"


def _is_bot_message(event: dict[str, Any]) -> bool:
    """A message another app posted (a page, maybe), or an edit of one."""
    return bool(event.get("bot_id")) or event.get("subtype") in ("bot_message", "message_changed")


def person_thread(body: dict[str, Any]) -> tuple[str, str] | None:
    """(channel, thread_ts) when the event is a person writing in a thread (a reply or a mention), else None."""
    if body.get("type") != "event_callback":
        return None
    event = body.get("event") or {}
    if event.get("type") not in ("message", "app_mention") or _is_bot_message(event):
        return None
    if event.get("subtype") not in _PERSON_SUBTYPES:
        return None
    channel, thread_ts = event.get("channel"), event.get("thread_ts")
    if not channel or not thread_ts or thread_ts == event.get("ts"):
        return None
    return str(channel), str(thread_ts)


def thread_investigation(investigations: Investigations) -> Callable[..., None]:
    """Global middleware: put the investigation whose thread a person writes in (or None) into
    ``context["investigation"]``, once per event, for the listeners to pass on. A failed lookup fails the
    request (Slack delivers it again) rather than taking a steering reply for chatter."""

    def middleware(body: dict[str, Any], context: BoltContext, next: Callable[[], None]) -> None:
        thread = person_thread(body)
        context[INVESTIGATION] = investigations.find_by_thread(*thread) if thread else None
        next()

    return middleware


def _bolt_error(error: Exception, body: dict[str, Any]) -> None:
    """Bolt's global error handler: a failed middleware or listener, logged with an error id."""
    kind = body.get("type") or body.get("command") or "request"
    log_failure(log, "Slack %s not handled", kind, error=error)


def build_app(deps: SlackDeps, client: WebClient, *, signing_secret: str | None = None) -> App:
    """The Bolt app with thin listeners; `client` is the bot's Web API client (see `make_client`)."""
    auth = client.auth_test()
    work = Work(deps, client, str(auth["user_id"]), str(auth.get("bot_id") or ""))
    app = App(
        client=client,
        signing_secret=signing_secret or deps.settings.slack_signing_secret,
        request_verification_enabled=signing_secret is not None or bool(deps.settings.slack_signing_secret),
        # listeners run before the answer: what they record is recorded before Slack hears 200
        process_before_response=True,
    )
    app.use(thread_investigation(deps.investigations))
    app.error(_bolt_error)
    _events(app, work, deps.pool)
    _command(app, work, deps.pool)
    _interactions(app, work, deps.pool)
    prevention = PreventionWork(deps.store, client, work.tell_clicker)
    register_prevention(
        app, prevention, _clicker_jobs(work, deps.pool), lambda fn, body: deps.pool.submit(fn, body)
    )
    return app


def _clicker_jobs(work: Work, pool: WorkPool) -> Callable[[Callable[..., None], dict[str, Any]], None]:
    """Run a button's job in the pool; its failure is told to the person who clicked."""

    def submit(fn: Callable[..., None], body: dict[str, Any]) -> None:
        pool.submit(fn, body, on_error=lambda e: work.tell_clicker(body, apology(e)))

    return submit


def _events(app: App, work: Work, pool: WorkPool) -> None:
    """Messages, mentions, channels and App Home."""

    @app.event("message")
    def on_message(body: dict[str, Any], context: BoltContext) -> BoltResponse | None:
        return work.message(body, context.get(INVESTIGATION))

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], context: BoltContext) -> None:
        ref = context.get(INVESTIGATION)
        pool.submit(work.mention, body, ref, on_error=lambda e: work.mention_failed(body, e))

    @app.event("channel_created")
    def on_channel_created(body: dict[str, Any]) -> None:
        pool.submit(work.channel_created, body)

    @app.event("channel_rename")
    def on_channel_rename(event: dict[str, Any]) -> None:
        ch = event.get("channel") or {}
        if ch.get("id") and ch.get("name"):
            work.channels.learn(str(ch["id"]), str(ch["name"]))

    @app.event("member_joined_channel")
    def on_member_joined(event: dict[str, Any]) -> None:
        if event.get("user") == work.bot_user_id:
            log.info("invited to %s", event.get("channel"))

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            pool.submit(work.publish_home, event["user"])


def _command(app: App, work: Work, pool: WorkPool) -> None:
    """``/sre``: help answers in the ack; the rest runs in the pool and answers through `respond`."""

    @app.command("/sre")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        verb = (command.get("text") or "").strip().split(" ", 1)[0].lower()
        ack(text="On it…" if verb in ("investigate", "status", "open") else SRE_HELP)
        if verb in ("investigate", "status", "open"):
            pool.submit(work.command, command, respond, on_error=lambda e: respond(text=apology(e)))


def _interactions(app: App, work: Work, pool: WorkPool) -> None:
    """Buttons (feedback, approve / reject) and the feedback modal; a failure is told to the clicker."""

    def submit(fn: Callable[..., None], body: dict[str, Any], *args: Any) -> None:
        pool.submit(fn, body, *args, on_error=lambda e: work.tell_clicker(body, apology(e)))

    @app.action(FEEDBACK_UP_ACTION)
    def on_up(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.feedback_up, body)

    @app.action(FEEDBACK_DOWN_ACTION)
    def on_down(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.feedback_down, body)

    @app.view(FEEDBACK_CALLBACK)
    def on_feedback(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        pool.submit(work.feedback_submitted, body)  # a modal has no channel to answer in: logged only

    @app.action(APPROVE_ACTION)
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.decide, body, True)

    @app.action(REJECT_ACTION)
    def on_reject(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.decide, body, False)

    @app.action(FIX_ISSUE_ACTION)
    def on_fix_issue(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.open_fix, body, "issue")

    @app.action(FIX_REVERT_ACTION)
    def on_fix_revert(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        submit(work.open_fix, body, "revert")


def page_with_thread(page: Page, channel: str, ts: str) -> Page:
    """`page` placed in a Slack thread."""
    return page.model_copy(update={"channel": channel, "message_ts": ts})
