"""The gateway's grouped writes, on SQLite and PostgreSQL: a reservation per identifier, its
references with it, and the mark of where the broker wrote it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from gateway_support import flood_alert, follow_up
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import parse_cap_json
from schemas.cap import Category
from schemas.envelopes import AlertKey
from services.alert_gateway.app import MIGRATIONS
from services.alert_gateway.ledger import Ledger, Pending, Published
from services.alert_gateway.models import AcceptedAlert, AlertReference
from services.common.database import create_engine, session_factory
from services.common.migrations import migrate


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    await migrate(engine, MIGRATIONS)
    yield session_factory(engine)
    await engine.dispose()


def pending(document: dict[str, object], digest: str = "d") -> Pending:
    alert = parse_cap_json(json.dumps(document))
    return Pending.of(
        alert,
        digest=digest,
        chain=AlertKey(sender=alert.sender, identifier=alert.identifier),
        category=Category.GEO,
        client_id="liege-system",
        received_at=datetime.now(UTC),
    )


async def test_an_identifier_is_reserved_once_even_within_one_group(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ledger = Ledger(sessions)
    first, other = flood_alert(), flood_alert()

    together = await asyncio.gather(
        ledger.reserve(pending(first)),
        ledger.reserve(pending(first, digest="another")),
        ledger.reserve(pending(other)),
    )
    later = await ledger.reserve(pending(first))
    await ledger.aclose()

    assert list(together) == [True, False, True]
    assert later is False
    async with sessions() as session:
        rows = (await session.scalars(select(AcceptedAlert))).all()
    assert sorted((row.identifier, row.digest, row.published) for row in rows) == sorted(
        [(first["identifier"], "d", False), (other["identifier"], "d", False)]
    )


async def test_references_are_written_with_the_reservation_and_marks_publish(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ledger = Ledger(sessions)
    original = flood_alert()
    update = follow_up(original, "Update")
    assert await ledger.reserve(pending(original))
    await ledger.mark_published(
        Published(original["sender"], original["identifier"], "alerts.geo", 2, 41)
    )

    reserved, _ = await asyncio.gather(
        ledger.reserve(pending(update)),
        ledger.mark_published(Published(update["sender"], "nobody-reserved-this", "t", 0, 0)),
    )
    await ledger.forget(update["sender"], update["identifier"])
    await ledger.aclose()

    assert reserved is True
    async with sessions() as session:
        rows = {row.identifier: row for row in (await session.scalars(select(AcceptedAlert)))}
        references = (await session.scalars(select(AlertReference))).all()
    published = rows[original["identifier"]]
    assert (published.published, published.topic, published.partition, published.offset) == (
        True,
        "alerts.geo",
        2,
        41,
    )
    # Forgotten with its reference; a mark of a row nobody reserved changes nothing.
    assert set(rows) == {original["identifier"]}
    assert references == []
