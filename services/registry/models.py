"""The registry's tables: who is who in the network, and who is bound to whom.

Every record the API edits carries a `version`, bumped by SQLAlchemy on each update, which the
API exposes as its ETag for optimistic concurrency.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from schemas.envelopes import RegistryChange, RegistryEntity
from services.common.database import UtcDateTime


class Base(DeclarativeBase):
    """Base of the registry's tables."""


class Versioned:
    """A record with an optimistic-concurrency version.

    The service sets the next version itself on every write (children included), and
    SQLAlchemy adds `WHERE version = <old>` to the UPDATE: of two concurrent writers, the
    second fails instead of silently overwriting the first.
    """

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        table = cls.__table__  # type: ignore[attr-defined]
        return {"version_id_col": table.c.version, "version_id_generator": False}


class Region(Versioned, Base):
    """A NUTS-style region: a country, a province, a district."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False, index=True)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )
    names: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    basins: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    neighbours: Mapped[list[RegionNeighbour]] = relationship(
        foreign_keys="RegionNeighbour.region_code",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="RegionNeighbour.neighbour_code",
    )


class RegionNeighbour(Base):
    """Two regions sharing a border (stored once in each direction)."""

    __tablename__ = "region_neighbours"

    region_code: Mapped[str] = mapped_column(
        ForeignKey("regions.code", ondelete="CASCADE"), primary_key=True
    )
    neighbour_code: Mapped[str] = mapped_column(
        ForeignKey("regions.code", ondelete="RESTRICT"), primary_key=True, index=True
    )


class Organisation(Versioned, Base):
    """A crisis centre, health agency, police or fire service, ... of the network."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    home_region_code: Mapped[str] = mapped_column(
        ForeignKey("regions.code", ondelete="RESTRICT"), nullable=False, index=True
    )
    cap_sender: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # Severities a composed alert may be published with by one officer (see OrganisationIn).
    # schemas.identity.SingleApproval as JSON; a bare severity string is the rule for every hour.
    single_approval: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    # The hazard templates of the console's composer (AlertTemplate records, as JSON).
    alert_templates: Mapped[list[dict[str, object]]] = mapped_column(
        JSON, nullable=False, default=list
    )
    # How the gateway reads its clients' CAP (schemas.cap_ingest.CapMode), and the largest
    # document they may send (None: the mode's default).
    cap_mode: Mapped[str] = mapped_column(String(16), nullable=False, default="strict")
    max_cap_bytes: Mapped[int | None] = mapped_column(Integer)
    # schemas.signatures.SignaturePolicy, and the SigningKey records (name, pem) as JSON.
    signature_policy: Mapped[str] = mapped_column(
        String(24), nullable=False, default="verify-if-present"
    )
    signing_keys: Mapped[list[dict[str, str]]] = mapped_column(JSON, nullable=False, default=list)
    acts_for: Mapped[list[OrganisationRegion]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="OrganisationRegion.region_code"
    )


class OrganisationRegion(Base):
    """A region an organisation acts for."""

    __tablename__ = "organisation_regions"

    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(
        ForeignKey("regions.code", ondelete="RESTRICT"), primary_key=True, index=True
    )


class ContactPoint(Versioned, Base):
    """A desk or person of an organisation that receives alerts."""

    __tablename__ = "contact_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    function: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    staffed_24_7: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    competences: Mapped[list[Competence]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Competence.category"
    )


class Competence(Base):
    """A CAP category a contact point handles, optionally narrowed to event codes."""

    __tablename__ = "competences"
    __table_args__ = (UniqueConstraint("contact_point_id", "category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_point_id: Mapped[str] = mapped_column(
        ForeignKey("contact_points.id", ondelete="CASCADE"), nullable=False, index=True
    )
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    event_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)


