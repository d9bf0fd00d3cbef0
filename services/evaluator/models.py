"""The evaluator's records: the readings of each place, each series' published state, the outbox.

Real and exercise traffic are kept apart by `traffic` in every table: an exercise never moves
a real series, nor the other way round.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.database import UtcDateTime


class Base(DeclarativeBase):
    """Base of the evaluator's tables."""


class StoredReading(Base):
    """The latest value an agency reported for one indicator, place and period."""

    __tablename__ = "readings"

    traffic: Mapped[str] = mapped_column(String(64), primary_key=True)
    """actual, exercise, or exercise/RUN (one exercise run's)."""
    place: Mapped[str] = mapped_column(String(120), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    numerator: Mapped[float | None] = mapped_column(Float, nullable=True)
    denominator: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(200))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Series(Base):
    """What one rule's alerts for one place said so far, and where the chain stands."""

    __tablename__ = "series"
    __table_args__ = (Index("ix_series_open", "open"),)

    traffic: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    place: Mapped[str] = mapped_column(String(120), primary_key=True)
    said_json: Mapped[str] = mapped_column(Text, default="[]")
    """The replayed actions the published messages follow: [[kind, reason, level, episode]]."""
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    no_data: Mapped[bool] = mapped_column(default=False)
    open: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="normal")
    messages: Mapped[int] = mapped_column(Integer, default=0)
    """Messages composed for this series so far: numbers their identifiers."""
    last_reference: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """sender,identifier,sent of the open chain's latest message."""
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    """An exercise run's series: the run's note, which its alerts carry."""


class OutgoingAlert(Base):
    """A composed CAP message waiting to be (or already) accepted by the gateway, in order."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64))
    """The agency it is published for."""
    series: Mapped[str] = mapped_column(String(220), default="")
    """traffic/rule/place: the chain it belongs to, whose messages go in order."""
    identifier: Mapped[str] = mapped_column(String(200), unique=True)
    cap_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    refusal: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def key(self) -> str:
        """The alert's key as every service's log names it: `sender,identifier`."""
        return f"{json.loads(self.cap_json)['sender']},{self.identifier}"

    """What the gateway answered when it refused the message for good."""
