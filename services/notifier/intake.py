"""Recording an alert read from the log: who receives it, over which channels, and why.

This is the work done once per alert, by whichever notifier process owns the alert's partition
in the shared consumer group. Its promise: when the handler returns, every delivery of the
alert is in the database (the consumer then commits the offset), so a crash at any point means
the alert is handled again, and handling it again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import Alert, MsgType
from schemas.console import AlertState, ItemKind
from schemas.envelopes import (
    AlertKey,
    AlertPublished,
    Channel,
    DeliveryStatus,
)
from schemas.registry import Reason, Recipient, RoutingAnswer, routing_facts
from schemas.topics import EXERCISE_STATUSES
from services.common.registry_client import RegistryRefused, RegistryUnavailable
from services.common.registry_routing import RoutingClient
from services.notifier.feed import (
    Written,
    current_state,
    expiry_of,
    feed_item,
    last_seqs,
    lock_feed,
    show_each,
)
from services.notifier.mailer import MAILS
from services.notifier.models import ALERTS, DELIVERIES, WARNINGS, Delivery, ReceivedAlert
from services.notifier.receipts import add_outbox, receipt

log = structlog.get_logger(__name__)

DELIVERED_TYPES = (MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL)
"""Acks and Errors from crisis centres are for the sender's systems, not for duty officers."""


@dataclass(frozen=True)
class Target:
    """One contact point an alert goes to, with how to reach it and why."""

    contact_point: str
    contact_point_name: str
    organisation: str
    organisation_name: str
    email: str | None
    language: str | None
    language_available: bool
    reasons: list[Reason]
    ack_deadline_minutes: int | None
    escalate_to: list[str]
    escalation: bool = False

    @classmethod
    def of(cls, recipient: Recipient, answer: RoutingAnswer, *, escalation: bool) -> Target:
        """The target for a recipient of a routing answer."""
        agreements = {r.agreement for r in recipient.reasons if r.agreement}
        escalate_to = sorted(
            {
                contact
                for agreement in answer.agreements
                if agreement.id in agreements and agreement.ack_deadline_minutes is not None
                for contact in agreement.escalation_contacts
                if contact != recipient.contact_point
            }
        )
        return cls(
            contact_point=recipient.contact_point,
            contact_point_name=recipient.name,
            organisation=recipient.organisation,
            organisation_name=recipient.organisation_name,
            email=recipient.email if Channel.EMAIL in recipient.channels else None,
            language=recipient.language,
            language_available=recipient.language_available,
            reasons=recipient.reasons,
            ack_deadline_minutes=None if escalation else recipient.ack_deadline_minutes,
            escalate_to=[] if escalation else escalate_to,
            escalation=escalation,
        )

    @classmethod
    def of_delivery(cls, delivery: Delivery) -> Target:
        """The target an earlier message of the same incident reached (updates follow it)."""
        return cls(
            contact_point=delivery.contact_point,
            contact_point_name=delivery.contact_point_name,
            organisation=delivery.organisation,
            organisation_name=delivery.organisation_name,
            email=delivery.email,
            language=delivery.language,
            language_available=delivery.language_available,
            reasons=[Reason.model_validate(r) for r in json.loads(delivery.reasons_json)],
            ack_deadline_minutes=None,
            escalate_to=[],
            escalation=delivery.escalation,
        )


def is_exercise(alert: Alert) -> bool:
    """Exercise and test traffic, never real."""
    return alert.status in EXERCISE_STATUSES


@dataclass(frozen=True)
class Recorded:
    """What `record_alerts` wrote, and the alerts it left waiting for the registry."""

    written: list[Written]
    """The feed entries written, in order."""
    waiting: list[AlertPublished]
    """From the first alert whose routing facts were never seen before while the registry
    could not be reached (`reason`), to the end, in order: none of them was recorded."""
    reason: str = ""


