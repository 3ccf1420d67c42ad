"""The Slack side of the `Notifier` port: the investigation's thread and its channel-level status line.

- ``post_page`` puts a page that came by webhook into the page channel, as the top of its thread;
- ``started`` replies in the page's thread with what the bot is looking at and posts the status line once;
- ``status`` edits that status line in place (``chat.update``);
- ``finding`` only queues: a flusher thread posts the queued findings of each investigation as one grouped
  message at most every ``flush_interval`` seconds (sooner when ``batch_size`` pile up), then marks them posted
  in the Store. A failed post (a 429 after the client's own retries, any API error) leaves them queued, and
  findings the Store still holds unposted are picked up again, so none is lost;
- ``report`` flushes the findings first, posts the report (split as `report_messages` splits it) and then,
  in the background, the chart the report carries (``Report.chart``: the alarm's metric or the root-cause
  service's signal, its onset) with the guilty change (``Report.guilty_change``) marked. The chart is drawn
  from the report alone: nothing here reads AWS or rediscovers the estate.

A failure nobody can be told of (the flusher, a chart) is logged with an error id.

Calls may be repeated (durable steps run at least once): the start reply and each report version carry
message metadata and are looked for in the thread before they are posted again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import Evidence, EvidenceKind, InvestigationStatus, Page, Report
from bot.investigation.ports import InvestigationRef
from bot.slack.blocks import LinkBuilder, finding_blocks, link, report_messages, status_text
from bot.slack.chart import signal_chart
from bot.slack.errors import log_failure
from bot.slack.learning_blocks import cause_question
from bot.slack.safety import untrusted
from bot.storage.store import Store
from bot.storage.tables import Finding

log = logging.getLogger(__name__)

_META_STARTED = "sre_bot_started"
_META_REPORT = "sre_bot_report"
_META_PAGE = "sre_bot_page"
_META_STATUS = "sre_bot_status"
_META_CAUSE = "sre_bot_cause_question"
#: How far back the page channel is read for a page posted before a crash.
_PAGE_LOOKBACK = 100

#: Runs `fn(*args)` elsewhere (the Slack surface's work pool): charts are drawn off the caller's thread.
Submit = Callable[..., Any]


@dataclass
class _Pending:
    ref: InvestigationRef
    findings: dict[int, Evidence] = field(default_factory=dict)
    last_flush: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def evidence_of(row: Finding) -> Evidence:
    """A stored finding as evidence: the workflow keeps the whole evidence in ``detail["evidence"]``."""
    detail = dict(row.detail or {})
    stored = detail.get("evidence")
    if isinstance(stored, dict):
        try:
            return Evidence.model_validate(stored)
        except ValueError:
            pass
    try:
        kind = EvidenceKind(row.kind)
    except ValueError:
        kind = EvidenceKind.NOTE
    return Evidence(kind=kind, service=row.service, summary=row.summary, at=row.found_at)


def announcement(page: Page) -> str:
    """The message that puts a webhook-delivered page into the page channel (untrusted text escaped)."""
    url = next(iter(page.links), None)
    number = f"[#{page.incident_number}] " if page.incident_number else ""
    via = {"pagerduty": "PagerDuty", "cloudwatch": "CloudWatch alarm"}.get(
        page.source.value, page.source.value
    )
    meta = " · ".join(untrusted(x, 80) for x in (page.service_hint, page.region, page.severity) if x)
    return f":rotating_light: *{via}*: {link(url, number + page.title, 300)}" + (f"\n{meta}" if meta else "")


#: How many incidents' top-level messages a notifier remembers.
_REMEMBERED = 10_000


def _remember(memory: OrderedDict[int, Any], key: int, value: Any) -> None:
    memory[key] = value
    while len(memory) > _REMEMBERED:
        memory.popitem(last=False)


class SlackNotifier:
    """Posts an investigation's progress into its Slack thread (implements `Notifier`)."""

    def __init__(
        self,
        client: WebClient,
        store: Store,
        links: LinkBuilder,
        *,
        flush_interval: float = 2.0,
        batch_size: int = 8,
        background: Submit | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.links = links
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.background = background
        self._pending: dict[str, _Pending] = {}
        self._posted_keys: set[str] = set()
        #: Top-level messages this process posted (incident id -> ts / (channel, ts)), so one whose ts could
        #: not be stored (the database was away) is edited, not posted again, when the call is repeated.
        self._status_lines: OrderedDict[int, str] = OrderedDict()
        self._pages: OrderedDict[int, tuple[str, str]] = OrderedDict()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="slack-findings", daemon=True)
        self._thread.start()

    # -- the Notifier port --------------------------------------------------------------------------------------

    def started(self, ref: InvestigationRef, page: Page, looking_at: str) -> None:
        """Reply in the page's thread with what we look at (the status line comes with `status`)."""
        if not ref.channel:
            return
        key = f"started:{ref.workflow_id}"
        if ref.thread_ts and not self._already_posted(ref, _META_STARTED, key):
            text = f":mag: On it: {untrusted(looking_at, 1500)} Findings follow in this thread."
            self.client.chat_postMessage(
                channel=ref.channel,
                thread_ts=ref.thread_ts,
                text=text,
                metadata={"event_type": _META_STARTED, "event_payload": {"key": key}},
                unfurl_links=False,
            )
            self._posted_keys.add(key)

    def finding(self, ref: InvestigationRef, finding_id: int, evidence: Evidence) -> None:
        """Queue a stored finding; the flusher posts it with its neighbours."""
        with self._cond:
            pending = self._pending.setdefault(ref.workflow_id, _Pending(ref))
            pending.findings.setdefault(finding_id, evidence)
            self._cond.notify()

    def report(self, ref: InvestigationRef, report: Report) -> None:
        """Post a report version in the thread (after the findings before it), then its chart."""
        if not ref.channel or not ref.thread_ts:
            return
        self.flush(ref)
        key = f"report:{ref.workflow_id}:v{report.version}"
        if self._already_posted(ref, _META_REPORT, key):
            return
        messages = report_messages(report, self.links, investigation_id=str(ref.investigation_id))
        for n, (text, blocks) in enumerate(messages):
            meta = {"event_type": _META_REPORT, "event_payload": {"key": key}} if n == 0 else None
            self.client.chat_postMessage(
                channel=ref.channel,
                thread_ts=ref.thread_ts,
                text=text,
                blocks=blocks,
                metadata=meta,
                unfurl_links=False,
            )
        self._posted_keys.add(key)
        if report.chart is not None and report.version == 1:
            if self.background is not None:
                self.background(self._post_chart, ref, report)
            else:
                self._post_chart(ref, report)

    def status(
        self, ref: InvestigationRef, status: InvestigationStatus, page: Page, root_cause: str | None
    ) -> None:
        """Post the channel-level status line once, then edit it in place."""
        if not ref.channel:
            return
        text = status_text(status, page, root_cause)
        incident = self.store.get_incident(ref.incident_id)
        stored = incident.status_message_ts if incident else None
        ts = stored or self._status_lines.get(ref.incident_id)
        if ts:
            self.client.chat_update(channel=ref.channel, ts=ts, text=text)
        else:
            resp = self.client.chat_postMessage(
                channel=ref.channel,
                text=text,
                metadata={"event_type": _META_STATUS, "event_payload": {"key": f"status:{ref.incident_id}"}},
                unfurl_links=False,
            )
            ts = str(resp["ts"])
            _remember(self._status_lines, ref.incident_id, ts)
        if not stored:
            self.store.set_incident_messages(ref.incident_id, status_message_ts=ts)
        if status == InvestigationStatus.RESOLVED and root_cause:
            self._ask_cause(ref, root_cause)

    def _ask_cause(self, ref: InvestigationRef, root_cause: str) -> None:
        """On resolve, ask once in the thread whether the root cause was right (the answer, or the correction
        written in the modal, becomes the incident's confirmed cause)."""
        key = f"cause:{ref.investigation_id}"
        if not ref.channel or not ref.thread_ts or self._already_posted(ref, _META_CAUSE, key):
            return
        text, blocks = cause_question(ref.investigation_id, root_cause)
        self.client.chat_postMessage(
            channel=ref.channel,
            thread_ts=ref.thread_ts,
            text=text,
            blocks=blocks,
            metadata={"event_type": _META_CAUSE, "event_payload": {"key": key}},
            unfurl_links=False,
        )
        self._posted_keys.add(key)

    def find_status_line(self, ref: InvestigationRef) -> str | None:
        """The ts of the incident's status line if one was posted (after its page) and never recorded: a
        crash came between posting it and storing its ts."""
        if not ref.channel:
            return None
        found = self._find_top_level(
            ref.channel, _META_STATUS, f"status:{ref.incident_id}", oldest=ref.thread_ts or "0"
        )
        return found

    def reply(self, ref: InvestigationRef, text: str) -> None:
        """A plain reply in the thread (the caller's text is treated as untrusted)."""
        if ref.channel and ref.thread_ts:
            self.client.chat_postMessage(
                channel=ref.channel, thread_ts=ref.thread_ts, text=untrusted(text, 3000), unfurl_links=False
            )

    def post_page(
        self, ref: InvestigationRef, page: Page, channel: str, *, maybe_posted: bool = False
    ) -> tuple[str, str] | None:
        """Post a webhook page into `channel`; returns (channel id, ts). When the call may be a repeat
        (`maybe_posted`: a retried or recovered step), a message carrying this incident's key is looked for
        in the channel's recent history first and reused. That needs `channel` to be an id (Slack reads no
        history by name): with a `#name` the page is posted again."""
        key = f"page:{ref.incident_id}"
        if ref.incident_id in self._pages:
            return self._pages[ref.incident_id]
        if maybe_posted and not channel.startswith("#"):
            found = self._posted_page(channel, key)
            if found is not None:
                return found
        resp = self.client.chat_postMessage(
            channel=channel,
            text=announcement(page),
            metadata={"event_type": _META_PAGE, "event_payload": {"key": key}},
            unfurl_links=False,
        )
        placed = str(resp["channel"]), str(resp["ts"])
        _remember(self._pages, ref.incident_id, placed)
        return placed

    def _posted_page(self, channel: str, key: str) -> tuple[str, str] | None:
        ts = self._find_top_level(channel, _META_PAGE, key)
        return (channel, ts) if ts else None

    def _find_top_level(self, channel: str, event_type: str, key: str, oldest: str = "0") -> str | None:
        """The ts of a recent top-level message of ours in `channel` carrying metadata `key`, if any."""
        try:
            resp = self.client.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=_PAGE_LOOKBACK
            )
        except SlackApiError:  # post it: a duplicate is better than a missing message
            log_failure(log, "reading %s failed; posting %s anyway", channel, key)
            return None
        for msg in resp.get("messages") or []:
            meta: dict[str, Any] = msg.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") == key:
                return str(msg["ts"])
        return None

    # -- findings -------------------------------------------------------------------------------------------------

    def flush(self, ref: InvestigationRef) -> bool:
        """Post every queued or stored-but-unposted finding of `ref` now; False if Slack refused."""
        with self._cond:
            pending = self._pending.setdefault(ref.workflow_id, _Pending(ref))
        return self._flush(pending)

    def _flush(self, pending: _Pending) -> bool:
        with pending.lock:
            ref = pending.ref
            with self._cond:
                batch = dict(pending.findings)
            for row in self.store.unposted_findings(ref.investigation_id):
                if row.id is not None and row.id not in batch:
                    batch[row.id] = evidence_of(row)
            pending.last_flush = time.monotonic()
            if not batch or not ref.channel or not ref.thread_ts:
                return True
            ids = sorted(batch)
            findings = [batch[i] for i in ids]
            noun = "finding" if len(findings) == 1 else "findings"
            text = f"{len(findings)} new {noun}: " + "; ".join(
                untrusted(f.summary, 200) for f in findings[:5]
            )
            try:
                resp = self.client.chat_postMessage(
                    channel=ref.channel,
                    thread_ts=ref.thread_ts,
                    text=text[:3000],
                    blocks=finding_blocks(findings, self.links),
                    unfurl_links=False,
                )
            except SlackApiError as err:
                log.warning(
                    "findings of %s not posted yet (%s); will retry",
                    ref.workflow_id,
                    err.response.get("error"),
                )
                return False
            for fid in ids:
                self.store.mark_posted(fid, str(resp["ts"]))
            with self._cond:
                for fid in ids:
                    pending.findings.pop(fid, None)
            return True

    def _due(self, now: float) -> tuple[list[_Pending], float]:
        """Investigations whose findings are due now, and seconds until the next one is."""
        due: list[_Pending] = []
        wait = 3600.0
        for p in self._pending.values():
            if not p.findings:
                continue
            at = p.last_flush + self.flush_interval
            if len(p.findings) >= self.batch_size and now - p.last_flush >= self.flush_interval / 4:
                at = now
            if at <= now:
                due.append(p)
            else:
                wait = min(wait, at - now)
        return due, wait

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                due, wait = self._due(time.monotonic())
                if not due:
                    self._cond.wait(timeout=wait)
                    continue
            for p in due:
                try:
                    self._flush(p)
                except Exception:  # never let the flusher die; the findings stay queued
                    log_failure(log, "flushing findings of %s failed", p.ref.workflow_id)

    def close(self, timeout: float = 5.0) -> None:
        """Flush what is queued (best effort) and stop the flusher."""
        with self._cond:
            pendings = list(self._pending.values())
        for p in pendings:
            if p.findings:
                try:
                    self._flush(p)
                except Exception:
                    log_failure(log, "final flush of %s failed", p.ref.workflow_id)
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- helpers --------------------------------------------------------------------------------------------------

    def _already_posted(self, ref: InvestigationRef, event_type: str, key: str) -> bool:
        """Whether the message `key` is in the thread already (memory first, then the thread's metadata)."""
        if key in self._posted_keys:
            return True
        if not ref.channel or not ref.thread_ts:
            return False
        try:
            resp = self.client.conversations_replies(
                channel=ref.channel, ts=ref.thread_ts, include_all_metadata=True, limit=200
            )
        except SlackApiError:  # post it: a duplicate is better than a missing report
            log_failure(log, "reading the thread of %s failed; posting %s anyway", ref.workflow_id, key)
            return False
        for msg in resp.get("messages") or []:
            meta: dict[str, Any] = msg.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") == key:
                self._posted_keys.add(key)
                return True
        return False

    def _post_chart(self, ref: InvestigationRef, report: Report) -> None:
        """Upload the report's chart into the thread, the guilty change marked (a failure is only logged)."""
        chart, change = report.chart, report.guilty_change
        if chart is None or not ref.channel or not ref.thread_ts:
            return
        try:
            png = signal_chart(
                chart.points,
                chart.onset,
                change.at if change else None,
                change.summary if change else None,
                chart.title,
                chart.threshold,
            )
            self.client.files_upload_v2(
                channel=ref.channel,
                thread_ts=ref.thread_ts,
                content=png,
                filename="signal.png",
                title=untrusted(chart.title, 200),
                initial_comment=(
                    "The alarm's metric, its threshold dotted: onset in red, the suspected change in amber."
                    if chart.threshold is not None
                    else "The alarmed signal: onset in red, the suspected change in amber."
                ),
                request_file_info=False,
            )
        except Exception:  # a chart is a nicety: never fail the report for it
            log_failure(log, "chart for %s not posted", ref.workflow_id)
