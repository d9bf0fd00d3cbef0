"""Alert to screen: from the gateway's 202 until the alert is in a duty officer's console, at
fixed publish rates with a hundred consoles connected, beside raw aiokafka produce-to-consume of
an envelope of the same size on the same broker, at the same rates, in the same run.

    .venv/bin/python -m bench.notifier_latency [--rounds 3] [--rates 1,20,50] [--alerts 40]
        [--consoles 100] [--workers 2]

The registry, the gateway and the notifier run as their own processes (`crossalert serve`,
SQLite; bench/notifier_network.py), the notifier mailing a sink of its own. The alert is the
Meuse flood example: 12 contact points, so 12 console deliveries and 12 mails each. The consoles
are the seed's duty officers among them (several consoles share a login), held by worker
processes (bench/consoles.py). Posting is open-loop: alert i is posted at i/rate s, whatever the
answers before it took. One sample per alert and console: arrival minus the 202. The baseline
sends with `send_and_wait` (idempotent, acks=all, like the gateway) at the same times to a topic
of its own, one consumer reading it: arrival minus send start. Rounds alternate which side goes
first; every measurement starts once the services are idle again (mail is sent after the push).

Where the rate exceeds what the notifier records per second, alerts queue and the percentiles
grow with the length of the burst (--alerts): they then tell how long such a burst takes to
clear, and the throughput figure (first send to last arrival) tells the notifier's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.consoles import Consoles, clock
from bench.notifier_network import (
    PUBLISHER,
    Network,
    alerts,
    body_of,
    client_token,
    console_hellos,
    console_officers,
    recipients,
    routing,
    running_network,
    settle,
)
from bench.report import Figure, median, percentile, report
from schemas import Alert
from schemas.cap import Category
from schemas.envelopes import AlertKey, AlertPublished, encode_envelope
from services.common.kafka import create_topics

BASELINE_TOPIC = "bench.notifier-latency"
ARRIVAL_TIMEOUT_S = 300.0
WARM_UP = 10


@dataclass(frozen=True)
class Sample:
    """One side's measurement at one rate."""

    latencies: list[float]
    """ms, one per delivery (notifier: alert and console; baseline: message)."""
    accepts: list[float]
    """ms until the gateway's 202 (notifier), until the broker's acknowledgement (baseline)."""
    rate: float
    """Alerts per second actually posted (or sent)."""
    through: float
    """Alerts per second from the first send to the last arrival."""
    missing: int
    """Deliveries that never arrived."""


def envelope_of(alert: Alert) -> bytes:
    """The envelope the gateway writes for `alert`: the baseline sends the same bytes."""
    return encode_envelope(
        AlertPublished(
            producer="alert_gateway",
            alert=alert,
            chain=AlertKey(sender=alert.sender, identifier=alert.identifier),
            chain_category=Category.GEO,
            client_id=PUBLISHER[0],
            received_at=datetime.now(UTC),
        )
    )


async def open_loop(send: Callable[[int], Awaitable[None]], count: int, rate: float) -> float:
    """Call send(i) at i/rate s from now, never waiting for earlier calls; the rate achieved."""
    started = clock()

    async def one(index: int) -> None:
        await asyncio.sleep(max(0.0, started + index / rate - clock()))
        await send(index)

    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (clock() - started)


class Side(Protocol):
    """One way of getting alerts to their readers."""

    async def measure(self, batch: list[Alert], rate: float) -> Sample:
        """Send `batch` at `rate`; what it took."""
        ...


