"""An incident's audit trail as text: every request, decision, refusal, expiry, API call and result."""

from __future__ import annotations

import json

from bot.storage.store import Store


class UnknownIncident(LookupError):
    """No incident has this id."""


def incident_audit(store: Store, incident_id: int) -> list[str]:
    """One line per audit entry about the incident or its investigations (and their steps), oldest first:
    when (UTC), who, what, about what, and the details."""
    incident = store.get_incident(incident_id)
    if incident is None:
        raise UnknownIncident(f"no incident {incident_id}: `sre-bot audit` takes an incident id")
    subjects = [f"incident:{incident_id}"] + [
        f"investigation:{i.id}" for i in store.investigations_of(incident_id)
    ]
    lines = []
    for entry in store.audit_trail(subjects):
        detail = json.dumps(entry.detail, sort_keys=True, default=str) if entry.detail else ""
        when = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{when}Z  {entry.actor:<12} {entry.verb:<24} {entry.subject}  {detail}".rstrip())
    return lines
