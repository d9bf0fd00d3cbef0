"""Sending the e-mail deliveries: claimed in batches, retried with back-off, recorded.

E-mail deliveries are claimed for a while before they are sent, so that two notifier processes
do not send them both; a batch goes over one SMTP connection, and each outcome is recorded as
soon as the server gave it. The Message-ID is the same at every attempt, so that the one
duplicate SMTP cannot rule out (a crash after the server's 250 and before our commit) can be
dropped by the mail client.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import structlog
from prometheus_client import Counter
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.envelopes import Channel, DeliveryStatus
from services.common.recent import Recent
from services.common.workers import run_rounds
from services.notifier.email import Letter, SendOutcome, SmtpSession
from services.notifier.models import (
    DELIVERIES,
    Delivery,
    EscalationRecord,
    ReceivedAlert,
    stored_alert,
)
from services.notifier.receipts import add_outbox, receipt
from services.notifier.settings import NotifierSettings

log = structlog.get_logger(__name__)

MAILS = Counter(
    "crossalert_notifier_mails",
    "Mails by what became of them: queued (a delivery by mail recorded), sent, failed (for "
    "good), retrying (an attempt failed; another follows).",
    ["status"],
)

BATCH = 20
LETTERS_KEPT = 64
"""Rendered letters kept: an alert's recipients are usually claimed over a few batches."""


class Job(NamedTuple):
    """A claimed e-mail delivery, its alert, and the escalation it is part of (if any)."""

    delivery: Delivery
    alert_row: ReceivedAlert
    escalation: str | None


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
        self._letters: Recent[tuple[object, ...], Letter] = Recent(LETTERS_KEPT)

    def wake(self) -> None:
        """New e-mail deliveries were written."""
        self._wake.set()

    async def run(self) -> None:
        """Send what is due; wait for a wake-up or the next poll."""

        async def round_() -> bool:
            return await self.send_due() >= BATCH  # a full batch: more may be due

        await run_rounds(
            round_, every=self._settings.mail_poll_seconds, name="mailer", wake=self._wake
        )

    async def send_due(self) -> int:
        """Claim and send the e-mail deliveries that are due; how many were attempted."""
        now = datetime.now(UTC)
        claimable = (
            (Delivery.channel == Channel.EMAIL)
            & (Delivery.status == DeliveryStatus.PENDING)
            & (Delivery.next_attempt_at <= now)
            & or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)
        )
        jobs: list[Job] = []
        # One short session claims and reads the whole batch: the notifier's database
        # connection is shared with recording alerts and pushing them to consoles.
        async with self._sessions() as session, session.begin():
            candidates = select(Delivery.id).where(claimable)
            due = candidates.order_by(Delivery.next_attempt_at).limit(BATCH)
            # A process killed mid-batch delays its mails this long. No mail is begun later
            # than one SMTP timeout before the claim lapses, so no other process can claim it
            # while it is on its way.
            timeout = timedelta(seconds=self._settings.smtp_timeout_seconds)
            until = now + 2 * timeout
            # Whoever updates a row first owns its attempt; another process's update of the
            # same batch finds it no longer claimable.
            claimed = await session.scalars(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_(list(await session.scalars(due))), claimable)
                .values(claimed_until=until)
                .returning(DELIVERIES.c.id)
            )
            rows = await session.execute(
                select(Delivery, ReceivedAlert)
                .join(ReceivedAlert)
                .where(Delivery.id.in_(list(claimed)))
                .order_by(Delivery.next_attempt_at, Delivery.id)
            )
            for delivery, alert_row in rows:
                assert delivery.email is not None
                jobs.append(
                    Job(delivery, alert_row, await self._escalation_sentence(session, delivery))
                )
        if jobs:
            await self._send(jobs, begin_by=until - timeout)
        return len(jobs)

    async def _send(self, jobs: list[Job], *, begin_by: datetime) -> None:
        """Send a claimed batch over one SMTP connection, recording each outcome as it comes."""
        async with SmtpSession(
            host=self._settings.smtp_host,
            port=self._settings.smtp_port,
            timeout=self._settings.smtp_timeout_seconds,
        ) as smtp:
            for index, job in enumerate(jobs):
                if datetime.now(UTC) > begin_by:
                    # A slow server: the rest go back, unclaimed, for the next round.
                    async with self._sessions() as session, session.begin():
                        unsent = [job.delivery.id for job in jobs[index:]]
                        await session.execute(
                            update(DELIVERIES)
                            .where(DELIVERIES.c.id.in_(unsent))
                            .values(claimed_until=None)
                        )
                    return
                delivery = job.delivery
                assert delivery.email is not None
                outcome = await smtp.send(
                    self._letter(job).to(
                        delivery.email,
                        message_id=f"<{delivery.id}.{delivery.contact_point}@{self._domain}>",
                    )
                )
                # The server's 250 and this commit cannot be one transaction, so the window
                # in which a killed process leaves a sent mail unrecorded is kept to one mail.
                async with self._sessions() as session, session.begin():
                    await self._record(session, job, outcome)

    def _letter(self, job: Job) -> Letter:
        """The alert's e-mail as this recipient reads it, rendered once for all who read it
        alike (just before its first sending: the event loop serves others between mails)."""
        delivery, alert_row = job.delivery, job.alert_row
        return self._letters.get(
            (alert_row.sender, alert_row.identifier, delivery.language,
             delivery.language_available, job.escalation),
            lambda: Letter(
                alert=stored_alert(alert_row.cap_json), mail_from=self._settings.mail_from,
                language=delivery.language, language_available=delivery.language_available,
                escalation=job.escalation, warnings=alert_row.warnings,
                signature=alert_row.signature,
            ),
        )  # fmt: skip

    async def _record(self, session: AsyncSession, job: Job, outcome: SendOutcome) -> None:
        delivery = job.delivery
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
        await session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == delivery.id)
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
        MAILS.labels("retrying" if status is DeliveryStatus.PENDING else status.value).inc()
        if status is not DeliveryStatus.PENDING:
            await add_outbox(session, receipt(
                delivery.alert_key, delivery.contact_point, Channel.EMAIL, status, now,
                self._producer, exercise=job.alert_row.exercise, detail=outcome.detail,
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
