"""propagations: next_attempt_at, so owed rejection notes are retried with
back-off like the other outboxes (archive/exchange/outbox.py)

Rows already queued are due at once (their last update).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("propagations") as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE propagations SET next_attempt_at = updated_at")
    with op.batch_alter_table("propagations") as batch_op:
        batch_op.alter_column(
            "next_attempt_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("propagations") as batch_op:
        batch_op.drop_column("next_attempt_at")
