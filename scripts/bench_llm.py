"""The model pass's tokens and latency per scenario, with the scripted model (no key, no network).

Each scenario is investigated by the deterministic engine (its wall time printed, as without a model), then
the second pass runs against the scripted Messages API stand-in through the real anthropic SDK: the model
calls three read-only tools in parallel and answers. Tokens are the stand-in's count (about 4 characters a
token, prompt caching as the API reports it); latency is the loopback round trips plus the tools' real reads
of the simulated estate, i.e. our overhead, not a real model's thinking time.

    .venv/bin/python scripts/bench_llm.py [SCENARIO.yaml ...]   # default: bot/sandbox/scenarios/*.yaml
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from bot.config import Settings
from bot.investigation.engine import Investigator
from bot.investigation.render import report_text
from bot.investigation.second_pass import second_pass
from bot.llm.runtime import model_runtime
from bot.sandbox.fake_anthropic import FakeAnthropic
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario
from bot.sandbox.scripted_model import echo_model


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    root = Path(__file__).resolve().parents[1]
    paths = [Path(a) for a in argv] or sorted((root / "bot" / "sandbox" / "scenarios").glob("*.yaml"))
    print(
        f"{'scenario':34} {'engine s':>8} {'model s':>8} {'turns':>5} {'tools':>5} {'in':>7} {'cached':>7} {'out':>5} {'usd':>8} agrees"
    )
    with FakeAnthropic() as fake:
        fake.responder = echo_model
        runtime = model_runtime(Settings(anthropic_api_key="bench", anthropic_base_url=fake.base_url))
        for path in paths:
            sc = load_scenario(path)
            with sandbox(sc) as box:
                inv = Investigator(box.deps())
                started = time.monotonic()
                gathered = inv.gather(inv.scope(box.page))
                report = inv.conclude(gathered).report
                engine_s = time.monotonic() - started
                started = time.monotonic()
                op = second_pass(runtime, inv, gathered, report_text(report), inv.knowledge)
                model_s = time.monotonic() - started
            agrees = "yes" if op.available and op.text.startswith("Verdict: agree") else op.reason or "no"
            print(
                f"{sc.id[:34]:34} {engine_s:8.2f} {model_s:8.2f} {op.turns:>5} {op.tool_calls:>5} "
                f"{op.tokens_in:>7,} {op.cached_in:>7,} {op.tokens_out:>5,} {op.cost_usd:>8.4f} {agrees}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
