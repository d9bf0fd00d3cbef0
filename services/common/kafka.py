"""Kafka clients, written once: the durable producer, the consumer loop, topic creation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError

from schemas.envelopes import Envelope, decode_envelope, encode_envelope
from schemas.errors import CapValidationError
from schemas.topics import MAX_RECORD_BYTES, all_topic_names, route
from services.common.metrics import CONSUMER_LAG
from services.common.settings import ServiceSettings
from services.common.workers import stop_tasks

log = structlog.get_logger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler given each fetch's envelopes of a partition together, in order: for work that
    costs less done at once (one transaction for a burst of alerts rather than one each)."""

    handler: Callable[[list[Envelope]], Awaitable[None]]


# Partitions of every topic the network creates: the most consumers of one group that share work.
PARTITIONS = 3

# How often a consumer looks whether the group gave it other partitions.
ASSIGNMENT_CHECK_SECONDS = 0.5

FETCH_RECORDS = 100
"""At most this many records of a partition are handled (and handled again after a crash)
between two commits."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge a write in time; the write may not have happened."""


def create_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica (acks=all)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=int(settings.kafka_send_timeout_seconds * 1000),
        max_request_size=MAX_RECORD_BYTES,
    )


async def publish(producer: AIOKafkaProducer, envelope: Envelope, *, ack_timeout: float) -> Any:
    """Write an envelope to its declared topic and key; return the broker's record metadata.

    Raises BrokerUnavailable when the broker has not acknowledged within `ack_timeout` seconds,
    so that callers can answer promptly (503) instead of hanging.
    """
    topic, key = route(envelope)
    try:
        async with asyncio.timeout(ack_timeout):
            return await producer.send_and_wait(topic, encode_envelope(envelope), key=key)
    except (TimeoutError, KafkaError) as exc:
        raise BrokerUnavailable(f"the broker did not acknowledge the write to {topic}") from exc


