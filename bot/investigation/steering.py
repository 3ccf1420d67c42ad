"""Steering: what people in the thread told the investigation to do, as plain state the engine applies.

`parse_steering` understands the common directives without an LLM (focus on / ignore a service, a time
window, "that deploy is fine", "ignore changes before 14:00"); `apply` folds one into a `Steering`;
`describe_change` says, in the thread, how the conclusion moved. Text it does not understand is kept as a note.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain import Report


@dataclass
class Steering:
    """Directives from the thread: focus on or ignore services, a time window, changes declared fine.

    `cleared_changes` holds change ids or commit shas (a prefix of 7+ characters matches); changes before
    `changes_since` are treated as fine too.
    """

    focus: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)
    since: datetime | None = None
    cleared_changes: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    changes_since: datetime | None = None


@dataclass(frozen=True)
class Directive:
    """What one steering message asks for; `understood` is False when nothing in it was recognised."""

    text: str
    understood: bool
    focus: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    since: datetime | None = None
    clear_blamed: bool = False
    cleared_commits: tuple[str, ...] = ()
    changes_before: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The directive as JSON (what storage records beside the message)."""
        return {
            "focus": list(self.focus),
            "ignore": list(self.ignore),
            "since": self.since.isoformat() if self.since else None,
            "clear_blamed": self.clear_blamed,
            "cleared_commits": list(self.cleared_commits),
            "changes_before": self.changes_before.isoformat() if self.changes_before else None,
        }

    @classmethod
    def from_json(cls, text: str, data: dict[str, Any] | None) -> Directive:
        """The directive `to_json` recorded for `text`; None means the message was not understood."""
        if data is None:
            return cls(text, False)

        def when(key: str) -> datetime | None:
            raw = data.get(key)
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None

        return cls(
            text,
            True,
            focus=tuple(data.get("focus") or ()),
            ignore=tuple(data.get("ignore") or ()),
            since=when("since"),
            clear_blamed=bool(data.get("clear_blamed")),
            cleared_commits=tuple(data.get("cleared_commits") or ()),
            changes_before=when("changes_before"),
        )

    def describe(self) -> str:
        """How the plan changes, in a sentence or two ("Ignoring forge. Looking only since 14:05 UTC.")."""
        if not self.understood:
            return "Noted — I'll keep it in mind; I understood nothing to change."
        parts: list[str] = []
        if self.ignore:
            parts.append(f"Ignoring {_join(self.ignore)}.")
        if self.focus:
            parts.append(f"Focusing on {_join(self.focus)}.")
        if self.since:
            parts.append(f"Looking only at what happened since {self.since:%H:%M} UTC.")
        if self.clear_blamed:
            parts.append("Treating the change I blamed as fine.")
        if self.cleared_commits:
            parts.append(f"Treating {_join(self.cleared_commits)} as fine.")
        if self.changes_before:
            parts.append(f"Ignoring changes before {self.changes_before:%H:%M} UTC.")
        return " ".join(parts)


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_CLAUSE_SPLIT = re.compile(r"[.;,!?\n]+|\s+(?:and|but|then|also)\s+", re.IGNORECASE)
_TIME = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?(?:\s*utc)?"
_CHANGES_BEFORE = re.compile(
    rf"(?:changes|deploys|deployments|commits)\s+(?:made\s+)?(?:before|prior\s+to|earlier\s+than)\s+{_TIME}",
    re.IGNORECASE,
)
_SINCE = re.compile(rf"\b(?:since|from|after|starting(?:\s+at)?)\s+{_TIME}\b", re.IGNORECASE)
_LAST = re.compile(
    r"\b(?:last|past|previous)\s+(\d+(?:\.\d+)?|an?|one)?\s*"
    r"(m|mins?|minutes?|h|hrs?|hours?)\b",
    re.IGNORECASE,
)
_COMMIT = re.compile(r"\b[0-9a-f]{7,40}\b")
_CHANGE_WORD = re.compile(r"\b(deploy(?:ment)?s?|release|rollout|commit|change|push|pr)\b", re.IGNORECASE)
_FINE = re.compile(
    r"\b(fine|ok(?:ay)?|healthy|innocent|unrelated|not\s+(?:it|the\s+(?:problem|cause|issue|culprit))"
    r"|a\s+red\s+herring|red\s+herring|not\s+relevant|irrelevant|harmless|good|safe)\b",
    re.IGNORECASE,
)
_IGNORE = re.compile(
    r"\b(ignore|ignoring|forget(?:\s+about)?|skip|exclude|drop|rule\s+out|leave\s+out|disregard)\b",
    re.IGNORECASE,
)
_NOT = re.compile(
    r"(?:^|\b)(not|don'?t|do\s+not|no\s+need\s+to|stop|never\s+mind|isn'?t|it'?s\s+not)\b", re.IGNORECASE
)
_FOCUS = re.compile(
    r"\b(focus(?:\s+on)?|look\s+(?:at|into)|check|concentrate\s+on|dig\s+into|zoom\s+in(?:\s+on)?"
    r"|investigate|suspect|blame|what\s+about|probably|likely)\b",
    re.IGNORECASE,
)


