"""The model pass's runtime, built once from the settings: the client, the models per role, the caps and
the day's spend. None without ANTHROPIC_API_KEY: the deterministic engine then works alone."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import McpServer, Settings
from bot.llm.budget import Caps, DailySpend
from bot.llm.loop import TurnSender


@dataclass
class ModelRuntime:
    """What a model pass needs: a sender, the fast and strong models, caps, the shared daily spend, and the
    MCP servers whose tools join ours."""

    sender: TurnSender
    fast_model: str
    strong_model: str
    caps: Caps
    daily: DailySpend
    max_tokens: int = 4096
    mcp_servers: tuple[McpServer, ...] = ()
    mcp_timeout_s: float = 20.0


def model_runtime(settings: Settings) -> ModelRuntime | None:
    """The runtime for `settings`, or None when no API key is set."""
    if not settings.anthropic_api_key:
        return None
    from bot.llm.client import MessagesClient  # the SDK is loaded only when a key is set

    sender = MessagesClient(
        settings.anthropic_api_key, settings.anthropic_base_url, timeout_s=settings.llm_timeout_s
    )
    caps = Caps(
        max_steps=settings.llm_max_steps,
        tokens=settings.llm_investigation_tokens,
        usd=settings.llm_investigation_usd,
        tool_result_chars=settings.llm_tool_result_chars,
    )
    return ModelRuntime(
        sender,
        settings.llm_fast_model,
        settings.llm_strong_model,
        caps,
        DailySpend(settings.llm_daily_usd),
        settings.llm_max_tokens,
        tuple(settings.mcp_servers),
        settings.mcp_timeout_s,
    )
