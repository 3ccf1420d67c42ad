"""steering replies are stored first and claimed by the workflow step that reads them

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

A reply in an investigation's thread is written by the surface and taken up later, by the running
investigation between its phases or by a follow-up workflow once it has finished, so nothing sent at the
moment an investigation finishes is lost. Existing rows were read when they were written: marked claimed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `steering_messages.claimed_by`."""
    with op.batch_alter_table("steering_messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=160), nullable=True))
    op.execute("UPDATE steering_messages SET claimed_by = 'before-0002'")
    op.create_index(op.f("ix_steering_messages_claimed_by"), "steering_messages", ["claimed_by"])


def downgrade() -> None:
    """Drop `steering_messages.claimed_by`."""
    op.drop_index(op.f("ix_steering_messages_claimed_by"), table_name="steering_messages")
    with op.batch_alter_table("steering_messages") as batch:
        batch.drop_column("claimed_by")
