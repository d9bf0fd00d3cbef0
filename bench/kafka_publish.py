"""Publishing cost: crossalert's `publish` (envelope encode, route, bounded wait) beside raw
aiokafka `send_and_wait` of the same bytes to the same broker, in the same run.

    .venv/bin/python -m bench.kafka_publish [--rounds 7] [--messages 1000] [--concurrency 8]

Runs its own broker (ports 29092/29093, state in .state/bench-kafka) unless
CROSSALERT_BENCH_KAFKA=host:port names one. Both producers are idempotent with acks=all.
Rounds alternate raw and crossalert so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

from aiokafka import AIOKafkaProducer

from bench.broker import bench_broker
from bench.report import Figure, median, percentile, report
from schemas import parse_cap_xml
from schemas.cap import Category
from schemas.envelopes import AlertKey, AlertPublished, encode_envelope
from schemas.topics import route
from services.common.kafka import create_producer, create_topics, publish
from services.common.settings import ServiceSettings

EXAMPLE = Path(__file__).parent.parent / "schemas" / "examples" / "alert.meuse-flood-warning.xml"


def envelopes(count: int) -> list[AlertPublished]:
    """`count` distinct alert envelopes (about 4 KB each), spread over many chains."""
    alert = parse_cap_xml(EXAMPLE.read_bytes())
    result = []
    for number in range(count):
        copy = alert.model_copy(update={"identifier": f"BENCH-{number}"})
        result.append(
            AlertPublished(
                producer="bench",
                alert=copy,
                chain=AlertKey(sender=copy.sender, identifier=copy.identifier),
                chain_category=Category.GEO,
                client_id="bench",
                received_at=copy.sent,
            )
        )
    return result


T = TypeVar("T")
Send = Callable[[T], Awaitable[None]]


async def sequential(send: Send[T], items: Sequence[T]) -> list[float]:
    """Latency in ms of each send, one after the other."""
    latencies = []
    for item in items:
        started = time.perf_counter()
        await send(item)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def concurrent_rate(send: Send[T], items: Sequence[T], concurrency: int) -> float:
    """Acknowledged messages per second with `concurrency` senders sharing one producer."""
    pending = iter(items)

    async def sender() -> None:
        for item in pending:
            await send(item)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return len(items) / (time.perf_counter() - started)


async def measure(bootstrap: str, args: argparse.Namespace) -> list[Figure]:
    """Run the rounds and return the figures."""
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, service_name="bench")
    items = envelopes(args.messages)
    topic = route(items[0])[0]
    await create_topics(bootstrap, [topic])
    records = [(route(e)[1], encode_envelope(e)) for e in items]

    raw = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    ours = create_producer(settings)
    await raw.start()
    await ours.start()

    async def send_raw(record: tuple[bytes, bytes]) -> None:
        await raw.send_and_wait(topic, record[1], key=record[0])

    async def send_ours(envelope: AlertPublished) -> None:
        await publish(ours, envelope, ack_timeout=10)

    raw_ms: list[float] = []
    our_ms: list[float] = []
    raw_rates: list[float] = []
    our_rates: list[float] = []
    try:
        await sequential(send_raw, records[:50])  # warm-up: connections, metadata
        await sequential(send_ours, items[:50])
        for _ in range(args.rounds):
            raw_ms += await sequential(send_raw, records)
            our_ms += await sequential(send_ours, items)
            raw_rates.append(await concurrent_rate(send_raw, records, args.concurrency))
            our_rates.append(await concurrent_rate(send_ours, items, args.concurrency))
    finally:
        await ours.stop()
        await raw.stop()

    baseline = "aiokafka send_and_wait"
    rate = f"publish rate, {args.concurrency} senders"
    return [
        Figure("p50 latency", "ms", percentile(our_ms, 50), baseline, percentile(raw_ms, 50)),
        Figure("p99 latency", "ms", percentile(our_ms, 99), baseline, percentile(raw_ms, 99)),
        Figure(rate, "msg/s", median(our_rates), baseline, median(raw_rates)),
    ]


def main() -> None:
    """Start (or use) a broker, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    with ExitStack() as stack:
        bootstrap = bench_broker(stack, "bench-kafka", (29092, 29093))
        figures = asyncio.run(measure(bootstrap, args))
    report(
        "kafka_publish",
        figures,
        settings={
            "rounds": args.rounds,
            "messages": args.messages,
            "concurrency": args.concurrency,
            "payload_bytes": len(encode_envelope(envelopes(1)[0])),
        },
    )


if __name__ == "__main__":
    main()
