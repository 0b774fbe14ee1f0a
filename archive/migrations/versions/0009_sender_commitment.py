"""storage-commitment requests photopacs sends, and their results

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commitment_requests",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_uid", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("calling_aet", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reported_by", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_commitment_requests")),
        sa.UniqueConstraint("transaction_uid", name=op.f("uq_commitment_requests_transaction_uid")),
    )
    with op.batch_alter_table("commitment_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commitment_requests_destination"), ["destination"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_commitment_requests_status"), ["status"], unique=False)

    op.create_table(
        "commitment_request_instances",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "request_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_pk"],
            ["commitment_requests.pk"],
            name=op.f("fk_commitment_request_instances_request_pk_commitment_requests"),
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_commitment_request_instances")),
        sa.UniqueConstraint(
            "request_pk",
            "sop_instance_uid",
            name=op.f("uq_commitment_request_instances_request_pk"),
        ),
    )
    with op.batch_alter_table("commitment_request_instances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commitment_request_instances_request_pk"), ["request_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("commitment_request_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commitment_request_instances_request_pk"))
    op.drop_table("commitment_request_instances")
    with op.batch_alter_table("commitment_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commitment_requests_status"))
        batch_op.drop_index(batch_op.f("ix_commitment_requests_destination"))
    op.drop_table("commitment_requests")
