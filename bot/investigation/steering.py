"""Steering: what people in the thread told the investigation to do, as plain state the engine applies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Steering:
    """Directives from the thread: focus on or ignore services, a time window, changes declared fine."""

    focus: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)
    since: datetime | None = None
    cleared_changes: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
