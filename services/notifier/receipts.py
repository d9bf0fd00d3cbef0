"""Delivery receipts: what the notifier tells the network about each delivery.

Every change of a delivery's status (sent, delivered, acknowledged, escalated, failed) is
written to the outbox in the same transaction as the change, and published from there
(`services.common.outbox`). A console delivery becomes *delivered* the first time one of its
contact point's consoles was given the item: the hub notes it (`ConsoleDeliveries.note`), and
the marking and its receipts are written here, in one transaction per round, off the fan-out.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import case, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.envelopes import (
    AlertKey,
    Channel,
    DeliveryReceipt,
    DeliveryStatus,
    Envelope,
    encode_envelope,
)
from services.common.workers import run_rounds
from services.notifier.models import DELIVERIES, OUTBOX

DELIVERIES_COUNTED = Counter(
    "crossalert_notifier_deliveries",
    "Changes of a delivery's status, by channel and the status reached (counted as its "
    "receipt is written: a transaction rolled back by a crash may count one twice).",
    ["channel", "status"],
)

POLL_SECONDS = 5.0
"""A round also runs this often, so that a marking that failed (the database away) is retried."""


def receipt(
    key: AlertKey,
    contact_point: str,
    channel: Channel,
    status: DeliveryStatus,
    at: datetime,
    producer: str,
    *,
    exercise: bool,
    detail: str | None = None,
) -> DeliveryReceipt:
    """A delivery receipt for the log (counted by channel and status)."""
    DELIVERIES_COUNTED.labels(channel.value, status.value).inc()
    return DeliveryReceipt(
        producer=producer,
        alert=key,
        contact_point_id=contact_point,
        channel=channel,
        status=status,
        at=at,
        detail=detail,
        exercise=exercise,
    )


async def add_outbox(session: AsyncSession, *envelopes: Envelope) -> None:
    """Publish the envelopes once this transaction commits (one INSERT for all of them)."""
    rows = [
        {"envelope_json": encode_envelope(e).decode(), "created_at": e.produced_at}
        for e in envelopes
    ]
    if rows:
        await session.execute(insert(OUTBOX), rows)


class ConsoleDeliveries:
    """Marks console deliveries delivered, with their receipts, as the hub hands items out."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        producer: str,
        written: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._written = written
        self._noted: set[tuple[AlertKey, str, bool]] = set()
        self._wake = asyncio.Event()

    def note(self, key: AlertKey, contact_point: str, *, exercise: bool) -> None:
        """A console of `contact_point` was given the alert `key`."""
        self._noted.add((key, contact_point, exercise))
        self._wake.set()

    async def run(self) -> None:
        """Record what was noted, as soon as it is noted, until cancelled."""
        await run_rounds(
            self.record, every=POLL_SECONDS, name="console-deliveries", wake=self._wake
        )

    async def record(self) -> bool:
        """Mark the deliveries noted so far (once each) and add their receipts to the outbox."""
        if not self._noted:
            return False
        done, self._noted = self._noted, set()
        by_alert: dict[tuple[AlertKey, bool], list[str]] = defaultdict(list)
        for key, contact_point, exercise in done:
            by_alert[key, exercise].append(contact_point)
        now = datetime.now(UTC)
        try:
            async with self._sessions() as session, session.begin():
                for (key, exercise), contact_points in by_alert.items():
                    await self._mark(session, key, exercise, contact_points, now)
        except Exception:
            self._noted |= done  # tried again at the next round
            raise
        self._written()
        return False

    async def _mark(
        self,
        session: AsyncSession,
        key: AlertKey,
        exercise: bool,
        contact_points: list[str],
        now: datetime,
    ) -> None:
        # One statement per alert; only the deliveries not yet marked come back.
        marked = await session.scalars(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.alert_sender == key.sender,
                DELIVERIES.c.alert_identifier == key.identifier,
                DELIVERIES.c.contact_point.in_(contact_points),
                DELIVERIES.c.channel == Channel.CONSOLE,
                DELIVERIES.c.delivered_at.is_(None),
            )
            .values(
                delivered_at=now,
                # An acknowledgement may have come first (another process's console).
                status=case(
                    (DELIVERIES.c.status == DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
                    else_=DELIVERIES.c.status,
                ),
            )
            .returning(DELIVERIES.c.contact_point)
        )
        await add_outbox(session, *(
            receipt(key, contact_point, Channel.CONSOLE, DeliveryStatus.DELIVERED, now,
                    self._producer, exercise=exercise)
            for contact_point in sorted(marked)
        ))  # fmt: skip
