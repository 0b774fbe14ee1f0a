"""governance reviews: the patient a subject-access review is about

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("governance_reviews", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("patient_id", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("governance_reviews", schema=None) as batch_op:
        batch_op.drop_column("patient_id")
