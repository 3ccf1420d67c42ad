"""Prompts are files (`bot/llm/prompts/*.md`), filled with `$name` placeholders."""

from __future__ import annotations

from pathlib import Path
from string import Template

PROMPTS = Path(__file__).resolve().parent / "prompts"


def prompt(name: str, **values: str) -> str:
    """The prompt file `name` with its `$placeholders` filled; KeyError naming a missing one."""
    return Template((PROMPTS / f"{name}.md").read_text(encoding="utf-8")).substitute(values)