def _clock(now: datetime, hour: str, minute: str | None, ampm: str | None) -> datetime | None:
    """The latest `hour:minute` at or before `now` (yesterday's when today's is still to come)."""
    h, m = int(hour), int(minute or 0)
    if ampm:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    if h > 23 or m > 59:
        return None
    at = now.replace(hour=h, minute=m, second=0, microsecond=0)
    return at - timedelta(days=1) if at > now else at


def _services_in(text: str, services: Sequence[str]) -> list[str]:
    """The services named in `text` (whole names, case-insensitive, a plural 's' allowed), in text order."""
    hits: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for name in sorted(services, key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}s?(?![\w-])", re.IGNORECASE)
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            hits.append((m.start(), name))
    out: list[str] = []
    for _, name in sorted(hits):
        if name not in out:
            out.append(name)
    return out


def parse_steering(text: str, services: Sequence[str], now: datetime) -> Directive:
    """Understand a steering message; times are read in `now`'s time zone (UTC) and never after `now`."""
    rest = text.strip()
    changes_before = since = None
    m = _CHANGES_BEFORE.search(rest)
    if m:
        changes_before = _clock(now, m.group(1), m.group(2), m.group(3))
        rest = rest[: m.start()] + " " + rest[m.end() :]
    m = _SINCE.search(rest)
    if m:
        since = _clock(now, m.group(1), m.group(2), m.group(3))
        rest = rest[: m.start()] + " " + rest[m.end() :]
    m = _LAST.search(rest)
    if m and since is None:
        qty, unit = (m.group(1) or "1").lower(), m.group(2).lower()
        amount = 1.0 if qty in ("a", "an", "one") else float(qty)
        since = now - (timedelta(hours=amount) if unit.startswith("h") else timedelta(minutes=amount))
        rest = rest[: m.start()] + " " + rest[m.end() :]
    focus: list[str] = []
    ignore: list[str] = []
    commits: list[str] = []
    clear_blamed = False
    for clause in (c.strip() for c in _CLAUSE_SPLIT.split(rest)):
        if not clause:
            continue
        named = _services_in(clause, services)
        shas = [s for s in _COMMIT.findall(clause) if not s.isdigit()]
        about_change = bool(_CHANGE_WORD.search(clause)) or bool(shas)
        negated = bool(_NOT.search(clause))
        fine = bool(_FINE.search(clause))
        if about_change and (fine or negated or _IGNORE.search(clause)):
            if shas:
                commits.extend(s for s in shas if s not in commits)
            else:
                clear_blamed = True
            continue
        if not named:
            continue
        if (
            _IGNORE.search(clause)
            or fine
            or (negated and not _FOCUS.search(clause))
            or (_FOCUS.search(clause) and negated)
        ):
            ignore.extend(n for n in named if n not in ignore)
        elif _FOCUS.search(clause) or clause.lower().startswith("only"):
            focus.extend(n for n in named if n not in focus)
    focus = [f for f in focus if f not in ignore]
    understood = bool(focus or ignore or since or clear_blamed or commits or changes_before)
    return Directive(
        text=text,
        understood=understood,
        focus=tuple(focus),
        ignore=tuple(ignore),
        since=since,
        clear_blamed=clear_blamed,
        cleared_commits=tuple(commits),
        changes_before=changes_before,
    )


def apply(steering: Steering, directive: Directive, *, blamed_change: str | None = None) -> Steering:
    """A new `Steering` with `directive` applied (the given one is left as it was).

    `blamed_change` is the change the current report blames: what "that deploy is fine" clears. A message
    that was not understood is kept as a note.
    """
    focus = (set(steering.focus) | set(directive.focus)) - set(directive.ignore)
    ignored = (set(steering.ignored) | set(directive.ignore)) - set(directive.focus)
    cleared = set(steering.cleared_changes) | set(directive.cleared_commits)
    if directive.clear_blamed and blamed_change:
        cleared.add(blamed_change)
    notes = [*steering.notes] + ([directive.text] if not directive.understood else [])
    return replace(
        steering,
        focus=focus,
        ignored=ignored,
        since=directive.since or steering.since,
        cleared_changes=cleared,
        notes=notes,
        changes_since=directive.changes_before or steering.changes_since,
    )


def _cause(report: Report | None) -> str:
    rc = report.root_cause if report else None
    if rc is None:
        return "no root cause"
    who = rc.service or "no service (false alarm)"
    return f"{who} ({rc.category.value}, {rc.confidence:.0%})"


def describe_change(before: Report | None, after: Report, directive: Directive | None = None) -> str:
    """The thread reply after steering: what changed in the plan and how the root cause moved.

    "Ignoring forge. Root cause now: bot (infrastructure-failure, 60%) — was forge."
    """
    head = directive.describe() + " " if directive is not None else ""
    was = before.root_cause if before else None
    now = after.root_cause
    if before is None:
        return f"{head}Root cause: {_cause(after)}."
    same = (was.service if was else None) == (now.service if now else None) and (
        was.category if was else None
    ) == (now.category if now else None)
    if same:
        delta = ""
        if was and now and abs(was.confidence - now.confidence) >= 0.01:
            delta = f" (confidence was {was.confidence:.0%})"
        return f"{head}Root cause unchanged: {_cause(after)}{delta}."
    prior = (was.service or "a false alarm") if was else "none"
    return f"{head}Root cause now: {_cause(after)} — was {prior}."
