"""Two notifier processes on PostgreSQL: how soon a console sees an alert that the *other*
process recorded, beside the alerts its own process recorded, in the same run.

    .venv/bin/python -m bench.notifier_processes [--rounds 3] [--rate 5] [--alerts 60]
        [--consoles 50] [--workers 2]

The registry, the gateway and two notifier processes run as their own processes (`crossalert
serve`); the notifiers share one PostgreSQL database (port 25432, .state/bench-postgres, unless
CROSSALERT_BENCH_POSTGRES names a server) and one consumer group, so each records the alerts of
its partitions. `--consoles` consoles are open on each process. The Meuse flood example is posted
at `--rate` alerts/s; one sample per alert and console: arrival minus the gateway's 202, and
arrival minus the moment the alert was recorded (the time in the receipts the recording process
wrote with its records, which also tell which process it was). An alert recorded by the console's
own process is pushed straight from the intake; one recorded by the other process reaches it
through the database (PostgreSQL's LISTEN/NOTIFY wakes the process; polling is the fallback).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from bench.broker import bench_postgres
from bench.consoles import Consoles, clock
from bench.notifier_latency import open_loop
from bench.notifier_network import (
    PUBLISHER,
    Network,
    alerts,
    body_of,
    client_token,
    console_hellos,
    console_officers,
    feed_url_of,
    routing,
    running_network,
    settle,
)
from bench.report import Figure, percentile, report
from schemas import Alert
from schemas.envelopes import Channel, DeliveryReceipt, DeliveryStatus, decode_envelope
from services.common.database import create_engine, session_factory
from services.localnet import postgres
from services.notifier.models import OutboxEvent

ARRIVAL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Recorded:
    """Which notifier recorded an alert (its feed URL), and when (on `clock()`)."""

    by: str
    at: float


async def recorders(database_url: str, pids: dict[int, str]) -> dict[str, Recorded]:
    """Who recorded each alert and when, from the console receipts written with its records."""
    # The receipts carry the wall-clock time of the writing transaction; on this one machine,
    # it is turned into `clock()` time by the difference of the two clocks now.
    offset = time.time() - clock()
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.scalars(select(OutboxEvent.envelope_json))
            found = {}
            for raw in rows:
                envelope = decode_envelope(raw)
                if (
                    isinstance(envelope, DeliveryReceipt)
                    and envelope.channel == Channel.CONSOLE
                    and envelope.status == DeliveryStatus.SENT
                ):
                    # The producer names the process: "notifier@host:PID/…".
                    pid = int(envelope.producer.split(":")[1].split("/")[0])
                    found[envelope.alert.identifier] = Recorded(
                        pids[pid], envelope.at.timestamp() - offset
                    )
            return found
    finally:
        await engine.dispose()


async def post(
    http: httpx.AsyncClient, headers: dict[str, str], batch: list[Alert], rate: float
) -> dict[str, float]:
    """Post `batch` at `rate` (open loop); when each alert was answered 202."""
    accepted: dict[str, float] = {}

    async def send(index: int) -> None:
        answer = await http.post("/v1/alerts", content=body_of(batch[index]), headers=headers)
        if answer.status_code != 202:
            raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
        accepted[batch[index].identifier] = clock()

    await open_loop(send, len(batch), rate)
    return accepted


async def measure(network: Network, database_url: str, args: argparse.Namespace) -> list[Figure]:
    """Consoles on both processes, alerts at a steady rate, latencies split by recorder."""
    run = uuid.uuid4().hex[:8]
    officers = console_officers(await routing(network.registry_url, alerts("probe", 1)[0]))
    feeds = [feed_url_of(url) for url in network.notifier_urls]
    pids = {network.pids["notifier"]: feeds[0], network.pids["notifier-2"]: feeds[1]}
    token = await client_token(network.registry_url, PUBLISHER, "alerts:publish")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # Per side (the console's own process, the other one): 202 -> console, recorded -> console.
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    with Consoles(args.workers, compression="deflate") as consoles:
        for url, feed in zip(network.notifier_urls, feeds, strict=True):
            hellos = await console_hellos(url, officers, args.consoles)
            await consoles.connect(feed, hellos, concurrency=20)
        async with httpx.AsyncClient(base_url=network.gateway_url, timeout=60) as http:
            for round_number in range(-1, args.rounds):  # round -1 warms up
                await settle(list(network.pids.values()))
                count = 10 if round_number < 0 else args.alerts
                accepted = await post(http, headers, alerts(f"BENCH-{run}-{round_number}", count),
                                      args.rate)  # fmt: skip
                arrived = {
                    feed: await consoles.collect(feed, list(accepted), within=ARRIVAL_TIMEOUT_S)
                    for feed in feeds
                }
                # Every alert is recorded by now: each console has it.
                recorded = await recorders(database_url, pids)
                this_round: dict[tuple[str, str], list[float]] = defaultdict(list)
                for feed, (arrivals, missing) in arrived.items():
                    if missing:
                        raise RuntimeError(f"{missing} deliveries never arrived on {feed}")
                    for identifier, times in arrivals.items():
                        record = recorded[identifier]
                        side = "own" if record.by == feed else "other"
                        for t in times:
                            this_round[side, "202"].append((t - accepted[identifier]) * 1000)
                            this_round[side, "recorded"].append((t - record.at) * 1000)
                print(f"  round {round_number:>2}:", "; ".join(
                    f"{side} {since}->console p50 {percentile(ms, 50):6.1f}"
                    f" p99 {percentile(ms, 99):6.1f} ms"
                    for (side, since), ms in sorted(this_round.items())
                ))  # fmt: skip
                if round_number >= 0:
                    for key, ms in this_round.items():
                        samples[key] += ms
    baseline = "recorded by the console's own process"
    return [
        Figure(f"p{q} {since}->console, recorded by the other process", "ms",
               percentile(samples["other", since], q), baseline,
               percentile(samples["own", since], q))
        for since in ("recorded", "202")
        for q in (50, 95, 99)
    ]  # fmt: skip


async def fresh_database(base: str) -> str:
    """A new, empty database on the server."""
    return await postgres.create_database(base, f"bench_notifier_{uuid.uuid4().hex[:8]}")


def main() -> None:
    """Start PostgreSQL and the network with two notifier processes, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5.0, help="alerts per second")
    parser.add_argument("--alerts", type=int, default=60, help="alerts per round")
    parser.add_argument("--consoles", type=int, default=50, help="consoles on each process")
    parser.add_argument("--workers", type=int, default=2, help="console processes")
    args = parser.parse_args()

    with ExitStack() as stack:
        base = bench_postgres(stack)
        database_url = asyncio.run(fresh_database(base))
        network = stack.enter_context(running_network(notifiers=2, database_url=database_url))
        figures = asyncio.run(measure(network, database_url, args))
    report(
        "notifier_processes",
        figures,
        settings={
            "rounds": args.rounds,
            "rate": f"{args.rate:g} alert/s",
            "alerts_per_round": args.alerts,
            "consoles_per_process": args.consoles,
            "services": "registry, gateway: 1 process each; notifier: 2 processes, "
            "one PostgreSQL database, one consumer group",
        },
    )


if __name__ == "__main__":
    main()
