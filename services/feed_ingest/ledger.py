"""What the worker has dealt with, in its database: the one module writing its tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feed_ingest.feeds import FeedEntry
from services.feed_ingest.fetch import Validators
from services.feed_ingest.models import BroughtAlert, FeedState, SeenEntry

Identity = tuple[str, str]
"""A CAP alert's (sender, identifier)."""


@dataclass(frozen=True)
class Outcome:
    """How an entry ended for good: brought_in, refused (with the problem's code) or
    duplicate (its alert came in before)."""

    outcome: str
    status: int = 0
    """The gateway's HTTP status; 0 when the gateway was not asked."""
    code: str | None = None
    detail: str | None = None


class Ledger:
    """Reads and writes the worker's records."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def validators(self, feed_id: str, url: str) -> Validators | None:
        """What the feed's server said last time, if the feed is still at `url`."""
        async with self._sessions() as session:
            state = await session.get(FeedState, feed_id)
        if state is None or state.url != url:
            return None
        return Validators(state.etag, state.last_modified)

    async def polled(self, feed_id: str, url: str, validators: Validators) -> None:
        """Remember the validators of a feed all of whose entries were dealt with for good."""
        async with self._sessions() as session, session.begin():
            state = await session.get(FeedState, feed_id) or FeedState(feed_id=feed_id)
            state.url = url
            state.etag = validators.etag
            state.last_modified = validators.last_modified
            state.polled_at = datetime.now(UTC)
            session.add(state)

    async def unseen(self, feed_id: str, entries: Iterable[FeedEntry]) -> list[FeedEntry]:
        """The entries not yet dealt with for good, in the order given."""
        entries = list(entries)
        async with self._sessions() as session:
            seen = set(
                await session.scalars(
                    select(SeenEntry.entry_key).where(
                        SeenEntry.feed_id == feed_id,
                        SeenEntry.entry_key.in_([e.key for e in entries]),
                    )
                )
            )
        return [entry for entry in entries if entry.key not in seen]

    async def known(self, identity: Identity) -> BroughtAlert | None:
        """The outcome of a CAP alert brought in (or refused) before, by any feed."""
        async with self._sessions() as session:
            return await session.get(BroughtAlert, identity)

    async def record(
        self, feed_id: str, entry: FeedEntry, identity: Identity | None, outcome: Outcome
    ) -> None:
        """Record an entry's end, and its alert's (a duplicate's was recorded before)."""
        now = datetime.now(UTC)
        sender, identifier = identity or (None, None)
        async with self._sessions() as session, session.begin():
            await session.merge(
                SeenEntry(
                    feed_id=feed_id, entry_key=entry.key, entry_id=entry.id,
                    updated=entry.updated[:100], outcome=outcome.outcome, sender=sender,
                    identifier=identifier, code=outcome.code, seen_at=now,
                )
            )  # fmt: skip
            if identity is not None and outcome.outcome != "duplicate":
                await session.merge(
                    BroughtAlert(
                        sender=sender, identifier=identifier, feed_id=feed_id,
                        outcome=outcome.outcome, status=outcome.status, code=outcome.code,
                        detail=outcome.detail, recorded_at=now,
                    )
                )  # fmt: skip

    async def alerts(self) -> list[BroughtAlert]:
        """Every alert recorded, oldest first."""
        async with self._sessions() as session:
            return list(
                await session.scalars(select(BroughtAlert).order_by(BroughtAlert.recorded_at))
            )

    async def entries(self, feed_id: str) -> list[SeenEntry]:
        """Every entry of a feed recorded, oldest first."""
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(SeenEntry)
                    .where(SeenEntry.feed_id == feed_id)
                    .order_by(SeenEntry.seen_at)
                )
            )
