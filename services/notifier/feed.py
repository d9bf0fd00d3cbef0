"""The consoles' feed, read from the database: what a contact point is shown, in `seq` order."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Row, Select, and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cap import Alert, MsgType, parse_cap_json
from schemas.console import (
    Acknowledgement,
    AlertState,
    Escalation,
    FeedItem,
    ItemKind,
)
from schemas.envelopes import AlertKey, Channel
from schemas.registry import Reason
from services.notifier.models import Delivery, EscalationRecord, FeedEntry, ReceivedAlert

FEED_LOCK = 7_201_301
"""PostgreSQL advisory lock id taken by every transaction that appends to the feed."""


async def lock_feed(session: AsyncSession) -> None:
    """Serialise feed writers, so that `seq` order is commit order.

    A console resumes from the highest `seq` it saw; if a lower `seq` could commit later, it
    would be skipped. SQLite has one writer at a time anyway; PostgreSQL needs the lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEED_LOCK})


def show(
    session: AsyncSession, contact_point: str, key: AlertKey, kind: ItemKind, now: datetime
) -> None:
    """Append to the contact point's feed: its consoles are shown the alert's current view."""
    session.add(
        FeedEntry(
            contact_point=contact_point,
            alert_sender=key.sender,
            alert_identifier=key.identifier,
            kind=kind,
            created_at=now,
        )
    )


async def latest_seq(session: AsyncSession) -> int:
    """The highest `seq` of the whole feed (0 when empty)."""
    return (await session.scalar(select(func.max(FeedEntry.seq)))) or 0


async def changed_since(session: AsyncSession, after: int) -> tuple[set[str], int]:
    """The contact points with feed entries after `after`, and the highest `seq` now."""
    rows = (
        await session.execute(
            select(FeedEntry.contact_point, func.max(FeedEntry.seq))
            .where(FeedEntry.seq > after)
            .group_by(FeedEntry.contact_point)
        )
    ).all()
    return {cp for cp, _ in rows}, max((seq for _, seq in rows), default=after)


async def items_after(
    session: AsyncSession, contact_point: str, after: int, *, limit: int, now: datetime
) -> list[FeedItem]:
    """The contact point's feed items after `after`, oldest first, at most `limit`."""
    rows = (
        await session.execute(
            _feed_query(contact_point)
            .where(FeedEntry.seq > after)
            .order_by(FeedEntry.seq)
            .limit(limit)
        )
    ).all()
    return await _items(session, rows, now=now)


async def count_after(session: AsyncSession, contact_point: str, after: int) -> int:
    """How many feed entries the contact point has after `after`."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(FeedEntry)
            .where(FeedEntry.contact_point == contact_point, FeedEntry.seq > after)
        )
    ) or 0


async def snapshot(
    session: AsyncSession, contact_point: str, *, now: datetime
) -> tuple[list[FeedItem], int]:
    """The alerts active for a contact point now, oldest first, and the feed's cursor for it."""
    cursor = (
        await session.scalar(
            select(func.max(FeedEntry.seq)).where(FeedEntry.contact_point == contact_point)
        )
    ) or 0
    # The newest entry per alert carries its current view (acknowledgements included).
    newest = (
        select(func.max(FeedEntry.seq))
        .where(FeedEntry.contact_point == contact_point)
        .group_by(FeedEntry.alert_sender, FeedEntry.alert_identifier)
    )
    rows = (
        await session.execute(
            _feed_query(contact_point)
            .where(
                FeedEntry.seq.in_(newest),
                ReceivedAlert.state == AlertState.ACTIVE,
                (ReceivedAlert.expires.is_(None)) | (ReceivedAlert.expires > now),
            )
            .order_by(FeedEntry.seq)
        )
    ).all()
    return await _items(session, rows, now=now), cursor


