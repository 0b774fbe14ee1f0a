"""instances: governance holds and quarantines are a layer of their own; derived
objects name their source

A governance hold placed on a recording that consent already hid was not
recorded, so a later consent made the recording active. The hold now has its own
columns that consent never changes; an instance's availability is the stricter
of consent's decision and governance's hold. A derived object (a processed
image, a video frame) records the recording it was made from, whose consent
bounds its use.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch_op:
        batch_op.add_column(
            sa.Column(
                "governance_hold", sa.String(16), nullable=False, server_default=sa.text("''")
            )
        )
        batch_op.add_column(
            sa.Column("governance_reason", sa.Text(), nullable=False, server_default=sa.text("''"))
        )
        batch_op.add_column(
            sa.Column(
                "governance_reason_code",
                sa.String(32),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column("source_uid", sa.String(64), nullable=False, server_default=sa.text("''"))
        )
        batch_op.create_index("ix_instances_source_uid", ["source_uid"])
    op.execute(
        "UPDATE instances SET governance_hold = availability, "
        "governance_reason = availability_reason, "
        "governance_reason_code = availability_reason_code "
        "WHERE availability_basis = 'governance' AND availability IN ('held', 'quarantined')"
    )


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch_op:
        batch_op.drop_index("ix_instances_source_uid")
        batch_op.drop_column("source_uid")
        batch_op.drop_column("governance_reason_code")
        batch_op.drop_column("governance_reason")
        batch_op.drop_column("governance_hold")
