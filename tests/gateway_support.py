"""A real alert gateway for tests, trusting an in-process registry and a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from registry_support import Registry

from schemas.envelopes import AlertPublished, Envelope, decode_envelope
from services.alert_gateway.app import create_app
from services.alert_gateway.settings import GatewaySettings

LIEGE = "crisis@liege.example.org"


@dataclass
class Gateway:
    """A running gateway app and an HTTP client talking to it."""

    app: FastAPI
    http: httpx.AsyncClient


@asynccontextmanager
async def running_gateway(
    state: Path,
    kafka: str,
    registry: Registry,
    *,
    use_registry_client: bool = True,
    **settings: Any,
) -> AsyncIterator[Gateway]:
    """Start the gateway on a SQLite file in `state` (unless given), trusting `registry`.

    It reaches the registry in-process, or, with `use_registry_client=False`, over HTTP at the
    `registry_url` setting (so that the registry can be stopped under it).
    """
    settings.setdefault(
        "database_url", f"sqlite+aiosqlite:///{state / f'gateway-{uuid.uuid4().hex[:6]}.sqlite3'}"
    )
    settings.setdefault("registry_url", "http://registry")
    app = create_app(
        GatewaySettings(
            kafka_bootstrap_servers=kafka,
            registry_client_id="gateway",
            registry_client_secret="gateway-secret-123",
            log_format="json",
            **settings,
        ),
        registry_client=registry.http if use_registry_client else None,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Gateway(app, http)


def flood_alert(identifier: str | None = None, **changes: Any) -> dict[str, Any]:
    """A Liège flood alert in the CAP JSON form, with a fresh identifier unless given."""
    alert: dict[str, Any] = {
        "identifier": identifier or f"BE-LG-{uuid.uuid4().hex[:10]}",
        "sender": LIEGE,
        "sent": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "status": "Actual",
        "msgType": "Alert",
        "scope": "Public",
        "info": [
            {
                "language": "fr-BE",
                "category": ["Geo"],
                "event": "Crue de la Meuse",
                "urgency": "Expected",
                "severity": "Severe",
                "certainty": "Likely",
                "headline": "La Meuse dépassera le seuil d'alerte à Liège",
                "area": [
                    {
                        "areaDesc": "Vallée de la Meuse, Liège",
                        "geocode": [{"valueName": "NUTS3", "value": "BE332"}],
                    }
                ],
            }
        ],
    }
    alert.update(changes)
    return alert


def follow_up(original: dict[str, Any], msg_type: str, **changes: Any) -> dict[str, Any]:
    """An Update or Cancel of `original`, referencing it."""
    reference = f"{original['sender']},{original['identifier']},{original['sent']}"
    return flood_alert(msgType=msg_type, references=[reference], **changes)


async def record_at(bootstrap: str, topic: str, partition: int, offset: int) -> AlertPublished:
    """The envelope written at this position of the log."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        place = TopicPartition(topic, partition)
        consumer.assign([place])
        consumer.seek(place, offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    envelope = decode_envelope(record.value)
    assert isinstance(envelope, AlertPublished)
    return envelope


async def identifiers_on(bootstrap: str, topic: str) -> set[str]:
    """Every alert identifier written to `topic` so far (read up to its end offsets)."""
    return {
        envelope.alert.identifier
        for envelope in await envelopes_on(bootstrap, topic)
        if isinstance(envelope, AlertPublished)
    }


async def envelopes_on(bootstrap: str, topic: str) -> list[Envelope]:
    """Every envelope written to `topic` so far (read up to its end offsets)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"probe-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Envelope] = []

    def keep(batches: dict[TopicPartition, list[Any]]) -> None:
        for records in batches.values():
            found.extend(decode_envelope(record.value) for record in records)

    try:
        async with asyncio.timeout(30):
            while not consumer.assignment():
                keep(await consumer.getmany(timeout_ms=200))
            places = list(consumer.assignment())
            ends = await consumer.end_offsets(places)
            while [p for p in places if await consumer.position(p) < ends[p]]:
                keep(await consumer.getmany(timeout_ms=500))
    finally:
        await consumer.stop()
    return found
