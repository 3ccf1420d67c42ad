"""A scripted stand-in for Anthropic's Messages API (`POST /v1/messages`), JSON and server-sent events.

The anthropic SDK reaches it through its own `base_url` (or `ANTHROPIC_BASE_URL`). Each test scripts the
turns the "model" answers, in order: text, tool_use blocks (several in one turn for parallel calls), an HTTP
error (429 / 529 with `retry-after`), or a stream that breaks with an `error` event after it began. A turn
may check the request it answers (the tools offered, the last tool results); a failed check is recorded in
`problems` and answered with a 400, so the client sees it. Usage is counted as the real API does, roughly:
prompt caching shows as `cache_creation_input_tokens` on the first request that marks a cache breakpoint and
`cache_read_input_tokens` on later ones with the same cached prefix.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.httpserver import LoopbackServer, Request, Response

#: A check a turn runs on the request it answers; raise AssertionError to refuse it.
Check = Callable[[dict[str, Any]], None]


@dataclass
class Turn:
    """One scripted answer: content blocks and a stop reason, or an HTTP error, or a broken stream."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    status: int = 200
    error_type: str = ""
    retry_after: str | None = None
    break_stream: bool = False
    output_tokens: int | None = None
    check: Check | None = None


def text(value: str) -> dict[str, Any]:
    """A text block."""
    return {"type": "text", "text": value}


def tool_use(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    """A tool_use block."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def say(value: str, check: Check | None = None) -> Turn:
    """A turn that ends with text."""
    return Turn([text(value)], "end_turn", check=check)


def call(*uses: dict[str, Any], note: str = "", check: Check | None = None) -> Turn:
    """A turn that calls one or more tools (parallel calls when more than one)."""
    blocks = ([text(note)] if note else []) + list(uses)
    return Turn(blocks, "tool_use", check=check)


def fail(status: int, error_type: str, retry_after: str | None = "0") -> Turn:
    """A turn answered with an HTTP error (429 rate_limit_error, 529 overloaded_error, 500 api_error)."""
    return Turn(status=status, error_type=error_type, retry_after=retry_after)


def broken_stream(partial: str = "Looking at") -> Turn:
    """A streamed turn that starts, sends some text, then an `overloaded_error` event (JSON: a 529)."""
    return Turn([text(partial)], break_stream=True, error_type="overloaded_error")


def _tokens(obj: Any) -> int:
    return max(1, len(json.dumps(obj, default=str)) // 4)


class FakeAnthropic(LoopbackServer):
    """The scripted Messages API; `calls` holds every request body it answered, in order."""

    def __init__(self, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self._turns: list[Turn] = []
        self._lock2 = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._cached: set[str] = set()
        self._n = 0
        self.responder: Callable[[dict[str, Any]], Turn] | None = None
        self.add_route("POST", r"/v1/messages", self._messages)

    def script(self, *turns: Turn) -> None:
        """Replace the script with `turns` (and forget earlier calls)."""
        with self._lock2:
            self._turns = list(turns)
            self.calls.clear()
            self.problems.clear()
            self._cached.clear()

    @property
    def remaining(self) -> int:
        """Turns not answered yet."""
        return len(self._turns)

    def _messages(self, req: Request) -> Response:
        auth = req.header("authorization") or ""
        if not (auth.startswith("Bearer ") or req.header("x-api-key")):
            return _error(401, "authentication_error", "missing API key")
        body = req.json() or {}
        with self._lock2:
            self.calls.append(body)
            if not self._turns and self.responder is not None:
                self._turns.append(self.responder(body))
            if not self._turns:
                self.problems.append(f"request {len(self.calls)} came after the script ended")
                return _error(500, "api_error", "the fake's script has no more turns")
            turn = self._turns.pop(0)
            self._n += 1
            n = self._n
        if turn.check is not None:
            try:
                turn.check(body)
            except AssertionError as err:
                self.problems.append(f"request {len(self.calls)}: {err}")
                return _error(400, "invalid_request_error", f"scripted check failed: {err}")
        if turn.status != 200:
            headers = {"retry-after": turn.retry_after} if turn.retry_after is not None else {}
            return _error(turn.status, turn.error_type, "scripted failure", headers)
        message = self._message(body, turn, n)
        if turn.break_stream and not body.get("stream"):
            return _error(529, "overloaded_error", "Overloaded")
        if body.get("stream"):
            return _sse(message, turn.break_stream)
        return Response.json(message)

    def _message(self, body: dict[str, Any], turn: Turn, n: int) -> dict[str, Any]:
        usage = self._usage(body)
        usage["output_tokens"] = turn.output_tokens or _tokens(turn.content)
        return {
            "id": f"msg_fake{n:04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": turn.content,
            "stop_reason": turn.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Input tokens split as the API does: a cached prefix (system + tools when marked) is read or written."""
        prefix = {"system": body.get("system"), "tools": body.get("tools")}
        marked = "cache_control" in json.dumps(prefix)
        rest = _tokens(body.get("messages", []))
        if not marked:
            return {
                "input_tokens": rest + _tokens(prefix),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
        key = json.dumps(prefix, sort_keys=True)
        size = _tokens(prefix)
        with self._lock2:
            hit = key in self._cached
            self._cached.add(key)
        return {
            "input_tokens": rest,
            "cache_creation_input_tokens": 0 if hit else size,
            "cache_read_input_tokens": size if hit else 0,
        }


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"type": "error", "error": {"type": kind, "message": message}}, status, headers)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _sse(message: dict[str, Any], broken: bool) -> Response:
    """The message as the streaming API sends it: start, ping, each block's start/deltas/stop, delta, stop."""
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    out = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event("ping", {"type": "ping"}),
    ]
    for i, block in enumerate(message["content"]):
        first: dict[str, Any]
        if block["type"] == "text":
            first, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            first = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        out.append(
            _event("content_block_start", {"type": "content_block_start", "index": i, "content_block": first})
        )
        out.append(_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
        if broken:
            out.append(
                _event(
                    "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                )
            )
            return _stream_response("".join(out))
        out.append(_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    out.append(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(_event("message_stop", {"type": "message_stop"}))
    return _stream_response("".join(out))


def _stream_response(body: str) -> Response:
    return Response(
        200, body.encode(), {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
