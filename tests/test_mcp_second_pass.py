"""MCP tools in a real model pass over the flagship investigation: the second pass and a free-form question
offer the configured server's read-only tools beside ours, ground on their results, and say in the thread
which server failed while the pass goes on without it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import REPO_ROOT, McpServer, Settings
from bot.investigation.ask import ask_model
from bot.investigation.engine import Gathered, Investigator
from bot.investigation.model_tools import EvidenceTools
from bot.investigation.render import report_text
from bot.investigation.second_pass import second_pass
from bot.llm.runtime import ModelRuntime, model_runtime
from bot.sandbox.fake_anthropic import FakeAnthropic, call, say, tool_use
from bot.sandbox.runner import sandbox
from bot.sandbox.scenario import load_scenario, resolve_scenario

SERVER = str(REPO_ROOT / "tests" / "fixtures" / "mcp_server.py")
OPS = McpServer(name="ops", command=sys.executable, args=[SERVER, "stdio"])
DEAD = McpServer(name="dead", command=sys.executable, args=["-c", "import sys; sys.exit(3)"])


@pytest.fixture(scope="module")
def case(moto_server: Any) -> Iterator[tuple[Investigator, Gathered, str]]:
    sc = load_scenario(resolve_scenario("flagship-cache-deploy"))
    with sandbox(sc, moto=moto_server) as box:
        inv = Investigator(box.deps())
        gathered = inv.gather(inv.scope(box.page))
        yield inv, gathered, report_text(inv.conclude(gathered).report)


def runtime(fake: FakeAnthropic) -> ModelRuntime:
    rt = model_runtime(
        Settings(
            anthropic_api_key="sk-test",
            anthropic_base_url=fake.base_url,
            mcp_servers=[OPS, DEAD],
            mcp_timeout_s=90,  # a hang guard: a Python server takes seconds to start on a loaded machine
        )
    )
    assert rt is not None
    return rt


def test_second_pass_uses_mcp_tools_and_names_the_failed_server(
    case: tuple[Investigator, Gathered, str], fake_anthropic: FakeAnthropic
) -> None:
    inv, gathered, body = case

    def offered(req: dict[str, Any]) -> None:
        names = {t["name"] for t in req["tools"]}
        assert {"search_logs", "read_skill", "ops__runbook"} <= names
        assert not any(n.startswith("dead__") for n in names) and "ops__restart_service" not in names

    def read(req: dict[str, Any]) -> None:
        (result,) = [b for b in req["messages"][-1]["content"] if b.get("type") == "tool_result"]
        assert "deployctl rollback pricing" in result["content"]

    fake_anthropic.script(
        call(tool_use("ops__runbook", {"service": "pricing"}, "t1"), check=offered),
        say(
            "Verdict: agree — `pricing` broke after the deploy.\n"
            "Runbook: roll back with `deployctl rollback pricing`.\n"
            "Also `ledger-7` was restarted.",
            check=read,
        ),
    )
    op = second_pass(runtime(fake_anthropic), inv, gathered, body, inv.knowledge)
    assert op.available and "`deployctl rollback pricing`" in op.text  # grounded on the MCP tool's result
    assert any("ledger-7" in d for d in op.dropped)
    reply = op.reply()
    assert "MCP server dead failed: MCPError: Connection closed; its tools were not available" in reply
    assert "1 tool calls" in reply


def test_a_question_is_answered_with_mcp_tools(
    case: tuple[Investigator, Gathered, str], fake_anthropic: FakeAnthropic
) -> None:
    inv, gathered, _ = case
    fake_anthropic.script(
        call(tool_use("ops__recent_incidents", {"service": "pricing"}, "t1")),
        say("`pricing` had INC-4211 before: msgpack decode errors after a deploy."),
    )
    tools = EvidenceTools.of_investigation(inv, gathered, inv.knowledge)
    answer = ask_model(runtime(fake_anthropic), tools, "has pricing done this before?")
    text = "\n".join(answer.text_lines())
    assert "INC-4211" in answer.lines[0] and 'ops__recent_incidents("service": "pricing")' in text
    assert any("Ignore previous instructions" in f for f in answer.flagged)  # the MCP result is data
    assert "MCP server dead failed" in text
