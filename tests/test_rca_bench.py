"""The rca-case/1 bench: scores on the shared PetShop cases, and loading of small synthetic case folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.bench import BenchInputError, format_table, run_bench

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
PETSHOP = BENCH / "petshop"


@pytest.mark.slow
@pytest.mark.skipif(not PETSHOP.is_dir(), reason=f"PetShop bench cases not found at {PETSHOP}")
def test_petshop_scores_beat_the_published_baselines() -> None:
    result = run_bench(PETSHOP, ignore_changes=True)
    scores = result.to_json()
    assert scores["cases"] == 46
    assert scores["top1"] > 0.654  # ranked correlation with the alarm, the best published top-1
    assert scores["top3"] > 0.788
    assert scores["specificity"] >= 0.9
    with_changes = run_bench(PETSHOP, ignore_changes=False).to_json()
    assert with_changes["top1"] >= scores["top1"] - 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("app", ["online-boutique", "train-ticket"])
@pytest.mark.parametrize("confirmed", [False, True])
def test_nezha_scores_beat_microrca(app: str, confirmed: bool) -> None:
    """MicroRCA's published share of faults with the faulty service first: 0.16 and 0.20."""
    if not (BENCH / "nezha" / app).is_dir():
        pytest.skip(f"Nezha bench cases not found at {BENCH / 'nezha' / app}")
    scores = run_bench(BENCH / "nezha" / app, ignore_changes=True, confirmed=confirmed).to_json()
    assert scores["top1"] > 0.2 and scores["top3"] > 0.2


def _write_case(folder: Path, *, broken: str | None = None, root_cause: str | None = "db") -> None:
    folder.mkdir(parents=True)
    alarm: dict[str, object] = {"node": "web", "metric": "latency_ms", "time": 6000}
    if broken == "missing-alarm-node":
        del alarm["node"]
    case = {
        "format": "rca-case/1",
        "id": folder.name,
        "source": "synthetic",
        "alarm": alarm,
        "normal": {"start": 0, "end": 5900},
        "abnormal": {"start": 6000, "end": 6900},
        "step_seconds": 100,
        "changes": [],
        "metrics_files": ["../_shared/normal.csv", "metrics.csv"],
    }
    text = json.dumps(case)
    if broken == "bad-json":
        text = text[:-5]
    (folder / "case.json").write_text(text)
    graph = {
        "nodes": ["web", "api", "db"],
        "edges": [{"caller": "web", "callee": "api"}, {"caller": "api", "callee": "db"}],
    }
    (folder / "graph.json").write_text(json.dumps(graph))
    (folder / "truth.json").write_text(json.dumps({"root_cause": root_cause}))
    bad = [10, 10, 40, 45, 50, 45, 40, 10, 10, 10] if root_cause else [10] * 10
    lines = ["timestamp,node,metric,value"]
    for i, v in enumerate(bad):
        for node in ("web", "api", "db"):
            lines.append(f"{6000 + 100 * i},{node},latency_ms,{v}")
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def _write_shared_normal(root: Path) -> None:
    (root / "_shared").mkdir(parents=True)
    noise = [10.0, 10.4, 9.6, 10.2, 9.8, 10.1, 9.9, 10.3, 9.7, 10.0]
    lines = ["timestamp,node,metric,value"]
    for i in range(60):
        for node in ("web", "api", "db"):
            lines.append(f"{100 * i},{node},latency_ms,{noise[i % 10]}")
    (root / "_shared" / "normal.csv").write_text("\n".join(lines) + "\n")


def test_synthetic_cases_are_ranked_and_scored(tmp_path: Path) -> None:
    _write_shared_normal(tmp_path)
    _write_case(tmp_path / "incident")
    _write_case(tmp_path / "quiet", root_cause=None)
    result = run_bench(tmp_path, ignore_changes=True)
    body = result.to_json()
    assert set(body) == {"cases", "top1", "top3", "mrr", "empty", "specificity", "per_case"}
    assert body["cases"] == 2
    assert body["per_case"][0] == {"id": "incident", "ranking": ["db", "api", "web"], "truth": "db"}
    assert body["per_case"][1] == {"id": "quiet", "ranking": [], "truth": None}
    assert (body["top1"], body["top3"], body["mrr"], body["empty"], body["specificity"]) == (
        1.0,
        1.0,
        1.0,
        0.0,
        1.0,
    )
    table = format_table(result)
    assert "incident" in table and "top-1 1.000" in table


@pytest.mark.parametrize(
    ("broken", "expected"),
    [("missing-alarm-node", "missing key 'alarm.node'"), ("bad-json", "not valid JSON")],
)
def test_a_malformed_case_names_the_file_and_the_problem(tmp_path: Path, broken: str, expected: str) -> None:
    _write_shared_normal(tmp_path)
    _write_case(tmp_path / "good")
    _write_case(tmp_path / "bad", broken=broken)
    with pytest.raises(BenchInputError) as caught:
        run_bench(tmp_path, ignore_changes=True)
    message = str(caught.value)
    assert str(tmp_path / "bad" / "case.json") in message
    assert expected in message


def test_a_missing_metrics_file_is_reported(tmp_path: Path) -> None:
    _write_case(tmp_path / "orphan")  # no _shared/normal.csv
    with pytest.raises(BenchInputError, match=r"normal\.csv: metrics file not found"):
        run_bench(tmp_path, ignore_changes=True)


def test_an_empty_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BenchInputError, match=r"no case\.json"):
        run_bench(tmp_path, ignore_changes=True)


def test_symlinked_case_folders_are_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _write_shared_normal(real)
    _write_case(real / "incident")
    view = tmp_path / "view"
    view.mkdir()
    (view / "incident").symlink_to(real / "incident", target_is_directory=True)
    (view / "again").symlink_to(view, target_is_directory=True)  # a loop is walked once
    body = run_bench(view, ignore_changes=True).to_json()
    assert body["cases"] == 1
    assert body["per_case"][0]["ranking"][0] == "db"


def test_confirmed_ranks_what_is_anomalous_even_when_the_alarm_is_quiet(tmp_path: Path) -> None:
    _write_shared_normal(tmp_path)
    _write_case(tmp_path / "quiet-alarm")
    metrics = tmp_path / "quiet-alarm" / "metrics.csv"
    lines = metrics.read_text().splitlines()
    kept = [ln for ln in lines if ",web," not in ln]
    kept += [f"{6000 + 100 * i},web,latency_ms,10" for i in range(10)]
    metrics.write_text("\n".join(kept) + "\n")
    assert run_bench(tmp_path, ignore_changes=True).to_json()["per_case"][0]["ranking"] == []
    confirmed = run_bench(tmp_path, ignore_changes=True, confirmed=True)
    assert confirmed.to_json()["per_case"][0]["ranking"][0] == "db"
    assert "confirmed" in format_table(confirmed)
