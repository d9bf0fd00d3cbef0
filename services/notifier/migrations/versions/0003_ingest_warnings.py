"""An external source's alert: what was repaired in or left out of it, and its document.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("warnings_json", sa.Text(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("original", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("original")
        batch_op.drop_column("warnings_json")
