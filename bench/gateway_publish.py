"""Accepting alerts: HTTP clients posting to a real gateway until the broker acknowledged each
(202), beside raw aiokafka `send_and_wait` of the same envelopes to the same broker with the
same concurrency, in the same run.

    .venv/bin/python -m bench.gateway_publish [--rounds 5] [--alerts 400] [--concurrency 8,64]
                                              [--processes 1,2]

The registry and the gateway run as their own processes (`crossalert serve`, uvicorn, SQLite),
state and logs in .state/bench-gateway; with N gateway processes, they share the one database
and the clients take turns between them (client i posts to process i mod N). Every number of
processes is measured at every concurrency, each beside its own baseline. The
clients use the seed's nl-vrln-system. Runs its own broker (ports 29192/29193, state in
.state/bench-gateway-kafka) unless CROSSALERT_BENCH_KAFKA=host:port names one. Both sides write
idempotently with acks=all. A third side, the floor (bench/http_floor.py, as many processes as
the gateway), is a bare FastAPI route on uvicorn that writes the body to the broker and answers
202, nothing else: the gateway beside it shows what crossalert's own work costs (token, CAP
validation, chain, log, database), the floor beside raw aiokafka what HTTP in Python costs.
Rounds rotate which side goes first, so that machine noise hits all alike; every alert
(identifier) is new to the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from bench.broker import bench_broker
from bench.report import Figure, median, percentile, report
from schemas import Alert, parse_cap_xml, to_cap_json
from schemas.cap import Category
from schemas.envelopes import AlertKey, AlertPublished, encode_envelope
from schemas.topics import route
from services.common.kafka import create_topics
from services.localnet import kafka, process
from services.localnet.service import LocalService, gateway_service, registry_service, start_service
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED

EXAMPLE = Path(__file__).parent.parent / "schemas" / "examples" / "alert.meuse-flood-warning.xml"
CLIENT_ID, CLIENT_SECRET = "nl-vrln-system", "demo-secret-nl-vrln"  # from the default seed
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Item:
    """One alert as both sides send it: the gateway's request body, the baseline's record."""

    body: bytes
    key: bytes
    envelope: bytes


def alerts(prefix: str, count: int) -> list[Alert]:
    """`count` distinct alerts nl-vrln-system may publish (the example, its areas in NL42)."""
    # The example's German info block names DEA1E; the client acts for NL421 and NL422.
    document = EXAMPLE.read_bytes().replace(b"<value>DEA1E</value>", b"<value>NL422</value>")
    alert = parse_cap_xml(document)
    return [alert.model_copy(update={"identifier": f"{prefix}-{n}"}) for n in range(count)]


def item_of(alert: Alert) -> Item:
    """The JSON body posted to the gateway, and the envelope the gateway would write for it."""
    envelope = AlertPublished(
        producer="alert_gateway",
        alert=alert,
        chain=AlertKey(sender=alert.sender, identifier=alert.identifier),
        chain_category=Category.GEO,
        client_id=CLIENT_ID,
        received_at=datetime.now(UTC),
    )
    topic, key = route(envelope)
    assert topic == "alerts.geo"
    return Item(to_cap_json(alert).encode(), key, encode_envelope(envelope))


Send = Callable[[int, Item], Awaitable[None]]


async def drive(send: Send, items: Sequence[Item], concurrency: int) -> tuple[float, list[float]]:
    """Items per second with `concurrency` senders (sender i calls send(i, item)); latencies."""
    pending = iter(items)
    latencies: list[float] = []

    async def sender(index: int) -> None:
        for item in pending:
            started = time.perf_counter()
            await send(index, item)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(sender(i) for i in range(concurrency)))
    return len(items) / (time.perf_counter() - started), latencies


async def token(registry_url: str) -> str:
    """A publishing token for the bench's client (client credentials grant)."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{registry_url}/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "alerts:publish",
            },
        )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def measure(
    bootstrap: str,
    registry_url: str,
    gateway_urls: Sequence[str],
    floor_urls: Sequence[str],
    concurrency: int,
    args: argparse.Namespace,
) -> list[Figure]:
    """Run the interleaved rounds and return the figures."""
    await create_topics(bootstrap, ["alerts.geo"])
    run = uuid.uuid4().hex[:8]
    async with AsyncExitStack() as stack:
        raw = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        await raw.start()
        stack.push_async_callback(raw.stop)

        # One connection per client, as crisis centres posting side by side would hold.
        def clients_of(urls: Sequence[str]) -> list[Awaitable[httpx.AsyncClient]]:
            return [
                stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=urls[index % len(urls)],
                        timeout=30,
                        limits=httpx.Limits(max_connections=1),
                    )
                )
                for index in range(concurrency)
            ]

        clients = [await client for client in clients_of(gateway_urls)]
        floors = [await client for client in clients_of(floor_urls)]
        headers = {"Content-Type": "application/json"}

        async def send_raw(_: int, item: Item) -> None:
            await raw.send_and_wait("alerts.geo", item.envelope, key=item.key)

        async def send_gateway(index: int, item: Item) -> None:
            answer = await clients[index].post("/v1/alerts", content=item.body, headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")

        async def send_floor(index: int, item: Item) -> None:
            answer = await floors[index].post(
                "/v1/alerts", content=item.body, headers={"x-key": item.key.decode()}
            )
            if answer.status_code != 202:
                raise RuntimeError(f"the floor answered {answer.status_code}: {answer.text}")

        sides = {"raw": send_raw, "gateway": send_gateway, "floor": send_floor}
        rates: dict[str, list[float]] = {side: [] for side in sides}
        latencies: dict[str, list[float]] = {side: [] for side in sides}
        for round_number in range(-1, args.rounds):  # round -1 warms up: connections, caches
            warm_up = round_number < 0
            count = 50 if warm_up else args.alerts
            items = [item_of(a) for a in alerts(f"BENCH-{run}-{round_number}", count)]
            headers["Authorization"] = f"Bearer {await token(registry_url)}"  # 5-minute tokens
            turn = round_number % len(sides)
            order = [*sides][turn:] + [*sides][:turn]
            for side in order:
                rate, latency = await drive(sides[side], items, concurrency)
                if not warm_up:
                    rates[side].append(rate)
                    latencies[side] += latency

    baseline, floor = "aiokafka send_and_wait", "bare FastAPI route"
    senders = (
        f"{concurrency} clients, {len(gateway_urls)} process{'es' if len(gateway_urls) > 1 else ''}"
    )
    gw, bl, fl = latencies["gateway"], latencies["raw"], latencies["floor"]
    return [
        Figure(f"accepted/s, {senders}", "alert/s", median(rates["gateway"]), baseline,
               median(rates["raw"])),
        Figure(f"p50 accept latency, {senders}", "ms", percentile(gw, 50), baseline,
               percentile(bl, 50)),
        Figure(f"p99 accept latency, {senders}", "ms", percentile(gw, 99), baseline,
               percentile(bl, 99)),
        Figure(f"floor accepted/s, {senders}", "alert/s", median(rates["floor"]), baseline,
               median(rates["raw"])),
        Figure(f"floor p99 latency, {senders}", "ms", percentile(fl, 99), baseline,
               percentile(bl, 99)),
        Figure(f"accepted/s beside the floor, {senders}", "alert/s", median(rates["gateway"]),
               floor, median(rates["floor"])),
        Figure(f"p99 accept latency beside the floor, {senders}", "ms", percentile(gw, 99),
               floor, percentile(fl, 99)),
    ]  # fmt: skip


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def services(root: Path, bootstrap: str, processes: int) -> tuple[LocalService, list[LocalService]]:
    """The registry and the gateway processes (one database), on free ports, state in
    .state/bench-gateway."""
    state = root / ".state" / "bench-gateway"
    registry = registry_service(state, bootstrap, free_port())
    unlimited = str(10**9)  # measure, do not throttle
    gateways = [
        gateway_service(
            state, bootstrap, free_port(), registry.url, rate_limit_per_minute=unlimited
        )
        for _ in range(processes)
    ]
    return registry, gateways


def start_floors(stack: ExitStack, bootstrap: str, processes: int) -> list[str]:
    """Start `processes` floor servers (bench/http_floor.py) on free ports; their URLs."""
    root = kafka.repo_root()
    log_file = root / ".state" / "bench-gateway" / "floor.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    urls = []
    for _ in range(processes):
        port = free_port()
        pid = process.spawn_detached(
            [sys.executable, "-m", "bench.http_floor", str(port)],
            log_file=log_file,
            cwd=root,
            env={"CROSSALERT_BENCH_KAFKA": bootstrap},
        )
        stack.callback(process.terminate, pid, timeout=STOP_TIMEOUT_S, marker="http_floor")
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        deadline = time.monotonic() + 30
        while not ready(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the floor at {url} did not start; see {log_file}")
            time.sleep(0.2)
    return urls


def ready(url: str) -> bool:
    """Whether a server answers /healthz at `url`."""
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def numbers(text: str) -> list[int]:
    """`8,64` -> [8, 64]."""
    return [int(part) for part in text.split(",")]


def main() -> None:
    """Start (or use) a broker; for each number of gateway processes, start the registry and
    the gateways on a fresh database and measure every concurrency; report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--alerts", type=int, default=400)
    parser.add_argument("--concurrency", type=numbers, default=[8, 64], help="e.g. 8,64")
    parser.add_argument("--processes", type=numbers, default=[1, 2], help="gateway processes")
    args = parser.parse_args()

    root = kafka.repo_root()
    figures: list[Figure] = []
    with ExitStack() as broker:
        bootstrap = bench_broker(broker, "bench-gateway-kafka", (29192, 29193))
        for processes in args.processes:
            with ExitStack() as stack:
                registry, gateways = services(root, bootstrap, processes)
                shutil.rmtree(registry.state_dir, ignore_errors=True)  # a fresh gateway database
                registry.state_dir.mkdir(parents=True)
                asyncio.run(
                    seed_database(registry.env["CROSSALERT_REGISTRY_DATABASE_URL"], DEFAULT_SEED)
                )
                for service in (registry, *gateways):
                    pid = start_service(service)
                    stack.callback(process.terminate, pid, timeout=STOP_TIMEOUT_S, marker="serve")
                urls = [gateway.url for gateway in gateways]
                floors = start_floors(stack, bootstrap, processes)
                for concurrency in args.concurrency:
                    figures += asyncio.run(
                        measure(bootstrap, registry.url, urls, floors, concurrency, args)
                    )
    item = item_of(alerts("BENCH", 1)[0])
    report(
        "gateway_publish",
        figures,
        settings={
            "rounds": args.rounds,
            "alerts": args.alerts,
            "concurrency": ",".join(map(str, args.concurrency)),
            "body_bytes": len(item.body),
            "envelope_bytes": len(item.envelope),
            "gateway": f"{' or '.join(map(str, args.processes))} process(es), uvicorn, one "
            "SQLite database",
        },
    )


if __name__ == "__main__":
    main()
