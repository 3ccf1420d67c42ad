"""Recommendations: one row per pattern, updated night after night, with the lifecycle people drive.

`upsert` is decided under the row's unique key: a proposal whose key exists updates that row (new evidence,
the same row), never a second one, whichever worker runs the night. A discarded or expired recommendation
comes back (as new) only when its evidence changed; an implemented one stays implemented.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.domain.prevention import OPEN_STATUSES, Proposal, RecommendationStatus
from bot.storage.store import Store
from bot.storage.tables import Recommendation

#: A recommendation nobody kept expires this long after it was last proposed with new evidence.
EXPIRY = timedelta(weeks=6)


class Upserted(StrEnum):
    """What a night did with a proposal."""

    CREATED = "created"
    GAINED = "gained"  # new incidents behind an open recommendation
    REVIVED = "revived"  # a discarded or expired one whose evidence changed
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Decision:
    """A person's decision on a recommendation."""

    status: RecommendationStatus
    user: str
    reason: str = ""


def evidence_hash(incident_ids: tuple[int, ...] | list[int]) -> str:
    """The hash of the incidents behind a recommendation (order does not matter)."""
    raw = ",".join(str(i) for i in sorted(set(incident_ids)))
    return hashlib.sha256(raw.encode()).hexdigest()


def _fill(row: Recommendation, p: Proposal, now: datetime) -> None:
    row.kind, row.priority, row.title = p.kind.value, p.priority.value, p.title
    row.change, row.where, row.spec = p.change, p.where, p.spec
    row.incident_ids, row.evidence = list(p.incident_ids), list(p.evidence)
    row.evidence_hash = evidence_hash(p.incident_ids)
    row.updated_at = now


class Recommendations:
    """Typed access to the recommendations table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def upsert(self, p: Proposal) -> tuple[Recommendation, Upserted]:
        """Create the recommendation for `p`, or let the existing one gain its new evidence."""
        now = self.store.clock()
        for _ in range(3):
            try:
                return self._upsert(p, now)
            except IntegrityError:  # another worker created it first: update that one
                continue
        raise RuntimeError(f"recommendation {p.key!r} kept conflicting")

    def _upsert(self, p: Proposal, now: datetime) -> tuple[Recommendation, Upserted]:
        with Session(self.store.engine, expire_on_commit=False) as s:
            row = s.exec(select(Recommendation).where(Recommendation.key == p.key).with_for_update()).first()
            if row is None:
                row = Recommendation(
                    key=p.key,
                    kind=p.kind.value,
                    priority=p.priority.value,
                    title=p.title,
                    change=p.change,
                    where=p.where,
                    spec=p.spec,
                    evidence_hash=evidence_hash(p.incident_ids),
                    created_at=now,
                    status=RecommendationStatus.NEW.value,
                )
                _fill(row, p, now)
                s.add(row)
                s.commit()
                return row, Upserted.CREATED
            if row.evidence_hash == evidence_hash(p.incident_ids):
                return row, Upserted.UNCHANGED
            status = RecommendationStatus(row.status)
            if status is RecommendationStatus.IMPLEMENTED:
                return row, Upserted.UNCHANGED
            what = Upserted.GAINED
            if status in (RecommendationStatus.DISCARDED, RecommendationStatus.EXPIRED):
                row.status, row.reason, row.decided_at, row.decided_by = (
                    RecommendationStatus.NEW.value,
                    "",
                    None,
                    None,
                )
                what = Upserted.REVIVED
            _fill(row, p, now)
            s.add(row)
            s.commit()
            return row, what

    def decide(self, rec_id: int, decision: Decision) -> Recommendation:
        """Keep, discard (a reason is required) or mark implemented; raises LookupError / ValueError."""
        if decision.status not in (
            RecommendationStatus.KEPT,
            RecommendationStatus.DISCARDED,
            RecommendationStatus.IMPLEMENTED,
        ):
            raise ValueError(f"a person keeps, discards or implements; not {decision.status.value!r}")
        if decision.status is RecommendationStatus.DISCARDED and not decision.reason.strip():
            raise ValueError("discarding a recommendation needs a reason")
        with Session(self.store.engine, expire_on_commit=False) as s:
            row = s.get(Recommendation, rec_id, with_for_update=True)
            if row is None:
                raise LookupError(f"no recommendation {rec_id}")
            row.status, row.reason = decision.status.value, decision.reason.strip()[:2000]
            row.decided_by, row.decided_at = decision.user[:64], self.store.clock()
            s.add(row)
            s.commit()
            return row

    def expire(self) -> list[Recommendation]:
        """New recommendations nobody kept, not updated for six weeks, become expired."""
        cutoff = self.store.clock() - EXPIRY
        with Session(self.store.engine, expire_on_commit=False) as s:
            stmt = select(Recommendation).where(
                Recommendation.status == RecommendationStatus.NEW.value,
                col(Recommendation.updated_at) < cutoff,
            )
            rows = list(s.exec(stmt.with_for_update()).all())
            for row in rows:
                row.status = RecommendationStatus.EXPIRED.value
                row.decided_at = self.store.clock()
                s.add(row)
            s.commit()
            return rows

    def get(self, rec_id: int) -> Recommendation | None:
        """One recommendation by id."""
        with Session(self.store.engine, expire_on_commit=False) as s:
            return s.get(Recommendation, rec_id)

    def all(self, statuses: frozenset[RecommendationStatus] | None = None) -> list[Recommendation]:
        """Recommendations (of `statuses`, if given), high priority first, then newest."""
        order = {"high": 0, "medium": 1, "low": 2}
        with Session(self.store.engine, expire_on_commit=False) as s:
            stmt = select(Recommendation).order_by(col(Recommendation.id))
            if statuses is not None:
                stmt = stmt.where(col(Recommendation.status).in_([st.value for st in statuses]))
            rows = list(s.exec(stmt).all())
        return sorted(rows, key=lambda r: (order.get(r.priority, 3), -r.updated_at.timestamp()))

    def open(self) -> list[Recommendation]:
        """New and kept recommendations."""
        return self.all(OPEN_STATUSES)
