"""A sender's signature policy and the keys its CAP documents are signed with.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "signature_policy",
                sa.String(length=24),
                nullable=False,
                server_default="verify-if-present",
            )
        )
        batch_op.add_column(
            sa.Column("signing_keys", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("signing_keys")
        batch_op.drop_column("signature_policy")
