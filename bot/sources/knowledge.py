"""Skills and steering files: the runbooks we ship (`skills/<name>/SKILL.md`) and the organisation's own
knowledge (`steering/*.md`), both Markdown with YAML front matter, read from folders on demand.

A file that cannot be read or whose front matter is wrong is skipped and named in `problems`, never a crash.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.S)
#: Names a skill or steering file may be asked for by (no paths).
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,80}$")


class KnowledgeError(ValueError):
    """A skill or steering file was asked for by a name that does not exist or is not allowed."""


@dataclass(frozen=True)
class Skill:
    """A runbook: when it applies (`description`, `categories`, `kinds`) and its text."""

    name: str
    description: str
    path: Path
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def body(self) -> str:
        """The whole SKILL.md (read on demand)."""
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class SteeringFile:
    """What the organisation knows: a title, what it applies to, and whether it always applies."""

    name: str
    title: str
    path: Path
    applies_to: tuple[str, ...] = ()
    always: bool = False
    facts: dict[str, Any] = field(default_factory=dict)

    def applies(self, *subjects: str | None) -> bool:
        """Whether the file is about any of `subjects` (services, alarm names), or about everything."""
        if not self.applies_to:
            return True
        names = [s.lower() for s in subjects if s]
        return any(fnmatch.fnmatch(n, p.lower()) for n in names for p in self.applies_to)

    def body(self) -> str:
        """The whole file (read on demand)."""
        return self.path.read_text(encoding="utf-8")


#: Front-matter facts the engine may use; documented in steering/README.md.
STEERING_FACTS = ("expected_load", "deploy_principals", "owners")


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown file and the text after it; ValueError when there is none."""
    m = _FRONT.match(text)
    if not m:
        raise ValueError("no front matter (a first line `---`, YAML, then `---`)")
    meta = yaml.safe_load(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a mapping")
    return meta, m.group(2)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"`{what}` must be a list of strings")


class Knowledge:
    """Reads skills from `skills_dir` and steering files from `steering_dir` (either may be missing)."""

    def __init__(self, skills_dir: Path | None, steering_dir: Path | None) -> None:
        self.skills_dir = skills_dir
        self.steering_dir = steering_dir
        self.problems: list[str] = []

    def skills(self) -> list[Skill]:
        """Every readable skill, by name."""
        out: list[Skill] = []
        if self.skills_dir is None or not self.skills_dir.is_dir():
            return out
        for path in sorted(self.skills_dir.glob("*/SKILL.md")):
            try:
                meta, _ = front_matter(path.read_text(encoding="utf-8"))
                name, description = meta.get("name"), meta.get("description")
                if not isinstance(name, str) or not isinstance(description, str):
                    raise ValueError("front matter needs `name` and `description`")
                cats, kinds = (
                    _strings(meta.get("categories"), "categories"),
                    _strings(meta.get("kinds"), "kinds"),
                )
                out.append(Skill(name, description, path, cats, kinds))
            except (OSError, ValueError, yaml.YAMLError) as err:
                self.problems.append(f"{path}: {err}")
        return out

    def skill(self, name: str) -> Skill:
        """The skill called `name`; KnowledgeError naming the ones there are when it does not exist."""
        found = {s.name: s for s in self.skills()}
        if name not in found:
            raise KnowledgeError(f"no skill {name!r}; there are: {', '.join(sorted(found)) or 'none'}")
        return found[name]

    def skill_for(self, category: str, kind: str | None = None) -> Skill | None:
        """The skill that fits a report's category, preferring one specific to the root service's kind."""
        fitting = [s for s in self.skills() if category in s.categories]
        specific = [s for s in fitting if kind and kind in s.kinds]
        general = [s for s in fitting if not s.kinds]
        chosen = specific or general
        return chosen[0] if chosen else None

    def steering(self) -> list[SteeringFile]:
        """Every readable steering file, by name."""
        out: list[SteeringFile] = []
        if self.steering_dir is None or not self.steering_dir.is_dir():
            return out
        for path in sorted(self.steering_dir.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            try:
                out.append(_steering_file(path))
            except (OSError, ValueError, yaml.YAMLError) as err:
                self.problems.append(f"{path}: {err}")
        return out

    def steering_file(self, name: str) -> SteeringFile:
        """The steering file called `name` (its file name without `.md`)."""
        found = {s.name: s for s in self.steering()}
        if not _NAME.match(name) or name not in found:
            raise KnowledgeError(
                f"no steering file {name!r}; there are: {', '.join(sorted(found)) or 'none'}"
            )
        return found[name]


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock(value: Any) -> str:
    """An `HH:MM` time; YAML reads an unquoted 01:30 as the base-60 number 90, which is turned back."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 60:02d}:{value % 60:02d}"
    return str(value or "")


def _windows(value: Any) -> list[dict[str, Any]]:
    """`expected_load` checked: each window's `days` (default every day), `from` and `to` (HH:MM UTC), and
    `signals` (default: load and resources)."""
    if not isinstance(value, list):
        raise ValueError("`expected_load` must be a list of windows")
    out: list[dict[str, Any]] = []
    for w in value:
        if not isinstance(w, dict):
            raise ValueError("each `expected_load` window is a mapping with `from` and `to`")
        days = [d.lower()[:3] for d in _strings(w.get("days"), "days")] or list(_DAYS)
        if any(d not in _DAYS for d in days):
            raise ValueError(f"`days` must be among {', '.join(_DAYS)}")
        start, end = _clock(w.get("from")), _clock(w.get("to"))
        if not _HHMM.match(start) or not _HHMM.match(end):
            raise ValueError('an `expected_load` window needs `from` and `to` as "HH:MM" (UTC)')
        out.append(
            {"days": days, "from": start, "to": end, "signals": list(_strings(w.get("signals"), "signals"))}
        )
    return out


def _steering_file(path: Path) -> SteeringFile:
    meta, _ = front_matter(path.read_text(encoding="utf-8"))
    title = meta.get("title")
    if not isinstance(title, str):
        raise ValueError("front matter needs `title`")
    always = meta.get("always", False)
    if not isinstance(always, bool):
        raise ValueError("`always` must be true or false")
    facts = {k: meta[k] for k in STEERING_FACTS if k in meta}
    for key in ("deploy_principals", "owners"):
        if key in facts:
            facts[key] = list(_strings(facts[key], key))
    if "expected_load" in facts:
        facts["expected_load"] = _windows(facts["expected_load"])
    return SteeringFile(path.stem, title, path, _strings(meta.get("applies_to"), "applies_to"), always, facts)
