"""Recording a fetch of alerts at once (intake.record_alerts), on a real SQLite database; the
routing answers come from a stand-in for the registry (this is a test of one function)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from notifier_support import follow_up, meuse_alert
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import Alert, Category, parse_cap_json
from schemas.console import AlertState
from schemas.envelopes import AlertKey, AlertPublished
from schemas.registry import ContactFunction, Recipient, RoutingAnswer, RoutingFacts
from services.common.database import create_engine, session_factory
from services.common.migrations import migrate
from services.common.registry_client import RegistryUnavailable
from services.notifier.intake import record_alerts
from services.notifier.models import ReceivedAlert
from services.notifier.runtime import MIGRATIONS

DESKS = ("be-liege-desk", "nl-vrln-desk")


class Router:
    """Answers every alert with the two desks, as `RoutingClient.route` does; after `answers`
    answers, the registry is away."""

    def __init__(self, answers: int = 1000) -> None:
        self.answers = answers

    async def route(self, facts: RoutingFacts) -> RoutingAnswer:
        if self.answers == 0:
            raise RegistryUnavailable("connection refused")
        self.answers -= 1
        return RoutingAnswer(facts=facts, agreements=[], recipients=[
            Recipient(contact_point=desk, organisation=desk[:-5], organisation_name=desk,
                      name=desk, function=ContactFunction.DUTY_DESK, email=None, channels=[],
                      language="fr", language_available=True, reasons=[],
                      escalation_only=False, ack_deadline_minutes=None)
            for desk in DESKS
        ])  # fmt: skip


def published(document: dict[str, Any], chain: Alert | None = None) -> AlertPublished:
    alert = parse_cap_json(json.dumps(document))
    head = chain or alert
    return AlertPublished(
        producer="tests", alert=alert, chain_category=Category.MET, client_id="tests",
        chain=AlertKey(sender=head.sender, identifier=head.identifier),
        received_at=datetime.now(UTC),
    )  # fmt: skip


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    await migrate(engine, MIGRATIONS)
    yield session_factory(engine)
    await engine.dispose()


async def test_a_fetch_with_an_update_and_a_copy_is_recorded_in_order_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first, second = meuse_alert(), meuse_alert()
    update = follow_up(first, "Update")
    head = published(first)
    fetch = [head, published(second), published(update, chain=head.alert), published(first)]
    router: Any = Router()

    recorded = await record_alerts(fetch, sessions=sessions, router=router, producer="tests")
    again = await record_alerts(fetch, sessions=sessions, router=router, producer="tests")

    # The two alerts and the update, each to both desks, the copy not again.
    assert [(w.item.key.identifier, w.contact_point) for w in recorded.written] == [
        (document["identifier"], desk) for document in (first, second, update) for desk in DESKS
    ]
    seqs = [w.item.seq for w in recorded.written]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for desk in DESKS:
        # Each entry follows the one before it at its desk: a console holding that one may be
        # given it at once.
        entries = [w for w in recorded.written if w.contact_point == desk]
        assert [w.after for w in entries] == [0] + [w.item.seq for w in entries[:-1]]
    assert recorded.waiting == [] and again.written == [] and again.waiting == []
    async with sessions() as session:
        rows = await session.execute(select(ReceivedAlert.identifier, ReceivedAlert.state))
        states = {identifier: state for identifier, state in rows}
    assert states == {first["identifier"]: AlertState.REPLACED,
                      second["identifier"]: AlertState.ACTIVE,
                      update["identifier"]: AlertState.ACTIVE}  # fmt: skip


async def test_an_alert_the_registry_must_route_while_away_waits_with_those_after_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    documents = [meuse_alert() for _ in range(3)]
    fetch = [published(document) for document in documents]
    away: Any = Router(answers=1)  # routes the first; the registry is gone for the second

    recorded = await record_alerts(fetch, sessions=sessions, router=away, producer="tests")
    back: Any = Router()
    later = await record_alerts(recorded.waiting, sessions=sessions, router=back, producer="tests")

    assert {w.item.key.identifier for w in recorded.written} == {documents[0]["identifier"]}
    assert recorded.waiting == fetch[1:] and "connection refused" in recorded.reason
    assert [w.item.key.identifier for w in later.written] == [
        documents[n]["identifier"] for n in (1, 2) for _ in DESKS
    ]
