"""The Anthropic Messages API: the only module that imports the anthropic SDK.

One call is one model turn. The SDK retries 429 / 529 / connection errors itself (`max_retries`, honouring
`retry-after`); whatever still fails becomes :class:`ModelUnavailable`, never an SDK exception. The base URL is
the SDK's own setting, so the same code reaches Anthropic or the sandbox's stand-in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anthropic


class ModelUnavailable(Exception):
    """The model could not answer (API errors after retries, timeouts, a broken stream, a bad answer)."""


@dataclass(frozen=True)
class TurnUsage:
    """Tokens one turn used, as the API reported them, and how long it took."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class ModelTurn:
    """What the model answered: its content blocks as plain dicts, why it stopped, and the usage."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: TurnUsage
    model: str = ""

    def text(self) -> str:
        """The text blocks, joined."""
        return "\n".join(b["text"] for b in self.content if b.get("type") == "text").strip()

    def tool_uses(self) -> list[dict[str, Any]]:
        """The tool_use blocks, in order."""
        return [b for b in self.content if b.get("type") == "tool_use"]


@dataclass
class ModelRequest:
    """One request: the model, the system blocks, the tools, the conversation so far."""

    model: str
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: dict[str, Any] | None = None
    max_tokens: int = 4096


class MessagesClient:
    """Sends model turns; `stream` reads each answer as server-sent events (as a chat surface would)."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        stream: bool = True,
    ) -> None:
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )
        self.stream = stream

    def turn(self, req: ModelRequest) -> ModelTurn:
        """One model turn; raises ModelUnavailable when the API cannot give one."""
        kwargs: dict[str, Any] = {
            "model": req.model,
            "max_tokens": req.max_tokens,
            "system": req.system,
            "messages": req.messages,
        }
        if req.tools:
            kwargs["tools"] = req.tools
        if req.tool_choice is not None:
            kwargs["tool_choice"] = req.tool_choice
        started = time.monotonic()
        try:
            if self.stream:
                with self._client.messages.stream(**kwargs) as s:
                    message = s.get_final_message()
            else:
                message = self._client.messages.create(**kwargs)
        except anthropic.APIStatusError as err:
            if err.status_code == 200:  # an `error` event in a stream that had begun
                raise ModelUnavailable(f"the Messages API stream broke: {_kind(err)}") from err
            raise ModelUnavailable(f"the Messages API answered {err.status_code}: {_kind(err)}") from err
        except anthropic.APITimeoutError as err:
            raise ModelUnavailable("the Messages API timed out") from err
        except anthropic.APIError as err:
            raise ModelUnavailable(
                f"the Messages API failed: {type(err).__name__}: {str(err)[:200]}"
            ) from err
        return _turn(message, time.monotonic() - started)


def _kind(err: anthropic.APIStatusError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    detail = body.get("error") if isinstance(body.get("error"), dict) else body
    kind = detail.get("type") if isinstance(detail, dict) else None
    return str(kind or type(err).__name__)


def _turn(message: Any, latency_s: float) -> ModelTurn:
    u = message.usage
    usage = TurnUsage(
        input_tokens=int(u.input_tokens or 0),
        output_tokens=int(u.output_tokens or 0),
        cache_write_tokens=int(getattr(u, "cache_creation_input_tokens", 0) or 0),
        cache_read_tokens=int(getattr(u, "cache_read_input_tokens", 0) or 0),
        latency_s=latency_s,
    )
    content = [_block(b) for b in message.content]
    return ModelTurn(
        content=content, stop_reason=str(message.stop_reason or ""), usage=usage, model=message.model
    )


def _block(b: Any) -> dict[str, Any]:
    """A content block as the API takes it back in the next request (only the fields it defines)."""
    if b.type == "text":
        return {"type": "text", "text": b.text}
    if b.type == "tool_use":
        return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
    dumped: dict[str, Any] = b.model_dump(mode="json", exclude_none=True)
    return dumped
