"""Fault drills on the single Kafka node most networks start with: the broker killed
(`kill -9`) then restarted, and the broker frozen (SIGSTOP) then resumed, under a steady stream
of alerts to the consoles and mailboxes of three desks.

What must hold: while the broker is gone the gateway answers 503 within its send timeout (never
a hang, never a 202 it cannot keep); every alert answered 202 reaches every intended console
(none shown twice) within 10 s of the broker's return, and every mailbox. The figures are
printed (run with `-s`) and kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest
from notifier_support import Network

from faults.drill_support import SEND_TIMEOUT_S, drill
from schemas.topics import all_topic_names
from services.common.kafka import create_topics
from services.localnet import kafka

CONSOLES_PER_DESK = 40
DOWN_S = 8.0  # killed: down this long before the restart (which takes seconds more)
FROZEN_S = 30.0  # stopped: six send timeouts, so requests must give up again and again


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.LocalBroker]:
    """A node of the drills' own (killing the suite's shared broker would disturb others)."""
    broker = kafka.LocalBroker(
        kafka.repo_root(), tmp_path_factory.mktemp("drill-kafka"), 19800, 19801
    )
    kafka.start(broker)
    try:
        asyncio.run(create_topics(broker.bootstrap, all_topic_names()))
        yield broker
    finally:
        kafka.stop(broker)


@pytest.fixture
def drill_bootstrap(broker: kafka.LocalBroker) -> str:
    return broker.bootstrap


@pytest.fixture
def consoles_per_desk() -> int:
    return CONSOLES_PER_DESK


def broker_pid(broker: kafka.LocalBroker) -> int:
    pid = kafka.status(broker).pid
    assert pid is not None, "the drill's broker is not running"
    return pid


async def test_the_broker_killed_and_restarted_loses_no_acknowledged_alert(
    network: Network, broker: kafka.LocalBroker
) -> None:
    async def kill_then_restart(_: object) -> tuple[float, float]:
        os.kill(broker_pid(broker), signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(kafka.start, broker)
        return killed_at, time.monotonic()

    seen = await drill(network, CONSOLES_PER_DESK, kill_then_restart)

    seen.report(f"broker kill -9 drill: back {seen.ended - seen.began:.1f} s after the kill")
    assert seen.stream.answers[503] > 0  # refused while the broker was gone, not accepted
    # None accepted while it was gone: from a send timeout after the kill (an answer to a write
    # acknowledged just before may come just after) until its restart began.
    assert seen.stream.accepted_between(seen.began + SEND_TIMEOUT_S, seen.began + DOWN_S) == 0


async def test_the_broker_frozen_then_resumed_loses_no_acknowledged_alert(
    network: Network, broker: kafka.LocalBroker
) -> None:
    async def freeze_then_resume(_: object) -> tuple[float, float]:
        pid = broker_pid(broker)
        os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            await asyncio.sleep(FROZEN_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        return frozen_at, time.monotonic()

    seen = await drill(network, CONSOLES_PER_DESK, freeze_then_resume)

    seen.report(f"broker SIGSTOP drill: frozen {seen.ended - seen.began:.1f} s")
    assert seen.stream.answers[503] > 0
    # An answer is a 202 only if the broker acknowledged in time: none while it was frozen
    # (but for writes it took in the instant before).
    assert seen.stream.accepted_between(seen.began + SEND_TIMEOUT_S, seen.ended) == 0
