"""Sending the outbox's messages to the gateway, in each series' order, as their agency.

Each message goes through the gateway like any crisis centre's: the same authorisation, the same
chain rules, the same log. The evaluator asks the registry for a token on behalf of the agency
owning the rule (`alerts:on-behalf`), so the gateway sees the agency as the publisher, and the
evaluator as who acted for it.

Where the deployment holds the agency's private key (`signing_keys_dir`), the message goes as
CAP XML signed with it (services.common.cap_signing), which the gateway verifies against the
certificate registered with the agency.

A message is marked sent only once the gateway accepted it. Sent again after a crash, it is the
very same document (it was stored composed), which the gateway answers as already accepted:
nothing is published twice. While the gateway or the registry cannot be reached, the messages
wait, in order; a message the gateway refuses for good is kept with the refusal and logged.

A series' messages form one CAP chain, each referring to the one before: they go one after the
other. Different series do not wait for each other: a weekly batch that moves hundreds of
series has the oldest waiting message of several series in flight at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import parse_cap_json, to_cap_xml
from services.common.cap_signing import SigningIdentities
from services.common.registry_client import (
    REFUSED_FOR_GOOD,
    RegistryClient,
    RegistryRefused,
    RegistryUnavailable,
    post_as,
)
from services.evaluator.models import OutgoingAlert

log = structlog.get_logger(__name__)

ALERTS_PATH = "/v1/alerts"
LOOK_AHEAD = 500
"""Waiting messages read per round, among which the oldest of each series is found."""


class Publisher:
    """Sends the oldest waiting message of up to `concurrency` series at once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: RegistryClient,
        gateway: httpx.AsyncClient,
        *,
        concurrency: int = 1,
        identities: SigningIdentities | None = None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._gateway = gateway
        self._concurrency = concurrency
        self._identities = identities or SigningIdentities(None)

    async def round(self) -> bool:
        """Send the oldest waiting message of each of the oldest series; True when any went
        (more may wait)."""
        async with self._sessions() as session:
            waiting = await session.scalars(
                select(OutgoingAlert)
                .where(OutgoingAlert.sent_at.is_(None), OutgoingAlert.refusal.is_(None))
                .order_by(OutgoingAlert.id)
                .limit(LOOK_AHEAD)
            )
            heads: dict[str, OutgoingAlert] = {}
            for row in waiting:
                heads.setdefault(row.series, row)
                if len(heads) == self._concurrency:
                    break
        went = await asyncio.gather(*(self._send(row) for row in heads.values()))
        return any(went)

    async def _send(self, row: OutgoingAlert) -> bool:
        """Send one message; True when the gateway answered for good (accepted or refused)."""
        try:
            response = await self._post(row)
        except (RegistryUnavailable, RegistryRefused, httpx.HTTPError) as exc:
            await self._note(row.id, attempt=True)
            log.warning("alert waits: not sent", alert=row.key, reason=str(exc))
            return False
        if response.status_code in (200, 202):
            await self._note(row.id, sent=True)
            log.info("alert_sent", alert=row.key, owner=row.owner)
            return True
        if response.status_code in REFUSED_FOR_GOOD:
            await self._note(row.id, refusal=f"{response.status_code} {response.text[:2000]}")
            log.error(
                "alert refused by the gateway", alert=row.key,
                status=response.status_code, answer=response.text[:500],
            )  # fmt: skip
            return True
        await self._note(row.id, attempt=True)
        log.warning("alert waits", alert=row.key, status=response.status_code)
        return False

    async def _post(self, row: OutgoingAlert) -> httpx.Response:
        content, content_type = row.cap_json.encode(), "application/json"
        identity = self._identities.of(row.owner)
        if identity is not None:
            # Signed as the agency: the same stored document, as CAP XML (the same XML each
            # time, so a resend after a crash is still the very same message).
            content = identity.sign(to_cap_xml(parse_cap_json(row.cap_json)))
            content_type = "application/cap+xml"
        return await post_as(
            self._registry, self._gateway, row.owner, ALERTS_PATH,
            content=content, content_type=content_type,
        )  # fmt: skip

    async def _note(
        self, row_id: int, *, sent: bool = False, attempt: bool = False, refusal: str | None = None
    ) -> None:
        async with self._sessions() as session, session.begin():
            row = await session.get(OutgoingAlert, row_id)
            assert row is not None
            row.attempts += 1
            if sent:
                row.sent_at = datetime.now(UTC)
            if refusal is not None:
                row.refusal = refusal