async def record_alerts(
    envelopes: Sequence[AlertPublished],
    *,
    sessions: async_sessionmaker[AsyncSession],
    router: RoutingClient,
    producer: str,
) -> Recorded:
    """Record every delivery of published alerts (each once), in one transaction.

    A burst of new alerts is written with a few statements in all, not a few per alert: bursts
    come exactly when it matters. An Update or Cancel is written on its own, in its place in
    the order, since it reaches whoever the messages before it reached.
    """
    delivered = []
    for envelope in envelopes:
        if envelope.alert.msg_type in DELIVERED_TYPES:
            delivered.append(envelope)
        else:
            message = envelope.alert
            key = AlertKey(sender=message.sender, identifier=message.identifier)
            log.info("not for duty officers; recorded nowhere", alert=str(key),
                     msg_type=message.msg_type)  # fmt: skip
    # Routed before the transaction, which then holds the database connection (shared by the
    # whole process) for no longer than the writes: routing is usually answered from the
    # routing cache, but a miss asks the registry. An alert read again after a crash is routed
    # again for nothing, then found recorded.
    answers: list[RoutingAnswer | None] = []
    waiting: list[AlertPublished] = []
    reason = ""
    for index, envelope in enumerate(delivered):
        try:
            answers.append(await _route(router, envelope.alert))
        except RegistryUnavailable as exc:
            # Those before it are recorded now; it and those after it wait, in order.
            delivered, waiting, reason = delivered[:index], delivered[index:], str(exc)
            break
    if not delivered:
        return Recorded([], waiting, reason)
    routed = [
        _Routed(envelope, answer, AlertKey(sender=envelope.alert.sender,
                                           identifier=envelope.alert.identifier))
        for envelope, answer in zip(delivered, answers, strict=True)
    ]  # fmt: skip
    now = datetime.now(UTC)
    written: list[Written] = []
    reached: list[tuple[_Routed, int]] = []
    async with sessions() as session, session.begin():
        await lock_feed(session)
        seen = await _recorded(session, [alert.key for alert in routed])
        burst: list[_Routed] = []
        for alert in routed:
            if alert.key in seen:  # recorded before, or a copy on the log
                log.info("alert already recorded", alert=str(alert.key))
                continue
            seen.add(alert.key)
            if alert.envelope.alert.msg_type is MsgType.ALERT:
                burst.append(alert)
                continue
            written += await _record(session, burst, now, producer, reached)
            written += await _record(session, [alert], now, producer, reached)
            burst = []
        written += await _record(session, burst, now, producer, reached)
    for alert, recipients in reached:  # committed
        log.info("alert recorded", alert=str(alert.key), recipients=recipients,
                 msg_type=alert.envelope.alert.msg_type)  # fmt: skip
    return Recorded(written, waiting, reason)


@dataclass(frozen=True)
class _Routed:
    """An alert to record, with its routing answer and its key."""

    envelope: AlertPublished
    answer: RoutingAnswer | None
    key: AlertKey


async def _route(router: RoutingClient, alert: Alert) -> RoutingAnswer | None:
    try:
        return await router.route(routing_facts(alert))
    except RegistryRefused as exc:
        # Retrying cannot help; the alert is recorded with no recipient, and said so loudly.
        log.error("registry refused to route the alert", reason=str(exc),
                  alert=f"{alert.sender},{alert.identifier}")  # fmt: skip
        return None


async def _record(
    session: AsyncSession,
    alerts: list[_Routed],
    now: datetime,
    producer: str,
    reached: list[tuple[_Routed, int]],
) -> list[Written]:
    """Write the alerts, their deliveries, feed entries and receipts: one statement each for
    all of them (an Update or Cancel adds its own reads and writes of its incident). Each
    alert and its number of recipients is added to `reached`."""
    if not alerts:
        return []
    targets = [await _targets(session, a.envelope, a.answer) for a in alerts]
    await session.execute(insert(ALERTS), [_received(a.envelope, a.answer, now) for a in alerts])
    for a in alerts:
        await _supersede(session, a.envelope)
    reached += [(a, len(its)) for a, its in zip(alerts, targets, strict=True)]
    shown = [(a, target) for a, its in zip(alerts, targets, strict=True) for target in its]
    if not shown:
        return []
    await session.execute(insert(DELIVERIES), [
        row for a, t in shown for row in deliveries_for(a.envelope.alert, t, now)
    ])  # fmt: skip
    previous = await last_seqs(session, {target.contact_point for _, target in shown})
    seqs = await show_each(session, [(t.contact_point, a.key) for a, t in shown],
                           ItemKind.ALERT, now)  # fmt: skip
    await add_outbox(session, *(
        receipt(a.key, t.contact_point, Channel.CONSOLE, DeliveryStatus.SENT, now, producer,
                exercise=is_exercise(a.envelope.alert))
        for a, t in shown
    ))  # fmt: skip
    written = []
    for (routed, target), seq in zip(shown, seqs, strict=True):
        envelope, alert = routed.envelope, routed.envelope.alert
        written.append(Written(
            target.contact_point,
            previous[target.contact_point],
            feed_item(
                seq=seq, kind=ItemKind.ALERT, alert=alert, chain=envelope.chain,
                state=current_state(_first_state(alert), expiry_of(alert), now),
                language=target.language, language_available=target.language_available,
                reasons=target.reasons, ack_deadline=ack_deadline(alert, target),
                warnings=envelope.warnings, signature=envelope.signature,
            ),
        ))  # fmt: skip
        previous[target.contact_point] = seq  # the burst's next entry for it comes after this
    return written


async def _recorded(session: AsyncSession, keys: list[AlertKey]) -> set[AlertKey]:
    """Which of these alerts are recorded already."""
    rows = await session.execute(
        select(ALERTS.c.sender, ALERTS.c.identifier).where(
            tuple_(ALERTS.c.sender, ALERTS.c.identifier).in_(
                [(key.sender, key.identifier) for key in keys]
            )
        )
    )
    return {AlertKey(sender=sender, identifier=identifier) for sender, identifier in rows}


