"""Metamorphic tests: what the engine concludes does not depend on names, clocks, scale, account or order.

Each transformation rewrites a solved scenario into an equivalent incident — every service renamed, the page
moved to another day and hour, traffic tripled, another account and region, the events listed in reverse —
and the diagnosis must be the same: same root cause (under its new name), category, guilty change and plan.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.sandbox.evaluate import Score, score
from bot.sandbox.runner import run_scenario
from bot.sandbox.scenario import parse_scenario

OWN = Path(__file__).resolve().parents[1] / "bot" / "sandbox" / "scenarios"
CASES = ["flagship-cache-deploy", "orders-db-pool-parameter", "quote-engine-nginx-session"]
T0 = datetime(2026, 3, 2, 14, 7, tzinfo=UTC)

Transform = Callable[[dict[str, Any]], tuple[dict[str, Any], datetime]]


def _rewrite(data: dict[str, Any], swaps: list[tuple[str, str]]) -> dict[str, Any]:
    """Replace whole names everywhere in the scenario's text except its id."""
    ident = data["id"]
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6)
    for old, new in swaps:
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, text)
    out: dict[str, Any] = yaml.safe_load(text)
    out["id"] = ident
    return out


def rename_services(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    names = sorted((s["name"] for s in data["services"]), key=len, reverse=True)
    return _rewrite(data, [(n, f"zq{i}node") for i, n in enumerate(names)]), T0


def shift_time(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    return data, T0 + timedelta(days=9, hours=13, minutes=41)


def scale_traffic(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    for svc in data["services"]:
        base = svc.setdefault("baseline", {})
        base["requests_per_min"] = 3 * base.get("requests_per_min", 600)
    for ev in data["events"]:
        eff = ev.get("effect")
        if eff and "requests_per_min" in eff:
            eff["requests_per_min"] *= 3
    return data, T0


def other_account(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    acct = data.get("account") or {}
    old_id, old_region = str(acct.get("account_id", "123456789012")), acct.get("region", "us-east-1")
    out = _rewrite(data, [(old_id, "210987654321"), (old_region, "eu-west-1")])
    out["account"] = {**acct, "account_id": "210987654321", "region": "eu-west-1"}
    return out, T0


def reverse_events(data: dict[str, Any]) -> tuple[dict[str, Any], datetime]:
    data["events"] = list(reversed(data["events"]))
    return data, T0


def _verdict(s: Score) -> tuple[bool, ...]:
    return (s.solved, s.top1, s.category_ok, s.change_ok, s.mitigation_ok)


def _run(data: dict[str, Any], t0: datetime) -> Score:
    sc = parse_scenario(data, f"<{data['id']}>")
    return score(sc, run_scenario(sc, t0=t0))


@functools.cache
def _baseline(case: str) -> Score:
    return _run(yaml.safe_load((OWN / f"{case}.yaml").read_text()), T0)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    "transform",
    [rename_services, shift_time, scale_traffic, other_account, reverse_events],
    ids=lambda f: f.__name__,
)
def test_the_diagnosis_does_not_depend_on_it(case: str, transform: Transform) -> None:
    raw = yaml.safe_load((OWN / f"{case}.yaml").read_text())
    base = _baseline(case)
    assert base.solved, f"{case} must be solved before it is transformed: {base.answer}"
    changed, t0 = transform(yaml.safe_load((OWN / f"{case}.yaml").read_text()))
    assert changed != raw or t0 != T0, "the transformation changed something"
    after = _run(changed, t0)
    assert _verdict(after) == _verdict(base), f"{transform.__name__}: {base.answer} became {after.answer}"