def create_consumer(
    settings: ServiceSettings,
    *topics: str,
    group_id: str | None,
    start: Literal["earliest", "latest"] = "earliest",
) -> AIOKafkaConsumer:
    """A consumer that commits only when told to; with no committed offset, starts at `start`."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=start,
        max_partition_fetch_bytes=MAX_RECORD_BYTES,
    )


async def consume(
    consumer: AIOKafkaConsumer, handler: Handler | Batched, *, commit: bool = True
) -> None:
    """Hand every record of the assigned partitions to `handler`, each partition in its own task.

    Within a partition records are handled in order, and the offset is committed only after the
    handler returned for every record of a fetch, so a crash in between means those records are
    handled again (at-least-once); handlers therefore de-duplicate by identity. Partitions do
    not wait for one another: a record whose handler waits (for the registry, say) holds back
    the records behind it in its own partition only. A record that is not a contract envelope
    is logged and skipped, so that one bad record cannot stop a partition for good. Consumers
    outside a group pass commit=False. A failing handler stops the whole consumer (the caller
    starts it again, see keep_consuming). A `Batched` handler is given each fetch's envelopes
    (up to FETCH_RECORDS) at once instead.
    """
    readers: dict[TopicPartition, asyncio.Task[None]] = {}
    try:
        while True:
            # The group may move partitions to another member (or bring new ones) at any time.
            assigned = consumer.assignment()
            for partition in readers.keys() - assigned:
                await stop_tasks([readers.pop(partition)])
            for partition in assigned - readers.keys():
                readers[partition] = asyncio.create_task(
                    _read_partition(consumer, partition, handler, commit=commit),
                    name=f"consume-{partition.topic}-{partition.partition}",
                )
            if not readers:
                await asyncio.sleep(ASSIGNMENT_CHECK_SECONDS)
                continue
            await asyncio.wait(readers.values(), timeout=ASSIGNMENT_CHECK_SECONDS)
            for partition, task in list(readers.items()):
                if task.done():
                    del readers[partition]
                    task.result()  # a handler's failure stops the consumer here
    finally:
        await stop_tasks(list(readers.values()))


async def _read_partition(
    consumer: AIOKafkaConsumer,
    partition: TopicPartition,
    handler: Handler | Batched,
    *,
    commit: bool,
) -> None:
    # The offset this reader handles next. The client may move the position on its own: a
    # group that lapsed and re-joined (as across a broker's pause) has each partition's position
    # looked up again, and where that lookup fails it is reset by `auto_offset_reset`, past
    # records nobody handled. A fetch that starts beyond this offset is read again from it,
    # once: a second such fetch means the records are truly gone (deleted by retention).
    expected: int | None = None
    looked_back = False
    if commit:
        # From the last commit, not from where a reader before this one stopped: one cancelled
        # after its fetch (the group took the partition away, then gave it back unchanged, as
        # after a broker's pause) had moved the position past records it never handled.
        expected = await consumer.committed(partition)
        if expected is not None:
            consumer.seek(partition, expected)
    while True:
        records = (
            await consumer.getmany(partition, timeout_ms=1000, max_records=FETCH_RECORDS)
        ).get(partition, [])
        if not records:
            continue
        _note_lag(consumer, partition, records[-1].offset + 1)
        if expected is not None and records[0].offset > expected and not looked_back:
            log.warning(
                "position moved past unhandled records; reading them again",
                topic=partition.topic,
                partition=partition.partition,
                expected=expected,
                fetched=records[0].offset,
            )
            consumer.seek(partition, expected)
            looked_back = True
            continue
        looked_back = False
        if isinstance(handler, Batched):
            envelopes = [e for record in records if (e := _decoded(record.value)) is not None]
            with structlog.contextvars.bound_contextvars(
                topic=partition.topic,
                partition=partition.partition,
                offset=f"{records[0].offset}-{records[-1].offset}",
            ):
                await handler.handler(envelopes)
        else:
            for record in records:
                with structlog.contextvars.bound_contextvars(
                    topic=record.topic, partition=record.partition, offset=record.offset
                ):
                    await _handle(record.value, handler)
                if commit and partition not in consumer.assignment():
                    return  # given to another member meanwhile: it will handle the rest again
        if commit:
            if partition not in consumer.assignment():
                return
            # Once per fetch, not per record: a broker round trip per record would hold back
            # the partition under a burst, and a crash repeats at most one fetch's records.
            try:
                await consumer.commit({partition: records[-1].offset + 1})
            except CommitFailedError:
                # The group went on without this member (its session lapsed, as across a
                # broker's pause) and the client is joining it again. Whoever is given the
                # partition next reads from the last commit, these records included (handlers
                # de-duplicate). Stopping the whole consumer instead would leave its member
                # in the group until the session times out, and the next one would wait.
                log.warning(
                    "commit refused: the group went on without this member; the partition "
                    "is read again from its last commit",
                    topic=partition.topic,
                    partition=partition.partition,
                )
                return
        expected = records[-1].offset + 1


def _note_lag(consumer: AIOKafkaConsumer, partition: TopicPartition, after: int) -> None:
    """How far this partition's reader is behind once this fetch is handled: the high
    watermark the fetch saw minus the offset it handles next (an empty fetch changes nothing:
    the records it would count are those it has not seen yet)."""
    highwater = consumer.highwater(partition)
    if highwater is not None:
        CONSUMER_LAG.labels(partition.topic, str(partition.partition)).set(highwater - after)


def _decoded(value: bytes | None) -> Envelope | None:
    try:
        return decode_envelope(value or b"")
    except CapValidationError as exc:
        log.error("record is not a contract envelope; skipped", problem=str(exc))
        return None


async def _handle(value: bytes | None, handler: Handler) -> None:
    envelope = _decoded(value)
    if envelope is None:
        return
    with structlog.contextvars.bound_contextvars(
        message_id=str(envelope.message_id), envelope=type(envelope).__name__
    ):
        await handler(envelope)


def replication_for(nodes: int) -> tuple[int, int]:
    """Replication factor and min.insync.replicas of the network's topics on a cluster of
    `nodes`: from three nodes 3 and 2 (an acknowledged write is on two nodes at least, so it
    survives the loss of any one; with one node left, producers wait rather than risk it),
    on a single node 1 and 1."""
    return (3, 2) if nodes >= 3 else (1, 1)


async def create_topics(
    bootstrap_servers: str, names: Iterable[str], *, partitions: int = PARTITIONS
) -> None:
    """Create the named topics where they do not exist yet, replicated as the cluster's size
    asks (`replication_for` the brokers it reports: create them with every node up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        replicas, min_insync = replication_for(len((await admin.describe_cluster())["brokers"]))
        missing = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=replicas,
                topic_configs={"min.insync.replicas": str(min_insync)},
            )
            for name in names
            if name not in existing
        ]
        if missing:
            # Another process may create them in between: that is what we wanted anyway.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


