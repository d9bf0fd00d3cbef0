"""The delivery report of one alert, for its sender and its recipients."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cap import MsgType
from schemas.cap_ingest import is_json, media_type_of
from schemas.cap_xml import to_cap_xml
from schemas.deliveries import ChainEntry, DeliveryReport, DeliveryView
from schemas.envelopes import AlertKey, Channel, DeliveryStatus
from schemas.identity import TokenClaims
from schemas.registry import Reason
from services.common.problems import ProblemError
from services.notifier.feed import escalations_of, state_of
from services.notifier.models import Delivery, ReceivedAlert, stored_alert


async def delivery_report(
    session: AsyncSession, key: AlertKey, claims: TokenClaims
) -> DeliveryReport:
    """Every delivery of `key`; 404 when unknown, 403 unless the reader sent or received it."""
    alert, deliveries = await _readable(session, key, claims, "its deliveries")
    return await _report(session, alert, deliveries)


async def cap_document(
    session: AsyncSession, key: AlertKey, claims: TokenClaims
) -> tuple[bytes, str]:
    """The CAP document of `key` and its media type: an external source's exactly as it sent
    it (read in ingest mode), any other's as the network holds it; for its sender and its
    recipients, as the delivery report."""
    alert, _ = await _readable(session, key, claims, "its document")
    return document_of(alert)


def document_of(alert: ReceivedAlert, *, xml: bool = False) -> tuple[bytes, str]:
    """A recorded alert's CAP document and its media type: an external source's exactly as it
    sent it, any other's as CAP 1.2 XML as the network holds it (and, when `xml` asks for XML,
    one that its source sent as JSON)."""
    if alert.original is not None and not (xml and is_json(alert.original)):
        return alert.original, media_type_of(alert.original)
    return to_cap_xml(stored_alert(alert.cap_json)), "application/cap+xml"


async def _readable(
    session: AsyncSession, key: AlertKey, claims: TokenClaims, what: str
) -> tuple[ReceivedAlert, list[Delivery]]:
    """The alert and its deliveries; 404 when unknown, 403 unless the reader sent or received
    it."""
    alert = await session.get(ReceivedAlert, (key.sender, key.identifier))
    if alert is None:
        raise ProblemError(404, "unknown_alert", f"No alert {key} has reached this network.")
    deliveries = await _deliveries(session, key)
    if claims.sender != alert.sender and claims.org not in {d.organisation for d in deliveries}:
        raise ProblemError(
            403,
            "not_sender_or_recipient",
            f"{claims.org} neither sent {key} nor received it, so it may not see {what}.",
        )
    return alert, deliveries


async def exercise_run_reports(session: AsyncSession, run_id: str) -> list[DeliveryReport]:
    """The delivery reports of every message of an exercise run: the run's own
    (`exercise.RUN.…`) and the alerts the threshold evaluator raised from its observations
    (`crossalert.exercise.RUN.…`), oldest first."""
    alerts = await session.scalars(
        select(ReceivedAlert)
        .where(
            ReceivedAlert.exercise.is_(True),
            or_(
                ReceivedAlert.identifier.startswith(f"exercise.{run_id}.", autoescape=True),
                ReceivedAlert.identifier.startswith(
                    f"crossalert.exercise.{run_id}.", autoescape=True
                ),
            ),
        )
        .order_by(ReceivedAlert.sent, ReceivedAlert.recorded_at)
    )
    return [await _report(session, a, await _deliveries(session, a.key)) for a in alerts.all()]


async def _deliveries(session: AsyncSession, key: AlertKey) -> list[Delivery]:
    return list(
        await session.scalars(
            select(Delivery)
            .where(Delivery.alert_sender == key.sender, Delivery.alert_identifier == key.identifier)
            .order_by(Delivery.organisation, Delivery.contact_point, Delivery.channel)
        )
    )


async def _report(
    session: AsyncSession, alert: ReceivedAlert, deliveries: list[Delivery]
) -> DeliveryReport:
    key = alert.key
    now = datetime.now(UTC)
    chain = await session.scalars(
        select(ReceivedAlert)
        .where(
            ReceivedAlert.chain_sender == alert.chain_sender,
            ReceivedAlert.chain_identifier == alert.chain_identifier,
        )
        .order_by(ReceivedAlert.sent, ReceivedAlert.recorded_at)
    )
    escalations = await escalations_of(session, {(key.sender, key.identifier)})
    return DeliveryReport(
        alert=key,
        chain=alert.chain,
        exercise=alert.exercise,
        state=state_of(alert, now),
        received_at=alert.received_at,
        deliveries=[_view(d) for d in deliveries],
        escalations=escalations.get((key.sender, key.identifier), []),
        warnings=alert.warnings,
        history=[
            ChainEntry(
                key=entry.key,
                msg_type=MsgType(entry.msg_type),
                sent=entry.sent,
                headline=entry.headline,
                state=state_of(entry, now),
            )
            for entry in chain
        ],
    )


def _view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        contact_point=delivery.contact_point,
        contact_point_name=delivery.contact_point_name,
        organisation=delivery.organisation,
        organisation_name=delivery.organisation_name,
        channel=Channel(delivery.channel),
        status=DeliveryStatus(delivery.status),
        language=delivery.language,
        language_available=delivery.language_available,
        escalation=delivery.escalation,
        reasons=[Reason.model_validate(r) for r in json.loads(delivery.reasons_json)],
        created_at=delivery.created_at,
        sent_at=delivery.sent_at,
        delivered_at=delivery.delivered_at,
        failed_at=delivery.failed_at,
        attempts=delivery.attempts,
        detail=delivery.detail,
        ack_deadline=delivery.ack_deadline,
        acknowledged_at=delivery.acknowledged_at,
        acknowledged_by=delivery.acknowledged_by,
        acknowledgement_note=delivery.ack_note,
    )