def _feed_query(contact_point: str) -> Select[FeedEntry, ReceivedAlert, Delivery]:
    return (
        select(FeedEntry, ReceivedAlert, Delivery)
        .join(
            ReceivedAlert,
            and_(
                ReceivedAlert.sender == FeedEntry.alert_sender,
                ReceivedAlert.identifier == FeedEntry.alert_identifier,
            ),
        )
        .join(
            Delivery,
            and_(
                Delivery.alert_sender == FeedEntry.alert_sender,
                Delivery.alert_identifier == FeedEntry.alert_identifier,
                Delivery.contact_point == FeedEntry.contact_point,
                Delivery.channel == Channel.CONSOLE,
            ),
        )
        .where(FeedEntry.contact_point == contact_point)
    )


async def _items(
    session: AsyncSession,
    rows: Sequence[Row[FeedEntry, ReceivedAlert, Delivery]],
    *,
    now: datetime,
) -> list[FeedItem]:
    typed = [(entry, alert, delivery) for entry, alert, delivery in rows]
    if not typed:
        return []
    keys = {(a.sender, a.identifier) for _, a, _ in typed}
    organisation = typed[0][2].organisation
    acks = await _acknowledgements(session, keys, organisation)
    escalations = await escalations_of(session, keys)
    return [
        FeedItem(
            seq=entry.seq,
            kind=ItemKind(entry.kind),
            key=alert.key,
            chain=alert.chain,
            alert=(cap := parse_cap_json(alert.cap_json)),
            exercise=alert.exercise,
            state=state_of(alert, now),
            language=delivery.language,
            language_available=delivery.language_available,
            reasons=[Reason.model_validate(r) for r in json.loads(delivery.reasons_json)],
            replaces=_references(cap) if cap.msg_type is MsgType.UPDATE else [],
            closes=_references(cap) if cap.msg_type is MsgType.CANCEL else [],
            acknowledgements=acks.get((alert.sender, alert.identifier), []),
            escalations=escalations.get((alert.sender, alert.identifier), []),
            ack_deadline=delivery.ack_deadline,
        )
        for entry, alert, delivery in typed
    ]


def state_of(alert: ReceivedAlert, now: datetime) -> AlertState:
    """Active, replaced, cancelled, or expired by now."""
    state = AlertState(alert.state)
    if state is AlertState.ACTIVE and alert.expires is not None and alert.expires <= now:
        return AlertState.EXPIRED
    return state


def _references(alert: Alert) -> list[AlertKey]:
    return [AlertKey(sender=ref.sender, identifier=ref.identifier) for ref in alert.references]


async def _acknowledgements(
    session: AsyncSession, keys: Collection[tuple[str, str]], organisation: str
) -> dict[tuple[str, str], list[Acknowledgement]]:
    rows = await session.scalars(
        select(Delivery).where(
            Delivery.channel == Channel.CONSOLE,
            Delivery.organisation == organisation,
            Delivery.acknowledged_at.is_not(None),
            Delivery.alert_identifier.in_({identifier for _, identifier in keys}),
        )
    )
    found: dict[tuple[str, str], list[Acknowledgement]] = defaultdict(list)
    for row in rows:
        key = (row.alert_sender, row.alert_identifier)
        if key in keys and row.acknowledged_at is not None and row.acknowledged_by is not None:
            found[key].append(
                Acknowledgement(
                    contact_point=row.contact_point,
                    by=row.acknowledged_by,
                    by_name=row.acknowledged_by_name,
                    at=row.acknowledged_at,
                    note=row.ack_note,
                )
            )
    return found


async def escalations_of(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], list[Escalation]]:
    """The escalations recorded for these alerts."""
    rows = await session.scalars(
        select(EscalationRecord)
        .where(EscalationRecord.alert_identifier.in_({identifier for _, identifier in keys}))
        .order_by(EscalationRecord.id)
    )
    found: dict[tuple[str, str], list[Escalation]] = defaultdict(list)
    for row in rows:
        key = (row.alert_sender, row.alert_identifier)
        if key in keys:
            found[key].append(
                Escalation(
                    missed_by=row.missed_by,
                    deadline=row.deadline,
                    escalated_at=row.escalated_at,
                    notified=json.loads(row.notified_json),
                )
            )
    return found
