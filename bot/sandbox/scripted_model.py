"""A scripted model for the demo and the benchmarks: it reads the engine's report from the prompt, checks it
with three read-only tools at once (the skill the report links, the root service's recorded evidence, the
topology), then agrees, naming the root cause. It shows the model pass's wiring, tokens and latency without
a real model; it has no judgement of its own (`sre-bot eval --llm` with a real key measures that)."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.fake_anthropic import Turn, call, say, tool_use

_ROOT = re.compile(r"^Root cause: (\S+) — ([\w-]+)", re.M)
_RUNBOOK = re.compile(r"runbook: ([\w-]+)")


def _prompt(body: dict[str, Any]) -> str:
    first = body["messages"][0]["content"]
    return first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)


def echo_model(body: dict[str, Any]) -> Turn:
    """The next turn of the scripted model for the request `body`."""
    text = _prompt(body)
    root = _ROOT.search(text)
    service, category = (root.group(1), root.group(2)) if root else (None, "unknown")
    if len(body["messages"]) == 1:
        uses = [tool_use("topology", {}, "toolu_topology")]
        if service:
            uses.append(tool_use("recorded_evidence", {"service": service}, "toolu_evidence"))
        if book := _RUNBOOK.search(text):
            uses.append(tool_use("read_skill", {"name": book.group(1)}, "toolu_skill"))
        return call(*uses, note="Checking the engine's conclusion against the runbook and the evidence.")
    if service is None:
        return say("Verdict: agree — the engine named no root cause, and the evidence I read shows none.")
    return say(
        f"Verdict: agree — `{service}` is where the failure starts.\n"
        f"Root cause: `{service}` — {category} — as the engine found.\n"
        f"Why: the recorded evidence for `{service}` and the runbook's checks agree with the engine.\n"
        "Disagreements: none.\nFlagged: none."
    )