class LazyProducer:
    """A producer that connects when the broker can be reached, not at start-up.

    A service starts and answers (503 for what needs Kafka) while the broker is down, and
    publishes again as soon as it returns.
    """

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self, *, within: float) -> AIOKafkaProducer:
        """The started producer; BrokerUnavailable when it cannot connect within `within` s."""
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = create_producer(self._settings)
                try:
                    async with asyncio.timeout(within):
                        await producer.start()
                except (TimeoutError, KafkaError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable("the Kafka broker cannot be reached") from exc
                self._producer = producer
        return self._producer

    async def close(self) -> None:
        """Stop the producer if it was started."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def keep_consuming(
    make: Callable[[], AIOKafkaConsumer],
    handler: Handler | Batched,
    *,
    commit: bool,
    started: Callable[[bool], None] | None = None,
    start_timeout: float = 10.0,
    retry_seconds: float = 2.0,
) -> None:
    """Consume until cancelled; start again whenever the broker or the handler fails.

    A new consumer of a group resumes from the last committed offset, so the record whose
    handler failed is handled again: nothing is skipped. `started(True)` is called once the
    consumer knows where it reads from in every partition it was given, `started(False)` when
    it stops.
    """
    while True:
        consumer = make()
        try:
            async with asyncio.timeout(start_timeout):
                await consumer.start()
                if commit or started is not None:
                    await _positioned(consumer, commit=commit)
            if started is not None:
                started(True)
            await consume(consumer, handler, commit=commit)
        except Exception:
            log.exception(
                "consumer stopped; starting again", topics=sorted(consumer.subscription())
            )
        finally:
            if started is not None:
                started(False)
            await consumer.stop()
        await asyncio.sleep(retry_seconds)


async def consume_group(
    settings: ServiceSettings,
    topics: Iterable[str],
    handler: Handler | Batched,
    *,
    group_id: str,
    start: Literal["earliest", "latest"],
    started: Callable[[bool], None],
) -> None:
    """Consume `topics` as a member of `group_id`, committing, until cancelled.

    The network's topics are created first where missing: usually there already (`crossalert
    up`, a deployment), but without them a consumer would wait for topics nobody creates.
    """
    with contextlib.suppress(Exception):
        await create_topics(settings.kafka_bootstrap_servers, all_topic_names())
    names = list(topics)
    await keep_consuming(
        lambda: create_consumer(settings, *names, group_id=group_id, start=start),
        handler,
        commit=True,
        started=started,
    )


async def _positioned(consumer: AIOKafkaConsumer, *, commit: bool) -> None:
    """Wait for the assignment, resolve each partition's position, and make it the group's.

    A group with no committed offset starts where `auto_offset_reset` says; committing that
    start at once means a restart resumes from it, rather than from a later "latest".
    """
    # The group coordinator joins in the background once started; no record is fetched here.
    while not consumer.assignment():  # noqa: ASYNC110  (aiokafka offers no event to await)
        await asyncio.sleep(0.05)
    for partition in consumer.assignment():
        position = await consumer.position(partition)
        if commit and await consumer.committed(partition) is None:
            await consumer.commit({partition: position})
