"""The repository: the typed queries the use cases need, each in its own short transaction.

Rows come back detached (readable after their session closed). Everything that can race between processes —
incident dedupe, delivery dedupe, finding numbers, report versions, approvals — is decided by a unique
constraint, a row lock or a single conditional UPDATE in the database, never by a read followed by a write.

A page is taken in one transaction (:meth:`Store.take_page`): its delivery, what it means for the alarm's
incident (a new one, a recurrence, a re-opened one, a repeat that joins, a resolution) and the investigation
row, plus whatever the caller adds in the same transaction (the workflow enqueue, when the workflow system
database is this database). Nothing is half-made: the delivery is recorded exactly when the page is.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from bot.domain import Page, PageSource
from bot.storage.tables import (
    ActionRecord,
    ActionStatus,
    Approval,
    AuditEntry,
    Feedback,
    Finding,
    InboundDelivery,
    Incident,
    IncidentStatus,
    Investigation,
    InvestigationStatus,
    ReportVersion,
    SteeringMessage,
    Verdict,
    utcnow,
)

RowT = TypeVar("RowT", bound=SQLModel)

#: How often add_finding retries when another writer took the same sequence number (SQLite only, in practice).
_SEQ_ATTEMPTS = 50
#: How often take_page retries when a concurrent writer opened the same episode or investigation first.
_TAKE_ATTEMPTS = 5
#: The first key of the PostgreSQL advisory locks (two-int form) that serialise pages of one alarm.
_PG_ALARM_LOCKS = 0x5EB0


def alarm_key(page: Page) -> str:
    """Which alarm a page is about, whatever the hour: its source and PagerDuty incident id, else its alarm
    name, else its title. An alarm has at most one open incident at a time."""
    key = page.incident_id or page.alarm_name or page.title
    return hashlib.sha256(f"{page.source.value}|{key}".encode()).hexdigest()[:16]


def investigation_workflow_id(incident: Incident, n: int) -> str:
    """The workflow id of an incident's `n`-th investigation (the first, or one after a re-open)."""
    return f"inv-{incident.fingerprint}" if n <= 1 else f"inv-{incident.fingerprint}-{n}"


class Intent(StrEnum):
    """What a page says: the alarm fires, it is over, or (PagerDuty) a resolved incident was re-opened."""

    FIRE = "fire"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class Outcome(StrEnum):
    """What taking a page did (stored with its delivery, as `InboundDelivery.outcome`)."""

    NEW = "new"  # a new incident and its investigation
    RECURRENCE = "recurrence"  # a new incident of an alarm whose earlier incident was resolved
    REOPENED = "reopened"  # a resolved incident opened again, with a new investigation
    JOINED = "joined"  # a repeat of an alarm still firing: joins its open incident
    RESOLVED = "resolved"  # the page resolved its alarm's open incident
    IGNORED = "ignored"  # nothing to do (OK for nothing open, a stale PagerDuty trigger)
    STEER = "steer"  # a steering reply (see take_steering)


#: Outcomes that start an investigation.
STARTS = frozenset({Outcome.NEW, Outcome.RECURRENCE, Outcome.REOPENED})


@dataclass(frozen=True)
class Taken:
    """What :meth:`Store.take_page` did with a page. `duplicate`: the delivery was taken before, and this
    is what it did then (the caller finishes what that delivery started: its enqueue is idempotent)."""

    outcome: Outcome
    incident: Incident | None = None
    investigation: Investigation | None = None
    duplicate: bool = False


#: Runs inside take_page's transaction, before it commits (the workflow enqueue, on the same database).
InTransaction = Callable[[sa.Connection, Taken], None]


