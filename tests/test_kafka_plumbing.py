"""The shared Kafka plumbing against the real broker: produce, consume, commit, group semantics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from schemas.envelopes import Envelope, RegistryChange, RegistryEntity, encode_envelope
from schemas.topics import REGISTRY_CHANGES, route
from services.common.kafka import (
    FETCH_RECORDS,
    Batched,
    BrokerUnavailable,
    Handler,
    _read_partition,
    consume,
    create_consumer,
    create_producer,
    create_topics,
    publish,
)
from services.common.settings import ServiceSettings


def change(entity_id: str) -> RegistryChange:
    return RegistryChange(
        producer="tests",
        entity=RegistryEntity.ORGANISATION,
        entity_id=entity_id,
        operation="updated",
        version=1,
        produced_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    )


async def consume_until(
    consumer: AIOKafkaConsumer,
    count: int,
    *,
    match: Callable[[Envelope], bool] = lambda _: True,
    within: float = 20,
) -> list[Envelope]:
    """Run the consumer helper until `count` matching envelopes were handled (and committed).

    Returns every envelope handled, matching or not.
    """
    seen: list[Envelope] = []
    matched = 0
    done = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        nonlocal matched
        seen.append(envelope)
        matched += match(envelope)
        if matched >= count:
            done.set()

    task = asyncio.create_task(consume(consumer, handler))
    try:
        async with asyncio.timeout(within):
            await done.wait()
        # Let the loop commit the offset of the record it just handled.
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return seen


async def consume_while(
    consumer: AIOKafkaConsumer, handler: Handler | Batched, waiting: Callable[[], bool]
) -> None:
    """Run the consumer helper while `waiting()` is true (20 s at most), then stop it."""
    task = asyncio.create_task(consume(consumer, handler))
    try:
        async with asyncio.timeout(20):
            while waiting():
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def one_partition_holding(settings: ServiceSettings, envelopes: Sequence[Envelope]) -> str:
    """A new topic of one partition, holding `envelopes` in order; its name."""
    topic = f"plumbing-{uuid.uuid4()}"
    await create_topics(settings.kafka_bootstrap_servers, [topic], partitions=1)
    producer = create_producer(settings)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send(topic, encode_envelope(envelope), partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    return topic


async def test_envelope_produced_is_consumed_decoded_and_committed(kafka_bootstrap: str) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    await create_topics(kafka_bootstrap, [REGISTRY_CHANGES.name])
    group = f"plumbing-{uuid.uuid4()}"
    sent = change(f"org-{uuid.uuid4()}")

    first = create_consumer(settings, REGISTRY_CHANGES.name, group_id=group)
    await first.start()
    try:
        # Join the group (and take the partitions) before producing, so nothing is skipped.
        await first.getmany(timeout_ms=1000)
        producer = create_producer(settings)
        await producer.start()
        try:
            metadata = await publish(producer, sent, ack_timeout=10)
        finally:
            await producer.stop()
        received = await consume_until(first, 1, match=lambda e: e.message_id == sent.message_id)
        committed = await first.committed(TopicPartition(metadata.topic, metadata.partition))
    finally:
        await first.stop()

    assert sent in received
    assert type(received[received.index(sent)]) is RegistryChange
    assert metadata.topic == route(sent)[0]
    assert committed == metadata.offset + 1

    # A later record proves the second member of the group is reading; the first one must
    # not come again, because its offset was committed.
    later = change(sent.entity_id)
    producer = create_producer(settings)
    await producer.start()
    try:
        await publish(producer, later, ack_timeout=10)
    finally:
        await producer.stop()
    second = create_consumer(settings, REGISTRY_CHANGES.name, group_id=group)
    await second.start()
    try:
        mine = await consume_until(second, 1, match=lambda e: e.message_id == later.message_id)
    finally:
        await second.stop()
    assert later in mine
    assert sent not in mine


async def test_record_key_keeps_one_entity_on_one_partition(kafka_bootstrap: str) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    await create_topics(kafka_bootstrap, [REGISTRY_CHANGES.name])
    entity_id = f"org-{uuid.uuid4()}"
    producer = create_producer(settings)
    await producer.start()
    try:
        written = [await publish(producer, change(entity_id), ack_timeout=10) for _ in range(5)]
    finally:
        await producer.stop()

    assert len({meta.partition for meta in written}) == 1
    assert [meta.offset for meta in written] == sorted(meta.offset for meta in written)


async def test_a_waiting_record_holds_back_its_own_partition_only(kafka_bootstrap: str) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    topic = f"plumbing-{uuid.uuid4()}"
    await create_topics(kafka_bootstrap, [topic], partitions=2)
    waits, behind, free = change("org-waits"), change("org-behind"), change("org-free")
    handled: list[str] = []
    waiting, release = asyncio.Event(), asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        assert isinstance(envelope, RegistryChange)
        if envelope == waits:
            waiting.set()
            await release.wait()  # as a record waits for a dependency that is down
        handled.append(envelope.entity_id)

    producer = create_producer(settings)
    await producer.start()
    consumer = create_consumer(settings, topic, group_id=f"plumbing-{uuid.uuid4()}")
    await consumer.start()
    task = asyncio.create_task(consume(consumer, handler))
    try:
        for envelope in (waits, behind):
            await producer.send_and_wait(topic, encode_envelope(envelope), partition=0)
        async with asyncio.timeout(20):
            await waiting.wait()
        # Written only once the first partition waits: it must still get through.
        await producer.send_and_wait(topic, encode_envelope(free), partition=1)
        async with asyncio.timeout(20):
            while "org-free" not in handled:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert handled == ["org-free"]  # the record behind the waiting one waits with it

        release.set()
        async with asyncio.timeout(20):
            while len(handled) < 3:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let the last commit happen
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in (0, 1)]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()
    assert handled == ["org-free", "org-waits", "org-behind"]
    assert committed == [2, 1]


async def test_a_batched_handler_gets_a_fetch_together_in_order_then_it_is_committed(
    kafka_bootstrap: str,
) -> None:
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    sent = [change(f"org-{n}") for n in range(FETCH_RECORDS + 20)]
    # Written before the consumer starts: its first fetches find them all waiting.
    topic = await one_partition_holding(settings, sent)
    batches: list[list[str]] = []

    async def handler(envelopes: list[Envelope]) -> None:
        batches.append([e.entity_id for e in envelopes if isinstance(e, RegistryChange)])

    consumer = create_consumer(settings, topic, group_id=f"plumbing-{uuid.uuid4()}")
    await consumer.start()
    task = asyncio.create_task(consume(consumer, Batched(handler)))
    try:
        async with asyncio.timeout(20):
            while sum(map(len, batches)) < len(sent):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let the last commit happen
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await consumer.stop()

    assert [entity for batch in batches for entity in batch] == [e.entity_id for e in sent]
    assert max(map(len, batches)) > 1  # handed together, not one by one
    assert max(map(len, batches)) <= FETCH_RECORDS
    assert committed == len(sent)


async def test_a_reader_stopped_after_its_fetch_leaves_nothing_behind_for_the_next(
    kafka_bootstrap: str,
) -> None:
    """As when the group takes a partition away and gives it back unchanged (a broker's pause):
    the fetch of the stopped reader moved the position; the next reader starts from the
    commit, so the records the first never handled are handled."""
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    sent = [change(f"org-{n}") for n in range(5)]
    topic = await one_partition_holding(settings, sent)
    fetched = asyncio.Event()
    handled: list[str] = []

    async def stuck(envelopes: list[Envelope]) -> None:
        fetched.set()
        await asyncio.Event().wait()  # stopped before it handled anything

    async def handler(envelopes: list[Envelope]) -> None:
        handled.extend(e.entity_id for e in envelopes if isinstance(e, RegistryChange))

    consumer = create_consumer(settings, topic, group_id=f"plumbing-{uuid.uuid4()}")
    await consumer.start()
    try:
        # Where the group starts, committed at once, as keep_consuming does.
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        start = TopicPartition(topic, 0)
        await consumer.commit({start: await consumer.position(start)})
        first = asyncio.create_task(consume(consumer, Batched(stuck)))
        async with asyncio.timeout(20):
            await fetched.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await consume_while(consumer, Batched(handler), lambda: len(handled) < len(sent))
    finally:
        await consumer.stop()

    assert handled == [e.entity_id for e in sent]


async def test_a_position_moved_past_unhandled_records_is_moved_back(
    kafka_bootstrap: str,
) -> None:
    """As when the client resets a partition's position to "latest" after the group lapsed and
    re-joined (a broker's pause): records written meanwhile would be skipped; the reader reads
    again from the offset it handles next."""
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap, service_name="tests")
    sent = [change(f"org-{n}") for n in range(10)]
    topic = await one_partition_holding(settings, sent[:3])
    partition = TopicPartition(topic, 0)
    consumer = create_consumer(settings, topic, group_id=f"plumbing-{uuid.uuid4()}")
    handled: list[str] = []

    async def handler(envelope: Envelope) -> None:
        assert isinstance(envelope, RegistryChange)
        handled.append(envelope.entity_id)
        if envelope.entity_id == "org-2" and handled.count("org-2") == 1:
            # The next records arrive, and the position jumps over half of them.
            producer = create_producer(settings)
            await producer.start()
            try:
                for later in sent[3:]:
                    await producer.send(topic, encode_envelope(later), partition=0)
                await producer.flush()
            finally:
                await producer.stop()
            consumer.seek(partition, 6)

    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        await consumer.commit({partition: 0})
        await consume_while(consumer, handler, lambda: "org-9" not in handled)
    finally:
        await consumer.stop()

    assert handled == [e.entity_id for e in sent]


class _LapsedMember:
    """A consumer (only what a partition's reader calls) whose group went on without it: it
    fetches one record, and its commit is refused."""

    def __init__(self, partition: TopicPartition, value: bytes) -> None:
        self.partition = partition
        self.record = ConsumerRecord(
            topic=partition.topic, partition=partition.partition, offset=7, timestamp=0,
            timestamp_type=0, key=None, value=value, checksum=None, serialized_key_size=0,
            serialized_value_size=len(value), headers=(),
        )  # fmt: skip

    async def committed(self, _: TopicPartition) -> int:
        return 7

    def seek(self, _: TopicPartition, offset: int) -> None:
        assert offset == 7

    async def getmany(self, *_: Any, **__: Any) -> dict[TopicPartition, list[ConsumerRecord]]:
        return {self.partition: [self.record]}

    def assignment(self) -> set[TopicPartition]:
        return {self.partition}

    def highwater(self, _: TopicPartition) -> int:
        return 8

    async def commit(self, _: dict[TopicPartition, int]) -> None:
        raise CommitFailedError("the group has already rebalanced")


async def test_a_refused_commit_ends_the_partitions_reader_not_the_consumer() -> None:
    """After a broker's pause the group may go on without this member: the reader has handled
    its fetch, its commit is refused, and it ends quietly (a new reader starts from the last
    commit); stopping the whole consumer would delay every partition while the group waits for
    the stopped member's session to lapse."""
    partition = TopicPartition("plumbing", 0)
    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    consumer = _LapsedMember(partition, encode_envelope(change("org-lapsed")))
    async with asyncio.timeout(5):  # a bound on a hang: the reader must return
        await _read_partition(consumer, partition, handler, commit=True)

    assert [e.entity_id for e in handled if isinstance(e, RegistryChange)] == ["org-lapsed"]


async def test_publish_to_a_dead_broker_fails_promptly() -> None:
    # Nothing listens on this loopback port: the write must fail within its bound, not hang.
    settings = ServiceSettings(
        kafka_bootstrap_servers="127.0.0.1:1", service_name="tests", kafka_send_timeout_seconds=1
    )
    producer = create_producer(settings)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    with pytest.raises(BrokerUnavailable):
        await publish(producer, change("org-x"), ack_timeout=1)
