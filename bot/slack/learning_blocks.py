"""Block Kit for learning from incidents: the resolve-time question about the root cause, the weekly digest
with its Keep / Discard / Implemented buttons, the discard modal, and App Home's open recommendations.
Every message stays within Block Kit's limits (50 blocks, 3,000 characters a section)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.prevention.digest import Digest, WeekPoint
from bot.slack.blocks import (
    FEEDBACK_DOWN_ACTION,
    FEEDBACK_UP_ACTION,
    MAX_BLOCKS,
    MAX_MODAL_TITLE,
    MAX_SECTION_TEXT,
    button,
    context,
    encode_value,
    header,
    section,
)
from bot.slack.safety import untrusted
from bot.storage.tables import Recommendation

Block = dict[str, Any]

REC_KEEP_ACTION = "rec_keep"
REC_DISCARD_ACTION = "rec_discard"
REC_IMPLEMENTED_ACTION = "rec_implemented"
REC_DISCARD_CALLBACK = "rec_discard_modal"
REC_REASON_BLOCK = "discard_reason"
REC_REASON_ACTION = "discard_reason_input"
#: Recommendations listed in one digest (two blocks each); the rest are counted.
DIGEST_RECS = 15
_BARS = "▁▂▃▄▅▆▇█"


def cause_question(investigation_id: int, root_cause: str) -> tuple[str, list[Block]]:
    """The one message asked on resolve: was the root cause right? (its answer becomes the confirmed cause)."""
    value = encode_value(investigation=str(investigation_id), version=0)
    text = f"Resolved. Was the root cause right? {untrusted(root_cause, 500)}"
    return text, [
        section(f":white_check_mark: *Resolved.* Was the root cause right?\n> {untrusted(root_cause, 1000)}"),
        {
            "type": "actions",
            "block_id": "confirm_cause",
            "elements": [
                button("Yes, that was it", FEEDBACK_UP_ACTION, value, style="primary"),
                button("No, it was something else", FEEDBACK_DOWN_ACTION, value),
            ],
        },
        context(
            "Your answer becomes this incident's confirmed cause; the next investigation learns from it."
        ),
    ]


def _secs(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _spark(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    if top <= 0:
        return "".join(" " if v is None else _BARS[0] for v in values)
    return "".join(" " if v is None else _BARS[min(7, int(v / top * 7.999))] for v in values)


def trend_chart(points: Sequence[WeekPoint]) -> str:
    """The weeks' trend as a small text chart (a code block): incidents and median time to root cause."""
    counts = [float(p.incidents) for p in points]
    rc = [p.median_root_cause_s for p in points]
    first = points[0].start.strftime("%d %b") if points else ""
    return (
        "```\n"
        f"incidents      {_spark(counts)}  {int(counts[-1]) if counts else 0} this week\n"
        f"to root cause  {_spark(rc)}  {_secs(rc[-1] if rc else None)} this week\n"
        f"               weeks since {first}\n```"
    )


def recommendation_blocks(rec: Recommendation, *, buttons: bool = True) -> list[Block]:
    """One recommendation: what, where, why, and (when `buttons`) Keep / Discard / Implemented."""
    n = len(rec.incident_ids)
    status = "" if rec.status == "new" else f" · {rec.status}"
    text = (
        f"*{untrusted(rec.title, 300)}*\n{rec.kind} · {rec.priority} priority · {n} incident{'s' * (n != 1)}"
        f"{status}\n*Change:* {untrusted(rec.change, 800)}\n*Where:* {untrusted(rec.where, 400)}"
    )
    out = [section(text[:MAX_SECTION_TEXT])]
    if buttons:
        value = encode_value(rec=rec.id)
        out.append(
            {
                "type": "actions",
                "block_id": f"rec_{rec.id}",
                "elements": [
                    button("Keep", REC_KEEP_ACTION, value, style="primary"),
                    button("Discard", REC_DISCARD_ACTION, value),
                    button("Implemented", REC_IMPLEMENTED_ACTION, value),
                ],
            }
        )
    return out


def _incident_lines(d: Digest) -> list[str]:
    lines = []
    for m in d.incidents[:10]:
        cause = m.confirmed_cause or m.root_cause or "no root cause named"
        mark = " ✓" if m.confirmed else " ✗" if m.confirmed is False else ""
        lines.append(f"• {m.opened_at:%a %H:%M} {untrusted(m.title, 120)} — {untrusted(cause, 200)}{mark}")
    if len(d.incidents) > 10:
        lines.append(f"• … and {len(d.incidents) - 10} more")
    return lines