class Agreement(Versioned, Base):
    """A mutual-assistance agreement binding organisations or regions for some hazards."""

    __tablename__ = "agreements"
    __table_args__ = (
        CheckConstraint(
            "ack_deadline_minutes IS NULL OR ack_deadline_minutes > 0", name="positive_deadline"
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    reference: Mapped[str] = mapped_column(Text, nullable=False, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    min_severity: Mapped[str] = mapped_column(String(16), nullable=False)
    applies_to_exercises: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    ack_deadline_minutes: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_until: Mapped[date | None] = mapped_column(Date)
    parties: Mapped[list[AgreementParty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="AgreementParty.id"
    )
    escalation_contacts: Mapped[list[AgreementEscalation]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AgreementEscalation.contact_point_id",
    )


class AgreementParty(Base):
    """One party of an agreement: an organisation, or every organisation acting for a region."""

    __tablename__ = "agreement_parties"
    __table_args__ = (
        CheckConstraint(
            "(organisation_id IS NULL) <> (region_code IS NULL)", name="organisation_or_region"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), nullable=False, index=True
    )
    organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    region_code: Mapped[str | None] = mapped_column(
        ForeignKey("regions.code", ondelete="RESTRICT"), index=True
    )


class AgreementEscalation(Base):
    """A contact point chased when an agreement's acknowledgement deadline passes."""

    __tablename__ = "agreement_escalations"

    agreement_id: Mapped[str] = mapped_column(
        ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True
    )
    contact_point_id: Mapped[str] = mapped_column(
        ForeignKey("contact_points.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class ApiClient(Versioned, Base):
    """A machine client (a centre's system, a service) using OAuth2 client credentials."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class CapFeed(Versioned, Base):
    """An external source's public CAP feed, polled by the feed ingest worker."""

    __tablename__ = "cap_feeds"
    __table_args__ = (
        CheckConstraint("poll_seconds >= 30 AND poll_seconds <= 86400", name="poll_bounds"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2100), nullable=False)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    poll_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class ConsoleUser(Versioned, Base):
    """A duty officer who logs in to the console with a password."""

    __tablename__ = "console_users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    contact_point_id: Mapped[str | None] = mapped_column(
        ForeignKey("contact_points.id", ondelete="RESTRICT"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ConsoleSession(Base):
    """A duty officer's shift-long session: its refresh token, renewed at each use.

    Access tokens stay short (they are verified offline); the console trades the refresh
    token for a new one before each expires, so disabling the officer or logging out ends the
    session within one access token's lifetime.
    """

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("console_users.username", ondelete="CASCADE"), nullable=False, index=True
    )
    # Only a digest is kept: a copy of the database does not hand out sessions.
    token_digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrustedDevice(Base):
    """A browser where an officer logged in before: its logins skip the account's throttle.

    An attacker guessing an officer's password slows that account down for every browser but
    the officer's own, so a lock cannot be turned against the officer.
    """

    __tablename__ = "trusted_devices"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("console_users.username", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class Indicator(Versioned, Base):
    """Something agencies measure and report, per period."""

    __tablename__ = "indicators"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit: Mapped[str] = mapped_column(String(60), nullable=False)
    period: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    names: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    descriptions: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    minimum: Mapped[float | None] = mapped_column(Float)
    maximum: Mapped[float | None] = mapped_column(Float)


class ThresholdRule(Base):
    """A threshold rule of an agency; its content lives in its versions."""

    __tablename__ = "threshold_rules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[str] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    versions: Mapped[list[ThresholdRuleVersion]] = relationship(
        order_by="ThresholdRuleVersion.version", lazy="selectin", cascade="all, delete-orphan"
    )


class ThresholdRuleVersion(Base):
    """One version of a rule, never changed once written."""

    __tablename__ = "threshold_rule_versions"

    rule_id: Mapped[str] = mapped_column(
        ForeignKey("threshold_rules.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    """The version as its owner wrote it (schemas.thresholds.ThresholdRuleIn, JSON)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)


class OutboxEvent(Base):
    """A change written in the same transaction as the data, published to Kafka afterwards.

    Writing the event with the data means a crash between the commit and the publish loses
    nothing: the publisher sends whatever is still unpublished when it runs again.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str] = mapped_column(String(200), nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    def envelope(self, producer: str) -> RegistryChange:
        """The change event this row stands for."""
        return RegistryChange(
            producer=producer,
            entity=RegistryEntity(self.entity),
            entity_id=self.entity_id,
            operation=self.operation,
            version=self.version,
        )


class Generation(Base):
    """One row counting registry writes, so every process knows when its routing cache is stale."""

    __tablename__ = "generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
