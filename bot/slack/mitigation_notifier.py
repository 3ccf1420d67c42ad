"""The mitigation use case's thread in Slack: progress replies, closing a step's buttons, user groups."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.mitigation.execution import MitigationContext, install
from bot.mitigation.fixes import Fixes
from bot.mitigation.policy import ApprovalPolicy
from bot.mitigation.ports import Where
from bot.mitigation.service import Mitigations
from bot.slack.blocks import context
from bot.sources.aws.clients import AwsClients
from bot.sources.aws.writes import AssumedRoleClients, AwsWriter
from bot.sources.github import GithubWriter
from bot.storage.store import Store

log = logging.getLogger(__name__)

#: How long a user group's members are remembered (seconds).
GROUP_CACHE_S = 60.0


class SlackMitigationNotifier:
    """Implements `MitigationNotifier` with the bot's Web API client."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def say(self, where: Where, text: str) -> None:
        """A reply in the action's thread."""
        self.client.chat_postMessage(
            channel=where.channel, thread_ts=where.thread_ts, text=text[:3900], unfurl_links=False
        )

    def close_step(self, where: Where, step: int, text: str) -> None:
        """Replace the step's buttons in the plan message with `text`, so they cannot be clicked again."""
        message = self._message(where)
        if message is None:
            log.warning("plan message %s not found; step %s buttons left as they are", where.message_ts, step)
            return
        block_id = f"plan_step:{step}"
        blocks: list[dict[str, Any]] = []
        for block in message.get("blocks") or []:
            if block.get("type") == "actions" and block.get("block_id") == block_id:
                blocks.append({**context(text), "block_id": block_id})
            else:
                blocks.append(block)
        self.client.chat_update(
            channel=where.channel, ts=where.message_ts, text=message.get("text") or text, blocks=blocks
        )

    def _message(self, where: Where) -> dict[str, Any] | None:
        resp = self.client.conversations_replies(
            channel=where.channel, ts=where.thread_ts, latest=where.message_ts, inclusive=True, limit=200
        )
        for message in resp.get("messages") or []:
            if message.get("ts") == where.message_ts:
                return dict(message)
        return None

    def groups_of(self, user: str, groups: frozenset[str]) -> frozenset[str]:
        """Which of `groups` `user` is a member of (`usergroups.users.list`, cached for a minute)."""
        return frozenset(g for g in groups if user in self._members(g))

    def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached is not None and time.monotonic() - cached[0] < GROUP_CACHE_S:
            return cached[1]
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group).get("users") or [])
        except SlackApiError as err:
            log.warning("user group %s unreadable: %s", group, err.response.get("error"))
            users = frozenset()
        self._groups[group] = (time.monotonic(), users)
        return users


def wire_fixes(settings: Settings, store: Store) -> Fixes:
    """The fix buttons' use case: GitHub writes with GITHUB_WRITE_TOKEN (without it they say so)."""
    github = (
        GithubWriter(settings.github_write_token, settings.github_api_url)
        if settings.github_write_token
        else None
    )
    return Fixes(store, ApprovalPolicy.from_settings(settings), github)


def wire_mitigations(
    settings: Settings, store: Store, client: WebClient, reads: AwsClients
) -> tuple[Mitigations, SlackMitigationNotifier]:
    """The mitigation use case for this process: its policy, its write role's clients, its Slack notifier,
    installed for the durable workflows (call before DBOS launches, so resumed ones find it)."""
    policy = ApprovalPolicy.from_settings(settings)
    writes = reads
    if settings.aws_write_role_arn:
        writes = AssumedRoleClients(reads, settings.aws_write_role_arn)
    elif settings.aws_write_profile:
        writes = AwsClients(
            settings.aws_region, endpoint_url=reads.endpoint_url, profile=settings.aws_write_profile
        )
    github = (
        GithubWriter(settings.github_write_token, settings.github_api_url)
        if settings.github_write_token
        else None
    )
    notifier = SlackMitigationNotifier(client)
    install(
        MitigationContext(
            store,
            AwsWriter(writes),
            notifier,
            policy,
            recovery_s=settings.mitigation_recovery_minutes * 60,
            poll_s=settings.mitigation_poll_seconds,
            github=github,
        )
    )
    return Mitigations(store, policy), notifier
