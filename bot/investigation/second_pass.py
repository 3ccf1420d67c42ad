"""The model's second pass: after the deterministic report, the strong model investigates from it with the
same read-only tools and writes a refined report for the same thread, saying where it agrees or disagrees.

Its report is grounded before anyone reads it (lines naming anything absent from the recorded evidence and
the tool results are dropped and listed) and text in the evidence that tries to instruct the model is
flagged. It can change nothing: its tools only read, and it never touches the plan or its approvals. When
the model is unavailable (no key, API errors, budgets), the deterministic report stands and the reply says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.investigation.engine import Gathered, Investigator
from bot.investigation.model_tools import EvidenceTools
from bot.llm.client import ModelUnavailable
from bot.llm.grounding import ground
from bot.llm.injection import suspicious
from bot.llm.loop import LoopResult, ToolLoop
from bot.llm.mcp_tools import mcp_tools
from bot.llm.prompts import prompt
from bot.llm.runtime import ModelRuntime
from bot.sources.knowledge import Knowledge

#: What the report says when no model pass will follow, and when one will.
NO_KEY_NOTE = "model: none (ANTHROPIC_API_KEY is not set); this deterministic report stands."
MODEL_NOTE = "A model pass (second opinion with the same read-only tools) follows in this thread."


@dataclass
class SecondOpinion:
    """The model pass's outcome: its grounded text, or why there is none; what was dropped and flagged."""

    available: bool
    text: str = ""
    reason: str = ""
    dropped: list[str] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)
    footer: str = ""
    notes: list[str] = field(default_factory=list)
    tool_calls: int = 0
    turns: int = 0
    tokens_in: int = 0
    cached_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    def reply(self) -> str:
        """The thread reply."""
        if not self.available:
            head = f"Model pass unavailable ({self.reason}): the deterministic report above stands."
            return "\n".join([head, *(f"• {n}" for n in self.notes)])
        out = ["*Second opinion (model)*", self.text or "_(nothing the evidence supports)_"]
        if self.dropped:
            out.append("Dropped, not supported by recorded evidence or tool results:")
            out += [f"• {d}" for d in self.dropped]
        if self.flagged:
            out.append(":warning: Text in the evidence tried to give instructions; flagged and not followed:")
            out += [f"• {f}" for f in self.flagged]
        out += [f"• {n}" for n in self.notes]
        out.append(f"_{self.footer}_")
        return "\n".join(out)


def _corpus(gathered: Gathered, report_body: str, loop: LoopResult) -> str:
    """Everything the model may cite: the report, every finding, the estate, and the results it read."""
    parts = [report_body, gathered.page.model_dump_json()]
    parts += [e.model_dump_json() for e in gathered.findings]
    parts += [c.model_dump_json() for c in gathered.facts.changes]
    parts += list(gathered.estate.services)
    parts += [c.result for c in loop.calls if c.ok]
    return "\n".join(parts)


def second_pass(
    runtime: ModelRuntime | None,
    investigator: Investigator,
    gathered: Gathered,
    body: str,
    knowledge: Knowledge,
    version: int = 1,
) -> SecondOpinion:
    """Run the model over the report `body` (its text) and the gathered evidence; never raises for the model."""
    if runtime is None:
        return SecondOpinion(False, reason="ANTHROPIC_API_KEY is not set")
    tools = EvidenceTools.of_investigation(investigator, gathered, knowledge)
    always = [f"## {f.title}\n{f.body()}" for f in knowledge.steering() if f.always]
    user = prompt(
        "refine",
        page=gathered.page.title,
        version=str(version),
        report=body,
        steering="\n\n".join(always) or "(none)",
    )
    with mcp_tools(runtime.mcp_servers, runtime.mcp_timeout_s) as mcp:
        loop = ToolLoop(
            runtime.sender,
            [*tools.tools(), *mcp.tools],
            runtime.caps,
            daily=runtime.daily,
            max_tokens=runtime.max_tokens,
        )
        try:
            result = loop.run(runtime.strong_model, prompt("investigate"), user)
        except ModelUnavailable as err:
            return SecondOpinion(False, reason=str(err), notes=mcp.notes())
    if not result.text:
        return SecondOpinion(False, reason=f"the model gave no answer ({result.stopped})", notes=mcp.notes())
    grounded = ground(result.text, _corpus(gathered, body, result).lower())
    evidence_text = "\n".join([body, *(e.summary for e in gathered.findings)])
    flagged = [f"evidence: {s}" for s in suspicious(evidence_text)] + result.flagged
    t = result.totals
    stopped = "" if result.stopped == "answered" else f"; stopped: {result.stopped}"
    return SecondOpinion(
        True,
        text=grounded.text,
        dropped=grounded.dropped,
        flagged=list(dict.fromkeys(flagged)),
        footer=f"{t.footer()}, {len(result.calls)} tool calls{stopped}",
        notes=mcp.notes(),
        tool_calls=len(result.calls),
        turns=len(t.turns),
        tokens_in=t.tokens_in,
        cached_in=t.cached_in,
        tokens_out=t.tokens_out,
        cost_usd=t.cost_usd,
        latency_s=t.latency_s,
    )
