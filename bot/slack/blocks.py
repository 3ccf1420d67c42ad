"""Block Kit rendering: progress findings, the report and plan, the channel status line, the feedback modal.

Everything stays inside Block Kit's limits (docs.slack.dev/reference/block-kit): 50 blocks per message,
3000 characters per section text, 2000 per section field and 10 fields, 150 per header, 10 elements per
context block, 75 per button label and 2000 per button value, 24 per modal title. A report too long for one
message is split into several, each with its own fallback text. Every untrusted string (summaries, log
lines, commit messages, names) goes through :mod:`bot.slack.safety` first.

Evidence links are built by :class:`LinkBuilder` from ``Evidence.link`` or, failing that, from the evidence's
typed facts: a change's own link, its commit (``repo`` + ``commit``) or its record (a GitHub workflow run, a
CloudTrail event, an Auto Scaling group's activity, a CloudFormation stack's events); a log finding's
``log_group`` (Logs Insights, filtered on its exception when it names one).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import (
    Change,
    ChangeSource,
    Evidence,
    EvidenceKind,
    Hypothesis,
    InvestigationStatus,
    Page,
    Phase,
    Plan,
    PlanStep,
    Report,
    TimelineEntry,
)
from bot.slack.safety import code_span, untrusted, untrusted_plain

# Block Kit limits.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
MAX_MODAL_TITLE = 24
MAX_URL = 3000
#: Our own budgets: fallback text per message, and all text per message (long messages read badly).
MAX_FALLBACK_TEXT = 3000
MAX_MESSAGE_TEXT = 24_000

APPROVE_ACTION = "plan_approve"
REJECT_ACTION = "plan_reject"
FIX_ISSUE_ACTION = "fix_issue"
FIX_REVERT_ACTION = "fix_revert"
FEEDBACK_UP_ACTION = "feedback_up"
FEEDBACK_DOWN_ACTION = "feedback_down"
FEEDBACK_CALLBACK = "feedback_modal"
FEEDBACK_INPUT_BLOCK = "actual_cause"
FEEDBACK_INPUT_ACTION = "actual_cause_input"

KIND_EMOJI: dict[EvidenceKind, str] = {
    EvidenceKind.METRIC: ":chart_with_upwards_trend:",
    EvidenceKind.CHANGE: ":twisted_rightwards_arrows:",
    EvidenceKind.LOG: ":scroll:",
    EvidenceKind.TRACE: ":thread:",
    EvidenceKind.STATUS: ":globe_with_meridians:",
    EvidenceKind.TOPOLOGY: ":world_map:",
    EvidenceKind.NOTE: ":memo:",
}
PHASE_TITLES: dict[Phase, str] = {
    Phase.PREPARE: "Prepare",
    Phase.PRE_VALIDATE: "Pre-validate",
    Phase.APPLY: "Apply",
    Phase.POST_VALIDATE: "Post-validate",
    Phase.ROLLBACK: "Rollback (if post-validation fails)",
}

Block = dict[str, Any]


# -- links -------------------------------------------------------------------------------------------------------


def _jsurl(text: str) -> str:
    """A string in JSURL notation, as the CloudWatch console's fragments use (``'`` + ``*XX`` escapes)."""
    out = ["'"]
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch in "-_."):
            out.append(ch)
        elif ord(ch) < 256:
            out.append(f"*{ord(ch):02x}")
        else:
            out.append(f"**{ord(ch):04x}")
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """`url` if it is http(s), with the characters that would break a mrkdwn link percent-encoded."""
    if not url:
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")) or len(url) > MAX_URL:
        return None
    for ch, enc in (
        ("|", "%7C"),
        ("<", "%3C"),
        (">", "%3E"),
        (" ", "%20"),
        ("\n", ""),
        ("\r", ""),
        ("\t", ""),
    ):
        url = url.replace(ch, enc)
    return url


def link(url: str | None, label: str, limit: int = 200) -> str:
    """A mrkdwn link with an escaped label, or just the escaped label when the URL is unusable."""
    text = untrusted(label, limit) or "link"
    safe = safe_url(url)
    return f"<{safe}|{text}>" if safe else text


@dataclass(frozen=True)
class LinkBuilder:
    """Deep links into the AWS console and GitHub for one region."""

    region: str
    github_base: str = "https://github.com"
    console_base: str | None = None

    @property
    def console(self) -> str:
        """The console's base URL for the region."""
        return (self.console_base or f"https://{self.region}.console.aws.amazon.com").rstrip("/")

    def _q(self, value: str) -> str:
        return urllib.parse.quote(value, safe="")

    def alarm(self, name: str) -> str:
        """The CloudWatch alarm's page."""
        return f"{self.console}/cloudwatch/home?region={self.region}#alarmsV2:alarm/{self._q(name)}"

    def log_insights(self, log_group: str, query: str | None = None, minutes: int = 180) -> str:
        """Logs Insights on one log group, over the last `minutes`, with `query` in the editor."""
        q = (
            query
            or "fields @timestamp, @message | filter @message like /(?i)error/ | sort @timestamp desc | limit 100"
        )
        detail = (
            f"~(end~0~start~-{minutes * 60}~timeType~'RELATIVE~unit~'seconds~editorString~{_jsurl(q)}"
            f"~source~(~{_jsurl(log_group)}))"
        )
        return f"{self.console}/cloudwatch/home?region={self.region}#logsV2:logs-insights$3FqueryDetail$3D{detail}"

    def cloudtrail_event(self, event_id: str) -> str:
        """One CloudTrail event in event history."""
        return f"{self.console}/cloudtrailv2/home?region={self.region}#/events/{self._q(event_id)}"

    def cloudtrail_history(self, resource_name: str | None = None) -> str:
        """CloudTrail event history, filtered to a resource name when given."""
        suffix = f"?ResourceName={self._q(resource_name)}" if resource_name else ""
        return f"{self.console}/cloudtrailv2/home?region={self.region}#/events{suffix}"

    def asg(self, name: str) -> str:
        """The Auto Scaling group's activity tab."""
        return f"{self.console}/ec2/home?region={self.region}#AutoScalingGroupDetails:id={self._q(name)};view=activity"

    def commit(self, repo: str, sha: str) -> str:
        """A GitHub commit."""
        return f"{self.github_base.rstrip('/')}/{repo.strip('/')}/commit/{self._q(sha)}"

    def workflow_run(self, repo: str, run_id: str) -> str:
        """A GitHub Actions workflow run."""
        return f"{self.github_base.rstrip('/')}/{repo.strip('/')}/actions/runs/{self._q(run_id)}"

    def cloudformation_stack(self, stack: str) -> str:
        """A CloudFormation stack's events."""
        return (
            f"{self.console}/cloudformation/home?region={self.region}#/stacks/events?stackId={self._q(stack)}"
        )

    def for_evidence(self, ev: Evidence) -> str | None:
        """The best link for a finding: its own, else one built from its change or its log group."""
        if safe_url(ev.link):
            return ev.link
        if ev.change is not None and (url := self.for_change(ev.change)):
            return url
        if ev.log_group:
            return self.log_insights(ev.log_group, _exception_query(ev.exception))
        return None

    def for_change(self, change: Change) -> str | None:
        """A change's own link, else its commit, else the record it was read from."""
        if safe_url(change.link):
            return change.link
        if change.repo and change.commit:
            return self.commit(change.repo, change.commit)
        record = change.source_id
        if change.source is ChangeSource.GITHUB and change.repo and record:
            return self.workflow_run(change.repo, record)
        if change.source is ChangeSource.CLOUDTRAIL and record:
            return self.cloudtrail_event(record)
        if change.source is ChangeSource.AUTOSCALING and change.resource:
            return self.asg(change.resource)
        if change.source is ChangeSource.CLOUDFORMATION and change.resource:
            return self.cloudformation_stack(change.resource)
        return None


