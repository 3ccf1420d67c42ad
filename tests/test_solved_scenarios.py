"""A scenario the engine once solved stays solved: `bot/sandbox/scenarios/solved.txt` lists them (project
scenarios and both blind halves), and this test fails naming any that regressed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox.evaluate import evaluate_paths

SCENARIOS = Path(__file__).resolve().parents[1] / "bot" / "sandbox" / "scenarios"
SOLVED = SCENARIOS / "solved.txt"


def _listed() -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in SOLVED.read_text().splitlines()]
    return [ln for ln in lines if ln]


def _paths() -> dict[str, Path]:
    return {p.stem: p for p in SCENARIOS.rglob("*.yaml")}


def test_every_listed_scenario_exists() -> None:
    missing = sorted(set(_listed()) - set(_paths()))
    assert _listed(), "solved.txt lists the scenarios the engine solves"
    assert not missing, f"solved.txt names scenarios that do not exist: {missing}"


@pytest.mark.slow
def test_solved_scenarios_stay_solved() -> None:
    paths = _paths()
    result = evaluate_paths([paths[i] for i in _listed()])
    regressed = sorted(r["id"] for r in result["scenarios"] if not r["solved"])
    assert not regressed, f"no longer solved: {regressed}"
