"""Replaying a window of real traffic as an exercise: what the network carried between two
moments, played again on the exercise topics, with its time gaps compressed by a speed.

The window is found with Kafka's offsets by timestamp on every real alert topic. Each message
becomes an exercise message of the replay: status Exercise, a new identifier
(`exercise.REPLAY.N`), the chain key and every reference rewritten to the new identifiers, the
replay named in the CAP `note`. A reference to a message before the window has nothing to
point to and is dropped; an Update or Cancel left without one becomes an Alert, so that the
consoles show it rather than refuse it. Records carry the time they are replayed at (an old
timestamp could make retention delete them at once) and keep the original in a header.

Nothing here can write to a real topic: the only writer, `ExerciseWriter`, takes no topic name,
derives the exercise twin of an alert's topic itself and refuses an alert that is not an
exercise; `rewrite` makes every message one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.cap import MsgType, Status
from schemas.cap_types import Reference
from schemas.envelopes import AlertKey, AlertPublished, decode_envelope, encode_envelope
from schemas.topics import ALERT_TOPICS, EXERCISE_PREFIX, EXERCISE_STATUSES, route

ORIGINAL_TIME_HEADER = "crossalert-original-timestamp"
ORIGINAL_ID_HEADER = "crossalert-original-identifier"


@dataclass(frozen=True)
class Recorded:
    """A message of the window: its envelope and when the broker took it (ms since epoch)."""

    envelope: AlertPublished
    timestamp_ms: int


async def recorded_window(bootstrap: str, start: datetime, end: datetime) -> list[Recorded]:
    """Every alert message on the real topics taken between `start` and `end`, in time order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    found: list[Recorded] = []
    try:
        existing = await consumer.topics()
        consumer.subscribe([spec.name for spec in ALERT_TOPICS.values() if spec.name in existing])
        async with asyncio.timeout(30):  # without a group, every partition is assigned at once
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)  # nothing is read before the seeks
        partitions = sorted(consumer.assignment())
        begins = await consumer.offsets_for_times(
            {tp: int(start.timestamp() * 1000) for tp in partitions}
        )
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            at = begins.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        stop_ms = int(end.timestamp() * 1000)
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.timestamp > stop_ms:
                        pending.discard(tp)
                        break
                    envelope = decode_envelope(record.value or b"")
                    if isinstance(envelope, AlertPublished):
                        found.append(Recorded(envelope, record.timestamp))
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return sorted(found, key=lambda r: r.timestamp_ms)


def rewrite(window: Sequence[Recorded], replay_id: str, note: str) -> list[AlertPublished]:
    """The window's messages as the replay's exercise messages, in the same order."""
    replayed: dict[tuple[str, str], Reference] = {}  # original (sender, id) -> its replay
    out = []
    for number, recorded in enumerate(window, start=1):
        old = recorded.envelope
        identifier = f"exercise.{replay_id}.{number}"
        sent = datetime.now(UTC).replace(microsecond=0)
        references = [
            replayed[r.sender, r.identifier]
            for r in old.alert.references
            if (r.sender, r.identifier) in replayed
        ]
        replayed[old.alert.sender, old.alert.identifier] = Reference(
            sender=old.alert.sender, identifier=identifier, sent=sent
        )
        msg_type = old.alert.msg_type
        if msg_type in (MsgType.UPDATE, MsgType.CANCEL) and not references:
            msg_type = MsgType.ALERT  # what it followed lies before the window
        alert = old.alert.model_copy(update={
            "identifier": identifier, "status": Status.EXERCISE, "note": note,
            "references": references, "msg_type": msg_type, "sent": sent,
        })  # fmt: skip
        chain = replayed.get((old.chain.sender, old.chain.identifier))
        first = chain.identifier if chain is not None else identifier
        out.append(old.model_copy(update={
            "message_id": uuid.uuid4(), "produced_at": datetime.now(UTC),
            "producer": "exercise-replay", "alert": alert, "received_at": datetime.now(UTC),
            "chain": AlertKey(sender=old.chain.sender, identifier=first),
        }))  # fmt: skip
    # model_copy skips validation: check each message as the contract reads it.
    return [AlertPublished.model_validate_json(encode_envelope(e)) for e in out]


class ExerciseWriter:
    """Writes exercise alerts to the exercise twin of their topic, and nothing else."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def write(self, envelope: AlertPublished, *, original: Recorded) -> str:
        """Write one exercise message; its topic. ValueError for anything not an exercise."""
        if envelope.alert.status not in EXERCISE_STATUSES:
            raise ValueError(f"{envelope.alert.identifier} is not an exercise: not written")
        topic, key = route(envelope)
        if not topic.startswith(EXERCISE_PREFIX):
            raise ValueError(f"{topic} is not an exercise topic: not written")
        headers = [
            (ORIGINAL_TIME_HEADER, str(original.timestamp_ms).encode()),
            (ORIGINAL_ID_HEADER, original.envelope.alert.identifier.encode()),
        ]
        await self._producer.send_and_wait(topic, encode_envelope(envelope), key=key,
                                           headers=headers)  # fmt: skip
        return topic


async def replay(
    bootstrap: str,
    start: datetime,
    end: datetime,
    *,
    speed: float,
    replay_id: str,
    on_message: Callable[[AlertPublished, str], None] = lambda *_: None,
) -> list[AlertPublished]:
    """Replay the window at `speed` (its gaps divided by it); the messages written."""
    window = await recorded_window(bootstrap, start, end)
    note = (f"Exercise replay {replay_id} of real traffic from {start.isoformat()} to "
            f"{end.isoformat()}")  # fmt: skip
    messages = rewrite(window, replay_id, note)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    writer = ExerciseWriter(producer)
    try:
        started = time.monotonic()
        first_ms = window[0].timestamp_ms if window else 0
        for recorded, message in zip(window, messages, strict=True):
            due = (recorded.timestamp_ms - first_ms) / 1000 / speed
            await asyncio.sleep(max(0.0, due - (time.monotonic() - started)))
            on_message(message, await writer.write(message, original=recorded))
    finally:
        await producer.stop()
    return messages
