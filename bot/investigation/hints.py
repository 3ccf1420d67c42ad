"""What the team learnt before about this alarm or service, told to a new investigation as a hint.

The hint is never evidence: the thread says what caused it last time ("seen before: ..."), and once the
investigation has concluded from its own evidence, whether that evidence confirms the earlier cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Report
from bot.domain.prevention import IncidentMemory
from bot.storage.memory import note_service, seen_before
from bot.storage.store import Store


@dataclass(frozen=True)
class Hint:
    """An earlier cause of the same alarm or service."""

    incident_id: int
    when: str
    service: str | None
    category: str | None
    cause: str
    link: str | None


def thread_link(channel: str | None, ts: str | None) -> str | None:
    """A link to a Slack thread (works in any workspace the reader is signed in to)."""
    if channel and ts:
        return f"https://slack.com/app_redirect?channel={channel}&message_ts={ts}"
    return None


def _hint(m: IncidentMemory) -> Hint:
    if m.confirmed is False:
        cause = f"{m.confirmed_cause} (confirmed by a responder)" if m.confirmed_cause else ""
    elif m.confirmed:
        cause = f"{m.confirmed_cause or m.root_cause} (confirmed by a responder)"
    else:
        cause = m.root_cause or ""
    return Hint(
        incident_id=m.incident_id,
        when=f"{m.opened_at:%Y-%m-%d}",
        service=m.root_cause_service if m.confirmed is not False else None,
        category=m.category.value if m.category and m.confirmed is not False else None,
        cause=cause,
        link=thread_link(m.channel, m.thread_ts),
    )


def hints_for(store: Store, incident_id: int, service: str | None) -> list[Hint]:
    """Record the alarmed service on the incident (when scoping found one) and return what caused the same
    alarm, else the same service, before (newest first; causes nobody can vouch for are left out)."""
    if service:
        note_service(store, incident_id, service)
    return [h for h in (_hint(m) for m in seen_before(store, incident_id)) if h.cause]


def seen_before_text(hints: list[Hint]) -> str | None:
    """The thread's "seen before: ..." line, or None when nothing was seen before."""
    if not hints:
        return None
    parts = [f"{h.when}: {h.cause}" + (f" ({h.link})" if h.link else "") for h in hints]
    return (
        "Seen before: " + "; ".join(parts) + ". A hint only: I check it against this incident's own evidence."
    )


def verdict_text(hints: list[Hint], report: Report) -> str | None:
    """Whether this investigation's evidence confirms the most recent earlier cause."""
    if not hints:
        return None
    last = hints[0]
    rc = report.root_cause
    if rc is None:
        return f"The evidence neither confirms nor rules out the earlier cause ({last.when})."
    if last.service == rc.service and last.category == rc.category.value:
        return f"The evidence confirms the same cause as on {last.when}: {rc.service} ({rc.category.value})."
    return (
        f"This time the evidence points at {rc.service or 'no service'} ({rc.category.value}), "
        f"not the earlier cause of {last.when}."
    )
