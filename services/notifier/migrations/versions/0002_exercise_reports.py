"""Exercise reports published for the participating organisations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exercise_reports",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "exercise_report_participants",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["exercise_reports.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "organisation"),
    )
    op.create_index(
        "ix_exercise_report_participants_organisation",
        "exercise_report_participants",
        ["organisation"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_exercise_report_participants_organisation", table_name="exercise_report_participants"
    )
    op.drop_table("exercise_report_participants")
    op.drop_table("exercise_reports")
