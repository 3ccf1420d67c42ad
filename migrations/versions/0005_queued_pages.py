"""a delivery holds the page it carries until its intake workflow decides what the page means

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The surface records a page with its delivery and enqueues its intake workflow in one transaction, and answers
the sender; the workflow then decides, under the alarm's lock, what the page means (a new incident, a repeat,
a recurrence, a resolution) and records the outcome on the delivery. `outcome` is indexed: the deliveries
still waiting for a decision are what a restarted process looks for.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `inbound_deliveries.page` and `intent`, and index `outcome`."""
    with op.batch_alter_table("inbound_deliveries") as batch:
        batch.add_column(sa.Column("page", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("intent", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_inbound_deliveries_outcome"), "inbound_deliveries", ["outcome"])


def downgrade() -> None:
    """Drop what `upgrade` added."""
    op.drop_index(op.f("ix_inbound_deliveries_outcome"), table_name="inbound_deliveries")
    with op.batch_alter_table("inbound_deliveries") as batch:
        batch.drop_column("intent")
        batch.drop_column("page")
