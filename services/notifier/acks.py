"""A duty officer acknowledges an alert: recorded, shown to the organisation, sent as a CAP Ack."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import Alert, MsgType, Scope, Status
from schemas.cap_types import Reference
from schemas.console import Acknowledgement, ItemKind
from schemas.envelopes import AlertAcknowledged, AlertKey, Channel, DeliveryStatus
from schemas.identity import TokenClaims
from services.common.problems import ProblemError
from services.notifier.feed import lock_feed, show
from services.notifier.models import Delivery, ReceivedAlert
from services.notifier.receipts import add_outbox, receipt


def cap_ack(alert: ReceivedAlert, claims: TokenClaims, note: str | None, now: datetime) -> Alert:
    """The CAP Ack message an organisation sends back for an alert it received."""
    return Alert(
        identifier=f"ack-{uuid.uuid4()}",
        sender=claims.sender,
        sent=now.replace(microsecond=0),
        status=Status(alert.status),
        msg_type=MsgType.ACK,
        scope=Scope.PRIVATE,
        addresses=[alert.sender],
        note=note,
        references=[Reference(sender=alert.sender, identifier=alert.identifier, sent=alert.sent)],
    )


async def acknowledge(
    *,
    sessions: async_sessionmaker[AsyncSession],
    key: AlertKey,
    claims: TokenClaims,
    note: str | None,
    producer: str,
) -> tuple[Acknowledgement, bool]:
    """Acknowledge `key` for the officer's contact point; (the acknowledgement, whether new)."""
    contact_point = claims.contact_point
    if contact_point is None:
        raise ProblemError(
            403, "not_a_duty_officer", "Only a duty officer of a contact point acknowledges alerts."
        )
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await lock_feed(session)
        alert = await session.get(ReceivedAlert, (key.sender, key.identifier))
        if alert is None:
            raise ProblemError(404, "unknown_alert", f"No alert {key} has reached this network.")
        rows = list(
            await session.scalars(
                select(Delivery).where(
                    Delivery.alert_sender == key.sender,
                    Delivery.alert_identifier == key.identifier,
                    Delivery.contact_point == contact_point,
                )
            )
        )
        if not rows:
            raise ProblemError(
                403, "not_a_recipient", f"The alert {key} was not addressed to {contact_point}."
            )
        first = rows[0]
        if first.acknowledged_at is not None and first.acknowledged_by is not None:
            return _acknowledgement(first), False
        for row in rows:
            row.acknowledged_at = now
            row.acknowledged_by = claims.sub
            row.acknowledged_by_name = claims.name
            row.ack_note = note
            if row.channel == Channel.CONSOLE:
                # The e-mail delivery keeps its own status: it is still sent, or was.
                row.status = DeliveryStatus.ACKNOWLEDGED
        await _show_to_organisation(session, alert, claims.org, now)
        ack = cap_ack(alert, claims, note, now)
        await add_outbox(
            session,
            AlertAcknowledged(
                producer=producer, alert=key, contact_point_id=contact_point,
                acknowledged_by=claims.sub, acknowledged_at=now, note=note, ack=ack,
            ),
            receipt(
                key, contact_point, Channel.CONSOLE, DeliveryStatus.ACKNOWLEDGED, now, producer,
                exercise=alert.exercise,
            ),
        )  # fmt: skip
        return _acknowledgement(first), True


async def _show_to_organisation(
    session: AsyncSession, alert: ReceivedAlert, organisation: str, now: datetime
) -> None:
    contact_points = await session.scalars(
        select(Delivery.contact_point).where(
            Delivery.alert_sender == alert.sender,
            Delivery.alert_identifier == alert.identifier,
            Delivery.organisation == organisation,
            Delivery.channel == Channel.CONSOLE,
        )
    )
    await show(session, list(contact_points), alert.key, ItemKind.ACKNOWLEDGEMENT, now)


def _acknowledgement(row: Delivery) -> Acknowledgement:
    assert row.acknowledged_at is not None and row.acknowledged_by is not None
    return Acknowledgement(
        contact_point=row.contact_point,
        by=row.acknowledged_by,
        by_name=row.acknowledged_by_name,
        at=row.acknowledged_at,
        note=row.ack_note,
    )
