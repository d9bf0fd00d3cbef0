"""The local Kafka broker: idempotent start, a real client round trip, data kept across restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.localnet import kafka

# Ports of the broker that this module stops and restarts, apart from the session's broker.
OWN_PORTS = (19192, 19193)


@pytest.fixture
def session_broker(kafka_bootstrap: str) -> kafka.LocalBroker:
    """The local broker behind `kafka_bootstrap`; skipped when the suite uses another one."""
    broker = kafka.LocalBroker.for_tests(kafka.repo_root())
    if broker.bootstrap != kafka_bootstrap:
        pytest.skip(f"the suite uses the broker at {kafka_bootstrap}, not a local one")
    return broker


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[kafka.LocalBroker]:
    """A broker of this test's own, in a temporary folder, stopped afterwards."""
    broker = kafka.LocalBroker(kafka.repo_root(), tmp_path / "kafka", *OWN_PORTS)
    yield broker
    await asyncio.to_thread(kafka.stop, broker)


def new_topic() -> str:
    """A topic name no other test uses."""
    return f"test-local-kafka-{uuid.uuid4().hex[:12]}"


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    """Write one record and wait until the broker has it (acks=all, idempotent)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"one-key")
    finally:
        await producer.stop()


async def consume_first(bootstrap: str, topic: str) -> bytes:
    """Read the first record of `topic` from the beginning of its log."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    value: bytes = record.value
    return value


async def test_starting_a_running_broker_keeps_it(session_broker: kafka.LocalBroker) -> None:
    before = kafka.status(session_broker)

    again = await asyncio.to_thread(kafka.start, session_broker)

    assert again.running
    assert again.pid == before.pid


def test_status_reports_the_running_broker(session_broker: kafka.LocalBroker) -> None:
    state = kafka.status(session_broker)

    assert state.running
    assert state.pid is not None
    assert state.bootstrap == "127.0.0.1:19092"
    pom = (session_broker.root / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{state.version}</kafka.version>" in pom


async def test_a_produced_record_can_be_consumed(kafka_bootstrap: str) -> None:
    topic = new_topic()

    await produce(kafka_bootstrap, topic, b"flood warning, Meuse at Maastricht")

    assert await consume_first(kafka_bootstrap, topic) == b"flood warning, Meuse at Maastricht"


async def test_stop_and_start_again_keeps_the_data(own_broker: kafka.LocalBroker) -> None:
    first = await asyncio.to_thread(kafka.start, own_broker)
    topic = new_topic()
    await produce(own_broker.bootstrap, topic, b"chemical fire near Aachen")

    assert await asyncio.to_thread(kafka.stop, own_broker)
    assert not kafka.status(own_broker).running
    assert not await asyncio.to_thread(kafka.stop, own_broker)

    second = await asyncio.to_thread(kafka.start, own_broker)
    assert second.running
    assert second.pid != first.pid
    assert await consume_first(own_broker.bootstrap, topic) == b"chemical fire near Aachen"
