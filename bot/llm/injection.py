"""Text from logs, alarms, commits and files is data. This finds the parts of it that try to instruct the
model or ask for an action, so they are flagged to the model and to the people in the thread, never obeyed."""

from __future__ import annotations

import re

_PATTERNS = [
    r"ignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding)\s+(?:instructions|prompts?|rules|messages)",
    r"disregard\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|your)\s+\w+",
    r"forget\s+(?:all\s+|everything\s+)?(?:you\s+were\s+told|your\s+instructions)",
    r"you\s+are\s+now\s+(?:a|an|the)\s+\w+",
    r"new\s+instructions\s*:",
    r"(?:reveal|print|show)\s+(?:your|the)\s+system\s+prompt",
    r"\b(?:as\s+the\s+(?:assistant|ai|bot)|dear\s+(?:ai|assistant|bot))\b",
    r"\b(?:approve|execute|run|apply)\s+(?:the\s+)?(?:rollback|plan|action|mitigation|command)s?\s+(?:now|immediately|without)",
    r"\b(?:delete|drop|terminate|destroy)\s+(?:the\s+)?(?:table|database|instance|stack|bucket|cluster)s?\b",
]
_RX = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.I)


def suspicious(text: str, limit: int = 5) -> list[str]:
    """The phrases in `text` that read as instructions to the model or requests for an action (at most
    `limit`, each with a little context)."""
    out: list[str] = []
    for m in _RX.finditer(text):
        start, end = max(0, m.start() - 40), min(len(text), m.end() + 40)
        snippet = " ".join(text[start:end].split())
        if snippet not in out:
            out.append(snippet)
        if len(out) >= limit:
            break
    return out
