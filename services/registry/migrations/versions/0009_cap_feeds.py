"""External sources' CAP feeds, polled by the feed ingest worker.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 10:00:00
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
        "cap_feeds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2100), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("poll_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("poll_seconds >= 30 AND poll_seconds <= 86400", name="poll_bounds"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cap_feeds", schema=None) as batch_op:
        batch_op.create_index("ix_cap_feeds_organisation_id", ["organisation_id"], unique=False)


def downgrade() -> None:
    op.drop_table("cap_feeds")
