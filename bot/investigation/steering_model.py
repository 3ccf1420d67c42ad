"""Steering the deterministic parser does not understand, read by the fast model into the same structured
steering (focus, ignore, window, cleared commits) plus a free-text hint.

The model answers through one forced tool call; its answer is checked before it counts: services must be
ones the estate has, the window must lie in the day before the page, commits must look like commits. What
does not pass is left out, so a model can only narrow what the engine looks at, never invent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.investigation.steering import Directive
from bot.llm.client import ModelRequest, ModelUnavailable
from bot.llm.prompts import prompt
from bot.llm.runtime import ModelRuntime

_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
#: The one tool the fast model answers with.
RECORD = {
    "name": "record_steering",
    "description": "Record what the engineer's message asks the investigation to change.",
    "input_schema": {
        "type": "object",
        "properties": {
            "focus": {"type": "array", "items": {"type": "string"}, "description": "services to focus on"},
            "ignore": {"type": "array", "items": {"type": "string"}, "description": "services to ignore"},
            "since_minutes": {
                "type": "integer",
                "description": "look only at the last N minutes before the page",
            },
            "cleared_commits": {
                "type": "array",
                "items": {"type": "string"},
                "description": "commits said to be fine",
            },
            "clear_blamed": {
                "type": "boolean",
                "description": "the change the report blamed is said to be fine",
            },
            "hint": {"type": "string", "description": "anything else the engineer said, in one sentence"},
        },
        "required": ["hint"],
    },
}


@dataclass(frozen=True)
class Interpreted:
    """The directive the model's answer comes to, and its free-text hint."""

    directive: Directive
    hint: str = ""


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def checked(text: str, data: dict[str, Any], services: Sequence[str], now: datetime) -> Interpreted:
    """The model's answer `data` as a directive, keeping only what checks out."""
    known = {s.lower(): s for s in services}
    focus = tuple(known[s.lower()] for s in _strings(data, "focus") if s.lower() in known)
    ignore = tuple(known[s.lower()] for s in _strings(data, "ignore") if s.lower() in known)
    minutes = data.get("since_minutes")
    since = now - timedelta(minutes=minutes) if isinstance(minutes, int) and 0 < minutes <= 26 * 60 else None
    commits = tuple(c.lower() for c in _strings(data, "cleared_commits") if _COMMIT.match(c.lower()))
    clear = data.get("clear_blamed") is True
    understood = bool(focus or ignore or since or commits or clear)
    hint = data.get("hint") if isinstance(data.get("hint"), str) else ""
    directive = Directive(text, understood, focus, ignore, since, clear, commits)
    return Interpreted(directive, str(hint)[:300])


def interpret(runtime: ModelRuntime, text: str, services: Sequence[str], now: datetime) -> Interpreted | None:
    """The fast model's reading of a steering message, or None when the model is unavailable."""
    request = ModelRequest(
        model=runtime.fast_model,
        system=[
            {"type": "text", "text": prompt("steering", services=", ".join(services), now=now.isoformat())}
        ],
        messages=[{"role": "user", "content": text}],
        tools=[RECORD],
        tool_choice={"type": "tool", "name": RECORD["name"]},
        max_tokens=512,
    )
    try:
        turn = runtime.sender.turn(request)
    except ModelUnavailable:
        return None
    uses = [u for u in turn.tool_uses() if u.get("name") == RECORD["name"]]
    if not uses or not isinstance(uses[0].get("input"), dict):
        return None
    return checked(text, uses[0]["input"], services, now)
