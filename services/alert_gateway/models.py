"""The gateway's memory of accepted alerts: identity, chain, Kafka position, references."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Base of the gateway's tables."""


class AcceptedAlert(Base):
    """One CAP message accepted from a crisis centre (Alert, Update, Cancel, Ack, Error)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_chain", "chain_sender", "chain_identifier"),)

    sender: Mapped[str] = mapped_column(String(200), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    sent: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chain_sender: Mapped[str] = mapped_column(String(200), nullable=False)
    chain_identifier: Mapped[str] = mapped_column(String(200), nullable=False)
    chain_category: Mapped[str] = mapped_column(String(16), nullable=False)
    client_id: Mapped[str] = mapped_column(String(100), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Whom the message reaches is asked of the registry by these facts when another
    # organisation wants to acknowledge it or read its state (JSON of RoutingFacts).
    routing_facts: Mapped[str | None] = mapped_column(Text)
    # Written before the broker is asked; filled in once it acknowledged the write.
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    topic: Mapped[str | None] = mapped_column(String(100))
    partition: Mapped[int | None] = mapped_column(Integer)
    offset: Mapped[int | None] = mapped_column(Integer)


class AlertReference(Base):
    """An earlier message that an accepted message refers to (deleted with it)."""

    __tablename__ = "alert_references"
    __table_args__ = (
        ForeignKeyConstraint(
            ["sender", "identifier"],
            ["alerts.sender", "alerts.identifier"],
            ondelete="CASCADE",
        ),
        Index("ix_references_target", "ref_sender", "ref_identifier"),
    )

    sender: Mapped[str] = mapped_column(String(200), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), primary_key=True)
    ref_sender: Mapped[str] = mapped_column(String(200), primary_key=True)
    ref_identifier: Mapped[str] = mapped_column(String(200), primary_key=True)


class Composition(Base):
    """An alert composed by duty officers in the console, until it is published or withdrawn."""

    __tablename__ = "compositions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The CAP JSON document as last saved (it may not be a valid alert while a draft).
    document: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Once published: the alert's key in the gateway's memory of accepted alerts.
    alert_sender: Mapped[str | None] = mapped_column(String(200))
    alert_identifier: Mapped[str | None] = mapped_column(String(200))


class CompositionEvent(Base):
    """One step of a composition: saved (with the document of that version), submitted,
    approved, published, withdrawn; who and when."""

    __tablename__ = "composition_events"
    __table_args__ = (
        ForeignKeyConstraint(["composition_id"], ["compositions.id"], ondelete="CASCADE"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    composition_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    by: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    document: Mapped[str | None] = mapped_column(Text)
