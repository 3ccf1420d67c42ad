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
@pytest.mark.parametrize("scenario_id", _listed())
def test_solved_scenarios_stay_solved(scenario_id: str) -> None:
    path = _paths().get(scenario_id)
    assert path is not None, f"solved.txt names {scenario_id}, which does not exist"
    (result,) = evaluate_paths([path])["scenarios"]
    assert result["solved"], f"{scenario_id} is no longer solved: {result}"
