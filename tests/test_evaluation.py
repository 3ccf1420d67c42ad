"""The scenario evaluation end to end: every public scenario solved through the sandbox and the real SDKs,
and `sre-bot eval --json` prints exactly one JSON object of the documented shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.sandbox.evaluate import evaluate_paths

OWN = Path(__file__).resolve().parents[1] / "bot" / "sandbox" / "scenarios"
ROW_KEYS = {
    "id",
    "solved",
    "top1",
    "top3",
    "category_ok",
    "change_ok",
    "mitigation_ok",
    "evidence_ok",
    "ruled_out_ok",
    "gaps_ok",
    "first_finding_s",
    "report_s",
}


@pytest.mark.slow
def test_every_public_scenario_is_solved(shared_dir: Path) -> None:
    result = evaluate_paths([shared_dir / "scenarios"])
    rows = {r["id"]: r for r in result["scenarios"]}
    assert len(rows) == 6
    unsolved = {i: r for i, r in rows.items() if not r["solved"]}
    assert not unsolved, unsolved
    assert all(r["ruled_out_ok"] and r["gaps_ok"] and r["evidence_ok"] for r in rows.values()), rows


def test_eval_json_prints_one_object_of_the_documented_shape() -> None:
    out = CliRunner().invoke(app, ["eval", str(OWN / "flagship-cache-deploy.yaml"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) == {"scenarios", "totals"}
    assert set(data["scenarios"][0]) == ROW_KEYS
    assert set(data["totals"]) == {
        "scenarios",
        "solved",
        "top1",
        "top3",
        "first_finding_s_median",
        "report_s_median",
    }
    assert data["scenarios"][0]["solved"] is True


def test_a_bad_scenario_fails_before_anything_starts_with_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: scenario/1\nid: x\ntitle: t\nservices: []\nevents: []\n")
    out = CliRunner().invoke(app, ["eval", str(bad)])
    assert out.exit_code == 2
    assert "bad.yaml" in out.output and "page" in out.output and "Traceback" not in out.output
