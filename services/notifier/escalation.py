"""Chasing what nobody acknowledged: when a deadline passes, the escalation contacts are notified.

Deadlines are columns of the deliveries, so they survive restarts; any notifier process may
find a passed one, and the escalation record's unique key makes exactly one of them act on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter
from sqlalchemy import and_, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.console import AlertState, ItemKind
from schemas.envelopes import Channel, DeliveryStatus
from schemas.registry import RoutingAnswer
from services.common.workers import run_rounds
from services.notifier.feed import lock_feed, show
from services.notifier.intake import Target, deliveries_for
from services.notifier.models import (
    DELIVERIES,
    Delivery,
    EscalationRecord,
    ReceivedAlert,
    stored_alert,
)
from services.notifier.receipts import add_outbox, receipt

log = structlog.get_logger(__name__)

ESCALATIONS = Counter(
    "crossalert_notifier_escalations", "Missed acknowledgements escalated to their contacts."
)


async def overdue(session: AsyncSession, now: datetime) -> list[Delivery]:
    """Console deliveries of active alerts whose deadline passed unacknowledged and unescalated."""
    escalated = exists().where(
        EscalationRecord.alert_sender == Delivery.alert_sender,
        EscalationRecord.alert_identifier == Delivery.alert_identifier,
        EscalationRecord.missed_by == Delivery.contact_point,
    )
    return list(
        await session.scalars(
            select(Delivery)
            .join(
                ReceivedAlert,
                and_(
                    ReceivedAlert.sender == Delivery.alert_sender,
                    ReceivedAlert.identifier == Delivery.alert_identifier,
                ),
            )
            .where(
                Delivery.channel == Channel.CONSOLE,
                Delivery.ack_deadline <= now,
                Delivery.acknowledged_at.is_(None),
                # An update carries its own deadline; a cancelled alert needs no answer.
                ReceivedAlert.state == AlertState.ACTIVE,
                ~escalated,
            )
            .order_by(Delivery.ack_deadline)
            .limit(100)
        )
    )


async def escalate(
    *, sessions: async_sessionmaker[AsyncSession], missed: Delivery, producer: str
) -> list[str]:
    """Notify the escalation contacts of one missed delivery; the contact points notified."""
    now = datetime.now(UTC)
    key = missed.alert_key
    assert missed.ack_deadline is not None
    try:
        async with sessions() as session, session.begin():
            await lock_feed(session)
            record = EscalationRecord(
                alert_sender=key.sender, alert_identifier=key.identifier,
                missed_by=missed.contact_point, deadline=missed.ack_deadline,
                escalated_at=now, notified_json="[]",
            )  # fmt: skip
            session.add(record)
            await session.flush()
            alert = await session.get(ReceivedAlert, (key.sender, key.identifier))
            assert alert is not None
            notified = await _notify(session, alert, json.loads(missed.escalate_to_json), now)
            record.notified_json = json.dumps(notified)
            for row in await session.scalars(
                select(Delivery).where(
                    Delivery.alert_sender == key.sender,
                    Delivery.alert_identifier == key.identifier,
                    Delivery.contact_point == missed.contact_point,
                    Delivery.channel == Channel.CONSOLE,
                )
            ):
                row.status = DeliveryStatus.ESCALATED
            await add_outbox(session, receipt(
                key, missed.contact_point, Channel.CONSOLE, DeliveryStatus.ESCALATED, now,
                producer, exercise=alert.exercise,
                detail="not acknowledged by the deadline; notified "
                + (", ".join(notified) or "nobody"),
            ))  # fmt: skip
    except IntegrityError:
        # Another notifier process escalated it first.
        return []
    ESCALATIONS.inc()
    log.info("escalated", alert=str(key), missed_by=missed.contact_point, notified=notified)
    return notified


async def _notify(
    session: AsyncSession, alert: ReceivedAlert, contacts: list[str], now: datetime
) -> list[str]:
    answer = RoutingAnswer.model_validate_json(alert.routing_json)
    recipients = {r.contact_point: r for r in answer.recipients}
    cap = stored_alert(alert.cap_json)
    notified = []
    for contact in contacts:
        already = await session.scalar(
            select(Delivery.id).where(
                Delivery.alert_sender == alert.sender,
                Delivery.alert_identifier == alert.identifier,
                Delivery.contact_point == contact,
                Delivery.channel == Channel.CONSOLE,
            )
        )
        if already is None:
            recipient = recipients.get(contact)
            if recipient is None:
                log.error("escalation contact missing from the routing answer", contact=contact)
                continue
            target = Target.of(recipient, answer, escalation=True)
            await session.execute(insert(DELIVERIES), deliveries_for(cap, target, now))
        await show(session, [contact], alert.key, ItemKind.ESCALATION, now)
        notified.append(contact)
    return notified


class Escalator:
    """Looks for passed deadlines every few seconds and escalates them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float,
        producer: str,
        wake: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._poll = poll_seconds
        self._producer = producer
        self._wake = wake

    async def run(self) -> None:
        """Escalate until cancelled, a round every poll (deadlines pass with time, not writes)."""

        async def round_() -> bool:
            await self.round()
            return False

        await run_rounds(round_, every=self._poll, name="escalator")

    async def round(self) -> int:
        """Escalate every overdue delivery once; how many were escalated."""
        async with self._sessions() as session:
            due = await overdue(session, datetime.now(UTC))
        count = 0
        for missed in due:
            if await escalate(sessions=self._sessions, missed=missed, producer=self._producer):
                count += 1
        if count:
            self._wake()
        return count
