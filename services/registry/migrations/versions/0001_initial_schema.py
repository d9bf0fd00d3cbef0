"""The registry's first schema: regions, organisations, contact points, agreements, identity.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 21:18:34.243767
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
        "agreements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("applies_to_exercises", sa.Boolean(), nullable=False),
        sa.Column("ack_deadline_minutes", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "ack_deadline_minutes IS NULL OR ack_deadline_minutes > 0", name="positive_deadline"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    generation = op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_published_at"), ["published_at"], unique=False)

    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("basins", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["parent_code"], ["regions.code"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regions_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_regions_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "organisations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("home_region_code", sa.String(length=16), nullable=False),
        sa.Column("cap_sender", sa.String(length=200), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["home_region_code"], ["regions.code"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cap_sender"),
    )
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisations_home_region_code"), ["home_region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organisations_kind"), ["kind"], unique=False)

    op.create_table(
        "region_neighbours",
        sa.Column("region_code", sa.String(length=16), nullable=False),
        sa.Column("neighbour_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["neighbour_code"], ["regions.code"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("region_code", "neighbour_code"),
    )
    with op.batch_alter_table("region_neighbours", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_region_neighbours_neighbour_code"), ["neighbour_code"], unique=False
        )

    op.create_table(
        "agreement_parties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "(organisation_id IS NULL) <> (region_code IS NULL)", name="organisation_or_region"
        ),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agreement_parties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_parties_agreement_id"), ["agreement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreement_parties_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agreement_parties_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_clients_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "contact_points",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("function", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("staffed_24_7", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_points_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "organisation_regions",
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("organisation_id", "region_code"),
    )
    with op.batch_alter_table("organisation_regions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_regions_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "agreement_escalations",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("contact_point_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreements.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("agreement_id", "contact_point_id"),
    )
    with op.batch_alter_table("agreement_escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_escalations_contact_point_id"),
            ["contact_point_id"],
            unique=False,
        )

    op.create_table(
        "competences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_point_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("event_codes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_point_id", "category"),
    )
    with op.batch_alter_table("competences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_competences_contact_point_id"), ["contact_point_id"], unique=False
        )

    op.create_table(
        "console_users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("contact_point_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("username"),
    )
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_users_contact_point_id"), ["contact_point_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_console_users_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_users_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_console_users_contact_point_id"))

    op.drop_table("console_users")
    with op.batch_alter_table("competences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_competences_contact_point_id"))

    op.drop_table("competences")
    with op.batch_alter_table("agreement_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_escalations_contact_point_id"))

    op.drop_table("agreement_escalations")
    with op.batch_alter_table("organisation_regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_regions_region_code"))

    op.drop_table("organisation_regions")
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_points_organisation_id"))

    op.drop_table("contact_points")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_organisation_id"))

    op.drop_table("api_clients")
    with op.batch_alter_table("agreement_parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_parties_region_code"))
        batch_op.drop_index(batch_op.f("ix_agreement_parties_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_agreement_parties_agreement_id"))

    op.drop_table("agreement_parties")
    with op.batch_alter_table("region_neighbours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_neighbours_neighbour_code"))

    op.drop_table("region_neighbours")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_kind"))
        batch_op.drop_index(batch_op.f("ix_organisations_home_region_code"))

    op.drop_table("organisations")
    with op.batch_alter_table("regions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regions_parent_code"))
        batch_op.drop_index(batch_op.f("ix_regions_country"))

    op.drop_table("regions")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))

    op.drop_table("outbox")
    op.drop_table("generation")
    op.drop_table("agreements")
