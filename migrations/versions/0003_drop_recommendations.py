"""drop the recommendations table nothing wrote or read

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

It was created ahead of the prevention work; the prevention issue will add the table it needs, with the
lifecycle it needs, when it lands.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop `recommendations`."""
    op.drop_index(op.f("ix_recommendations_status"), table_name="recommendations")
    op.drop_table("recommendations")


def downgrade() -> None:
    """Re-create `recommendations` as 0001 made it."""
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("incident_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
    )
    op.create_index(op.f("ix_recommendations_status"), "recommendations", ["status"])
