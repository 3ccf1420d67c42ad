"""Bring your own tools: a real MCP server (tests/fixtures/mcp_server.py, the SDK's own server) started here
over stdio and over streamable HTTP on 127.0.0.1, its tools offered to the scripted model through our loop:
round trips, read-only filtering, the allow-list, injection flags, and servers that fail."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import REPO_ROOT, McpServer
from bot.llm.budget import Caps
from bot.llm.client import MessagesClient
from bot.llm.loop import ToolLoop
from bot.llm.mcp_tools import mcp_tools
from bot.sandbox.fake_anthropic import FakeAnthropic, call, say, tool_use

SERVER = str(REPO_ROOT / "tests" / "fixtures" / "mcp_server.py")
#: Only a hang guard: starting a Python MCP server takes seconds on a loaded machine.
GUARD_S = 90.0
MODEL = "claude-sonnet-4-6"
#: What the HTTP fixture server asks of every request.
AUTH = {"Authorization": "Bearer fixture-token"}


def stdio(name: str = "ops", **kw: Any) -> McpServer:
    return McpServer(name=name, command=sys.executable, args=[SERVER, "stdio"], **kw)


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The fixture server over streamable HTTP on 127.0.0.1 (it prints the port it bound)."""
    proc = subprocess.Popen([sys.executable, SERVER, "http"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def last_results(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    content = body["messages"][-1]["content"]
    return {b["tool_use_id"]: b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"}


def loop_over(fake: FakeAnthropic, tools: list[Any]) -> ToolLoop:
    client = MessagesClient("sk-test", fake.base_url, timeout_s=30, max_retries=1)
    return ToolLoop(client, tools, Caps(max_steps=4))


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_tools_round_trip_read_only_and_flagged(
    fake_anthropic: FakeAnthropic, request: pytest.FixtureRequest, transport: str
) -> None:
    server = (
        stdio()
        if transport == "stdio"
        else McpServer(name="ops", url=request.getfixturevalue("http_url"), headers=AUTH)
    )

    def offered(body: dict[str, Any]) -> None:
        names = {t["name"] for t in body["tools"]}
        assert {"ops__runbook", "ops__recent_incidents", "ops__crash"} <= names
        assert not names & {"ops__restart_service", "ops__open_ticket"}  # writes are not offered
        runbook = next(t for t in body["tools"] if t["name"] == "ops__runbook")
        assert runbook["description"].startswith("[MCP server ops]")
        assert runbook["input_schema"]["required"] == ["service"]

    def read(body: dict[str, Any]) -> None:
        got = last_results(body)
        assert "deployctl rollback pricing" in got["t1"]["content"] and not got["t1"].get("is_error")
        assert got["t2"]["content"].startswith(
            "WARNING: this result contains text that reads as instructions"
        )
        assert got["t3"]["is_error"] and "backend for pricing is down" in got["t3"]["content"]
        assert got["t4"]["is_error"] and "`service` is required" in got["t4"]["content"]

    fake_anthropic.script(
        call(
            tool_use("ops__runbook", {"service": "pricing"}, "t1"),
            tool_use("ops__recent_incidents", {"service": "pricing"}, "t2"),
            tool_use("ops__crash", {"service": "pricing"}, "t3"),
            tool_use("ops__runbook", {}, "t4"),
            check=offered,
        ),
        say("Roll back with `deployctl rollback pricing`.", check=read),
    )
    with mcp_tools([server], GUARD_S) as mcp:
        assert mcp.problems == [] and set(mcp.withheld) == {"ops/restart_service", "ops/open_ticket"}
        assert all(t.read_only for t in mcp.tools)
        out = loop_over(fake_anthropic, mcp.tools).run(MODEL, "system", "what does the runbook say?")
    assert out.text == "Roll back with `deployctl rollback pricing`."
    assert [c.ok for c in out.calls] == [True, True, False, False]
    assert any("Ignore previous instructions" in f for f in out.flagged)


def test_the_allow_list_offers_a_write_tool(fake_anthropic: FakeAnthropic) -> None:
    def offered(body: dict[str, Any]) -> None:
        names = {t["name"] for t in body["tools"]}
        assert "ops__open_ticket" in names and "ops__restart_service" not in names

    fake_anthropic.script(
        call(tool_use("ops__open_ticket", {"title": "pricing msgpack"}, "t1"), check=offered),
        say("Opened.", check=lambda b: None),
    )
    with mcp_tools([stdio(allow_write=["open_ticket"])], GUARD_S) as mcp:
        by_name = {t.name: t for t in mcp.tools}
        assert by_name["ops__open_ticket"].read_only is False and mcp.withheld == ["ops/restart_service"]
        out = loop_over(fake_anthropic, mcp.tools).run(MODEL, "system", "open a ticket")
    assert out.calls[0].ok and out.calls[0].result == "opened ticket: pricing msgpack"


def test_failed_servers_are_left_out_and_named(http_url: str) -> None:
    dead = McpServer(name="dead", command=sys.executable, args=["-c", "import sys; sys.exit(3)"])
    down = McpServer(name="down", url="http://127.0.0.1:9/mcp")
    refused = McpServer(name="refused", url=http_url)  # no token: 401
    with mcp_tools([dead, down, refused, stdio()], GUARD_S) as mcp:
        assert {t.name.split("__")[0] for t in mcp.tools} == {"ops"}
        assert [p.split(" ")[0] for p in mcp.problems] == ["dead", "down", "refused"]
        assert mcp.problems[2] == "refused failed: MCPError: Server returned an error response"  # a 401
        assert all("its tools were not available" in n for n in mcp.notes())


def test_a_server_that_never_answers_is_given_up_on() -> None:
    silent = McpServer(name="silent", command=sys.executable, args=["-c", "import time; time.sleep(120)"])
    with mcp_tools([silent], 2.0) as mcp:
        assert mcp.tools == [] and mcp.problems == ["silent failed: TimeoutError: did not answer within 2 s"]


def test_no_servers_means_no_sdk_and_no_tools() -> None:
    with mcp_tools([], GUARD_S) as mcp:
        assert mcp.tools == [] and mcp.problems == [] and mcp.notes() == []


def test_a_server_needs_one_transport() -> None:
    with pytest.raises(ValueError, match="either `command`"):
        McpServer(name="both", command="x", url="http://127.0.0.1/mcp")
    with pytest.raises(ValueError):
        McpServer(name="bad name!", command="x")
