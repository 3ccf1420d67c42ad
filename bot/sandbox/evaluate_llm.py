"""`sre-bot eval --llm`: the scenarios with the model's second pass, scored beside the engine.

It needs a model: ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a stand-in). Per scenario: whether the
engine's and the model's root cause match the truth, the model's verdict on the engine, what grounding
dropped, and the model's tokens, cost and latency. Not run in CI (a real model costs money and varies).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.config import MissingSettings, Settings
from bot.investigation.engine import Concluded, Gathered, Investigator, Outcome
from bot.investigation.render import report_text
from bot.investigation.second_pass import second_pass
from bot.llm.runtime import ModelRuntime, model_runtime
from bot.sandbox.evaluate import score
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import Scenario, find_scenarios, load_scenario

_ROOT = re.compile(r"Root cause:\s*`([^`]+)`")
_VERDICT = re.compile(r"Verdict:\s*(agree|partly agree|disagree)", re.I)


def llm_row(
    sc: Scenario,
    inv: Investigator,
    gathered: Gathered,
    done: Concluded,
    engine_s: float,
    runtime: ModelRuntime,
) -> dict[str, Any]:
    """One scenario's row: the engine's score, and the model's answer, verdict, usage and latency."""
    outcome = Outcome(done.report, done.facts, done.diagnosis, gathered.estate, None, engine_s)
    engine = score(sc, outcome)
    started = time.monotonic()
    op = second_pass(runtime, inv, gathered, report_text(done.report), inv.knowledge)
    m = _ROOT.search(op.text)
    model_root = m.group(1) if m else None
    verdict = _VERDICT.search(op.text)
    return {
        "id": sc.id,
        "engine_top1": engine.top1,
        "engine_solved": engine.solved,
        "model": op.available,
        "model_root": model_root,
        "model_top1": op.available and model_root == sc.truth.root_cause_service,
        "verdict": verdict.group(1).lower() if verdict else ("-" if op.available else op.reason[:60]),
        "dropped": len(op.dropped),
        "flagged": len(op.flagged),
        "tokens_in": op.tokens_in,
        "tokens_out": op.tokens_out,
        "cost_usd": round(op.cost_usd, 4),
        "model_s": round(time.monotonic() - started, 2),
        "engine_s": round(engine_s, 2),
    }


def evaluate_llm(paths: Sequence[Path], settings: Settings) -> list[dict[str, Any]]:
    """Every scenario under `paths`, investigated and then given to the model; one row each."""
    runtime = model_runtime(settings)
    if runtime is None:
        raise MissingSettings(
            "missing configuration:\n  - ANTHROPIC_API_KEY: `eval --llm` runs the scenarios with a real model "
            "(scripts/bench_llm.py runs the scripted one without a key)"
        )
    rows: list[dict[str, Any]] = []
    for sc in [load_scenario(f) for f in find_scenarios(list(paths))]:
        with sandbox(sc) as box:
            inv = Investigator(box.deps())
            started = time.monotonic()
            gathered = inv.gather(inv.scope(box.page))
            done = inv.conclude(gathered)
            rows.append(llm_row(sc, inv, gathered, done, time.monotonic() - started, runtime))
    return rows


def format_llm_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a table, with the totals."""
    head = f"{'scenario':34} {'engine':>6} {'model':>6} {'verdict':>13} {'dropped':>7} {'in':>8} {'out':>6} {'usd':>7} {'s':>6}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['id'][:34]:34} {'ok' if r['engine_top1'] else 'miss':>6} {'ok' if r['model_top1'] else 'miss':>6} "
            f"{r['verdict'][:13]:>13} {r['dropped']:>7} {r['tokens_in']:>8,} {r['tokens_out']:>6,} "
            f"{r['cost_usd']:>7.4f} {r['model_s']:>6.1f}"
        )
    n = len(rows) or 1
    lines.append(
        f"engine top-1 {sum(r['engine_top1'] for r in rows)}/{len(rows)}, model top-1 "
        f"{sum(r['model_top1'] for r in rows)}/{len(rows)}, ${sum(r['cost_usd'] for r in rows):.4f}, "
        f"{sum(r['tokens_in'] + r['tokens_out'] for r in rows) // n:,} tokens a scenario"
    )
    return "\n".join(lines)
