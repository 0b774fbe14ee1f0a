"""instances: who sent an object is a typed identity (node:<AE>, user:<name>)

A photographer whose user name equalled a camera's AE title used to see that
camera's held photos: both were stored as the bare name.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE instances SET received_by = 'node:' || received_from "
        "WHERE received_from NOT IN ('', 'import') AND received_by NOT LIKE 'node:%'"
    )
    op.execute(
        "UPDATE instances SET received_by = 'user:' || received_by "
        "WHERE received_from IN ('', 'import') AND received_by <> '' "
        "AND received_by NOT LIKE 'user:%'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE instances SET received_by = substr(received_by, 6) "
        "WHERE received_by LIKE 'node:%' OR received_by LIKE 'user:%'"
    )
