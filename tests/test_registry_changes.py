"""Every registry write is announced on Kafka, also when Kafka was down at the time."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from registry_support import Registry, running_registry

from schemas.envelopes import RegistryChange, decode_envelope
from schemas.topics import REGISTRY_CHANGES
from services.localnet import kafka

NEW_ORG = {
    "id": "be-namur",
    "name": "Namur governor's crisis unit",
    "kind": "civil_protection",
    "home_region": "BE3",
    "cap_sender": "crisis@namur.example.org",
}


async def changes_for(bootstrap: str, entity_id: str, count: int) -> list[RegistryChange]:
    """Read registry.changes from the start until `count` changes of `entity_id` arrived."""
    consumer = AIOKafkaConsumer(
        REGISTRY_CHANGES.name,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[RegistryChange] = []
    try:
        async with asyncio.timeout(60):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        change = decode_envelope(record.value)
                        if isinstance(change, RegistryChange) and change.entity_id == entity_id:
                            found.append(change)
    finally:
        await consumer.stop()
    return found


async def write_and_rename(registry: Registry) -> None:
    admin = await registry.auth("admin", "admin-secret-123")
    created = await registry.http.post("/v1/organisations", json=NEW_ORG, headers=admin)
    assert created.status_code == 201, created.text
    renamed = await registry.http.put(
        "/v1/organisations/be-namur",
        json=NEW_ORG | {"name": "Province de Namur"},
        headers=admin | {"If-Match": '"1"'},
    )
    assert renamed.status_code == 200, renamed.text


async def test_each_write_publishes_a_registry_change(kafka_bootstrap: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}"
    async with running_registry(url, tmp_path, kafka=kafka_bootstrap) as registry:
        await write_and_rename(registry)
        changes = await changes_for(kafka_bootstrap, "be-namur", 2)

    assert [(c.entity, c.operation, c.version) for c in changes] == [
        ("organisation", "created", 1),
        ("organisation", "updated", 2),
    ]
    assert all(c.producer == "registry" for c in changes)


async def test_changes_written_while_kafka_is_down_are_published_when_it_returns(
    tmp_path: Path,
) -> None:
    broker = kafka.LocalBroker(kafka.repo_root(), tmp_path / "kafka", 19292, 19293)
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}"
    try:
        async with running_registry(url, tmp_path, kafka=broker.bootstrap) as registry:
            # The broker is not running: the API still accepts the writes.
            await write_and_rename(registry)
            await asyncio.to_thread(kafka.start, broker)
            changes = await changes_for(broker.bootstrap, "be-namur", 2)
    finally:
        await asyncio.to_thread(kafka.stop, broker)

    assert [(c.operation, c.version) for c in changes] == [("created", 1), ("updated", 2)]
