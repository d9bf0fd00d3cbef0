"""The consoles' feed, read from the database: what a contact point is shown, in `seq` order."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, Select, and_, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cap import Alert, MsgType
from schemas.console import (
    Acknowledgement,
    AlertState,
    Escalation,
    FeedItem,
    ItemKind,
)
from schemas.envelopes import AlertKey, Channel
from schemas.errors import IngestWarning
from schemas.registry import Reason
from schemas.signatures import SignatureVerdict
from schemas.topics import EXERCISE_STATUSES
from services.notifier.models import (
    FEED,
    Delivery,
    EscalationRecord,
    FeedEntry,
    ReceivedAlert,
    stored_alert,
)

FEED_LOCK = 7_201_301
"""PostgreSQL advisory lock id taken by every transaction that appends to the feed."""
FEED_CHANNEL = "crossalert_feed"
"""PostgreSQL notification channel: something was appended to the feed."""


async def lock_feed(session: AsyncSession) -> None:
    """Serialise feed writers, so that `seq` order is commit order.

    A console resumes from the highest `seq` it saw; if a lower `seq` could commit later, it
    would be skipped. SQLite has one writer at a time anyway; PostgreSQL needs the lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEED_LOCK})


async def show(
    session: AsyncSession,
    contact_points: Iterable[str],
    key: AlertKey,
    kind: ItemKind,
    now: datetime,
) -> list[int]:
    """Append to the contact points' feeds: their consoles are shown the alert's current view.

    One INSERT for all of them; the new entries' `seq`, in the order given.
    """
    return await show_each(session, [(cp, key) for cp in contact_points], kind, now)


