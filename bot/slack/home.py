"""App Home: open investigations and recent incidents, as one Block Kit ``home`` view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.investigation.ports import OpenInvestigation
from bot.slack.blocks import MAX_BLOCKS, context, header, section
from bot.slack.learning_blocks import home_recommendations
from bot.slack.safety import untrusted
from bot.storage.tables import Incident, Recommendation

#: Rows shown per list (each list is one section block per row).
MAX_ROWS = 20
#: Open recommendations shown (two blocks each: the text and its buttons).
MAX_RECOMMENDATIONS = 5


def _thread_link(channel: str | None, ts: str | None, label: str) -> str:
    if channel and ts:
        return f"<https://slack.com/app_redirect?channel={channel}&message_ts={ts}|{label}>"
    return label


def home_view(
    open_items: Sequence[OpenInvestigation],
    recent: Sequence[Incident],
    recommendations: Sequence[Recommendation] = (),
) -> dict[str, Any]:
    """The App Home view listing open investigations (newest first), open prevention recommendations (with
    Keep / Discard / Implemented) and the latest incidents."""
    blocks: list[dict[str, Any]] = [
        header("SRE teammate"),
        context("Mention me or use `/sre help` to ask things."),
    ]
    blocks.append(header(f"Open investigations ({len(open_items)})"))
    if not open_items:
        blocks.append(section("_Nothing is being investigated right now._"))
    for item in list(open_items)[:MAX_ROWS]:
        title = untrusted(item.title, 200)
        service = untrusted(item.service or "service unknown", 80)
        link = _thread_link(item.ref.channel, item.ref.thread_ts, "thread")
        blocks.append(
            section(f"*{title}*\n{service} · {untrusted(item.status, 40)} · since {item.started_at} · {link}")
        )
    blocks.append({"type": "divider"})
    blocks.extend(home_recommendations(recommendations, MAX_RECOMMENDATIONS))
    blocks.append({"type": "divider"})
    blocks.append(header("Recent incidents"))
    if not recent:
        blocks.append(section("_No incidents yet._"))
    for inc in list(recent)[:MAX_ROWS]:
        when = inc.opened_at.strftime("%Y-%m-%d %H:%M UTC")
        service = untrusted(inc.service or "service unknown", 80)
        link = _thread_link(inc.channel, inc.thread_ts, "thread")
        blocks.append(section(f"*{untrusted(inc.title, 200)}*\n{service} · {inc.status} · {when} · {link}"))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}