def _exception_query(exception: str | None) -> str | None:
    """A Logs Insights query for the lines naming `exception` (None: the default error query)."""
    name = (exception or "").rsplit("$", 1)[-1]  # a nested class is logged under its own name too
    literal = "".join(ch for ch in name if ch.isalnum() or ch in "._")
    if not literal:
        return None
    return (
        f"fields @timestamp, @message | filter @message like /{literal}/ | sort @timestamp desc | limit 100"
    )


# -- primitives --------------------------------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text or " "}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": untrusted_plain(text, limit) or " ", "emoji": True}


def section(text: str) -> Block:
    """A section of already-safe mrkdwn, cut to the limit."""
    if len(text) > MAX_SECTION_TEXT:
        text = text[: MAX_SECTION_TEXT - 1] + "…"
    return {"type": "section", "text": _mrkdwn(text)}


def header(text: str) -> Block:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": _plain(text, MAX_HEADER_TEXT)}


def context(*texts: str) -> Block:
    """A context block of already-safe mrkdwn elements."""
    elements = [_mrkdwn(t[:MAX_CONTEXT_TEXT]) for t in texts[:MAX_CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def button(
    label: str, action_id: str, value: str, style: str | None = None, confirm: Block | None = None
) -> Block:
    """A button; the value is cut to Block Kit's limit."""
    out: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, MAX_BUTTON_TEXT),
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        out["style"] = style
    if confirm:
        out["confirm"] = confirm
    return out


def _pack_lines(title: str, lines: Sequence[str], limit: int = MAX_SECTION_TEXT) -> list[Block]:
    """Sections holding `lines` under `title`, each within the section text limit."""
    blocks: list[Block] = []
    current = title
    for line in lines:
        line = line if len(line) <= limit - 2 else line[: limit - 3] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            blocks.append(section(current))
            current = line
        else:
            current = candidate
    if current:
        blocks.append(section(current))
    return blocks


def _time(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S") if at else ""


def _pct(confidence: float) -> str:
    return f"{round(max(0.0, min(1.0, confidence)) * 100)}%"


def encode_value(**fields: Any) -> str:
    """A button value: compact JSON of `fields`."""
    return json.dumps(fields, separators=(",", ":"), sort_keys=True)[:MAX_BUTTON_VALUE]


def decode_value(value: str | None) -> dict[str, Any]:
    """The fields of a button value made by :func:`encode_value` ({} when unreadable)."""
    try:
        out = json.loads(value or "")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


# -- findings ----------------------------------------------------------------------------------------------------


def finding_line(ev: Evidence, links: LinkBuilder | None = None) -> str:
    """One finding as one mrkdwn line: emoji, service, summary, time, source link."""
    emoji = KIND_EMOJI.get(ev.kind, ":small_blue_diamond:")
    parts = [emoji]
    if ev.service:
        parts.append(f"*{untrusted(ev.service, 80)}*")
    parts.append(untrusted(" ".join(ev.summary.split()), 600))
    tail = []
    if ev.at:
        tail.append(f"`{_time(ev.at)}`")
    url = links.for_evidence(ev) if links else (ev.link if safe_url(ev.link) else None)
    if url or ev.source:
        tail.append(link(url, ev.source or "source", 80) if url else untrusted(ev.source, 80))
    line = " ".join(parts) + (" · " + " · ".join(tail) if tail else "")
    return line.replace("\r", " ").replace("\n", " ")


def finding_blocks(findings: Sequence[Evidence], links: LinkBuilder | None = None) -> list[Block]:
    """A compact progress update: findings grouped by kind, one line each, within one message's limits."""
    if not findings:
        return []
    order = list(dict.fromkeys(ev.kind for ev in findings))
    blocks: list[Block] = []
    shown = 0
    for kind in order:
        lines = [finding_line(ev, links) for ev in findings if ev.kind == kind]
        for block in _pack_lines("", lines):
            if len(blocks) >= MAX_BLOCKS - 1:
                break
            blocks.append(block)
            shown += block["text"]["text"].count("\n") + 1
    if shown < len(findings):
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(context(f"…and {len(findings) - shown} more findings in the report"))
    return blocks


# -- the report --------------------------------------------------------------------------------------------------


def _hypothesis_line(h: Hypothesis, with_check: bool = False) -> str:
    service = f"*{untrusted(h.service, 80)}* " if h.service else ""
    line = f"• {_pct(h.confidence)} {service}({h.category.value}) {untrusted(h.summary, 500)}"
    return line + (f"\n    _to settle it:_ {untrusted(h.check, 400)}" if with_check and h.check else "")


def _change_line(report: Report, links: LinkBuilder) -> str | None:
    """The guilty change, linked to its commit or record, with who made it; else the root cause's change id."""
    change = report.guilty_change
    if change is not None:
        who = f" by {untrusted(change.who, 120)}" if change.who else ""
        return f"Change: {link(links.for_change(change), change.summary, 300)}{who}"
    rc = report.root_cause
    return f"Change: {code_span(rc.change_id, 200)}" if rc and rc.change_id else None


def _root_cause_units(report: Report, links: LinkBuilder) -> list[list[Block]]:
    rc = report.root_cause
    if rc is None:
        units = [
            [
                section(
                    "*Root cause:* not established. The leading hypotheses are below; see what could not be checked."
                )
            ]
        ]
    else:
        head = "*Inconclusive* · leading hypothesis" if report.inconclusive else "*Root cause*"
        lines = [f"{head} · {_pct(rc.confidence)} confidence"]
        who = f"*{untrusted(rc.service, 80)}* · " if rc.service else ""
        lines.append(f"{who}{rc.category.value}")
        lines.append(untrusted(rc.summary, 2000))
        if (change := _change_line(report, links)) is not None:
            lines.append(change)
        if report.inconclusive and rc.check:
            lines.append(f"_To settle it:_ {untrusted(rc.check, 400)}")
        if report.runbook is not None:
            book = report.runbook
            lines.append(f"Runbook: {code_span(book.path, 200)} — {untrusted(book.description, 300)}")
        if report.owners:
            lines.append("Owners: " + untrusted(", ".join(report.owners), 300))
        units = [[section("\n".join(lines))]]
    others = [h for h in report.hypotheses if rc is None or h != rc]
    if others:
        lines_ = [_hypothesis_line(h, report.inconclusive) for h in others]
        units.append(_pack_lines("*Other hypotheses*", lines_))
    return units


def _step_text(step: PlanStep) -> str:
    text = untrusted(step.description, 1500)
    if step.action is not None:
        text += f" {code_span(step.action.value, 120)}"
        if step.params:
            params = ", ".join(f"{k}={v}" for k, v in list(step.params.items())[:10])
            text += f" {code_span(params, 400)}"
    return text


def _executable(step: PlanStep) -> bool:
    return step.action is not None and step.mutating and step.phase != Phase.ROLLBACK


def _approval_unit(lead: str, index: int, step: PlanStep, investigation_id: str | None) -> list[Block]:
    """An executable step with its Approve / Reject buttons."""
    action = step.action.value if step.action is not None else ""
    value = encode_value(action=action, step=index, investigation=investigation_id)
    confirm = {
        "title": _plain("Run this step?", 100),
        "text": _plain(f"{step.description} ({action})", 300),
        "confirm": _plain("Run it", 30),
        "deny": _plain("Cancel", 30),
    }
    return [
        section(f"{lead}:arrow_forward: {_step_text(step)}"),
        {
            "type": "actions",
            "block_id": f"plan_step:{index}"[:MAX_BLOCK_ID],
            "elements": [
                button("Approve", APPROVE_ACTION, value, "primary", confirm),
                button("Reject", REJECT_ACTION, value, "danger"),
            ],
        },
    ]


def _phase_units(
    title: str, steps: list[tuple[int, PlanStep]], investigation_id: str | None
) -> list[list[Block]]:
    """One phase's steps: runs of plain steps packed together, each executable step a unit of its own."""
    pending: list[str] = []
    units: list[list[Block]] = []
    for index, step in steps:
        if not _executable(step):
            pending.append(f"• {_step_text(step)}")
            continue
        if pending:
            units.append(_pack_lines(title if not units else "", pending))
            pending = []
        units.append(_approval_unit(f"{title}\n" if not units else "", index, step, investigation_id))
    if pending:
        units.append(_pack_lines(title if not units else "", pending))
    return units


def _plan_units(plan: Plan, investigation_id: str | None) -> list[list[Block]]:
    units: list[list[Block]] = [
        [
            header(f"Mitigation plan: {plan.mitigation.value}"),
            section(untrusted(plan.summary, 2900) or "_no summary_"),
        ]
    ]
    number = 0
    for phase in Phase:
        steps = [(i, s) for i, s in enumerate(plan.steps) if s.phase == phase]
        if steps:
            number += 1
            units += _phase_units(f"*{number}. {PHASE_TITLES[phase]}*", steps, investigation_id)
    if plan.long_term_fix:
        units.append([section(f"*Long-term fix*\n{untrusted(plan.long_term_fix, 2800)}")])
    return units


def _feedback_unit(report: Report, investigation_id: str | None) -> list[Block]:
    value = encode_value(investigation=investigation_id, version=report.version)
    return [
        context("Was this analysis right? Your answer teaches the next investigation."),
        {
            "type": "actions",
            "block_id": "feedback",
            "elements": [
                button("👍 Right", FEEDBACK_UP_ACTION, value),
                button("👎 Not right", FEEDBACK_DOWN_ACTION, value),
            ],
        },
    ]


def _timeline_line(entry: TimelineEntry, guilty_change_id: str | None) -> str:
    """One timeline line; the guilty change's line is marked."""
    mark = ":warning: " if guilty_change_id and entry.change_id == guilty_change_id else ""
    return f"`{entry.at.strftime('%H:%M:%S')}` {mark}{untrusted(entry.text, 500)}"


def _fix_units(report: Report, investigation_id: str | None) -> list[list[Block]]:
    """The long-term fix's buttons: a GitHub issue in the guilty service's repository, and a revert pull
    request when the guilty change is a commit (values say only which investigation)."""
    change = report.guilty_change
    if investigation_id is None or change is None or not change.repo:
        return []
    value = encode_value(investigation=investigation_id)
    buttons = [button("Open a GitHub issue", FIX_ISSUE_ACTION, value)]
    if change.commit:
        buttons.append(button(f"Open a revert PR of {change.commit[:7]}", FIX_REVERT_ACTION, value))
    return [[{"type": "actions", "block_id": "long_term_fix", "elements": buttons}]]


def _report_units(report: Report, links: LinkBuilder, investigation_id: str | None) -> list[list[Block]]:
    units: list[list[Block]] = [
        [header(f"Report: {report.page_title}"), context(f"Report v{report.version}")],
        [section(f"*Impact*\n{untrusted(report.impact, 2900) or '_unknown_'}")],
    ]
    units += _root_cause_units(report, links)
    if report.evidence:
        lines = [finding_line(ev, links) for ev in report.evidence]
        units += [[b] for b in _pack_lines(f"*Evidence* ({len(report.evidence)})", lines)]
    if report.timeline:
        guilty = report.guilty_change.id if report.guilty_change else None
        lines = [_timeline_line(e, guilty) for e in sorted(report.timeline, key=lambda e: e.at)]
        units += [[b] for b in _pack_lines("*Timeline* (UTC)", lines)]
    if report.ruled_out:
        lines = []
        for r in report.ruled_out:
            what = r.signal.label() if r.signal else r.change_id
            ref = f" ({code_span(what, 120)})" if what else ""
            lines.append(f"• *{untrusted(r.subject, 200)}*{ref}: {untrusted(r.reason, 600)}")
        units += [[b] for b in _pack_lines("*Ruled out*", lines)]
    if report.gaps:
        lines = [f"• {untrusted(g.source, 120)}: {untrusted(g.reason, 600)}" for g in report.gaps]
        units += [[b] for b in _pack_lines(":warning: *Could not check*", lines)]
    if report.plan:
        units += _plan_units(report.plan, investigation_id)
        units += _fix_units(report, investigation_id)
    if report.model_note:
        units.append([context(untrusted(report.model_note, 300))])
    units.append(_feedback_unit(report, investigation_id))
    return units


def _text_size(blocks: Iterable[Block]) -> int:
    return len(json.dumps(list(blocks), ensure_ascii=False))


def _pack_messages(units: list[list[Block]]) -> list[list[Block]]:
    """Units (blocks that belong together) packed into messages, leaving room for a continuation note."""
    messages: list[list[Block]] = [[]]
    for unit in units:
        current = messages[-1]
        fits = len(current) + len(unit) <= MAX_BLOCKS - 1 and _text_size(current + unit) <= MAX_MESSAGE_TEXT
        if current and not fits:
            messages.append([])
        messages[-1].extend(unit)
    return [m for m in messages if m]


def report_messages(
    report: Report, links: LinkBuilder, *, investigation_id: str | None = None
) -> list[tuple[str, list[Block]]]:
    """The report and its plan as one or more messages: ``(fallback text, blocks)`` each, within limits.

    Executable mutating steps (not rollback steps, which run automatically) get Approve / Reject buttons
    (``plan_approve`` / ``plan_reject``) whose value is ``{"action", "step", "investigation"}`` as JSON; the
    last message ends with 👍 / 👎 buttons (``feedback_up`` / ``feedback_down``).
    """
    messages = _pack_messages(_report_units(report, links, investigation_id))
    total = len(messages)
    title = untrusted(report.page_title, 200)
    rc = report.root_cause
    out: list[tuple[str, list[Block]]] = []
    for n, blocks in enumerate(messages, start=1):
        if n == 1:
            summary = (
                f"root cause ({_pct(rc.confidence)}): {untrusted(rc.summary, 1000)}"
                if rc
                else "root cause not established"
            )
            fallback = f"Report: {title}: {summary}"
        else:
            fallback = f"Report: {title} (continued, part {n} of {total})"
            blocks = [context(f"_{title}: report continued, part {n} of {total}_"), *blocks]
        if total > 1 and n == 1:
            blocks = [*blocks, context(f"_continued in {total - 1} more message{'s' if total > 2 else ''}_")]
        out.append((fallback[:MAX_FALLBACK_TEXT], blocks))
    return out


# -- status line and feedback ------------------------------------------------------------------------------------

_STATES: dict[InvestigationStatus, str] = {
    InvestigationStatus.INVESTIGATING: ":mag: *Investigating*",
    InvestigationStatus.ROOT_CAUSE_FOUND: ":dart: *Root cause found*",
    InvestigationStatus.MITIGATION_PROPOSED: ":hammer_and_wrench: *Mitigation proposed*",
    InvestigationStatus.MITIGATING: ":gear: *Mitigating*",
    InvestigationStatus.RESOLVED: ":white_check_mark: *Resolved*",
    InvestigationStatus.INCONCLUSIVE: ":grey_question: *Inconclusive*",
    InvestigationStatus.FAILED: ":x: *Investigation failed*",
}
_STATE_ALIASES = {"root_cause": "root_cause_found", "found": "root_cause_found", "proposed": "mitigation_proposed",
                  "plan": "mitigation_proposed", "applying": "mitigating", "ok": "resolved", "done": "resolved"}  # fmt: skip


def status_text(state: InvestigationStatus | str, page: Page, root_cause: str | None = None) -> str:
    """The channel-level status line, edited in place as the investigation moves on.

    `state` is an `InvestigationStatus` or its value (spaces or dashes instead of underscores are fine);
    anything else is shown as it is.
    """
    key = str(state).strip().lower().replace(" ", "_").replace("-", "_")
    key = _STATE_ALIASES.get(key, key)
    known = InvestigationStatus(key) if key in InvestigationStatus._value2member_map_ else None
    badge = _STATES[known] if known else f":information_source: *{untrusted(str(state), 40)}*"
    if page.incident_number:
        subject = f"[#{page.incident_number[:20]}] {page.title[:200]}"
    else:
        subject = (page.alarm_name or page.title)[:200]
    url = next((u for u in page.links if safe_url(u)), None)
    parts = [f"{badge}: {link(url, subject, 250)}"]
    meta = [untrusted(x, 60) for x in (page.service_hint, page.region) if x]
    if meta:
        parts.append(" · ".join(meta))
    text = " · ".join(parts)
    if root_cause:
        text += f"\n> {untrusted(root_cause, 1000)}"
    return text[:MAX_SECTION_TEXT]


def feedback_modal(investigation_id: str) -> Block:
    """The 👎 modal: what was the cause really? (``callback_id`` ``feedback_modal``)."""
    return {
        "type": "modal",
        "callback_id": FEEDBACK_CALLBACK,
        "private_metadata": investigation_id[:3000],
        "title": {"type": "plain_text", "text": "What was the cause?"[:MAX_MODAL_TITLE]},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section("Thanks. Tell me what the cause really was, and I will learn from it for next time."),
            {
                "type": "input",
                "block_id": FEEDBACK_INPUT_BLOCK,
                "label": {"type": "plain_text", "text": "The actual cause"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_INPUT_ACTION,
                    "multiline": True,
                    "max_length": 3000,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "e.g. the connection pool change in orders-api, not the deploy",
                    },
                },
            },
        ],
    }
