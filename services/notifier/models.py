"""The notifier's records: alerts received, deliveries, the consoles' feed, escalations, outbox."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from pydantic import TypeAdapter
from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.cap import Alert
from schemas.envelopes import AlertKey, Envelope, decode_envelope
from schemas.errors import IngestWarning
from schemas.signatures import SignatureVerdict
from services.common.database import UtcDateTime
from services.common.recent import Recent


class Base(DeclarativeBase):
    """Base of the notifier's tables."""


def _alert_key() -> tuple[ForeignKeyConstraint]:
    return (
        ForeignKeyConstraint(
            ["alert_sender", "alert_identifier"], ["alerts.sender", "alerts.identifier"]
        ),
    )


class ReceivedAlert(Base):
    """One alert message read from the log, with the routing answer it was delivered by."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_chain", "chain_sender", "chain_identifier"),)

    sender: Mapped[str] = mapped_column(String(200), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), primary_key=True)
    chain_sender: Mapped[str] = mapped_column(String(200), nullable=False)
    chain_identifier: Mapped[str] = mapped_column(String(200), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    exercise: Mapped[bool] = mapped_column(Boolean, nullable=False)
    sent: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires: Mapped[datetime | None] = mapped_column(UtcDateTime)
    headline: Mapped[str | None] = mapped_column(Text)
    # "active", "replaced" or "cancelled"; expiry is a matter of time and is not stored.
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    cap_json: Mapped[str] = mapped_column(Text, nullable=False)
    routing_json: Mapped[str] = mapped_column(Text, nullable=False)
    # What was repaired in or left out of an external source's document (IngestWarning list).
    warnings_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    # The document exactly as sent, by an external source or signed (else None).
    original: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The verdict on its XML signatures (schemas.signatures.SignatureVerdict as JSON).
    signature_json: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    @property
    def warnings(self) -> list[IngestWarning]:
        """What was repaired in, or left out of, the document its source sent."""
        return WARNINGS.validate_json(self.warnings_json)

    @property
    def signature(self) -> SignatureVerdict | None:
        """The verdict on the document's XML signatures (None: sent as JSON, or before)."""
        if self.signature_json is None:
            return None
        return SignatureVerdict.model_validate_json(self.signature_json)

    @property
    def key(self) -> AlertKey:
        """The alert's identity."""
        return AlertKey(sender=self.sender, identifier=self.identifier)

    @property
    def chain(self) -> AlertKey:
        """The first alert of its incident chain."""
        return AlertKey(sender=self.chain_sender, identifier=self.chain_identifier)


WARNINGS = TypeAdapter(list[IngestWarning])


_PARSED: Recent[str, Alert] = Recent(1024)
"""Alerts lately read, by their recorded CAP JSON: a new alert is shown to every contact point
it reaches within moments, and the public feed lists the same ones at every poll. Keyed by the
document itself, not by its identity: one process may read several databases (tests), and an
identity is not a version. Alerts are frozen, so one parsed alert serves every reader."""


def stored_alert(cap_json: str) -> Alert:
    """An alert stored by the notifier, read back: checked when it came in, so not limited in
    size here (an external source's may be larger than a publisher's)."""
    return _PARSED.get(cap_json, partial(Alert.model_validate_json, cap_json))


class Delivery(Base):
    """One alert message to one contact point over one channel, and what became of it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        *_alert_key(),
        UniqueConstraint("alert_sender", "alert_identifier", "contact_point", "channel"),
        Index("ix_deliveries_due", "channel", "status", "next_attempt_at"),
        Index("ix_deliveries_deadline", "ack_deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_sender: Mapped[str] = mapped_column(String(200), nullable=False)
    alert_identifier: Mapped[str] = mapped_column(String(200), nullable=False)
    contact_point: Mapped[str] = mapped_column(String(100), nullable=False)
    contact_point_name: Mapped[str] = mapped_column(String(300), nullable=False)
    organisation: Mapped[str] = mapped_column(String(100), nullable=False)
    organisation_name: Mapped[str] = mapped_column(String(300), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    language: Mapped[str | None] = mapped_column(String(35))
    language_available: Mapped[bool] = mapped_column(Boolean, nullable=False)
    escalation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reasons_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[str | None] = mapped_column(Text)
    ack_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalate_to_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(300))
    ack_note: Mapped[str | None] = mapped_column(Text)

    @property
    def alert_key(self) -> AlertKey:
        """The delivered alert's identity."""
        return AlertKey(sender=self.alert_sender, identifier=self.alert_identifier)


# The tables written on the hot path, for statements that need no objects back.
ALERTS = Base.metadata.tables[ReceivedAlert.__tablename__]
DELIVERIES = Base.metadata.tables[Delivery.__tablename__]


class FeedEntry(Base):
    """Something a contact point's consoles must be shown; `seq` orders them for resuming."""

    __tablename__ = "console_feed"
    __table_args__ = (*_alert_key(), Index("ix_console_feed_contact_point", "contact_point", "seq"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_point: Mapped[str] = mapped_column(String(100), nullable=False)
    alert_sender: Mapped[str] = mapped_column(String(200), nullable=False)
    alert_identifier: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


FEED = Base.metadata.tables[FeedEntry.__tablename__]


class EscalationRecord(Base):
    """A recipient missed its acknowledgement deadline; whom the notifier chased instead."""

    __tablename__ = "escalations"
    __table_args__ = (
        *_alert_key(),
        # Written once per missed recipient: the unique key is how one process claims it.
        UniqueConstraint("alert_sender", "alert_identifier", "missed_by"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_sender: Mapped[str] = mapped_column(String(200), nullable=False)
    alert_identifier: Mapped[str] = mapped_column(String(200), nullable=False)
    missed_by: Mapped[str] = mapped_column(String(100), nullable=False)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    escalated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    notified_json: Mapped[str] = mapped_column(Text, nullable=False)


class OutboxEvent(Base):
    """An envelope (acknowledgement, delivery receipt) written with the change it reports."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    envelope_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)

    def envelope(self, _producer: str) -> Envelope:
        """The envelope to publish (its producer was named when it was written)."""
        return decode_envelope(self.envelope_json)


OUTBOX = Base.metadata.tables[OutboxEvent.__tablename__]


class PublishedExerciseReport(Base):
    """An exercise's after-action report, published by its planner for the participants."""

    __tablename__ = "exercise_reports"

    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    scenario: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    published_by: Mapped[str] = mapped_column(String(100), nullable=False)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    report_json: Mapped[str] = mapped_column(Text, nullable=False)


class ExerciseReportParticipant(Base):
    """An organisation taking part in a published exercise: its officers may read the report."""

    __tablename__ = "exercise_report_participants"
    __table_args__ = (
        ForeignKeyConstraint(["run_id"], ["exercise_reports.run_id"], ondelete="CASCADE"),
        Index("ix_exercise_report_participants_organisation", "organisation"),
    )

    run_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(100), primary_key=True)
