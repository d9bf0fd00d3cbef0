"""The transactional outbox: events written with the data, published to Kafka afterwards, in order.

Writing an event in the same transaction as the change it reports means a crash between the
commit and the publish loses nothing: the publisher sends whatever is still unpublished when it
runs again (at-least-once; consumers de-duplicate by identity).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from schemas.envelopes import Envelope
from services.common.kafka import BrokerUnavailable, LazyProducer, publish
from services.common.workers import run_rounds

log = structlog.get_logger(__name__)

BATCH = 100
RETRY_SECONDS = 2.0
POLL_SECONDS = 1.0


class OutboxRow(Protocol):
    """What the publisher needs of a service's outbox table."""

    id: Any
    published_at: Any


Row = TypeVar("Row", bound=OutboxRow)


class OutboxPublisher(Generic[Row]):
    """Drains unpublished outbox rows to Kafka; woken by writes, retries while Kafka is down.

    Several processes of a service may drain one outbox; a row may then go out twice, never
    out of order within a process.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer: LazyProducer,
        *,
        model: type[Row],
        to_envelope: Callable[[Row, str], Envelope],
        producer_name: str,
        ack_timeout: float,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._model = model
        self._to_envelope = to_envelope
        self._producer_name = producer_name
        self._ack_timeout = ack_timeout
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Tell the publisher that a write added events."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; at-least-once, in outbox order.

        A service starts and serves without Kafka; its events wait here until it returns.
        """

        async def round_() -> bool:
            try:
                producer = await self._producer.get(within=self._ack_timeout)
                return await self.publish_pending(producer) >= BATCH
            except BrokerUnavailable as exc:
                log.warning("events wait in the outbox", reason=str(exc))
                await asyncio.sleep(RETRY_SECONDS)
                return True  # try again now that the pause is over

        # Polling as well as waking: another process of the service may have written.
        await run_rounds(round_, every=POLL_SECONDS, name="outbox", wake=self._wake)

    async def publish_pending(self, producer: AIOKafkaProducer) -> int:
        """Publish one batch of unpublished events; return how many were published.

        The batch is sent all at once and its acknowledgements awaited together, outside any
        transaction: the database is not held while the broker answers (SQLite has a single
        connection here). A crash before the rows are marked sends them again.
        """
        id_column: InstrumentedAttribute[Any] = self._model.id
        published_column: InstrumentedAttribute[Any] = self._model.published_at
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(self._model)
                    .where(published_column.is_(None))
                    .order_by(id_column)
                    .limit(BATCH)
                )
            ).all()
            batch = [(row.id, self._to_envelope(row, self._producer_name)) for row in rows]
        if not batch:
            return 0
        # Sends are queued in outbox order; the idempotent producer keeps that order per partition.
        outcomes = await asyncio.gather(
            *(publish(producer, envelope, ack_timeout=self._ack_timeout) for _, envelope in batch),
            return_exceptions=True,
        )
        done = [row_id for (row_id, _), outcome in zip(batch, outcomes, strict=True)
                if not isinstance(outcome, BaseException)]  # fmt: skip
        if done:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(self._model)
                    .where(id_column.in_(done))
                    .values({published_column: datetime.now(UTC)})
                )
        # What was acknowledged stays marked; the rest waits for the next round.
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            raise failures[0]
        return len(done)
