"""The gateway's writes about the alerts it publishes, made in groups.

Every alert is written twice: reserved (a row not yet published, with its references) before
the broker is asked, and marked published with its position on the log once the broker
acknowledged it. Concurrent requests' writes of one kind share a transaction
(`services.common.batching`): under a burst, the database is written once per group rather
than twice per alert, and no request holds the connection while others queue behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from schemas.cap import Alert, Category
from schemas.envelopes import AlertKey
from schemas.registry import routing_facts
from services.alert_gateway.models import AcceptedAlert, AlertReference, Base
from services.common.batching import GroupWriter

ALERTS = Base.metadata.tables[AcceptedAlert.__tablename__]
_REFERENCES = Base.metadata.tables[AlertReference.__tablename__]
THIS_ALERT = (ALERTS.c.sender == bindparam("alert_sender")) & (
    ALERTS.c.identifier == bindparam("alert_identifier")
)
_MARK_PUBLISHED = update(ALERTS).where(THIS_ALERT)
_FORGET_PENDING = delete(ALERTS).where(THIS_ALERT, ALERTS.c.published.is_(False))
_WRITTEN = (ALERTS.c.sender, ALERTS.c.identifier)
_RESERVE = {
    "sqlite": sqlite.insert(ALERTS).on_conflict_do_nothing().returning(*_WRITTEN),
    "postgresql": postgresql.insert(ALERTS).on_conflict_do_nothing().returning(*_WRITTEN),
}


@dataclass(frozen=True)
class Pending:
    """An alert about to be published: its row, and the earlier messages it refers to."""

    row: dict[str, Any]
    references: tuple[tuple[str, str], ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.row["sender"], self.row["identifier"]

    @classmethod
    def of(
        cls,
        alert: Alert,
        *,
        digest: str,
        chain: AlertKey,
        category: Category,
        client_id: str,
        received_at: datetime,
    ) -> Pending:
        expiries = [info.expires for info in alert.info if info.expires is not None]
        row = {
            "sender": alert.sender,
            "identifier": alert.identifier,
            "digest": digest,
            # Stored in UTC: SQLite keeps no offset, and every reader treats them as UTC.
            "sent": alert.sent.astimezone(UTC),
            "msg_type": alert.msg_type.value,
            "status": alert.status.value,
            "expires": max(expiries).astimezone(UTC) if expiries else None,
            "chain_sender": chain.sender,
            "chain_identifier": chain.identifier,
            "chain_category": category.value,
            "client_id": client_id,
            "received_at": received_at,
            "routing_facts": routing_facts(alert).model_dump_json() if alert.info else None,
            "published": False,
        }
        references = tuple(dict.fromkeys((r.sender, r.identifier) for r in alert.references))
        return cls(row, references)


@dataclass(frozen=True)
class Published:
    """Where the broker wrote an alert."""

    sender: str
    identifier: str
    topic: str
    partition: int
    offset: int


class Ledger:
    """Reserves and marks alerts; the writes of concurrent requests share one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._writes = GroupWriter(self._write)

    async def reserve(self, pending: Pending) -> bool:
        """Record the alert as not yet published; False if its (sender, identifier) is taken."""
        return await self._writes.submit(pending)

    async def mark_published(self, published: Published) -> None:
        """Record where the broker wrote the alert: from now on it is published."""
        await self._writes.submit(published)

    async def forget(self, sender: str, identifier: str) -> None:
        """Drop a reservation the broker never acknowledged (with its references, ON DELETE
        CASCADE), so that the alert may be sent again."""
        async with self._sessions() as session, session.begin():
            await (await session.connection()).execute(_FORGET_PENDING, key_of(sender, identifier))

    async def aclose(self) -> None:
        """Finish the writes already handed in."""
        await self._writes.aclose()

    async def _write(self, group: Sequence[Pending | Published]) -> list[bool]:
        """One transaction for a group: True for a mark, and for a reservation that was free.

        Of two reservations of one alert in a group, the first wins, as it would if they came
        in two groups.
        """
        first: dict[tuple[str, str], Pending] = {}
        for write in group:
            if isinstance(write, Pending):
                first.setdefault(write.key, write)
        reservations = list(first.values())
        marks = [
            {
                **key_of(write.sender, write.identifier),
                "published": True,
                "topic": write.topic,
                "partition": write.partition,
                "offset": write.offset,
            }
            for write in group
            if isinstance(write, Published)
        ]
        async with self._sessions() as session, session.begin():
            connection = await session.connection()
            if marks:
                await connection.execute(_MARK_PUBLISHED, marks)
            reserved = await _insert_new(connection, reservations) if reservations else set()
            references = [
                {
                    "sender": pending.key[0],
                    "identifier": pending.key[1],
                    "ref_sender": ref_sender,
                    "ref_identifier": ref_identifier,
                }
                for pending in reservations
                if pending.key in reserved
                for ref_sender, ref_identifier in pending.references
            ]
            if references:
                await connection.execute(_REFERENCES.insert(), references)
        return [
            isinstance(write, Published) or (first[write.key] is write and write.key in reserved)
            for write in group
        ]


async def _insert_new(connection: AsyncConnection, group: list[Pending]) -> set[tuple[str, str]]:
    """Insert the rows whose key is free; the keys written."""
    # A row whose key is taken is skipped rather than failing the group: the rows answered
    # are the ones written.
    result = await connection.execute(
        _RESERVE[connection.dialect.name], [pending.row for pending in group]
    )
    return {(sender, identifier) for sender, identifier in result}


def key_of(sender: str, identifier: str) -> dict[str, str]:
    """The parameters naming an alert's row in the statements on `THIS_ALERT`."""
    return {"alert_sender": sender, "alert_identifier": identifier}
