"""Publishes the registry's outbox to Kafka as registry change envelopes, in write order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.envelopes import RegistryChange, RegistryEntity
from services.common.kafka import BrokerUnavailable, LazyProducer, publish
from services.registry import models as m

log = structlog.get_logger(__name__)

BATCH = 100
RETRY_SECONDS = 2.0


class OutboxPublisher:
    """Drains unpublished outbox events to Kafka; woken by writes, retries while Kafka is down."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer: LazyProducer,
        *,
        producer_name: str,
        ack_timeout: float,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._producer_name = producer_name
        self._ack_timeout = ack_timeout
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Tell the publisher that a write added events."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; at-least-once, in outbox order.

        The registry starts and serves without Kafka; its changes wait here until it returns.
        """
        while True:
            try:
                producer = await self._producer.get(within=self._ack_timeout)
                published = await self.publish_pending(producer)
            except BrokerUnavailable as exc:
                log.warning("registry changes wait in the outbox", reason=str(exc))
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if published < BATCH:
                self._wake.clear()
                # Polling as well as waking: another registry process may have written.
                try:
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def publish_pending(self, producer: AIOKafkaProducer) -> int:
        """Publish one batch of unpublished events; return how many were published."""
        failure: BrokerUnavailable | None = None
        published = 0
        async with self._sessions() as session, session.begin():
            events = (
                await session.scalars(
                    select(m.OutboxEvent)
                    .where(m.OutboxEvent.published_at.is_(None))
                    .order_by(m.OutboxEvent.id)
                    .limit(BATCH)
                )
            ).all()
            for event in events:
                change = RegistryChange(
                    producer=self._producer_name,
                    entity=RegistryEntity(event.entity),
                    entity_id=event.entity_id,
                    operation=event.operation,
                    version=event.version,
                )
                try:
                    await publish(producer, change, ack_timeout=self._ack_timeout)
                except BrokerUnavailable as exc:
                    failure = exc
                    break
                event.published_at = datetime.now(UTC)
                published += 1
        # The events published before a failure stay marked: the transaction commits them.
        if failure is not None:
            raise failure
        return published
