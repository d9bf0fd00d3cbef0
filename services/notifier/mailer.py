"""Sending the e-mail deliveries: claimed one at a time, retried with back-off, recorded.

An e-mail delivery is claimed for a while before it is sent, so that two notifier processes do
not send it both, and marked sent as soon as the server took it. The Message-ID is the same at
every attempt, so that the one duplicate SMTP cannot rule out (a crash after the server's 250
and before our commit) can be dropped by the mail client.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import parse_cap_json
from schemas.envelopes import Channel, DeliveryStatus
from services.notifier.email import render_email, send_email
from services.notifier.intake import add_outbox, receipt
from services.notifier.models import Delivery, EscalationRecord, ReceivedAlert
from services.notifier.settings import NotifierSettings

log = structlog.get_logger(__name__)

BATCH = 20


class Mailer:
    """Sends due e-mail deliveries until cancelled."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: NotifierSettings,
        *,
        producer: str,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._producer = producer
        self._wake = asyncio.Event()
        self._domain = settings.mail_from.rpartition("@")[2] or "crossalert.invalid"

    def wake(self) -> None:
        """New e-mail deliveries were written."""
        self._wake.set()

    async def run(self) -> None:
        """Send what is due; wait for a wake-up or the next poll."""
        while True:
            try:
                sent = await self.send_due()
            except Exception:
                log.exception("mail round failed")
                sent = 0
            if sent < BATCH:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.mail_poll_seconds):
                        await self._wake.wait()

    async def send_due(self) -> int:
        """Claim and send the e-mail deliveries that are due; how many were attempted."""
        now = datetime.now(UTC)
        claimable = (
            (Delivery.channel == Channel.EMAIL)
            & (Delivery.status == DeliveryStatus.PENDING)
            & (Delivery.next_attempt_at <= now)
            & or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)
        )
        jobs: list[tuple[Delivery, ReceivedAlert, str | None]] = []
        # One short session claims and reads the whole batch: the notifier's database
        # connection is shared with recording alerts and pushing them to consoles.
        async with self._sessions() as session, session.begin():
            candidates = await session.scalars(
                select(Delivery.id).where(claimable).order_by(Delivery.next_attempt_at).limit(BATCH)
            )
            # Long enough for one attempt; a process killed mid-attempt delays the mail this long.
            until = now + timedelta(seconds=self._settings.smtp_timeout_seconds * 2)
            for delivery_id in list(candidates):
                # Whoever updates the row first owns the attempt; others see no row changed.
                result = await session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, claimable)
                    .values(claimed_until=until)
                    .returning(Delivery.id)
                )
                if result.first() is None:
                    continue
                delivery = await session.get(Delivery, delivery_id)
                assert delivery is not None and delivery.email is not None
                alert_row = await session.get(
                    ReceivedAlert, (delivery.alert_sender, delivery.alert_identifier)
                )
                assert alert_row is not None
                jobs.append(
                    (delivery, alert_row, await self._escalation_sentence(session, delivery))
                )
        await asyncio.gather(*(self._attempt(*job) for job in jobs))
        return len(jobs)

    async def _attempt(
        self, delivery: Delivery, alert_row: ReceivedAlert, escalation: str | None
    ) -> None:
        assert delivery.email is not None
        alert = parse_cap_json(alert_row.cap_json)
        message = render_email(
            alert=alert,
            to=delivery.email,
            mail_from=self._settings.mail_from,
            message_id=f"<{delivery.id}.{delivery.contact_point}@{self._domain}>",
            language=delivery.language,
            language_available=delivery.language_available,
            escalation=escalation,
        )
        outcome = await send_email(
            message,
            host=self._settings.smtp_host,
            port=self._settings.smtp_port,
            timeout=self._settings.smtp_timeout_seconds,
        )
        now = datetime.now(UTC)
        attempts = delivery.attempts + 1
        status = DeliveryStatus.PENDING
        if outcome.accepted:
            status = DeliveryStatus.SENT
        elif outcome.permanent or attempts >= self._settings.mail_max_attempts:
            status = DeliveryStatus.FAILED
        backoff = min(
            self._settings.mail_retry_seconds * 2 ** (attempts - 1),
            self._settings.mail_retry_max_seconds,
        )
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(
                    attempts=attempts,
                    detail=outcome.detail,
                    claimed_until=None,
                    status=status,
                    sent_at=now if outcome.accepted else None,
                    failed_at=now if status is DeliveryStatus.FAILED else None,
                    next_attempt_at=now + timedelta(seconds=backoff),
                )
            )
            if status is not DeliveryStatus.PENDING:
                add_outbox(session, receipt(
                    delivery.alert_key, delivery.contact_point, Channel.EMAIL, status, now,
                    self._producer, exercise=alert_row.exercise,
                    detail=outcome.detail,
                ))  # fmt: skip
        log.info(
            "mail attempt",
            alert=str(delivery.alert_key),
            to=delivery.email,
            status=status,
            attempt=attempts,
            detail=outcome.detail,
        )

    async def _escalation_sentence(self, session: AsyncSession, delivery: Delivery) -> str | None:
        if not delivery.escalation:
            return None
        missed = await session.scalars(
            select(EscalationRecord.missed_by).where(
                EscalationRecord.alert_sender == delivery.alert_sender,
                EscalationRecord.alert_identifier == delivery.alert_identifier,
            )
        )
        names = ", ".join(missed) or "a recipient"
        return (
            f"Escalation: {names} did not acknowledge this alert by the agreed deadline; "
            "you are its escalation contact."
        )
