"""incidents are episodes of an alarm; deliveries remember what they led to

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

An incident was keyed by its page's fingerprint, which includes the hour the page fired: an alarm that went
ALARM -> OK -> ALARM within the hour mapped to the resolved incident and nothing happened. Incidents now
carry the alarm's key (the source and the alarm name or PagerDuty incident id, whatever the hour) and, when
an alarm fires again after its incident was resolved, the earlier incident it recurs (`recurrence_of`).
Existing incidents get their key from the page they stored.

A delivery (Slack event_id, PagerDuty event.id, SNS MessageId) is now written in the same transaction as the
page it carries, with what it led to (`outcome`, and the incident, investigation or steering reply), so a re-delivery
of a page whose first answer was lost can finish the enqueue instead of being dropped.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _alarm_key(page: dict[str, object], title: str) -> str | None:
    """The alarm key of a stored page (as bot.storage.store.alarm_key computes it), None if unreadable."""
    source = page.get("source")
    key = page.get("incident_id") or page.get("alarm_name") or page.get("title") or title
    if not isinstance(source, str) or not isinstance(key, str) or not key:
        return None
    return hashlib.sha256(f"{source}|{key}".encode()).hexdigest()[:16]


def upgrade() -> None:
    """Add `incidents.alarm_key` / `recurrence_of` and the delivery's outcome, and key existing incidents."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("alarm_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("recurrence_of", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_incidents_recurrence_of_incidents"), "incidents", ["recurrence_of"], ["id"]
        )
    op.create_index(op.f("ix_incidents_alarm_key"), "incidents", ["alarm_key"])
    with op.batch_alter_table("inbound_deliveries") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("investigation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("steering_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_inbound_deliveries_incident_id_incidents"), "incidents", ["incident_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_inbound_deliveries_investigation_id_investigations"),
            "investigations",
            ["investigation_id"],
            ["id"],
        )
        batch.create_foreign_key(
            op.f("fk_inbound_deliveries_steering_id_steering_messages"),
            "steering_messages",
            ["steering_id"],
            ["id"],
        )
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.Integer()),
        sa.column("title", sa.String()),
        sa.column("page", sa.JSON()),
        sa.column("alarm_key", sa.String()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(incidents.c.id, incidents.c.title, incidents.c.page)).all()
    for row_id, title, page in rows:
        key = _alarm_key(page if isinstance(page, dict) else {}, title or "")
        if key is not None:
            conn.execute(sa.update(incidents).where(incidents.c.id == row_id).values(alarm_key=key))


def downgrade() -> None:
    """Drop what `upgrade` added."""
    with op.batch_alter_table("inbound_deliveries") as batch:
        batch.drop_constraint(
            op.f("fk_inbound_deliveries_steering_id_steering_messages"), type_="foreignkey"
        )
        batch.drop_constraint(
            op.f("fk_inbound_deliveries_investigation_id_investigations"), type_="foreignkey"
        )
        batch.drop_constraint(op.f("fk_inbound_deliveries_incident_id_incidents"), type_="foreignkey")
        batch.drop_column("steering_id")
        batch.drop_column("investigation_id")
        batch.drop_column("incident_id")
        batch.drop_column("outcome")
    op.drop_index(op.f("ix_incidents_alarm_key"), table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(op.f("fk_incidents_recurrence_of_incidents"), type_="foreignkey")
        batch.drop_column("recurrence_of")
        batch.drop_column("alarm_key")
