"""Alerts composed by duty officers in the console, and each step of them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compositions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_sender", sa.String(length=200), nullable=True),
        sa.Column("alert_identifier", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("compositions", schema=None) as batch_op:
        batch_op.create_index("ix_compositions_organisation", ["organisation"], unique=False)
    op.create_table(
        "composition_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("composition_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["composition_id"], ["compositions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("composition_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_composition_events_composition_id", ["composition_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("composition_events")
    op.drop_table("compositions")
