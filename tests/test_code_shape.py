"""Rules about the code's shape that CI checks: functions stay short enough to read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
#: The longest a function may be, in lines (docstring included).
MAX_LINES = 80


def _functions() -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for path in sorted(BOT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                out.append((f"{path.relative_to(BOT.parent)}:{node.lineno} {node.name}", length))
    return out


def test_the_scan_sees_the_code() -> None:
    names = [name for name, _ in _functions()]
    assert any(name.endswith(" diagnose") for name in names), "the scan must find bot/analysis/diagnose.py"


@pytest.mark.parametrize("limit", [MAX_LINES])
def test_no_function_is_longer_than_the_limit(limit: int) -> None:
    long = sorted((n, length) for n, length in _functions() if length > limit)
    assert not long, f"functions over {limit} lines: {long}"
