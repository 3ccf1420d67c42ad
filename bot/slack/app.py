"""The Bolt app: thin listeners that ack at once and hand the work to a bounded pool of our own.

Listeners never call Slack, the database or AWS themselves; they submit a job to `WorkPool` and return, so
Bolt answers Slack within milliseconds. Jobs dedupe Slack's re-deliveries (``X-Slack-Retry-Num``, repeated
``event_id``) through ``Store.record_delivery`` before doing anything.

"Which investigation is this thread?" is answered once per event, by the global middleware
`thread_investigation`, which puts the answer into Bolt's ``context`` (``context["investigation"]``) for the
listeners to pass on. Only a person's reply in a thread needs the answer, so only those events are looked up.

A job that fails is logged with an error id (:mod:`bot.slack.errors`), and whoever asked is told that id:
in the thread, privately, or in the slash command's response.

What each surface does:
- a PagerDuty / AWS Chatbot post in a channel -> ``Investigations.open(page)`` (the page's thread is the
  investigation's conversation);
- a person's reply in an investigation's thread -> ``Investigations.steer``;
- an @-mention elsewhere -> ``Questions`` (``investigate <x>`` starts an investigation in the mention's thread);
- ``/sre investigate|status|help``; App Home; 👍 / 👎 feedback and its modal; Approve / Reject on plan steps
  (recorded and audited; executing actions is not wired yet);
- joining channels whose name matches ``incident_channel_patterns`` when they are created.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import Settings
from bot.domain import Page
from bot.investigation.ports import InvestigationRef, Investigations
from bot.investigation.questions import Answer, Questions, manual_page
from bot.slack.blocks import (
    APPROVE_ACTION,
    FEEDBACK_CALLBACK,
    FEEDBACK_DOWN_ACTION,
    FEEDBACK_INPUT_ACTION,
    FEEDBACK_INPUT_BLOCK,
    FEEDBACK_UP_ACTION,
    REJECT_ACTION,
    decode_value,
    feedback_modal,
)
from bot.slack.errors import apology, log_failure
from bot.slack.home import home_view
from bot.slack.parsers import parse_page_message
from bot.slack.safety import code_span, untrusted
from bot.storage.store import Store
from bot.storage.tables import Verdict

log = logging.getLogger(__name__)

#: How long an approval recorded from a button stays usable.
APPROVAL_TTL = timedelta(minutes=15)
SRE_HELP = (
    "*/sre* commands:\n• `/sre investigate <service or alarm>` starts an investigation\n"
    "• `/sre status` lists open investigations\n• `/sre help` shows this\n"
    "Mention me with a question (`@sre what changed for checkout in the last 2 hours`) for more."
)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
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


class Work:
    """The jobs behind the listeners; each runs in the pool."""

    def __init__(self, deps: SlackDeps, client: WebClient, bot_user_id: str, bot_id: str) -> None:
        self.deps = deps
        self.client = client
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id

    def first_delivery(self, body: dict[str, Any]) -> bool:
        """False when this event_id was seen already (a Slack retry or a duplicate)."""
        event_id = body.get("event_id")
        return not event_id or self.deps.store.record_delivery("slack", str(event_id))

    # -- messages -------------------------------------------------------------------------------------------------

    def message(self, body: dict[str, Any], ref: InvestigationRef | None) -> None:
        """A page from another app opens an investigation; a reply in an investigation's thread (`ref`, found
        by `thread_investigation`) steers it."""
        if not self.first_delivery(body):
            return
        event = body.get("event") or {}
        if _is_bot_message(event):
            page = self._page_of(event)
            if page is not None and page.state != "ACKNOWLEDGED":  # OK pages resolve their incident
                self.deps.investigations.open(page)
            return
        if ref is None or event.get("subtype") not in _PERSON_SUBTYPES or not event.get("user"):
            return
        text = _MENTION.sub("", event.get("text") or "").strip()
        if text:
            self.deps.investigations.steer(ref, event["user"], text)

    def _page_of(self, event: dict[str, Any]) -> Page | None:
        """The page a bot's top-level message announces (bots talking in threads are not new pages)."""
        thread_ts = event.get("thread_ts")
        if thread_ts and thread_ts != event.get("ts"):
            return None
        return parse_page_message(event, self.deps.clock(), own_bot_ids=[self.bot_id])

    def message_failed(self, body: dict[str, Any], ref: InvestigationRef | None, error_id: str) -> None:
        """Tell the thread that a page or a steering reply could not be taken up (other messages: nobody)."""
        event = body.get("event") or {}
        channel = event.get("channel")
        if ref is not None and ref.thread_ts:
            what = "I could not take that reply into account"
            self.say_in_thread(ref.channel or channel, ref.thread_ts, apology(error_id, what))
        elif _is_bot_message(event) and self._page_of(event) is not None:
            what = "I could not start an investigation of this page"
            self.say_in_thread(channel, event.get("ts"), apology(error_id, what))

    def mention_failed(self, body: dict[str, Any], error_id: str) -> None:
        """Tell the mention's thread that answering it failed."""
        event = body.get("event") or {}
        self.say_in_thread(event.get("channel"), event.get("thread_ts") or event.get("ts"), apology(error_id))

    def say_in_thread(self, channel: str | None, thread_ts: str | None, text: str) -> None:
        """A plain reply in a thread (when there is one)."""
        if channel and thread_ts:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, unfurl_links=False)

    def mention(self, body: dict[str, Any], ref: InvestigationRef | None) -> None:
        """Answer a question, or start an investigation by hand, in the mention's thread. A mention in an
        investigation's thread (`ref`) is a steering reply: the message listener takes it up."""
        if not self.first_delivery(body) or ref is not None:
            return
        event = body.get("event") or {}
        channel, ts = event.get("channel"), event.get("ts")
        thread = event.get("thread_ts") or ts
        if not channel or not ts:
            return
        text = _MENTION.sub("", event.get("text") or "").strip()
        answer = self._answer(text)
        if answer.investigate:
            self.start_manual(answer.investigate, channel, thread, event.get("user"))
            return
        self.client.chat_postMessage(
            channel=channel, thread_ts=thread, text=render_answer(answer), unfurl_links=False
        )

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
        page = page.model_copy(update={"channel": channel, "message_ts": thread_ts})
        self.deps.investigations.open(page)
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
        if cid and any(fnmatch.fnmatch(name, p) for p in self.deps.settings.incident_channel_patterns):
            self.client.conversations_join(channel=cid)
            log.info("joined #%s", name)

    def publish_home(self, user: str) -> None:
        """Publish App Home for `user`."""
        view = home_view(self.deps.investigations.open_investigations(), self.deps.store.recent_incidents(10))
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
        """Record a person's Approve / Reject of a plan step (audited; an approval is single-use and short-lived).

        A click whose investigation id is unreadable fails the job: nothing is recorded and the person is told.
        """
        user = (body.get("user") or {}).get("id") or "unknown"
        value = decode_value(((body.get("actions") or [{}])[0]).get("value"))
        action, step = str(value.get("action") or "?"), value.get("step")
        investigation = int(str(value.get("investigation")))
        subject = f"investigation:{investigation}:step:{step}"
        verb = "approve" if approved else "reject"
        self.deps.store.audit(user, verb, subject, {"action": action})
        if approved:
            record = self.deps.store.propose_action(investigation, action, {"step": str(step)})
            assert record.id is not None
            self.deps.store.create_approval(record.id, subject, APPROVAL_TTL)
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id")
        thread = message.get("thread_ts") or message.get("ts")
        what = f"step {step} ({code_span(action, 120)})"
        text = (
            f"<@{user}> approved {what} — execution is not wired yet, so nothing was run. The approval is recorded."
            if approved
            else f"<@{user}> rejected {what}. Recorded; I will not propose running it."
        )
        if channel and thread:
            self.client.chat_postMessage(channel=channel, thread_ts=thread, text=text)

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
    )
    app.use(thread_investigation(deps.investigations))
    app.error(_bolt_error)
    _events(app, work, deps.pool)
    _command(app, work, deps.pool)
    _interactions(app, work, deps.pool)
    return app


def _events(app: App, work: Work, pool: WorkPool) -> None:
    """Messages, mentions, channels and App Home."""

    @app.event("message")
    def on_message(body: dict[str, Any], context: BoltContext) -> None:
        ref = context.get(INVESTIGATION)
        pool.submit(work.message, body, ref, on_error=lambda e: work.message_failed(body, ref, e))

    @app.event("app_mention")
    def on_mention(body: dict[str, Any], context: BoltContext) -> None:
        ref = context.get(INVESTIGATION)
        pool.submit(work.mention, body, ref, on_error=lambda e: work.mention_failed(body, e))

    @app.event("channel_created")
    def on_channel_created(body: dict[str, Any]) -> None:
        pool.submit(work.channel_created, body)

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


def page_with_thread(page: Page, channel: str, ts: str) -> Page:
    """`page` placed in a Slack thread."""
    return page.model_copy(update={"channel": channel, "message_ts": ts})
