"""Untrusted text: credentials redacted, no pings, no injected links, no breaking out of code."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.slack.safety import (
    BACKTICK_STANDIN,
    REDACTED,
    code_block,
    code_span,
    escape_mrkdwn,
    redact,
    untrusted,
    untrusted_plain,
)

# Slack-special characters and words, mixed into arbitrary text so hypothesis finds the edge cases.
_NASTY = st.sampled_from(
    [
        "<",
        ">",
        "&",
        "|",
        "`",
        "```",
        "!",
        "@",
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<#C1>",
        "@channel",
        "@here",
        "@everyone",
        "<http://evil|click>",
        "&lt;",
        "&amp;",
        "\n",
        "*",
        "_",
        "~",
    ]
)
_TEXT = st.lists(st.one_of(st.text(max_size=20), _NASTY), max_size=30).map("".join)

SECRETS = [
    ("AKIAIOSFODNN7EXAMPLE", "key id AKIAIOSFODNN7EXAMPLE in a log line"),
    ("ASIAY34FZKBOKMUTVV7A", "temporary ASIAY34FZKBOKMUTVV7A"),
    (
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    ),
    ("xoxb-1234567890-0987654321-AbCdEf", "token xoxb-1234567890-0987654321-AbCdEf leaked"),
    ("xoxp-1234-5678-abcdef", "user xoxp-1234-5678-abcdef"),
    ("xapp-1-A0123-456-abcdef", "app xapp-1-A0123-456-abcdef"),
    ("ghp_" + "a1B2" * 9, "export GITHUB_TOKEN=ghp_" + "a1B2" * 9),
    ("ghs_" + "Z9" * 18, "installation ghs_" + "Z9" * 18),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
        "jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    ),
    ("abc123.def456-ghi", "Authorization: Bearer abc123.def456-ghi"),
    ("hunter2", "login failed password=hunter2 for admin"),
    ("s3cr3t!", "db_password: s3cr3t!"),
    ("tok_9f8e7d", "?token=tok_9f8e7d&page=2"),
    ("p@ss w0rd", '{"password": "p@ss w0rd"}'),
    ("sk-ant-api03-AbCdEfGhIjKlMnOp", "ANTHROPIC_API_KEY=sk-ant-api03-AbCdEfGhIjKlMnOp"),
    ("y_NbAkKc66ryYTWUXYEu", "Authorization: Token token=y_NbAkKc66ryYTWUXYEu"),
    ("MIIEowIBAAKCAQEA", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"),
    ("MIIEvQIBADANBg", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg (cut off"),
    ("hunter22", "postgres://app:hunter22@db.internal:5432/orders"),
    ("T00/B00/XXXX", "https://hooks.slack.com/services/T00/B00/XXXX"),
]


@pytest.mark.parametrize(("secret", "text"), SECRETS)
def test_redact_removes_credentials(secret: str, text: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "text",
    [
        "commit 0123456789abcdef0123456789abcdef01234567 deployed",
        "bearer authentication is fine",
        "max_tokens=4096",
        "token_count: 12",
        "p99 latency 2300ms > threshold 1000",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx",
    ],
)
def test_redact_leaves_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_escape_stops_mentions_and_links() -> None:
    out = escape_mrkdwn("<!channel> <!here|here> <@U123> <#C999> <http://evil.example|click> a & b")
    assert "<" not in out and ">" not in out
    assert out.startswith("&lt;!channel&gt;")
    assert "&amp; b" in out


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Channel", "@HERE"])
def test_plain_broadcast_words_are_broken(word: str) -> None:
    out = escape_mrkdwn(f"hey {word} look")
    assert word not in out
    assert word.lower() not in out.lower().replace("\u200d", "!")  # the joiner sits inside the word


def test_untrusted_redacts_escapes_and_truncates() -> None:
    text = "<!channel> key AKIAIOSFODNN7EXAMPLE " + "x" * 500
    out = untrusted(text, 100)
    assert len(out) <= 100
    assert out.endswith("…")
    assert "AKIA" not in out and "<!" not in out


def test_truncation_never_splits_an_entity() -> None:
    for limit in range(1, 30):
        out = untrusted("a" * 10 + "&&&&&&&&", limit)
        assert len(out) <= limit
        assert not re.search(r"&[a-z]{0,3}(?:…|$)", out)


def test_plain_text_keeps_angle_brackets_but_redacts() -> None:
    out = untrusted_plain("p99 > 2s, token=abc123 @here", 200)
    assert ">" in out
    assert "abc123" not in out
    assert "@here" not in out


def test_code_span_cannot_be_closed_early() -> None:
    out = code_span("rm `whoami` <!channel>\nnext")
    assert out.startswith("`") and out.endswith("`")
    assert out.count("`") == 2
    assert BACKTICK_STANDIN in out
    assert "<" not in out and "\n" not in out


def test_code_block_cannot_be_closed_early() -> None:
    out = code_block("line\n```\n<!here> escaped? AKIAIOSFODNN7EXAMPLE\n```")
    assert out.startswith("```\n") and out.endswith("\n```")
    assert out.count("```") == 2
    assert "AKIA" not in out and "<" not in out


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.integers(min_value=1, max_value=500))
@example("0@CHANNEL00", 10)  # a cut right after the word once made a broadcast of it
def test_untrusted_output_is_always_inert(text: str, limit: int) -> None:
    out = untrusted(text, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
    assert "<!" not in out and "<@" not in out
    assert not re.search(r"(?i)@(channel|here|everyone)\b", out)
    # every & starts an entity we wrote
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_code_helpers_always_close(text: str) -> None:
    span = code_span(text)
    assert span.count("`") == 2 and "<" not in span
    block = code_block(text)
    assert block.count("`") == 6 and "<" not in block


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_redact_never_raises_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
