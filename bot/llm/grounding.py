"""Grounding: every service, resource, commit, file and number the model's report names must appear in
the recorded evidence or in a tool result the model read. A line naming anything that does not is dropped,
and the claim is listed, so people see what the model said that nothing supports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CODE = re.compile(r"`([^`\n]{1,200})`")
_SHA = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")
_ARN = re.compile(r"\barn:aws[\w-]*:[^\s`'\"),]+")
_PATH = re.compile(r"\b[\w.-]+(?:/[\w.-]+)+\.[a-z]{1,5}\b")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(%?)(?![\w.]*\w)")
_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")


@dataclass
class Grounded:
    """The report with unsupported lines dropped, and what each dropped line claimed."""

    text: str
    dropped: list[str] = field(default_factory=list)
    checked: int = 0


def claims(line: str) -> list[str]:
    """What a line names that must be supported: code spans, commits, ARNs, file paths, times, numbers."""
    out = [m.group(1).strip() for m in _CODE.finditer(line)]
    bare = _CODE.sub(" ", line)
    for rx in (_ARN, _SHA, _PATH, _TIME):
        out += rx.findall(bare)
        bare = rx.sub(" ", bare)
    for value, pct in _NUMBER.findall(bare):
        if len(value.replace(".", "")) >= 2 or "." in value or pct:
            out.append(value + pct)
    return [c for c in out if c]


def _number_variants(claim: str) -> list[str]:
    value = claim.rstrip("%")
    try:
        x = float(value)
    except ValueError:
        return [claim]
    out = [value, claim]
    if claim.endswith("%"):
        out += [f"{x / 100:g}", f"{x / 100:.3f}".rstrip("0"), f"{x:.0f}%"]
    if x == int(x):
        out.append(str(int(x)))
    return out


def supported(claim: str, corpus: str) -> bool:
    """Whether `claim` appears in the lower-cased `corpus` (numbers also as a fraction or rounded)."""
    low = claim.lower()
    if low in corpus:
        return True
    if _NUMBER.fullmatch(claim):
        return any(v.lower() in corpus for v in _number_variants(claim))
    return False


def ground(text: str, corpus: str) -> Grounded:
    """Keep the lines of `text` whose every claim appears in `corpus`; list the claims of the others."""
    low = corpus.lower()
    kept: list[str] = []
    out = Grounded(text="")
    for line in text.splitlines():
        found = claims(line)
        out.checked += len(found)
        missing = [c for c in found if not supported(c, low)]
        if missing:
            out.dropped.append(f"{', '.join(dict.fromkeys(missing))} (in: {line.strip()[:160]})")
        else:
            kept.append(line)
    out.text = "\n".join(kept).strip()
    return out
