"""The worker's records: each feed's validators, and every entry and CAP alert it dealt with.

Only outcomes that polling again cannot change are recorded (brought in, refused for good, or
already brought in): an entry that met a busy gateway, a broken link or an unreachable
registry is not, and is tried again at the next poll.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.database import UtcDateTime


class Base(DeclarativeBase):
    """Base of the worker's tables."""


class FeedState(Base):
    """What a feed's server said last time, for the next conditional GET."""

    __tablename__ = "feed_states"

    feed_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2100))
    """The address the validators belong to: a feed moved elsewhere starts afresh."""
    etag: Mapped[str | None] = mapped_column(String(1000))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    polled_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SeenEntry(Base):
    """A feed entry (at one `updated` time) dealt with for good: it is not fetched again."""

    __tablename__ = "seen_entries"

    feed_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the entry's id and updated time (an id may be a long URL)."""
    entry_id: Mapped[str] = mapped_column(Text)
    updated: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    """brought_in, refused, or duplicate (its CAP alert came in before, by another entry)."""
    sender: Mapped[str | None] = mapped_column(Text)
    identifier: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BroughtAlert(Base):
    """A CAP alert (sender, identifier) the gateway answered for good: it is not sent again."""

    __tablename__ = "alerts"

    sender: Mapped[str] = mapped_column(String(1000), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(1000), primary_key=True)
    feed_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    """brought_in or refused."""
    status: Mapped[int] = mapped_column(Integer)
    """The gateway's HTTP status (0 when the worker refused it before sending)."""
    code: Mapped[str | None] = mapped_column(String(64))
    """The refusal's problem code."""
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
