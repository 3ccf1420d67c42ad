"""Skills and steering files: the shipped folders load, each skill is complete, the report links one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.domain import Category
from bot.sources.knowledge import Knowledge, KnowledgeError

SHIPPED = Knowledge(REPO_ROOT / "skills", REPO_ROOT / "steering")


def test_eight_skills_ship_each_with_queries_and_what_confirms_or_rules_out() -> None:
    skills = SHIPPED.skills()
    assert SHIPPED.problems == []
    assert len(skills) >= 8
    for s in skills:
        body = s.body()
        assert s.path.parent.name == s.name
        assert s.description and s.categories, s.name
        for heading in ("## Queries to run", "## Confirms", "## Rules it out"):
            assert heading in body, (s.name, heading)


def test_every_category_has_a_skill_and_a_database_gets_its_own() -> None:
    for category in Category:
        assert SHIPPED.skill_for(category.value) is not None, category
    assert SHIPPED.skill_for("capacity", "rds").name == "database-saturation"  # type: ignore[union-attr]
    assert SHIPPED.skill_for("capacity", "ecs").name == "resource-exhaustion"  # type: ignore[union-attr]


def test_steering_examples_and_their_facts() -> None:
    files = {f.name: f for f in SHIPPED.steering()}
    assert set(files) == {"late-arriving-logs", "deploy-rollback", "batch-window-cpu"}
    assert files["deploy-rollback"].always
    assert files["deploy-rollback"].facts["deploy_principals"] == [
        "github-actions-deployer",
        "codepipeline-prod",
    ]
    batch = files["batch-window-cpu"]
    assert batch.applies("reports-api") and batch.applies(None, "etl-cpu-high")
    assert not batch.applies("checkout")
    assert batch.facts["expected_load"][0]["from"] == "01:00"


def test_unknown_names_and_bad_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "SKILL.md").write_text("no front matter here\n")
    (tmp_path / "bad.md").write_text("---\ntitle: x\nalways: maybe\n---\nbody\n")
    k = Knowledge(tmp_path, tmp_path)
    assert k.skills() == [] and k.steering() == []
    assert any("no front matter" in p for p in k.problems)
    assert any("`always` must be true or false" in p for p in k.problems)
    with pytest.raises(KnowledgeError, match="no skill 'nope'"):
        SHIPPED.skill("nope")
    with pytest.raises(KnowledgeError, match="no steering file"):
        SHIPPED.steering_file("../README")


def test_settings_point_at_the_shipped_folders_and_can_be_moved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings().skills_dir == REPO_ROOT / "skills"
    monkeypatch.setenv("SKILLS_DIR", str(tmp_path))
    monkeypatch.setenv("STEERING_DIR", str(tmp_path))
    s = Settings()
    assert s.skills_dir == tmp_path and s.steering_dir == tmp_path


def test_expected_load_windows_are_checked(tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text(
        "---\ntitle: ok\nexpected_load:\n  - {days: [Sat], from: 23:00, to: 02:00, signals: [traffic]}\n---\n"
    )  # unquoted times are base-60 numbers to YAML; they are read back as times
    (tmp_path / "bad.md").write_text(
        '---\ntitle: bad\nexpected_load:\n  - {from: "25:00", to: "02:00"}\n---\n'
    )
    k = Knowledge(None, tmp_path)
    (ok,) = k.steering()
    assert ok.facts["expected_load"] == [
        {"days": ["sat"], "from": "23:00", "to": "02:00", "signals": ["traffic"]}
    ]
    assert any("needs `from` and `to`" in p for p in k.problems)
