"""The feed ingest worker's first schema: feeds' validators, entries and alerts seen.

Revision ID: 0001
Revises:
Create Date: 2026-12-05 10:00:00
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
        "feed_states",
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2100), nullable=False),
        sa.Column("etag", sa.String(length=1000), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed_id"),
    )
    op.create_table(
        "seen_entries",
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("updated", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.Text(), nullable=True),
        sa.Column("identifier", sa.Text(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed_id", "entry_key"),
    )
    op.create_table(
        "alerts",
        sa.Column("sender", sa.String(length=1000), nullable=False),
        sa.Column("identifier", sa.String(length=1000), nullable=False),
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", "identifier"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("seen_entries")
    op.drop_table("feed_states")
