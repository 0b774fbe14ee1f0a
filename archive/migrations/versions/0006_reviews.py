"""governance reviews with a stated reason

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 09:51:22.141015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "governance_reviews",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_governance_reviews")),
    )
    with op.batch_alter_table("governance_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_reviews_subject"), ["subject"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("governance_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_reviews_subject"))

    op.drop_table("governance_reviews")
