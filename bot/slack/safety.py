"""Make untrusted text safe to post: no pings, no injected links, no leaked credentials.

Text from logs, alarms, commit messages and model output is untrusted. Before it reaches Slack it goes
through :func:`untrusted` (mrkdwn fields) or :func:`untrusted_plain` (``plain_text`` fields): credentials are
replaced with ``[redacted]``, Slack's control characters are escaped so ``<!channel>``, ``<@U123>`` and
``<http://evil|click>`` render as text, broadcast words (``@channel``, ``@here``, ``@everyone``) are broken
with a zero-width joiner, and the result is cut to a length limit with an ellipsis.
"""

from __future__ import annotations

import re

#: What every credential is replaced with.
REDACTED = "[redacted]"
#: Put between ``@`` and a broadcast word so Slack never treats it as a mention.
ZWJ = "\u200d"
#: Stands in for a backtick inside code spans and blocks, which Slack cannot escape.
BACKTICK_STANDIN = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT
ELLIPSIS = "…"

#: No word boundary after it: a cut (`@CHANNEL00` truncated to `@CHANNEL…`) must not make one.
_BROADCAST = re.compile(r"@(channel|here|everyone|group)", re.IGNORECASE)
_SPECIAL_OPEN = re.compile(r"<([!@#])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")

_SECRET_NAMES = (
    r"password|passwd|pwd|passphrase|secret|client_secret|token|access_token|refresh_token|auth_token|"
    r"api_?key|apikey|x-api-key|access_?key|private_?key|credentials?|session_?token"
)

# (pattern, replacement); applied in order. Replacements keep a name or prefix where it helps reading.
_RULES: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, terminated or cut off.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # AWS secret access key after its name (a bare 40-char base64 run is too much like a commit hash).
    (
        re.compile(
            r"(?i)((?:aws_?)?secret_?access_?key|aws_?secret(?:_?key)?)([\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{40}"
        ),
        r"\1\2" + REDACTED,
    ),
    # AWS access key ids (long-term, temporary, and the rarer key prefixes).
    (re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), REDACTED),
    # Slack tokens, app-level tokens and incoming-webhook URLs.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{6,}"), REDACTED),
    (re.compile(r"\bxapp-\d-[A-Za-z0-9-]{6,}"), REDACTED),
    (re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"), REDACTED),
    # GitHub tokens.
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    # Anthropic, OpenAI-like and Stripe-like keys; Google API keys; PagerDuty user tokens.
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"), REDACTED),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), REDACTED),
    (re.compile(r"(?<![\w+])u\+[A-Za-z0-9_-]{16,}"), REDACTED),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # Authorization headers.
    # (the value must hold a digit or symbol, so "bearer authentication" survives).
    (
        re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"),
        r"\1\2" + REDACTED,
    ),
    # Credentials in URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@<>]+:)[^\s@/<>]+@"), r"\1" + REDACTED + "@"),
    # name=value, name: value, "name": "value"
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9])([A-Za-z0-9_.-]*(?:" + _SECRET_NAMES + r"))"
            r"([\"']?\s*[:=]\s*)(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?!\[redacted\])[^\s\"'&,;<>]+)"
        ),
        r"\1\2" + REDACTED,
    ),
]


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[redacted]``."""
    out = str(text)
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    return out


def _neutralise_broadcasts(text: str) -> str:
    return _BROADCAST.sub(lambda m: "@" + ZWJ + m.group(1), text)


def escape_mrkdwn(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` and break ``@channel``/``@here``/``@everyone`` so nothing pings or links."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _neutralise_broadcasts(out)


def _clean(text: str) -> str:
    return _CONTROL.sub("", str(text))


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    return text[: limit - 1] + ELLIPSIS


def _truncate_escaped(text: str, limit: int) -> str:
    """Like :func:`truncate`, but never leaves half an ``&amp;`` entity or a dangling ``@`` + joiner."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = text[: limit - 1]
    cut = _PARTIAL_ENTITY.sub("", cut)
    return cut + ELLIPSIS


def untrusted(text: str | None, limit: int = 3000) -> str:
    """Make untrusted text safe for a mrkdwn field: redact, escape, and cut to `limit` characters."""
    if text is None:
        return ""
    return _truncate_escaped(escape_mrkdwn(redact(_clean(text))), limit)


def untrusted_plain(text: str | None, limit: int = 3000) -> str:
    """Make untrusted text safe for a ``plain_text`` field (headers, buttons, modals).

    ``plain_text`` is never parsed for mentions or links, so ``&<>`` are left as they are (escaping them
    would show the entities); credentials are still redacted, broadcast words still broken, and ``<!``,
    ``<@``, ``<#`` get a zero-width joiner too, in case a field is ever switched to mrkdwn.
    """
    if text is None:
        return ""
    out = _SPECIAL_OPEN.sub(lambda m: "<" + ZWJ + m.group(1), _neutralise_broadcasts(redact(_clean(text))))
    return truncate(out, limit)


def code_span(text: str | None, limit: int = 3000) -> str:
    """Inline code: one line, backticks replaced so the span cannot be closed early, escaped, redacted."""
    raw = redact(_clean(text or "")).replace("\r", " ").replace("\n", " ").replace("`", BACKTICK_STANDIN)
    body = _truncate_escaped(escape_mrkdwn(raw), max(limit - 2, 1)) or " "
    return f"`{body}`"


def code_block(text: str | None, limit: int = 3000) -> str:
    """A fenced code block that untrusted text cannot break out of; redacted and escaped."""
    raw = redact(_clean(text or "")).replace("`", BACKTICK_STANDIN)
    body = _truncate_escaped(escape_mrkdwn(raw), max(limit - 8, 1)) or " "
    return f"```\n{body}\n```"
