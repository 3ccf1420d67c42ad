"""prevention recommendations, with their lifecycle

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-30

The nightly job mines stored incidents for patterns and keeps one row per pattern (`key`): it gains evidence
night after night instead of being added again. People keep, discard (with a reason) or mark it implemented;
nobody keeping one expires it after six weeks; a discarded one comes back only when its evidence changes
(`evidence_hash`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create `recommendations`."""
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("change", sa.String(), nullable=False),
        sa.Column("where", sa.String(), nullable=False),
        sa.Column("spec", sa.String(), nullable=False),
        sa.Column("incident_ids", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
        sa.UniqueConstraint("key", name=op.f("uq_recommendations_key")),
    )
    op.create_index(op.f("ix_recommendations_status"), "recommendations", ["status"])


def downgrade() -> None:
    """Drop `recommendations`."""
    op.drop_index(op.f("ix_recommendations_status"), table_name="recommendations")
    op.drop_table("recommendations")
