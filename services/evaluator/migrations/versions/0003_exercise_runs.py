"""Each exercise run keeps series of its own: `traffic` names the run (exercise/RUN), and a
run's series keeps the run's note for the alerts it raises.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("readings") as table:
        table.alter_column(
            "traffic", existing_type=sa.String(length=16), type_=sa.String(length=64)
        )
    with op.batch_alter_table("series") as table:
        table.alter_column(
            "traffic", existing_type=sa.String(length=16), type_=sa.String(length=64)
        )
        table.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series") as table:
        table.drop_column("note")
        table.alter_column(
            "traffic", existing_type=sa.String(length=64), type_=sa.String(length=16)
        )
    with op.batch_alter_table("readings") as table:
        table.alter_column(
            "traffic", existing_type=sa.String(length=64), type_=sa.String(length=16)
        )
