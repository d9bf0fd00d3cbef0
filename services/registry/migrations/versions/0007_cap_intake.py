"""How the gateway reads an organisation's CAP: strict, or ingest for an external source.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cap_mode", sa.String(length=16), nullable=False, server_default="strict")
        )
        batch_op.add_column(sa.Column("max_cap_bytes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("max_cap_bytes")
        batch_op.drop_column("cap_mode")
