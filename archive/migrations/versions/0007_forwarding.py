"""forwarding rules and jobs; durable commitment reports

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 10:16:15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commitment_reports",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_uid", sa.String(length=64), nullable=False),
        sa.Column("requester", sa.String(length=16), nullable=False),
        sa.Column("committed", sa.Text(), nullable=False),
        sa.Column("failed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_commitment_reports")),
    )
    with op.batch_alter_table("commitment_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commitment_reports_status_next_attempt_at",
            ["status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_commitment_reports_transaction_uid"), ["transaction_uid"], unique=False
        )

    op.create_table(
        "forward_jobs",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_pk", sa.Integer(), nullable=True),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_forward_jobs")),
        sa.UniqueConstraint(
            "sop_instance_uid", "destination", name=op.f("uq_forward_jobs_sop_instance_uid")
        ),
    )
    with op.batch_alter_table("forward_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_forward_jobs_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "forward_rules",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_ae", sa.String(length=16), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_forward_rules")),
    )
    with op.batch_alter_table("forward_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_forward_rules_source_ae"), ["source_ae"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("forward_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_forward_rules_source_ae"))

    op.drop_table("forward_rules")
    with op.batch_alter_table("forward_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_forward_jobs_status_next_attempt_at")

    op.drop_table("forward_jobs")
    with op.batch_alter_table("commitment_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commitment_reports_transaction_uid"))
        batch_op.drop_index("ix_commitment_reports_status_next_attempt_at")

    op.drop_table("commitment_reports")
