"""Replaying a recorded window of real traffic as an exercise: on the real broker, with the
notifier's consoles watching; and, over generated windows, the property that a replay writes
only exercise messages to exercise topics."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exercise_support import mentions, on_real_topics
from gateway_support import flood_alert, follow_up
from hypothesis import given, settings
from hypothesis import strategies as st
from notifier_support import Network, network_on

from schemas.cap import Category, MsgType, Status
from schemas.console import AlertState
from schemas.envelopes import AlertKey, AlertPublished
from schemas.topics import EXERCISE_PREFIX, route
from services.exercise.replay import ExerciseWriter, Recorded, recorded_window, replay, rewrite

GAPS = (0.8, 0.4)
"""Seconds between the real Alert, its Update and its Cancel."""


@pytest.fixture
async def network(tmp_path: Any, kafka_bootstrap: str) -> AsyncIterator[Network]:
    async with network_on(tmp_path, kafka_bootstrap) as network:
        yield network


async def test_a_replayed_window_is_an_exercise_chain_with_its_gaps_compressed(
    network: Network, kafka_bootstrap: str
) -> None:
    eupen = await network.console("be-eupen-desk")
    start = datetime.now(UTC) - timedelta(milliseconds=200)
    alert = flood_alert(scope="Restricted", restriction="Meuse desks")
    alert["info"][0]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "BE33"}]
    update = follow_up(alert, "Update", scope="Restricted", restriction="Meuse desks")
    update["info"] = alert["info"]
    cancel = follow_up(update, "Cancel", scope="Restricted", restriction="Meuse desks")
    cancel["info"] = alert["info"]
    for message, gap in itertools.zip_longest((alert, update, cancel), GAPS):
        await network.post(message)
        await asyncio.sleep(gap or 0.2)
    end = datetime.now(UTC)
    window = [
        r for r in await recorded_window(kafka_bootstrap, start, end)
        if r.envelope.alert.sender == alert["sender"]
    ]  # fmt: skip
    assert [r.envelope.alert.identifier for r in window] == [
        alert["identifier"], update["identifier"], cancel["identifier"],
    ]  # fmt: skip
    written_at: list[float] = []
    replay_id = f"test-{uuid.uuid4().hex[:6]}"

    messages = await replay(
        kafka_bootstrap, start, end, speed=2, replay_id=replay_id,
        on_message=lambda *_: written_at.append(time.monotonic()),
    )  # fmt: skip

    ours = [m.alert for m in messages if m.alert.sender == alert["sender"]]
    assert [(a.msg_type, a.status) for a in ours] == [
        (MsgType.ALERT, Status.EXERCISE), (MsgType.UPDATE, Status.EXERCISE),
        (MsgType.CANCEL, Status.EXERCISE),
    ]  # fmt: skip
    first, second, third = ours
    assert all(a.identifier.startswith(f"exercise.{replay_id}.") for a in ours)
    assert [(r.identifier, r.sent) for r in second.references] == [(first.identifier, first.sent)]
    assert [r.identifier for r in third.references] == [second.identifier]
    assert {m.chain.identifier for m in messages if m.alert in ours} == {first.identifier}
    # The recorded gaps, halved (broker time to broker time, within the machine's noise).
    recorded = [(b.timestamp_ms - a.timestamp_ms) / 1000 for a, b in itertools.pairwise(window)]
    replayed = [b - a for a, b in itertools.pairwise(written_at)]
    assert replayed == pytest.approx([g / 2 for g in recorded], abs=0.15)

    # On the console, the replayed Update and Cancel replace the replayed Alert.
    await eupen.wait_for(lambda c: (alert["sender"], third.identifier) in c.shown())
    shown = eupen.shown()
    assert [k.identifier for k in shown[alert["sender"], second.identifier].replaces] == [
        first.identifier
    ]
    closing = shown[alert["sender"], third.identifier]
    assert [k.identifier for k in closing.closes] == [second.identifier]
    assert (closing.state, closing.exercise) == (AlertState.CANCELLED, True)
    assert not [e for e in await on_real_topics(kafka_bootstrap)
                if mentions(e, f"exercise.{replay_id}.")]  # fmt: skip
    await eupen.disconnect()


def envelope(identifier: str, status: Status, msg_type: MsgType, refs: list[str]) -> Any:
    sent = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    body: dict[str, Any] = flood_alert(
        identifier=identifier, status=status.value, msgType=msg_type.value,
        sent=sent.isoformat(), references=[f"crisis@liege.example.org,{r},{sent.isoformat()}"
                                           for r in refs],
    )  # fmt: skip
    if status is Status.EXERCISE:
        body["note"] = "recorded exercise"
    return AlertPublished.model_validate({
        "producer": "alert_gateway", "alert": body, "client_id": "liege-system",
        "chain": AlertKey(sender="crisis@liege.example.org", identifier=(refs or [identifier])[0]),
        "chain_category": Category.GEO, "received_at": sent,
    })  # fmt: skip


@st.composite
def windows(draw: st.DrawFn) -> list[Recorded]:
    """Recorded traffic of any status; updates and cancels of messages in or before it."""
    found: list[Recorded] = []
    for n in range(draw(st.integers(1, 8))):
        earlier = [r.envelope.alert.identifier for r in found] + ["before-the-window"]
        msg_type = draw(st.sampled_from([MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL]))
        refs = [] if msg_type is MsgType.ALERT else [draw(st.sampled_from(earlier))]
        status = draw(st.sampled_from([s for s in Status if s is not Status.DRAFT]))
        found.append(Recorded(envelope(f"real-{n}", status, msg_type, refs), 1000 * n))
    return found


class KeptProducer:
    """Stands in for the producer in this one function's test: keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_and_wait(self, topic: str, *_: Any, **__: Any) -> None:
        self.sent.append(topic)


@settings(max_examples=80, deadline=None)
@given(windows())
def test_a_replay_writes_only_exercises_to_exercise_topics(window: list[Recorded]) -> None:
    messages = rewrite(window, "prop", "replay")
    producer = KeptProducer()
    writer = ExerciseWriter(producer)

    for recorded, message in zip(window, messages, strict=True):
        asyncio.run(writer.write(message, original=recorded))

    assert all(topic.startswith(EXERCISE_PREFIX) for topic in producer.sent)
    assert len(producer.sent) == len(window)
    identifiers = [m.alert.identifier for m in messages]
    for message in messages:
        assert message.alert.status is Status.EXERCISE
        assert route(message)[0].startswith(EXERCISE_PREFIX)
        assert {r.identifier for r in message.alert.references} <= set(identifiers)
        assert message.chain.identifier in identifiers


def test_the_writer_refuses_anything_not_an_exercise() -> None:
    real = envelope("real-1", Status.ACTUAL, MsgType.ALERT, [])
    producer = KeptProducer()

    with pytest.raises(ValueError, match="is not an exercise"):
        asyncio.run(ExerciseWriter(producer).write(real, original=Recorded(real, 0)))

    assert producer.sent == []
