"""The gateway's first schema: accepted alerts and their references.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 21:52:02.614977
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chain_sender", sa.String(length=200), nullable=False),
        sa.Column("chain_identifier", sa.String(length=200), nullable=False),
        sa.Column("chain_category", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=True),
        sa.Column("partition", sa.Integer(), nullable=True),
        sa.Column("offset", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("sender", "identifier"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_chain", ["chain_sender", "chain_identifier"], unique=False)

    op.create_table(
        "alert_references",
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("ref_sender", sa.String(length=200), nullable=False),
        sa.Column("ref_identifier", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender", "identifier"], ["alerts.sender", "alerts.identifier"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sender", "identifier", "ref_sender", "ref_identifier"),
    )
    with op.batch_alter_table("alert_references", schema=None) as batch_op:
        batch_op.create_index(
            "ix_references_target", ["ref_sender", "ref_identifier"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_references", schema=None) as batch_op:
        batch_op.drop_index("ix_references_target")

    op.drop_table("alert_references")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_chain")

    op.drop_table("alerts")