def _unique_violation(err: IntegrityError) -> bool:
    """Whether `err` is a unique-constraint violation (PostgreSQL SQLSTATE 23505, or SQLite's message)."""
    orig = err.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def hash_token(token: str) -> str:
    """The stored form of an approval token (tokens are 256-bit random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(token.encode()).hexdigest()


class _Seen(Exception):
    """The delivery was taken before."""


def _table(model: type[SQLModel]) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


# The statements of the acknowledgement path, built once (executed with parameters, they skip building and
# caching a statement per call).
_INC, _INV, _DEL = _table(Incident), _table(Investigation), _table(InboundDelivery)
_INSERT_RETURNING: dict[type[SQLModel], sa.Insert] = {
    m: sa.insert(t).returning(t) for m, t in ((Incident, _INC), (Investigation, _INV))
}
_INSERT_DELIVERY = sa.insert(_DEL).returning(_DEL.c.id)
_DELIVERY_OUTCOME = (
    sa.update(_DEL)
    .where(_DEL.c.id == sa.bindparam("b_id"))
    .values(
        outcome=sa.bindparam("b_outcome"),
        incident_id=sa.bindparam("b_incident"),
        investigation_id=sa.bindparam("b_investigation"),
    )
)
_LATEST_INCIDENT = (
    sa.select(_INC).where(_INC.c.alarm_key == sa.bindparam("key")).order_by(_INC.c.id.desc()).limit(1)
)
_INVESTIGATIONS = sa.select(_INV).where(_INV.c.incident_id == sa.bindparam("incident")).order_by(_INV.c.id)
_LATEST_INVESTIGATION = (
    sa.select(_INV).where(_INV.c.incident_id == sa.bindparam("incident")).order_by(_INV.c.id.desc()).limit(1)
)
_ALARM_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("space"), sa.bindparam("alarm")))


def _insert(conn: sa.Connection, row: RowT) -> RowT:
    """Insert `row` (an incident or investigation) with a Core statement; returns it as stored (with its id)."""
    model = type(row)
    values = {c.name: getattr(row, c.name) for c in _table(model).columns if c.name != "id"}
    stored = conn.execute(_INSERT_RETURNING[model], values).one()
    return model(**stored._mapping)


def _update(conn: sa.Connection, incident: Incident, **values: Any) -> None:
    conn.execute(sa.update(_INC).where(_INC.c.id == incident.id).values(**values))


def _one(conn: sa.Connection, model: type[RowT], row_id: int | None) -> RowT | None:
    if row_id is None:
        return None
    table = _table(model)
    found = conn.execute(sa.select(table).where(table.c.id == row_id)).first()
    return model(**found._mapping) if found is not None else None


def _investigations(conn: sa.Connection, incident: Incident) -> list[Investigation]:
    return [Investigation(**r._mapping) for r in conn.execute(_INVESTIGATIONS, {"incident": incident.id})]


def _latest_investigation(conn: sa.Connection, incident: Incident) -> Investigation | None:
    found = conn.execute(_LATEST_INVESTIGATION, {"incident": incident.id}).first()
    return Investigation(**found._mapping) if found is not None else None


class Store:
    """Typed access to the database behind `engine` (build it with `make_engine`, after `migrate`)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def _insert(self, row: RowT) -> RowT:
        """Add one row and commit; the row comes back with its id."""
        with self._session() as s:
            s.add(row)
            s.commit()
        return row

    def _of_investigation(self, model: type[RowT], investigation_id: int) -> list[RowT]:
        """An investigation's rows of one table, oldest first."""
        with self._session() as s:
            stmt = select(model).where(model.investigation_id == investigation_id).order_by(model.id)  # type: ignore[attr-defined]
            return list(s.exec(stmt).all())

    # Incidents.

    def open_incident(self, page: Page, *, service: str | None = None) -> tuple[Incident, bool]:
        """The incident for `page`'s fingerprint, created if new; the flag says whether it was created.

        A repeated page (same fingerprint) returns the existing incident, whatever its status. (Pages from
        the surfaces go through :meth:`take_page`, which knows about episodes; this is the plain form.)
        """
        row = Incident(
            fingerprint=page.fingerprint(),
            alarm_key=alarm_key(page),
            title=page.title,
            service=service or page.service_hint,
            channel=page.channel,
            thread_ts=page.message_ts,
            opened_at=self.clock(),
            page=page.model_dump(mode="json"),
        )
        with self._session() as s:
            s.add(row)
            try:
                s.commit()
                return row, True
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
                s.rollback()
            existing = s.exec(select(Incident).where(Incident.fingerprint == row.fingerprint)).one()
            return existing, False

    def find_open_incident(self, fingerprint: str) -> Incident | None:
        """The open incident with this fingerprint, if any."""
        with self._session() as s:
            stmt = select(Incident).where(
                Incident.fingerprint == fingerprint, Incident.status == IncidentStatus.OPEN.value
            )
            return s.exec(stmt).first()

    def get_incident(self, incident_id: int) -> Incident | None:
        """The incident with this id, if any."""
        with self._session() as s:
            return s.get(Incident, incident_id)

    def set_incident_messages(
        self,
        incident_id: int,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        status_message_ts: str | None = None,
    ) -> None:
        """Record where the incident lives in Slack; arguments left as None are not changed."""
        values = {
            k: v
            for k, v in {
                "channel": channel,
                "thread_ts": thread_ts,
                "status_message_ts": status_message_ts,
            }.items()
            if v is not None
        }
        if not values:
            return
        with self._session() as s:
            s.exec(sa.update(Incident).where(col(Incident.id) == incident_id).values(**values))
            s.commit()

    def resolve_incident(self, incident_id: int) -> bool:
        """Mark an open incident resolved; False if it was not open."""
        with self._session() as s:
            result = s.exec(
                sa.update(Incident)
                .where(col(Incident.id) == incident_id, col(Incident.status) == IncidentStatus.OPEN.value)
                .values(status=IncidentStatus.RESOLVED.value, resolved_at=self.clock())
            )
            s.commit()
            return result.rowcount == 1

    def recent_incidents(self, limit: int = 20) -> list[Incident]:
        """The most recently opened incidents, newest first."""
        with self._session() as s:
            stmt = (
                select(Incident)
                .order_by(col(Incident.opened_at).desc(), col(Incident.id).desc())
                .limit(limit)
            )
            return list(s.exec(stmt).all())

    # Investigations.

    def start_investigation(self, incident_id: int, workflow_id: str) -> Investigation:
        """The investigation run by `workflow_id`, created (running) if new: calling it again is harmless."""
        with self._session() as s:
            existing = s.exec(select(Investigation).where(Investigation.workflow_id == workflow_id)).first()
            if existing is not None:
                return existing
            row = Investigation(incident_id=incident_id, workflow_id=workflow_id, started_at=self.clock())
            s.add(row)
            try:
                s.commit()
                return row
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
                s.rollback()
            return s.exec(select(Investigation).where(Investigation.workflow_id == workflow_id)).one()

    def get_investigation(self, investigation_id: int) -> Investigation | None:
        """The investigation with this id, if any."""
        with self._session() as s:
            return s.get(Investigation, investigation_id)

    def investigation_for_workflow(self, workflow_id: str) -> Investigation | None:
        """The investigation run by `workflow_id`, if any."""
        with self._session() as s:
            return s.exec(select(Investigation).where(Investigation.workflow_id == workflow_id)).first()

    def investigations_of(self, incident_id: int) -> list[Investigation]:
        """An incident's investigations, oldest first."""
        with self._session() as s:
            stmt = (
                select(Investigation)
                .where(Investigation.incident_id == incident_id)
                .order_by(col(Investigation.id))
            )
            return list(s.exec(stmt).all())

    def finish_investigation(self, investigation_id: int, status: InvestigationStatus) -> bool:
        """Move a running investigation to done or failed; False if it was not running."""
        status = InvestigationStatus(status)
        if status is InvestigationStatus.RUNNING:
            raise ValueError("finish_investigation takes done or failed")
        with self._session() as s:
            result = s.exec(
                sa.update(Investigation)
                .where(
                    col(Investigation.id) == investigation_id,
                    col(Investigation.status) == InvestigationStatus.RUNNING.value,
                )
                .values(status=status.value, finished_at=self.clock())
            )
            s.commit()
            return result.rowcount == 1

    def incident_for_thread(self, channel: str, ts: str) -> Incident | None:
        """The newest incident whose page thread (or status message) is `ts` in `channel`."""
        with self._session() as s:
            stmt = (
                select(Incident)
                .where(
                    Incident.channel == channel,
                    sa.or_(col(Incident.thread_ts) == ts, col(Incident.status_message_ts) == ts),
                )
                .order_by(col(Incident.id).desc())
            )
            return s.exec(stmt).first()

    def open_incident_investigations(self) -> list[tuple[Incident, Investigation]]:
        """Investigations of incidents not yet resolved, with their incident, newest first."""
        with self._session() as s:
            stmt = (
                select(Incident, Investigation)
                .join(Investigation, col(Investigation.incident_id) == col(Incident.id))
                .where(Incident.status == IncidentStatus.OPEN.value)
                .order_by(col(Investigation.started_at).desc(), col(Investigation.id).desc())
            )
            return [(inc, inv) for inc, inv in s.exec(stmt).all()]

    def open_investigations(self) -> list[Investigation]:
        """Investigations still running, oldest first (what a restarted process looks at)."""
        with self._session() as s:
            stmt = (
                select(Investigation)
                .where(Investigation.status == InvestigationStatus.RUNNING.value)
                .order_by(col(Investigation.id))
            )
            return list(s.exec(stmt).all())

    # Pages: one transaction each.

    def warm(self, connections: int) -> None:
        """Open `connections` pooled connections and run the acknowledgement path's reads on each, so the
        first pages of a burst pay neither for connecting nor for compiling statements."""
        opened = [self.engine.connect() for _ in range(connections)]
        try:
            for conn in opened:
                conn.execute(_LATEST_INCIDENT, {"key": ""}).first()
                conn.execute(_LATEST_INVESTIGATION, {"incident": 0}).first()
                conn.rollback()
        finally:
            for conn in opened:
                conn.close()

    def take_page(
        self,
        page: Page,
        intent: Intent,
        source: str,
        delivery_id: str,
        *,
        then: InTransaction | None = None,
        dry_run: bool = False,
    ) -> Taken:
        """Record a page delivery and what it means for its alarm's incident, in one transaction.

        - FIRE: joins the alarm's open incident (and its latest investigation); else opens a new incident
          with its investigation, linked to the alarm's previous incident as a recurrence when there is one.
          A PagerDuty incident that was resolved comes back only by being re-opened: a trigger for it is stale.
        - REOPEN: opens the alarm's latest incident again with a new investigation (one still running is
          joined); FIRE when the alarm has no incident yet.
        - RESOLVE: resolves the alarm's open incident (IGNORED when none is open).

        `then(connection, taken)` runs inside the transaction before it commits when the page starts or
        resolves something. A delivery seen before returns what it did then, with `duplicate` set. This is
        on every page's acknowledgement path, so it is written in SQL expressions rather than ORM units of
        work: a handful of statements and one commit. `dry_run` rolls the transaction back instead (a warm-up).
        """
        for _ in range(_TAKE_ATTEMPTS):
            with self.engine.connect() as conn:
                try:
                    with conn.begin() as tx:
                        taken = self._take(conn, page, intent, source, delivery_id, then)
                        if dry_run:
                            tx.rollback()
                        return taken
                except _Seen:
                    return self._taken_before(conn, source, delivery_id)
                except IntegrityError as err:
                    if not _unique_violation(err):
                        raise
                    # a concurrent page opened the same episode or investigation first: look again
        raise RuntimeError(f"page delivery {source}:{delivery_id} kept conflicting with concurrent pages")

    def _take(
        self,
        conn: sa.Connection,
        page: Page,
        intent: Intent,
        source: str,
        delivery_id: str,
        then: InTransaction | None,
    ) -> Taken:
        try:
            delivery = conn.execute(
                _INSERT_DELIVERY, {"source": source, "delivery_id": delivery_id, "received_at": self.clock()}
            ).scalar_one()
        except IntegrityError as err:
            if not _unique_violation(err):
                raise
            raise _Seen from err
        taken = self._decide(conn, page, intent)
        conn.execute(
            _DELIVERY_OUTCOME,
            {
                "b_id": delivery,
                "b_outcome": taken.outcome.value,
                "b_incident": taken.incident.id if taken.incident else None,
                "b_investigation": taken.investigation.id if taken.investigation else None,
            },
        )
        if then is not None and taken.outcome in (*STARTS, Outcome.RESOLVED):
            then(conn, taken)
        return taken

    def _taken_before(self, conn: sa.Connection, source: str, delivery_id: str) -> Taken:
        deliveries = _table(InboundDelivery)
        row = conn.execute(
            sa.select(deliveries).where(
                deliveries.c.source == source, deliveries.c.delivery_id == delivery_id
            )
        ).one()
        outcome = Outcome(row.outcome) if row.outcome else Outcome.IGNORED
        incident = _one(conn, Incident, row.incident_id)
        inv = _one(conn, Investigation, row.investigation_id)
        conn.rollback()
        return Taken(outcome, incident, inv, duplicate=True)

    def _decide(self, conn: sa.Connection, page: Page, intent: Intent) -> Taken:
        key = alarm_key(page)
        # Pages of one alarm are decided one at a time: on PostgreSQL under a transaction-scoped advisory
        # lock on the alarm (READ COMMITTED reads each statement afresh, so without it two deliveries of a
        # page could each find no open incident); SQLite has one writer at a time, and the delivery insert
        # above made this transaction the writer.
        if conn.dialect.name == "postgresql":
            conn.execute(_ALARM_LOCK, {"space": _PG_ALARM_LOCKS, "alarm": int(key[:8], 16) - 2**31})
        row = conn.execute(_LATEST_INCIDENT, {"key": key}).first()
        latest = Incident(**row._mapping) if row is not None else None
        is_open = latest is not None and latest.status == IncidentStatus.OPEN.value
        if intent is Intent.RESOLVE:
            if latest is None or not is_open:
                return Taken(Outcome.IGNORED)
            latest.status, latest.resolved_at = IncidentStatus.RESOLVED.value, self.clock()
            _update(conn, latest, status=latest.status, resolved_at=latest.resolved_at)
            return Taken(Outcome.RESOLVED, latest, _latest_investigation(conn, latest))
        if intent is Intent.REOPEN and latest is not None:
            return self._reopen(conn, latest)
        if latest is not None and is_open:
            return self._join(conn, latest, page)
        if latest is not None and page.source is PageSource.PAGERDUTY and page.incident_id:
            return Taken(Outcome.IGNORED, latest)
        new = Incident(
            fingerprint=key if latest is None else f"{key}-{latest.id}",
            alarm_key=key,
            recurrence_of=latest.id if latest is not None else None,
            title=page.title,
            service=page.service_hint,
            channel=page.channel,
            thread_ts=page.message_ts,
            opened_at=self.clock(),
            page=page.model_dump(mode="json"),
        )
        incident = _insert(conn, new)
        inv = self._new_investigation(conn, incident, 1)
        return Taken(Outcome.RECURRENCE if latest is not None else Outcome.NEW, incident, inv)

    def _join(self, conn: sa.Connection, incident: Incident, page: Page) -> Taken:
        """A repeat of an alarm still firing: the open incident, its thread filled in if it had none."""
        if not incident.thread_ts and page.channel and page.message_ts:
            incident.channel, incident.thread_ts = page.channel, page.message_ts
            _update(conn, incident, channel=incident.channel, thread_ts=incident.thread_ts)
        inv = _latest_investigation(conn, incident)
        if inv is None:  # an incident left without an investigation (before 0004): give it one now
            return Taken(Outcome.NEW, incident, self._new_investigation(conn, incident, 1))
        return Taken(Outcome.JOINED, incident, inv)

    def _reopen(self, conn: sa.Connection, incident: Incident) -> Taken:
        invs = _investigations(conn, incident)
        latest = invs[-1] if invs else None
        if incident.status == IncidentStatus.OPEN.value and (
            latest is not None and latest.status == InvestigationStatus.RUNNING.value
        ):
            return Taken(Outcome.JOINED, incident, latest)
        if incident.status != IncidentStatus.OPEN.value:
            incident.status, incident.resolved_at = IncidentStatus.OPEN.value, None
            _update(conn, incident, status=incident.status, resolved_at=None)
        return Taken(Outcome.REOPENED, incident, self._new_investigation(conn, incident, len(invs) + 1))

    def _new_investigation(self, conn: sa.Connection, incident: Incident, n: int) -> Investigation:
        assert incident.id is not None
        inv = Investigation(
            incident_id=incident.id,
            workflow_id=investigation_workflow_id(incident, n),
            started_at=self.clock(),
        )
        return _insert(conn, inv)

    def take_steering(
        self,
        investigation_id: int,
        user: str,
        text: str,
        source: str,
        delivery_id: str,
        *,
        then: Callable[[Session, SteeringMessage], None] | None = None,
    ) -> tuple[SteeringMessage, bool]:
        """Record a steering reply with its delivery in one transaction; returns it and whether the delivery
        was seen before (then the reply is the one stored the first time).

        `then(session, reply)` runs in the transaction when the investigation is no longer running (its
        follow-up must be enqueued). The investigation's row is locked while its status is read, so a reply
        and the investigation finishing are ordered: either the reply is written before the finish and the
        finishing workflow sees it, or it reads the investigation finished and `then` runs.
        """
        with self._session() as s:
            delivery = InboundDelivery(source=source, delivery_id=delivery_id, received_at=self.clock())
            s.add(delivery)
            try:
                s.flush()
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
                s.rollback()
                before = s.exec(
                    select(InboundDelivery).where(
                        InboundDelivery.source == source, InboundDelivery.delivery_id == delivery_id
                    )
                ).one()
                found = s.get(SteeringMessage, before.steering_id) if before.steering_id else None
                if found is None:
                    raise LookupError(f"delivery {source}:{delivery_id} was not a steering reply") from err
                return found, True
            inv = s.exec(
                select(Investigation)
                .where(Investigation.id == investigation_id)
                .with_for_update(read=True)  # FOR SHARE: waits for a finish_investigation in flight
            ).one()
            row = SteeringMessage(
                investigation_id=investigation_id, user=user, text=text, received_at=self.clock()
            )
            s.add(row)
            s.flush()
            delivery.outcome, delivery.steering_id = Outcome.STEER.value, row.id
            delivery.investigation_id, delivery.incident_id = investigation_id, inv.incident_id
            s.add(delivery)
            if then is not None and inv.status != InvestigationStatus.RUNNING.value:
                then(s, row)
            s.commit()
            return row, False

    # What a restarted process looks for: anything a crash or an outage left half-made.

    def running_investigations(self, limit: int = 1000) -> list[tuple[Incident, Investigation]]:
        """Investigations still marked running, with their incident, oldest first."""
        with self._session() as s:
            stmt = (
                select(Incident, Investigation)
                .join(Investigation, col(Investigation.incident_id) == col(Incident.id))
                .where(Investigation.status == InvestigationStatus.RUNNING.value)
                .order_by(col(Investigation.id))
                .limit(limit)
            )
            return [(inc, inv) for inc, inv in s.exec(stmt).all()]

    def open_incidents_without_investigation(self, limit: int = 1000) -> list[Incident]:
        """Open incidents that have no investigation at all."""
        with self._session() as s:
            has = select(Investigation.id).where(col(Investigation.incident_id) == col(Incident.id))
            stmt = (
                select(Incident)
                .where(Incident.status == IncidentStatus.OPEN.value, ~has.exists())
                .order_by(col(Incident.id))
                .limit(limit)
            )
            return list(s.exec(stmt).all())

    def give_investigation(self, incident_id: int) -> Investigation:
        """The incident's latest investigation, created (its first) if it has none."""
        for _ in range(_TAKE_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    incident = _one(conn, Incident, incident_id)
                    if incident is None:
                        raise LookupError(f"no incident {incident_id}")
                    return _latest_investigation(conn, incident) or self._new_investigation(conn, incident, 1)
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
        raise RuntimeError(f"incident {incident_id} kept conflicting")

    def resolved_since(
        self, since: datetime, limit: int = 1000
    ) -> list[tuple[Incident, Investigation | None]]:
        """Incidents resolved after `since`, each with its latest investigation."""
        with self._session() as s:
            stmt = (
                select(Incident)
                .where(Incident.status == IncidentStatus.RESOLVED.value, col(Incident.resolved_at) > since)
                .order_by(col(Incident.id))
                .limit(limit)
            )
            return [(inc, _latest_investigation(s.connection(), inc)) for inc in s.exec(stmt).all()]

    def finished_with_unread_steering(self, limit: int = 1000) -> list[tuple[Incident, Investigation, int]]:
        """Finished investigations with steering replies nobody took up: incident, investigation, newest id."""
        with self._session() as s:
            newest = sa.func.max(SteeringMessage.id)
            stmt = (
                select(Incident, Investigation, newest)
                .join(Investigation, col(Investigation.incident_id) == col(Incident.id))
                .join(SteeringMessage, col(SteeringMessage.investigation_id) == col(Investigation.id))
                .where(
                    Investigation.status != InvestigationStatus.RUNNING.value,
                    col(SteeringMessage.claimed_by).is_(None),
                )
                .group_by(col(Incident.id), col(Investigation.id))
                .limit(limit)
            )
            return [(inc, inv, int(n or 0)) for inc, inv, n in s.exec(stmt).all()]

    # Findings.

    def add_finding(
        self,
        investigation_id: int,
        *,
        kind: str,
        summary: str,
        service: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Finding:
        """Store a finding before it is posted; it gets the next `seq` of its investigation (1, 2, ...).

        PostgreSQL serialises writers of one investigation on its row (FOR NO KEY UPDATE, which still lets
        other rows reference it); SQLite has one writer at a time, and a writer that lost the race retries.
        """
        last: IntegrityError | None = None
        for _ in range(_SEQ_ATTEMPTS):
            with self._session() as s:
                s.exec(
                    select(Investigation.id)
                    .where(Investigation.id == investigation_id)
                    .with_for_update(key_share=True)
                ).first()
                current = s.exec(
                    select(sa.func.max(Finding.seq)).where(Finding.investigation_id == investigation_id)
                ).one()
                row = Finding(
                    investigation_id=investigation_id,
                    seq=(current or 0) + 1,
                    kind=kind,
                    service=service,
                    summary=summary,
                    detail=detail or {},
                    found_at=self.clock(),
                )
                s.add(row)
                try:
                    s.commit()
                    return row
                except IntegrityError as err:
                    if not _unique_violation(err):
                        raise
                    last = err  # another writer took this seq: read the new maximum and try again
        assert last is not None
        raise last

    def findings(self, investigation_id: int) -> list[Finding]:
        """An investigation's findings in `seq` order."""
        with self._session() as s:
            stmt = (
                select(Finding).where(Finding.investigation_id == investigation_id).order_by(col(Finding.seq))
            )
            return list(s.exec(stmt).all())

    def unposted_findings(self, investigation_id: int) -> list[Finding]:
        """Findings not yet accepted by Slack, in `seq` order: what to (re)post."""
        with self._session() as s:
            stmt = (
                select(Finding)
                .where(Finding.investigation_id == investigation_id, col(Finding.posted_ts).is_(None))
                .order_by(col(Finding.seq))
            )
            return list(s.exec(stmt).all())

    def mark_posted(self, finding_id: int, ts: str) -> bool:
        """Record the Slack message `ts` of a posted finding; False if it was already marked (first ts wins)."""
        with self._session() as s:
            result = s.exec(
                sa.update(Finding)
                .where(col(Finding.id) == finding_id, col(Finding.posted_ts).is_(None))
                .values(posted_ts=ts)
            )
            s.commit()
            return result.rowcount == 1

    # Steering.

    def add_steering(
        self,
        investigation_id: int,
        *,
        user: str,
        text: str,
        understood: bool = False,
        directive: dict[str, Any] | None = None,
    ) -> SteeringMessage:
        """Store a steering reply and what it was understood to ask (None when it was not understood).

        The reply is unclaimed: it waits for :meth:`claim_steering`.
        """
        row = SteeringMessage(
            investigation_id=investigation_id,
            user=user,
            text=text,
            understood=understood,
            directive=directive,
            received_at=self.clock(),
        )
        return self._insert(row)

    def claim_steering(self, investigation_id: int, claimant: str) -> list[SteeringMessage]:
        """Take up every unclaimed steering reply of the investigation for `claimant`; returns all replies
        `claimant` holds, oldest first (so a claim repeated after a crash returns the same rows)."""
        with self._session() as s:
            s.exec(
                sa.update(SteeringMessage)
                .where(
                    col(SteeringMessage.investigation_id) == investigation_id,
                    col(SteeringMessage.claimed_by).is_(None),
                )
                .values(claimed_by=claimant)
            )
            s.commit()
            stmt = (
                select(SteeringMessage)
                .where(
                    SteeringMessage.investigation_id == investigation_id,
                    SteeringMessage.claimed_by == claimant,
                )
                .order_by(col(SteeringMessage.id))
            )
            return list(s.exec(stmt).all())

    def unclaimed_steering(self, investigation_id: int) -> int | None:
        """The id of the newest steering reply nobody has claimed, if any."""
        with self._session() as s:
            stmt = sa.select(sa.func.max(SteeringMessage.id)).where(
                col(SteeringMessage.investigation_id) == investigation_id,
                col(SteeringMessage.claimed_by).is_(None),
            )
            found = s.exec(stmt).scalar()  # type: ignore[call-overload]
            return int(found) if found is not None else None

    def record_understanding(
        self, steering_id: int, *, understood: bool, directive: dict[str, Any] | None
    ) -> None:
        """Record what a claimed steering reply was understood to ask."""
        with self._session() as s:
            row = s.get(SteeringMessage, steering_id)
            if row is None:
                raise ValueError(f"no steering message {steering_id}")
            row.understood, row.directive = understood, directive
            s.add(row)
            s.commit()

    def steering_messages(self, investigation_id: int) -> list[SteeringMessage]:
        """An investigation's steering replies, oldest first."""
        return self._of_investigation(SteeringMessage, investigation_id)

    # Reports.

    def save_report(self, investigation_id: int, version: int, body: dict[str, Any]) -> ReportVersion:
        """Store version `version` of a report; versions are immutable, so saving one again returns the first.

        The investigation's `report_version` becomes the highest version saved.
        """
        if version < 1:
            raise ValueError("report versions start at 1")
        row = ReportVersion(
            investigation_id=investigation_id, version=version, body=body, created_at=self.clock()
        )
        with self._session() as s:
            try:
                s.add(row)
                s.flush()
                s.exec(
                    sa.update(Investigation)
                    .where(
                        col(Investigation.id) == investigation_id, col(Investigation.report_version) < version
                    )
                    .values(report_version=version)
                )
                s.commit()
                return row
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
                s.rollback()
            return s.exec(
                select(ReportVersion).where(
                    ReportVersion.investigation_id == investigation_id, ReportVersion.version == version
                )
            ).one()

    def latest_report(self, investigation_id: int) -> ReportVersion | None:
        """The highest version of an investigation's report, if any."""
        with self._session() as s:
            stmt = (
                select(ReportVersion)
                .where(ReportVersion.investigation_id == investigation_id)
                .order_by(col(ReportVersion.version).desc())
                .limit(1)
            )
            return s.exec(stmt).first()

    def report_versions(self, investigation_id: int) -> list[ReportVersion]:
        """Every version of an investigation's report, oldest first."""
        with self._session() as s:
            stmt = (
                select(ReportVersion)
                .where(ReportVersion.investigation_id == investigation_id)
                .order_by(col(ReportVersion.version))
            )
            return list(s.exec(stmt).all())

    # Actions and approvals.

    def propose_action(self, investigation_id: int, name: str, params: dict[str, Any]) -> ActionRecord:
        """Store an executable action, status proposed."""
        row = ActionRecord(
            investigation_id=investigation_id, name=name, params=params, created_at=self.clock()
        )
        return self._insert(row)

    def get_action(self, action_id: int) -> ActionRecord | None:
        """The action with this id, if any."""
        with self._session() as s:
            return s.get(ActionRecord, action_id)

    def actions(self, investigation_id: int) -> list[ActionRecord]:
        """An investigation's actions, oldest first."""
        return self._of_investigation(ActionRecord, investigation_id)

    def set_action_status(
        self, action_id: int, status: ActionStatus, *, expected: Collection[ActionStatus] | None = None
    ) -> bool:
        """Set an action's status, only from one of the `expected` statuses when given (compare-and-set).

        False when the action does not exist or was not in an expected status.
        """
        stmt = sa.update(ActionRecord).where(col(ActionRecord.id) == action_id)
        if expected is not None:
            stmt = stmt.where(col(ActionRecord.status).in_([ActionStatus(e).value for e in expected]))
        with self._session() as s:
            result = s.exec(stmt.values(status=ActionStatus(status).value))
            s.commit()
            return result.rowcount == 1

    def create_approval(self, action_id: int, scope: str, ttl: timedelta) -> str:
        """Mint an approval of `action_id` for `scope`, valid for `ttl`; returns the raw token, stored only hashed."""
        if ttl <= timedelta(0):
            raise ValueError("an approval needs a positive ttl")
        token = secrets.token_urlsafe(32)
        row = Approval(
            action_id=action_id, token_hash=hash_token(token), scope=scope, expires_at=self.clock() + ttl
        )
        self._insert(row)
        return token

    def consume_approval(
        self, token: str, scope: str, now: datetime, *, approver: str | None = None
    ) -> Approval | None:
        """Use an approval once: the used row if `token` is unused, for `scope` and unexpired at `now`, else None.

        One conditional UPDATE decides, so of two concurrent consumers exactly one wins.
        """
        token_hash = hash_token(token)
        with self._session() as s:
            result = s.exec(
                sa.update(Approval)
                .where(
                    col(Approval.token_hash) == token_hash,
                    col(Approval.scope) == scope,
                    col(Approval.used_at).is_(None),
                    col(Approval.expires_at) > now,
                )
                .values(used_at=now, approver=approver)
            )
            if result.rowcount != 1:
                s.rollback()
                return None
            s.commit()
            return s.exec(select(Approval).where(Approval.token_hash == token_hash)).one()

    # Audit.

    def audit(self, actor: str, verb: str, subject: str, detail: dict[str, Any] | None = None) -> AuditEntry:
        """Append an audit entry (the table refuses updates and deletes)."""
        row = AuditEntry(at=self.clock(), actor=actor, verb=verb, subject=subject, detail=detail or {})
        return self._insert(row)

    def audit_log(self, subject: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest `limit` audit entries (about `subject` if given), in the order they were written."""
        stmt = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
        if subject is not None:
            stmt = stmt.where(AuditEntry.subject == subject)
        with self._session() as s:
            return list(reversed(s.exec(stmt).all()))

    def audit_trail(self, subjects: Collection[str]) -> list[AuditEntry]:
        """Every audit entry about any of `subjects` or below one (``investigation:7`` covers
        ``investigation:7:step:3``), in the order they were written."""
        if not subjects:
            return []
        conds = [col(AuditEntry.subject) == s for s in subjects] + [
            col(AuditEntry.subject).startswith(s + ":", autoescape=True) for s in subjects
        ]
        with self._session() as s:
            return list(s.exec(select(AuditEntry).where(sa.or_(*conds)).order_by(col(AuditEntry.id))).all())

    # Inbound deliveries.

    def record_delivery(self, source: str, delivery_id: str) -> bool:
        """Remember a delivery; False when `(source, delivery_id)` was already seen (drop the retry)."""
        with self._session() as s:
            s.add(InboundDelivery(source=source, delivery_id=delivery_id, received_at=self.clock()))
            try:
                s.commit()
                return True
            except IntegrityError as err:
                if not _unique_violation(err):
                    raise
                return False

    # Feedback.

    def add_feedback(self, investigation_id: int, user: str, verdict: Verdict, note: str = "") -> Feedback:
        """Store a rating of an investigation's answer."""
        row = Feedback(
            investigation_id=investigation_id,
            user=user,
            verdict=Verdict(verdict).value,
            note=note,
            at=self.clock(),
        )
        return self._insert(row)

    def feedback_for(self, investigation_id: int) -> list[Feedback]:
        """An investigation's ratings, oldest first."""
        return self._of_investigation(Feedback, investigation_id)
