"""The notifier's first schema: alerts received, deliveries, the consoles' feed, escalations,
outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 23:47:25.529139
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
        sa.Column("chain_sender", sa.String(length=200), nullable=False),
        sa.Column("chain_identifier", sa.String(length=200), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cap_json", sa.Text(), nullable=False),
        sa.Column("routing_json", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender", "identifier"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_chain", ["chain_sender", "chain_identifier"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("envelope_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_published_at"), ["published_at"], unique=False)

    op.create_table(
        "console_feed",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_point", sa.String(length=100), nullable=False),
        sa.Column("alert_sender", sa.String(length=200), nullable=False),
        sa.Column("alert_identifier", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_sender", "alert_identifier"],
            ["alerts.sender", "alerts.identifier"],
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("console_feed", schema=None) as batch_op:
        batch_op.create_index(
            "ix_console_feed_contact_point", ["contact_point", "seq"], unique=False
        )

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_sender", sa.String(length=200), nullable=False),
        sa.Column("alert_identifier", sa.String(length=200), nullable=False),
        sa.Column("contact_point", sa.String(length=100), nullable=False),
        sa.Column("contact_point_name", sa.String(length=300), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("organisation_name", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("language_available", sa.Boolean(), nullable=False),
        sa.Column("escalation", sa.Boolean(), nullable=False),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ack_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalate_to_json", sa.Text(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_by_name", sa.String(length=300), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_sender", "alert_identifier"],
            ["alerts.sender", "alerts.identifier"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_sender", "alert_identifier", "contact_point", "channel"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_deadline", ["ack_deadline"], unique=False)
        batch_op.create_index(
            "ix_deliveries_due", ["channel", "status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_sender", sa.String(length=200), nullable=False),
        sa.Column("alert_identifier", sa.String(length=200), nullable=False),
        sa.Column("missed_by", sa.String(length=100), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_sender", "alert_identifier"],
            ["alerts.sender", "alerts.identifier"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_sender", "alert_identifier", "missed_by"),
    )


def downgrade() -> None:

    op.drop_table("escalations")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.drop_index("ix_deliveries_deadline")

    op.drop_table("deliveries")
    with op.batch_alter_table("console_feed", schema=None) as batch_op:
        batch_op.drop_index("ix_console_feed_contact_point")

    op.drop_table("console_feed")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_chain")

    op.drop_table("alerts")