def _summary(d: Digest) -> str:
    acc = (
        f"{d.confirmed_right}/{d.confirmed_total} confirmed causes right ({d.accuracy:.0%})"
        if d.accuracy is not None
        else "no cause confirmed yet"
    )
    return (
        f"*{len(d.incidents)} incident{'s' * (len(d.incidents) != 1)}* · first finding after "
        f"{_secs(d.median_first_finding_s)} · root cause after {_secs(d.median_root_cause_s)} (medians) · {acc}"
    )


def digest_text(d: Digest) -> str:
    """The digest's notification text (and its one line when the week was empty)."""
    span = f"{d.start:%d %b}–{d.end:%d %b}"
    if d.empty:
        return f"Prevention digest {span}: a quiet week, no incidents and no recommendation waiting."
    return f"Prevention digest {span}: {len(d.incidents)} incidents, {len(d.open)} open recommendations."


def digest_blocks(d: Digest) -> list[Block]:
    """The weekly digest as Block Kit (one section when the week was empty)."""
    if d.empty:
        return [section(digest_text(d))]
    blocks: list[Block] = [header(f"Prevention digest · {d.start:%d %b}–{d.end:%d %b}"), section(_summary(d))]
    if d.incidents:
        blocks.append(section("\n".join(_incident_lines(d))[:MAX_SECTION_TEXT]))
    blocks.append(section(trend_chart(d.trend)))
    if d.recurring:
        lines = [f"• {untrusted(cause, 200)} ×{n}" for cause, n in d.recurring[:10]]
        blocks.append(section("*Recurring causes*\n" + "\n".join(lines)))
    new_ids = {r.id for r in d.new}
    ordered = list(d.new) + [r for r in d.open if r.id not in new_ids]
    if ordered:
        blocks.append(header(f"Recommendations ({len(d.new)} new, {len(d.open)} open)"))
    room = (MAX_BLOCKS - len(blocks) - 1) // 2
    for rec in ordered[: min(DIGEST_RECS, room)]:
        blocks.extend(recommendation_blocks(rec))
    if len(ordered) > min(DIGEST_RECS, room):
        blocks.append(context(f"{len(ordered) - min(DIGEST_RECS, room)} more in App Home."))
    return blocks[:MAX_BLOCKS]


def discard_modal(rec_id: int, title: str) -> Block:
    """The modal asking why a recommendation is discarded (a reason is required)."""
    return {
        "type": "modal",
        "callback_id": REC_DISCARD_CALLBACK,
        "private_metadata": str(rec_id),
        "title": {"type": "plain_text", "text": "Discard"[:MAX_MODAL_TITLE]},
        "submit": {"type": "plain_text", "text": "Discard"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"Why discard *{untrusted(title, 500)}*? It comes back only if new incidents change it."),
            {
                "type": "input",
                "block_id": REC_REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REC_REASON_ACTION,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 2000,
                },
            },
        ],
    }


def home_recommendations(recs: Sequence[Recommendation], limit: int) -> list[Block]:
    """App Home's open recommendations, each with its buttons."""
    blocks: list[Block] = [header(f"Open recommendations ({len(recs)})")]
    if not recs:
        blocks.append(section("_No recommendation waiting._"))
    for rec in list(recs)[:limit]:
        blocks.extend(recommendation_blocks(rec))
    return blocks


def blocks_as_text(blocks: Sequence[Block]) -> str:
    """Block Kit as plain terminal text: sections and headers as lines, buttons as `[Label]`."""
    lines: list[str] = []
    for b in blocks:
        if b.get("type") in ("section", "header"):
            lines.append(str((b.get("text") or {}).get("text", "")))
        elif b.get("type") == "context":
            lines.append(" ".join(str(e.get("text", "")) for e in b.get("elements") or []))
        elif b.get("type") == "actions":
            lines.append(
                "   " + " ".join(f"[{(e.get('text') or {}).get('text', '')}]" for e in b["elements"])
            )
        elif b.get("type") == "divider":
            lines.append("—" * 40)
    return "\n".join(lines)
