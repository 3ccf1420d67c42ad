"""Bring your own tools: the MCP servers in the settings (stdio commands or streamable HTTP urls), reached
through the official `mcp` SDK (this is its only importer; it is loaded only when servers are configured).

For one model pass their sessions are held open on a private event loop in a background thread; each tool
becomes a `Tool` named `<server>__<tool>` whose calls the tool loop makes like any other (so their results are
budgeted and flagged the same way). Only tools the server annotates `readOnlyHint: true`, or that the server's
`allow_write` names, are offered. A server that cannot be reached in time is left out and said in `problems`;
the model pass goes on without it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.config import McpServer
from bot.llm.tools import Tool

log = logging.getLogger(__name__)

#: How long closing the sessions may take before we stop waiting (a hang guard).
CLOSE_GUARD_S = 15.0


class McpToolError(Exception):
    """An MCP tool answered with an error, or did not answer; the message is the model's to read."""


@dataclass
class McpTools:
    """The MCP tools offered to one model pass, those held back, and the servers that failed."""

    tools: list[Tool] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """What the thread is told about the MCP servers: each failure, in words."""
        return [f"MCP server {p}; its tools were not available" for p in self.problems]


def tool_name(server: str, name: str) -> str:
    """`<server>__<tool>`, cut to the Messages API's 64 characters of [A-Za-z0-9_-]."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{name}")[:64]


def _why(err: BaseException) -> str:
    """The innermost reason of an exception (task groups wrap them in groups)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    text = str(err).strip() or type(err).__name__
    return f"{type(err).__name__}: {text[:300]}" if text != type(err).__name__ else text


def _text_of(result: Any) -> str:
    """A CallToolResult as the text the model reads."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and getattr(block.resource, "text", None) is not None:
            parts.append(block.resource.text)
        else:
            parts.append(f"[{kind or 'content'} not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, default=str, sort_keys=True))
    return "\n".join(parts)


class _Sessions:
    """The open sessions, on an event loop of their own in a background thread."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mcp-sessions", daemon=True)
        self.thread.start()
        self.stop = asyncio.Event()
        self.holds: list[concurrent.futures.Future[None]] = []

    async def _client(self, server: McpServer, stack: AsyncExitStack) -> Any:
        """The SDK's client for `server` (entered on `stack`): stdio, or streamable HTTP with its headers."""
        from mcp import Client, StdioServerParameters

        target: Any
        if server.command is not None:
            target = StdioServerParameters(command=server.command, args=server.args, env=server.env)
        elif server.headers:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=server.headers, timeout=self.timeout_s)
            )
            target = streamable_http_client(str(server.url), http_client=http)
        else:
            target = server.url
        return await stack.enter_async_context(Client(target, read_timeout_seconds=self.timeout_s))

    async def _hold(self, server: McpServer, ready: concurrent.futures.Future[Any]) -> None:
        """Open the session, list its tools into `ready`, and keep it open until `stop`."""
        try:
            async with AsyncExitStack() as stack:
                client = await self._client(server, stack)
                listed, cursor = [], None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    listed += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                ready.set_result((client, listed))
                await self.stop.wait()
        except BaseException as err:
            if not ready.done():
                ready.set_exception(err if isinstance(err, Exception) else RuntimeError(_why(err)))
            if isinstance(err, asyncio.CancelledError):
                raise

    def open(self, servers: Sequence[McpServer]) -> list[tuple[Any, list[Any]] | Exception]:
        """Each server's client and tools, or why it could not be reached within the timeout (all at once)."""
        readies: list[concurrent.futures.Future[Any]] = []
        for server in servers:
            ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
            self.holds.append(asyncio.run_coroutine_threadsafe(self._hold(server, ready), self.loop))
            readies.append(ready)
        concurrent.futures.wait(readies, timeout=self.timeout_s)
        out: list[tuple[Any, list[Any]] | Exception] = []
        for ready, hold in zip(readies, self.holds, strict=True):
            if not ready.done():
                hold.cancel()
                out.append(TimeoutError(f"did not answer within {self.timeout_s:g} s"))
            elif (err := ready.exception()) is not None:
                out.append(err if isinstance(err, Exception) else RuntimeError(_why(err)))
            else:
                out.append(ready.result())
        return out

    def call(self, client: Any, name: str, args: dict[str, Any]) -> str:
        """Call a tool on an open session; McpToolError when it fails or times out."""
        call = asyncio.run_coroutine_threadsafe(
            client.call_tool(name, args, read_timeout_seconds=self.timeout_s), self.loop
        )
        try:
            result = call.result(timeout=self.timeout_s + 5)
        except concurrent.futures.TimeoutError:
            call.cancel()
            raise McpToolError(f"no answer within {self.timeout_s:g} s") from None
        except Exception as err:
            raise McpToolError(_why(err)) from None
        text = _text_of(result)
        if result.is_error:
            raise McpToolError(text or "the tool reported an error")
        return text

    def close(self) -> None:
        """Close every session and stop the loop (waiting at most CLOSE_GUARD_S)."""
        self.loop.call_soon_threadsafe(self.stop.set)
        done, _ = concurrent.futures.wait(self.holds, timeout=CLOSE_GUARD_S)
        for hold in self.holds:
            if hold not in done:
                hold.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=CLOSE_GUARD_S)
        if not self.thread.is_alive():
            self.loop.close()


def _as_tool(sessions: _Sessions, client: Any, server: McpServer, spec: Any, read_only: bool) -> Tool:
    def run(**args: Any) -> str:
        return sessions.call(client, spec.name, args)

    schema = dict(spec.input_schema or {"type": "object", "properties": {}})
    description = f"[MCP server {server.name}] {spec.description or spec.name}"
    return Tool(tool_name(server.name, spec.name), description, schema, run, read_only)


@contextmanager
def mcp_tools(servers: Sequence[McpServer], timeout_s: float) -> Iterator[McpTools]:
    """The configured servers' tools for the duration of the block (none, and no SDK loaded, without any)."""
    out = McpTools()
    if not servers:
        yield out
        return
    sessions = _Sessions(timeout_s)
    try:
        for server, opened in zip(servers, sessions.open(servers), strict=True):
            if isinstance(opened, Exception):
                out.problems.append(f"{server.name} failed: {_why(opened)}")
                log.warning("MCP server %s unavailable: %s", server.name, _why(opened))
                continue
            client, listed = opened
            for spec in listed:
                read_only = bool(spec.annotations is not None and spec.annotations.read_only_hint is True)
                if read_only or spec.name in server.allow_write:
                    out.tools.append(_as_tool(sessions, client, server, spec, read_only))
                else:
                    out.withheld.append(f"{server.name}/{spec.name}")
        yield out
    finally:
        sessions.close()