async def _targets(
    session: AsyncSession, envelope: AlertPublished, answer: RoutingAnswer | None
) -> list[Target]:
    targets: dict[str, Target] = {}
    if answer is not None:
        for recipient in answer.recipients:
            if not recipient.escalation_only:
                targets[recipient.contact_point] = Target.of(recipient, answer, escalation=False)
    if envelope.alert.msg_type in (MsgType.UPDATE, MsgType.CANCEL):
        # Whoever was shown an earlier message of the incident must see it replaced or closed,
        # even where the update changed the area or severity that brought it to them.
        earlier = await session.scalars(
            select(Delivery)
            .join(
                ReceivedAlert,
                (ReceivedAlert.sender == Delivery.alert_sender)
                & (ReceivedAlert.identifier == Delivery.alert_identifier),
            )
            .where(
                *_in_chain(envelope.chain),
                Delivery.channel == Channel.CONSOLE,
            )
            .order_by(Delivery.id)
        )
        for delivery in earlier:
            targets.setdefault(delivery.contact_point, Target.of_delivery(delivery))
    return sorted(targets.values(), key=lambda t: (t.organisation, t.contact_point))


def _in_chain(chain: AlertKey) -> tuple[ColumnElement[bool], ...]:
    return (
        ReceivedAlert.chain_sender == chain.sender,
        ReceivedAlert.chain_identifier == chain.identifier,
    )


def _received(
    envelope: AlertPublished, answer: RoutingAnswer | None, now: datetime
) -> dict[str, object]:
    alert = envelope.alert
    return {
        "sender": alert.sender,
        "identifier": alert.identifier,
        "chain_sender": envelope.chain.sender,
        "chain_identifier": envelope.chain.identifier,
        "msg_type": alert.msg_type,
        "status": alert.status,
        "exercise": is_exercise(alert),
        "sent": alert.sent,
        "expires": expiry_of(alert),
        "headline": next((info.headline for info in alert.info if info.headline), None),
        "state": _first_state(alert),
        "cap_json": alert.model_dump_json(by_alias=True, exclude_none=True),
        "routing_json": answer.model_dump_json() if answer else "null",
        "warnings_json": WARNINGS.dump_json(envelope.warnings).decode(),
        "original": envelope.original,
        "signature_json": envelope.signature.model_dump_json() if envelope.signature else None,
        "received_at": envelope.received_at,
        "recorded_at": now,
    }


def _first_state(alert: Alert) -> AlertState:
    return AlertState.CANCELLED if alert.msg_type is MsgType.CANCEL else AlertState.ACTIVE


async def _supersede(session: AsyncSession, envelope: AlertPublished) -> None:
    """An Update replaces the incident's active messages; a Cancel closes all of them."""
    alert = envelope.alert
    if alert.msg_type not in (MsgType.UPDATE, MsgType.CANCEL):
        return
    cancel = alert.msg_type is MsgType.CANCEL
    await session.execute(
        update(ReceivedAlert)
        .where(
            *_in_chain(envelope.chain),
            ~(
                (ReceivedAlert.sender == alert.sender)
                & (ReceivedAlert.identifier == alert.identifier)
            ),
            ReceivedAlert.state != AlertState.CANCELLED
            if cancel
            else ReceivedAlert.state == AlertState.ACTIVE,
        )
        .values(state=AlertState.CANCELLED if cancel else AlertState.REPLACED)
    )


def ack_deadline(alert: Alert, target: Target) -> datetime | None:
    """When the target must have acknowledged the alert (a Cancel needs no acknowledgement)."""
    if target.ack_deadline_minutes is None or alert.msg_type is MsgType.CANCEL:
        return None
    # In UTC, as it reads back from the database: the live item and a later replay agree.
    return (alert.sent + timedelta(minutes=target.ack_deadline_minutes)).astimezone(UTC)


def deliveries_for(alert: Alert, target: Target, now: datetime) -> list[dict[str, object]]:
    """The console delivery (shown at once) and the e-mail delivery (to send) of a target, as
    rows of the deliveries table."""
    common: dict[str, object] = {
        "alert_sender": alert.sender,
        "alert_identifier": alert.identifier,
        "contact_point": target.contact_point,
        "contact_point_name": target.contact_point_name,
        "organisation": target.organisation,
        "organisation_name": target.organisation_name,
        "email": target.email,
        "language": target.language,
        "language_available": target.language_available,
        "escalation": target.escalation,
        "reasons_json": json.dumps([r.model_dump(mode="json") for r in target.reasons]),
        "created_at": now,
        "ack_deadline": ack_deadline(alert, target),
        "escalate_to_json": json.dumps(target.escalate_to),
        "attempts": 0,
    }
    # Both rows have every column, so that one INSERT takes all of an alert's rows.
    rows = [
        {**common, "channel": Channel.CONSOLE, "status": DeliveryStatus.SENT, "sent_at": now,
         "next_attempt_at": None},
    ]  # fmt: skip
    if target.email:
        MAILS.labels("queued").inc()
        rows.append(
            {**common, "channel": Channel.EMAIL, "status": DeliveryStatus.PENDING,
             "sent_at": None, "next_attempt_at": now}
        )  # fmt: skip
    return rows