class NotifierPath:
    """Alerts posted to the gateway, stamped where the consoles receive them."""

    def __init__(self, network: Network, http: httpx.AsyncClient, consoles: Consoles) -> None:
        self._network = network
        self._http = http
        self._consoles = consoles

    async def measure(self, batch: list[Alert], rate: float) -> Sample:
        """Post `batch` at `rate` and wait until every console has every alert."""
        token = await client_token(self._network.registry_url, PUBLISHER, "alerts:publish")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = [body_of(alert) for alert in batch]
        accepted: dict[str, float] = {}
        accepts: list[float] = []

        async def send(index: int) -> None:
            started = clock()
            answer = await self._http.post("/v1/alerts", content=bodies[index], headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
            accepted[batch[index].identifier] = done = clock()
            accepts.append((done - started) * 1000)

        started = clock()
        achieved = await open_loop(send, len(batch), rate)
        arrivals, missing = await self._consoles.collect(
            self._network.feed_url, list(accepted), within=ARRIVAL_TIMEOUT_S
        )
        latencies = [
            (arrived - accepted[identifier]) * 1000
            for identifier, times in arrivals.items()
            for arrived in times
        ]
        last = max((max(times) for times in arrivals.values()), default=clock())
        return Sample(latencies, accepts, achieved, len(batch) / (last - started), missing)


class RawPath:
    """The baseline: an aiokafka producer and a consumer of a topic of the benchmark's own."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )
        self._consumer = AIOKafkaConsumer(
            BASELINE_TOPIC, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest"
        )
        self._received: dict[str, float] = {}
        self._arrival = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the topic, connect, and read from its end."""
        await create_topics(self._bootstrap, [BASELINE_TOPIC])
        await self._producer.start()
        await self._consumer.start()
        while not self._consumer.assignment():  # noqa: ASYNC110  (aiokafka has no event for it)
            await asyncio.sleep(0.05)
        for partition in self._consumer.assignment():
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for record in self._consumer:
            self._received[(record.key or b"").decode()] = clock()
            self._arrival.set()

    async def stop(self) -> None:
        """Stop reading and disconnect."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._consumer.stop()
        await self._producer.stop()

    async def measure(self, batch: list[Alert], rate: float) -> Sample:
        """Send the envelopes of `batch` at `rate` and wait until the consumer has them all."""
        records = [(alert.identifier.encode(), envelope_of(alert)) for alert in batch]
        sent: dict[str, float] = {}
        accepts: list[float] = []

        async def send(index: int) -> None:
            key, value = records[index]
            sent[key.decode()] = started = clock()
            await self._producer.send_and_wait(BASELINE_TOPIC, value, key=key)
            accepts.append((clock() - started) * 1000)

        started = clock()
        achieved = await open_loop(send, len(records), rate)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ARRIVAL_TIMEOUT_S):
                while not sent.keys() <= self._received.keys():
                    self._arrival.clear()
                    await self._arrival.wait()
        arrived = {key: self._received.pop(key) for key in sent if key in self._received}
        latencies = [(arrived[key] - sent[key]) * 1000 for key in arrived]
        last = max(arrived.values(), default=clock())
        return Sample(
            latencies, accepts, achieved, len(records) / (last - started), len(sent) - len(arrived)
        )


async def measure(network: Network, args: argparse.Namespace) -> list[Figure]:
    """Connect the consoles, run the interleaved rounds, return the figures."""
    run = uuid.uuid4().hex[:8]
    answer = await routing(network.registry_url, alerts(f"BENCH-{run}-probe", 1)[0])
    officers = console_officers(answer)
    hellos = await console_hellos(network.notifier_url, officers, args.consoles)
    print(f"the alert goes to {len(recipients(answer))} contact points; {args.consoles} consoles"
          f" on {len({o.contact_point for o in officers})} of them, as"
          f" {', '.join(o.username for o in officers)}")  # fmt: skip
    quiet = list(network.pids.values())
    samples: dict[tuple[str, float], list[Sample]] = {}
    with Consoles(args.workers, compression="deflate") as consoles:
        extensions = await consoles.connect(network.feed_url, hellos, concurrency=20)
        print(f"consoles connected; WebSocket extensions: {extensions or 'none'}")
        raw = RawPath(network.bootstrap)
        await raw.start()
        async with httpx.AsyncClient(
            base_url=network.gateway_url, timeout=60, limits=httpx.Limits(max_connections=200)
        ) as http:
            sides: dict[str, Side] = {
                "notifier": NotifierPath(network, http, consoles),
                "raw": raw,
            }
            try:
                for round_number in range(-1, args.rounds):  # round -1 warms up
                    for rate in args.rates:
                        count = WARM_UP if round_number < 0 else args.alerts
                        order = ["notifier", "raw"] if round_number % 2 else ["raw", "notifier"]
                        for side in order:
                            waited = await settle(quiet)
                            prefix = f"BENCH-{run}-{round_number}-{rate:g}-{side}"
                            result = await sides[side].measure(alerts(prefix, count), rate)
                            if round_number >= 0:
                                samples.setdefault((side, rate), []).append(result)
                            print(
                                f"  round {round_number:>2} {rate:>4g}/s {side:<8}"
                                f" sent at {result.rate:5.1f}/s, through at {result.through:5.1f}/s"
                                f"  p50 {percentile(result.latencies, 50):8.1f} ms"
                                f"  p99 {percentile(result.latencies, 99):8.1f} ms"
                                f"  missing {result.missing}  (idle after {waited:4.1f} s)"
                            )
            finally:
                await raw.stop()
    return figures(samples, args.rates)


def figures(samples: dict[tuple[str, float], list[Sample]], rates: list[float]) -> list[Figure]:
    """Percentiles over every round's deliveries, medians of rates, each beside the baseline."""
    baseline = "aiokafka produce->consume"
    result = []
    for rate in rates:
        ours, raw = samples[("notifier", rate)], samples[("raw", rate)]
        latency = [ms for s in ours for ms in s.latencies]
        raw_latency = [ms for s in raw for ms in s.latencies]
        at = f"{rate:g} alert/s"
        for q in (50, 95, 99):
            result.append(Figure(f"p{q} 202->console, {at}", "ms", percentile(latency, q),
                                 baseline, percentile(raw_latency, q)))  # fmt: skip
        result.append(Figure(f"throughput to consoles, {at}", "alert/s",
                             median([s.through for s in ours]), baseline,
                             median([s.through for s in raw])))  # fmt: skip
        result.append(Figure(f"p50 gateway 202, {at}", "ms",
                             percentile([ms for s in ours for ms in s.accepts], 50),
                             "aiokafka send_and_wait",
                             percentile([ms for s in raw for ms in s.accepts], 50)))  # fmt: skip
        missing = sum(s.missing for s in ours) + sum(s.missing for s in raw)
        if missing:
            print(f"  {at}: {missing} deliveries never arrived")
    return result


def main() -> None:
    """Start the network, connect the consoles, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--rates", type=lambda text: [float(r) for r in text.split(",")], default=[1.0, 20.0, 50.0]
    )
    parser.add_argument("--alerts", type=int, default=40, help="alerts per rate and round")
    parser.add_argument("--consoles", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="console processes")
    args = parser.parse_args()

    with running_network() as network:
        figures_ = asyncio.run(measure(network, args))
    report(
        "notifier_latency",
        figures_,
        settings={
            "rounds": args.rounds,
            "rates": ",".join(f"{r:g}" for r in args.rates),
            "alerts_per_rate": args.alerts,
            "consoles": args.consoles,
            "console_processes": args.workers,
            "envelope_bytes": len(envelope_of(alerts("BENCH", 1)[0])),
            "services": "registry, gateway, notifier: 1 process each, uvicorn, SQLite",
        },
    )


if __name__ == "__main__":
    main()