async def show_each(
    session: AsyncSession,
    entries: Iterable[tuple[str, AlertKey]],
    kind: ItemKind,
    now: datetime,
) -> list[int]:
    """Append each (contact point, alert) to its contact point's feed, as `show` does one alert
    (one INSERT for all); the new entries' `seq`, in the order given."""
    rows = [
        {"contact_point": contact_point, "alert_sender": key.sender,
         "alert_identifier": key.identifier, "kind": kind, "created_at": now}
        for contact_point, key in entries
    ]  # fmt: skip
    if not rows:
        return []
    seqs = list(
        await session.scalars(
            insert(FEED).returning(FEED.c.seq, sort_by_parameter_order=True), rows
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit, to every notifier process listening (see `listen_for_feed`).
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": FEED_CHANNEL})
    return seqs


async def last_seqs(session: AsyncSession, contact_points: Collection[str]) -> dict[str, int]:
    """The `seq` of each contact point's newest feed entry (0 for an empty feed)."""
    rows = await session.execute(
        select(FEED.c.contact_point, func.max(FEED.c.seq))
        .where(FEED.c.contact_point.in_(contact_points))
        .group_by(FEED.c.contact_point)
    )
    return {contact_point: 0 for contact_point in contact_points} | {cp: seq for cp, seq in rows}


@dataclass(frozen=True)
class Written:
    """A feed entry this process just committed, and its contact point's entry before it."""

    contact_point: str
    after: int
    """The `seq` of the contact point's previous entry: a console that has it may be given
    this item straight away; one that lacks it is caught up from the database."""
    item: FeedItem


async def changed_since(session: AsyncSession, after: int) -> dict[str, int]:
    """The contact points with feed entries after `after`, with the `seq` of their newest."""
    rows = await session.execute(
        select(FeedEntry.contact_point, func.max(FeedEntry.seq))
        .where(FeedEntry.seq > after)
        .group_by(FeedEntry.contact_point)
    )
    return {contact_point: seq for contact_point, seq in rows}


async def items_after(
    session: AsyncSession, contact_point: str, after: int, *, limit: int, now: datetime
) -> list[FeedItem]:
    """The contact point's feed items after `after`, oldest first, at most `limit`."""
    found = await items_since(session, after, [contact_point], limit=limit, now=now)
    return [item for _, item in found]


async def items_since(
    session: AsyncSession,
    after: int,
    contact_points: Collection[str],
    *,
    limit: int,
    now: datetime,
) -> list[tuple[str, FeedItem]]:
    """The feed items after `after` of any of `contact_points`, oldest first, at most `limit`,
    each with its contact point: one read however many contact points it serves."""
    rows = (
        await session.execute(
            _feed_query(*contact_points)
            .where(FeedEntry.seq > after)
            .order_by(FeedEntry.seq)
            .limit(limit)
        )
    ).all()
    items = await _items(session, rows, now=now)
    return [(entry.contact_point, item) for (entry, _, _), item in zip(rows, items, strict=True)]


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


def _feed_query(*contact_points: str) -> Select[FeedEntry, ReceivedAlert, Delivery]:
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
        .where(FeedEntry.contact_point.in_(contact_points))
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
    acks = await _acknowledgements(session, keys, {d.organisation for _, _, d in typed})
    escalations = await escalations_of(session, keys)
    return [
        feed_item(
            seq=entry.seq,
            kind=ItemKind(entry.kind),
            alert=stored_alert(alert.cap_json),
            chain=alert.chain,
            state=state_of(alert, now),
            language=delivery.language,
            language_available=delivery.language_available,
            reasons=[Reason.model_validate(r) for r in json.loads(delivery.reasons_json)],
            ack_deadline=delivery.ack_deadline,
            acknowledgements=acks.get((alert.sender, alert.identifier, delivery.organisation), []),
            escalations=escalations.get((alert.sender, alert.identifier), []),
            warnings=alert.warnings,
            signature=alert.signature,
        )
        for entry, alert, delivery in typed
    ]


def feed_item(
    *,
    seq: int,
    kind: ItemKind,
    alert: Alert,
    chain: AlertKey,
    state: AlertState,
    language: str | None,
    language_available: bool,
    reasons: list[Reason],
    ack_deadline: datetime | None,
    acknowledgements: list[Acknowledgement] | None = None,
    escalations: list[Escalation] | None = None,
    warnings: list[IngestWarning] | None = None,
    signature: SignatureVerdict | None = None,
) -> FeedItem:
    """The view of an alert message for one contact point, as its consoles are shown it."""
    return FeedItem(
        seq=seq,
        kind=kind,
        key=AlertKey(sender=alert.sender, identifier=alert.identifier),
        chain=chain,
        alert=alert,
        exercise=alert.status in EXERCISE_STATUSES,
        state=state,
        language=language,
        language_available=language_available,
        reasons=reasons,
        replaces=_references(alert) if alert.msg_type is MsgType.UPDATE else [],
        closes=_references(alert) if alert.msg_type is MsgType.CANCEL else [],
        acknowledgements=acknowledgements or [],
        escalations=escalations or [],
        ack_deadline=ack_deadline,
        warnings=warnings or [],
        signature=signature,
    )


def state_of(alert: ReceivedAlert, now: datetime) -> AlertState:
    """Active, replaced, cancelled, or expired by now."""
    return current_state(AlertState(alert.state), alert.expires, now)


def expiry_of(alert: Alert) -> datetime | None:
    """When the alert expires: its last info block's expiry; None (never) when one has none."""
    expiries = [info.expires for info in alert.info]
    return max(expiries) if expiries and None not in expiries else None  # type: ignore[type-var]


def current_state(stored: AlertState, expires: datetime | None, now: datetime) -> AlertState:
    """The state recorded, or expired when an active alert's time is up."""
    if stored is AlertState.ACTIVE and expires is not None and expires <= now:
        return AlertState.EXPIRED
    return stored


def _references(alert: Alert) -> list[AlertKey]:
    return [AlertKey(sender=ref.sender, identifier=ref.identifier) for ref in alert.references]


async def _acknowledgements(
    session: AsyncSession, keys: Collection[tuple[str, str]], organisations: Collection[str]
) -> dict[tuple[str, str, str], list[Acknowledgement]]:
    """Who acknowledged these alerts, per alert and organisation: a console sees its own
    organisation's acknowledgements."""
    rows = await session.scalars(
        select(Delivery).where(
            Delivery.channel == Channel.CONSOLE,
            Delivery.organisation.in_(organisations),
            Delivery.acknowledged_at.is_not(None),
            _any_of(Delivery, keys),
        )
    )
    found: dict[tuple[str, str, str], list[Acknowledgement]] = defaultdict(list)
    for row in rows:
        key = (row.alert_sender, row.alert_identifier)
        if key in keys and row.acknowledged_at is not None and row.acknowledged_by is not None:
            found[(*key, row.organisation)].append(
                Acknowledgement(
                    contact_point=row.contact_point,
                    by=row.acknowledged_by,
                    by_name=row.acknowledged_by_name,
                    at=row.acknowledged_at,
                    note=row.ack_note,
                )
            )
    return found


def _any_of(
    model: type[Delivery] | type[EscalationRecord], keys: Collection[tuple[str, str]]
) -> ColumnElement[bool]:
    """Rows of a few alerts, found by the table's unique index (sender, identifier, ...);
    a pair the two lists make up that is none of `keys` is left out by the caller."""
    return and_(
        model.alert_sender.in_({sender for sender, _ in keys}),
        model.alert_identifier.in_({identifier for _, identifier in keys}),
    )


async def escalations_of(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], list[Escalation]]:
    """The escalations recorded for these alerts."""
    rows = await session.scalars(
        select(EscalationRecord)
        .where(_any_of(EscalationRecord, keys))
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
