"""The tables, as SQLModel classes. Every change here needs a new Alembic migration in migrations/versions.

Conventions: integer surrogate keys; times are timezone-aware UTC (:class:`UTCDateTime`); statuses are short
strings whose values are listed by the StrEnums below (plain strings in the database, so adding a status needs
no migration); free-form data is JSON. Constraint names follow :data:`NAMING_CONVENTION` so later migrations,
including SQLite batch migrations, can refer to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that only accepts aware datetimes, stores UTC and always reads back aware UTC.

    PostgreSQL keeps `timestamp with time zone`; SQLite has no time zones, so the UTC wall time is stored
    (a fixed-width text that sorts and compares correctly).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(nullable: bool = False) -> Any:
    """A JSON column type; a nullable one stores Python None as SQL NULL rather than JSON null."""
    return sa.JSON(none_as_null=nullable)


class IncidentStatus(StrEnum):
    """Values of `Incident.status`."""

    OPEN = "open"
    RESOLVED = "resolved"


class InvestigationStatus(StrEnum):
    """Values of `Investigation.status`."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ActionStatus(StrEnum):
    """Values of `ActionRecord.status`."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    EXPIRED = "expired"
    STOPPED = "stopped"


class Verdict(StrEnum):
    """Values of `Feedback.verdict`."""

    UP = "up"
    DOWN = "down"


class Incident(SQLModel, table=True):
    """One episode of a problem, however many times it was paged while it lasted.

    `alarm_key` names the alarm (or PagerDuty incident) whatever the hour; an alarm has at most one open
    incident at a time, and one that fires again after it was resolved opens a new incident that points at
    the earlier one (`recurrence_of`). `fingerprint` is unique per episode: the alarm key for the first, the
    key and the episode's number after it (rows from before migration 0004 keep `Page.fingerprint()`).
    """

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, unique=True)
    alarm_key: str | None = Field(default=None, max_length=64, index=True)
    recurrence_of: int | None = Field(default=None, foreign_key="incidents.id")
    title: str
    service: str | None = None
    status: str = Field(default=IncidentStatus.OPEN.value, max_length=16, index=True)
    channel: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=32)
    status_message_ts: str | None = Field(default=None, max_length=32)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    page: dict[str, Any] = Field(default_factory=dict, sa_type=_json())


class Investigation(SQLModel, table=True):
    """One durable investigation workflow of an incident."""

    __tablename__ = "investigations"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    workflow_id: str = Field(max_length=128, unique=True)
    status: str = Field(default=InvestigationStatus.RUNNING.value, max_length=16, index=True)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    report_version: int = 0


class Finding(SQLModel, table=True):
    """A piece of evidence, stored before it is posted; `posted_ts` is set once Slack accepted it."""

    __tablename__ = "findings"
    __table_args__ = (sa.UniqueConstraint("investigation_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigations.id")
    seq: int
    kind: str = Field(max_length=32)
    service: str | None = None
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    found_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    posted_ts: str | None = Field(default=None, max_length=32)


class SteeringMessage(SQLModel, table=True):
    """A thread reply that steers an investigation, and what the bot understood of it."""

    __tablename__ = "steering_messages"

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigations.id", index=True)
    user: str = Field(max_length=64)
    text: str
    understood: bool = False
    directive: dict[str, Any] | None = Field(default=None, sa_type=_json(nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: Who took the message up (a workflow step); None while nobody has: it is waiting to be read.
    claimed_by: str | None = Field(default=None, max_length=160, index=True)


class ReportVersion(SQLModel, table=True):
    """One version of an investigation's report (`body` is `Report.model_dump(mode="json")`)."""

    __tablename__ = "reports"
    __table_args__ = (sa.UniqueConstraint("investigation_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigations.id")
    version: int
    body: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ActionRecord(SQLModel, table=True):
    """An executable mitigation step proposed by an investigation, and where it is in its lifecycle."""

    __tablename__ = "actions"

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigations.id", index=True)
    name: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    status: str = Field(default=ActionStatus.PROPOSED.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Approval(SQLModel, table=True):
    """A scoped, expiring, single-use approval of an action; only the token's hash is kept."""

    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="actions.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approver: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """Who did what to what. Append-only: the database refuses updates and deletes (see migration 0001)."""

    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    verb: str = Field(max_length=64)
    subject: str = Field(index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=_json())


class InboundDelivery(SQLModel, table=True):
    """A delivery already received (Slack event_id, PagerDuty event.id, SNS MessageId), and what it led to.

    A page's delivery is written in the transaction that records the page, with its `outcome` (see
    :class:`~bot.storage.store.Outcome`) and the incident, investigation or steering reply it made or joined, so a
    re-delivery can finish what its first delivery started (enqueue again; the enqueue is idempotent).
    """

    __tablename__ = "inbound_deliveries"
    __table_args__ = (sa.UniqueConstraint("source", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    delivery_id: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id")
    investigation_id: int | None = Field(default=None, foreign_key="investigations.id")
    steering_id: int | None = Field(default=None, foreign_key="steering_messages.id")


class Feedback(SQLModel, table=True):
    """A thumbs up or down on an investigation's answer."""

    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    investigation_id: int = Field(foreign_key="investigations.id", index=True)
    user: str = Field(max_length=64)
    verdict: str = Field(max_length=8)
    note: str = ""
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Recommendation(SQLModel, table=True):
    """A prevention recommendation mined from incidents, and where it is in its lifecycle.

    `key` names the pattern and where it applies, so the nightly job updates one row per pattern instead of
    adding another; `evidence_hash` is the hash of its incident ids, so a discarded one comes back only when
    new incidents change it. `status` values are :class:`bot.domain.prevention.RecommendationStatus`.
    """

    __tablename__ = "recommendations"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)
    priority: str = Field(max_length=8)
    title: str
    change: str
    where: str
    spec: str
    incident_ids: list[int] = Field(default_factory=list, sa_type=_json())
    evidence: list[str] = Field(default_factory=list, sa_type=_json())
    evidence_hash: str = Field(max_length=64)
    status: str = Field(default="new", max_length=16, index=True)
    reason: str = ""
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
