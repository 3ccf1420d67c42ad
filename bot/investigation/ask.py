"""Free-form questions answered by the model with the read-only tools (when a key is set): what the
deterministic question parser does not understand. The answer is grounded like a report (unsupported lines
dropped and listed), cites the tools it called, and carries the model's usage."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bot.investigation.model_tools import EvidenceTools
from bot.llm.budget import Caps
from bot.llm.client import ModelUnavailable
from bot.llm.grounding import ground
from bot.llm.loop import ToolLoop
from bot.llm.mcp_tools import mcp_tools
from bot.llm.prompts import prompt
from bot.llm.runtime import ModelRuntime

#: Model turns a question may take (fewer than an investigation's).
ASK_STEPS = 5


@dataclass
class ModelAnswer:
    """The model's answer: its grounded lines, what it looked at, what was dropped, and the usage."""

    lines: list[str]
    looked_at: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    footer: str = ""
    notes: list[str] = field(default_factory=list)
    available: bool = True

    def text_lines(self) -> list[str]:
        """The answer as lines for the thread."""
        out = list(self.lines)
        if self.looked_at:
            out.append("Looked at: " + "; ".join(self.looked_at))
        if self.dropped:
            out.append("Dropped (no tool result supports it): " + "; ".join(self.dropped))
        if self.flagged:
            out.append(
                "Flagged, not followed (text that tried to give instructions): " + "; ".join(self.flagged)
            )
        out += self.notes
        if self.footer:
            out.append(self.footer)
        return out


def ask_model(runtime: ModelRuntime, tools: EvidenceTools, question: str) -> ModelAnswer:
    """Answer `question` with the strong model and `tools`, within a smaller step cap than an investigation."""
    caps = Caps(
        max_steps=min(ASK_STEPS, runtime.caps.max_steps),
        tokens=runtime.caps.tokens // 4,
        usd=runtime.caps.usd / 4,
        tool_result_chars=runtime.caps.tool_result_chars,
    )
    with mcp_tools(runtime.mcp_servers, runtime.mcp_timeout_s) as mcp:
        offered = [*tools.tools(), *mcp.tools]
        loop = ToolLoop(runtime.sender, offered, caps, daily=runtime.daily, max_tokens=runtime.max_tokens)
        try:
            result = loop.run(runtime.strong_model, prompt("ask", now=tools.now.isoformat()), question)
        except ModelUnavailable as err:
            return ModelAnswer([f"The model is unavailable ({err})."], notes=mcp.notes(), available=False)
    corpus = "\n".join([question, *tools.estate.services, *(c.result for c in result.calls if c.ok)])
    grounded = ground(result.text, corpus.lower())
    looked = [f"{c.name}({json.dumps(c.args, sort_keys=True)[1:-1]})" for c in result.calls]
    return ModelAnswer(
        grounded.text.splitlines() or ["(nothing the tools showed supports an answer)"],
        looked_at=looked,
        dropped=grounded.dropped,
        flagged=result.flagged,
        footer=result.totals.footer(),
        notes=mcp.notes(),
    )
