"""The outbox names each message's series, so that different series are sent side by side.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Messages written before: one series of their own, sent in order as before.
    with op.batch_alter_table("outbox") as table:
        table.add_column(
            sa.Column("series", sa.String(length=220), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("series")
