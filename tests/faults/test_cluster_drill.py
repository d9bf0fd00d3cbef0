"""Fault drill on a three-node KRaft cluster: the partition leaders' broker killed (`kill -9`)
under a steady stream of alerts and an agency's weekly figures, then restarted.

What must hold: every alert the gateway answered 202 reaches every intended console, none is
shown twice, the gateway answers within its send timeout (a 503 while leadership moves is
fine, a hang is not), the gateway goes on accepting on the partitions other nodes now lead,
everything is delivered within 10 s of the restart, and the evaluator, reading and publishing
through the new leaders, publishes each threshold message the wave calls for, in its chain
(identical copies allowed: a write the gateway answered 503 for may land after all). The
figures are printed (run with `-s`) and kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from notifier_support import Network

from faults.drill_support import drill, wave_beside
from schemas.topics import all_topic_names
from services.common.kafka import create_topics
from services.localnet import kafka

ALERT_TOPIC = "alerts.geo"  # where meuse_alert() goes
CONSOLES_PER_DESK = 20
DOWN_S = 8.0  # the node is restarted this long after the kill (start-up takes more)
WEEKS_BEFORE = 3  # of the wave, submitted before the kill (the rest while the node is down)

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[kafka.LocalCluster]:
    """A fresh three-node cluster on loopback, its topics replicated three times."""
    cluster = kafka.LocalCluster.for_tests(kafka.repo_root())
    kafka.stop_cluster(cluster)
    shutil.rmtree(cluster.state_dir, ignore_errors=True)
    try:
        kafka.start_cluster(cluster)
        asyncio.run(create_topics(cluster.bootstrap, all_topic_names()))
        yield cluster
    finally:
        kafka.stop_cluster(cluster)


async def leaders_of(bootstrap: str, topic: str) -> Counter[int]:
    """How many of the topic's partitions each node leads (each partition on three nodes)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert all(len(p["replicas"]) == 3 for p in described["partitions"]), described
    return Counter(p["leader"] for p in described["partitions"])


@pytest.fixture
def drill_bootstrap(cluster: kafka.LocalCluster) -> str:
    return cluster.bootstrap


@pytest.fixture
def consoles_per_desk() -> int:
    return CONSOLES_PER_DESK


async def test_killing_the_partition_leaders_broker_loses_no_acknowledged_alert(
    network: Network, cluster: kafka.LocalCluster, tmp_path: Path
) -> None:
    leaders = await leaders_of(cluster.bootstrap, ALERT_TOPIC)
    victim_id = leaders.most_common(1)[0][0]
    victim = cluster.brokers[victim_id - 1]

    # Beside the stream, an agency's epidemic wave to an evaluator, which must carry on too.
    async with wave_beside(network, cluster.bootstrap, tmp_path) as wave:

        async def kill_then_restart(_: object) -> tuple[float, float]:
            for week in range(WEEKS_BEFORE):
                await wave.submit(week)
            await wave.until_published(1)  # the evaluator reads and publishes
            pid = kafka.status(victim).pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            for week in range(WEEKS_BEFORE, len(wave.weeks)):
                await wave.submit(week)  # sent again while the gateway answers 503
            await asyncio.sleep(max(0.0, killed_at + DOWN_S - time.monotonic()))
            await asyncio.to_thread(kafka.start, victim)
            return killed_at, time.monotonic()

        seen = await drill(network, CONSOLES_PER_DESK, kill_then_restart)
        on_broker = len(await wave.published())
        # A write the gateway answered 503 for (its send timed out while leadership moved)
        # may land after all; the evaluator's resend is then a second, identical copy.
        threshold_messages = len(await wave.completed(copies=True))
    after = await leaders_of(cluster.bootstrap, ALERT_TOPIC)
    while_down = seen.stream.accepted_between(seen.began, seen.ended)

    seen.report(
        f"cluster drill: node {victim_id} (leader of {leaders[victim_id]} of "
        f"{sum(leaders.values())} partitions of {ALERT_TOPIC}) killed, back "
        f"{seen.ended - seen.began:.1f} s later; {while_down} accepted meanwhile; leaders "
        f"after: {dict(after)}; the evaluator's {threshold_messages} threshold messages all "
        f"published, in their chains, as {on_broker} records on the broker"
    )
    # The gateway kept accepting while the node was down: on the partitions the others led
    # all along, and on the lost node's once their leadership had moved.
    assert while_down > 0
    last_refusal = max(seen.stream.unavailable_at, default=seen.began)
    assert seen.stream.accepted_between(last_refusal, seen.ended) > 0
