"""Fan-out: one alert to 1,000, 5,000 and 10,000 connected consoles, and what each connection
costs the notifier, beside a bare `websockets` broadcast server with the same consoles in the
same run.

    .venv/bin/python -m bench.notifier_fanout [--rounds 5] [--sizes 1000,5000,10000]
        [--workers 4] [--no-compression]

The registry, the gateway and the notifier run as their own processes (`crossalert serve`,
SQLite, uvicorn with uvloop; bench/notifier_network.py). The consoles live in worker processes
(bench/consoles.py), each holding its share of the consoles of both servers; they are the
seed's officers among the Meuse flood alert's 12 contact points, 5 of which have officers.
The baseline is a process of its own running a plain `websockets` server (also on uvloop, same
compression) that answers a Hello with Synced and, when told, calls `broadcast` once with a
feed item of the same alert.

Per size, consoles are added to both servers up to that size; then rounds alternate which
server goes first. The notifier's clock starts at the gateway's 202, the baseline's just before
`broadcast`; each console stamps the arrival. Figures: time until the last console and until
half of them had it (medians over rounds); memory per connection, (VmRSS with N consoles -
VmRSS before the first) / N, once the consoles are connected ("idle") and again after the rounds
("after fan-out": what sending to every console left resident); consoles connected per second
(handshake, Hello, Synced). Alerts expire a minute after they are sent, so that consoles added
later get an empty snapshot, as the first ones did. Last, a reconnect storm at the largest size:
every console drops and all reconnect at once, on the notifier with `resume_after` the last
entry of their contact point (as after a notifier restart); consoles reconnected per second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection

import httpx
import uvloop
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.consoles import Compression, Consoles, clock, raise_open_files_limit
from bench.notifier_network import (
    PUBLISHER,
    Network,
    Officer,
    alerts,
    body_of,
    client_token,
    console_hellos,
    console_officers,
    cpu_load,
    routing,
    rss_kib,
    running_network,
    settle,
)
from bench.report import Figure, median, report
from schemas import Alert
from schemas.console import AlertState, FeedItem, Hello, ItemKind, Synced
from schemas.envelopes import AlertKey
from schemas.registry import Recipient

BROADCAST_PORT = 29320
ARRIVAL_TIMEOUT_S = 120.0
CONNECTS_AT_ONCE = 50
"""Handshakes in flight per worker process."""
LASTING = timedelta(minutes=1)


@dataclass
class Side:
    """What one server measured at one size."""

    last: list[float] = field(default_factory=list)
    """ms until the last console had the alert, one per round."""
    half: list[float] = field(default_factory=list)
    """ms until half the consoles had it, one per round."""
    missing: int = 0


def feed_item(alert: Alert, recipient: Recipient, seq: int) -> str:
    """The feed item the notifier sends a console of `recipient` for `alert`."""
    key = AlertKey(sender=alert.sender, identifier=alert.identifier)
    return FeedItem(
        seq=seq,
        kind=ItemKind.ALERT,
        key=key,
        chain=key,
        alert=alert,
        exercise=False,
        state=AlertState.ACTIVE,
        language=recipient.language,
        language_available=recipient.language_available,
        reasons=recipient.reasons,
    ).model_dump_json(by_alias=True, exclude_none=True)


async def _broadcast_server(port: int, pipe: Connection) -> None:
    consoles: set[ServerConnection] = set()
    synced = Synced(cursor=0).model_dump_json()

    async def console(connection: ServerConnection) -> None:
        await connection.recv()  # the Hello
        await connection.send(synced)
        consoles.add(connection)
        try:
            await connection.wait_closed()
        finally:
            consoles.discard(connection)

    # uvicorn's backlog, so that a burst of handshakes is not refused by the kernel.
    async with serve(console, "127.0.0.1", port, backlog=2048):
        pipe.send(None)
        while (message := await asyncio.to_thread(pipe.recv)) is not None:
            started = clock()
            broadcast(consoles, message)
            pipe.send(started)


def _serve_broadcast(port: int, pipe: Connection) -> None:
    raise_open_files_limit()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_broadcast_server(port, pipe))


@contextmanager
def broadcast_server(port: int) -> Iterator[tuple[int, Connection]]:
    """The bare broadcast server in a process of its own: its pid and its command pipe."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=_serve_broadcast, args=(port, theirs), daemon=True)
    server.start()
    ours.recv()  # listening
    assert server.pid is not None
    try:
        yield server.pid, ours
    finally:
        ours.send(None)
        server.join(timeout=30)
        if server.is_alive():
            server.kill()


class Fanout:
    """Both servers, the consoles connected to them, and how to send each of them an alert."""

    def __init__(
        self,
        network: Network,
        consoles: Consoles,
        baseline: tuple[int, Connection],
        recipient: Recipient,
        http: httpx.AsyncClient,
    ) -> None:
        self.network = network
        self.consoles = consoles
        self.baseline_pid, self._pipe = baseline
        self._recipient = recipient
        self._http = http
        self.urls = {"notifier": network.feed_url, "baseline": f"ws://127.0.0.1:{BROADCAST_PORT}"}
        self.pids = {"notifier": network.notifier_pid, "baseline": self.baseline_pid}
        self.quiet = [*network.pids.values(), self.baseline_pid]
        self._run = uuid.uuid4().hex[:8]
        self._count = 0

    def next_alert(self) -> Alert:
        """A new alert (identifier) for the next round."""
        self._count += 1
        return alerts(f"FANOUT-{self._run}-{self._count}", 1, lasting=LASTING)[0]

    async def send(self, server: str, side: Side) -> None:
        """One alert through `server` to all its consoles, timed into `side`."""
        if server == "notifier":
            await self.via_notifier(side)
        else:
            await self.via_baseline(side)

    async def via_notifier(self, side: Side) -> None:
        """Post one alert to the gateway and time its arrival in every notifier console."""
        alert = self.next_alert()
        token = await client_token(self.network.registry_url, PUBLISHER, "alerts:publish")
        answer = await self._http.post(
            "/v1/alerts",
            content=body_of(alert),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        accepted = clock()
        if answer.status_code != 202:
            raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
        await self._collect("notifier", alert, accepted, side)

    async def via_baseline(self, side: Side) -> None:
        """Broadcast one feed item from the bare server and time its arrival everywhere."""
        alert = self.next_alert()
        self._pipe.send(feed_item(alert, self._recipient, self._count))
        started: float = await asyncio.to_thread(self._pipe.recv)
        await self._collect("baseline", alert, started, side)

    async def _collect(self, server: str, alert: Alert, started: float, side: Side) -> None:
        arrivals, missing = await self.consoles.collect(
            self.urls[server], [alert.identifier], within=ARRIVAL_TIMEOUT_S
        )
        times = sorted(arrivals.get(alert.identifier, []))
        side.missing += missing
        if times:
            side.last.append((times[-1] - started) * 1000)
            side.half.append((times[len(times) // 2] - started) * 1000)


async def grow(fanout: Fanout, hellos: list[str], connected: int, size: int) -> dict[str, float]:
    """Add consoles to both servers up to `size`; consoles connected per second on each."""
    rates = {}
    for server, url in fanout.urls.items():
        started = clock()
        agreed = await fanout.consoles.connect(
            url, hellos[connected:size], concurrency=CONNECTS_AT_ONCE
        )
        rates[server] = (size - connected) / (clock() - started)
        print(f"  {size:>6} consoles on the {server}: +{size - connected} at"
              f" {rates[server]:6.1f}/s; extensions: {agreed or 'none'}")  # fmt: skip
    return rates


async def rounds_at(fanout: Fanout, size: int, rounds: int, idle: float) -> dict[str, Side]:
    """The interleaved rounds at one size, after one unmeasured alert through each server."""
    sides = {"notifier": Side(), "baseline": Side()}
    for server in sides:
        await fanout.send(server, Side())  # the first message on a connection sets it up
    for round_number in range(rounds):
        order = list(sides)[:: -1 if round_number % 2 else 1]
        for server in order:
            await settle(fanout.quiet, idle=idle + 0.05)
            await fanout.send(server, sides[server])
        print(f"  {size:>6} round {round_number}: to the last console"
              f" {sides['notifier'].last[-1]:7.1f} ms via the notifier,"
              f" {sides['baseline'].last[-1]:7.1f} ms bare")  # fmt: skip
    return sides


async def measure(network: Network, args: argparse.Namespace) -> list[Figure]:
    """Add consoles size by size, run the interleaved rounds at each, return the figures."""
    answer = await routing(network.registry_url, alerts("FANOUT-probe", 1)[0])
    officers = console_officers(answer)
    recipient = next(r for r in answer.recipients if r.contact_point == officers[0].contact_point)
    hellos = await console_hellos(network.notifier_url, officers, max(args.sizes))
    compression: Compression = None if args.no_compression else "deflate"
    figures: list[Figure] = []
    with (
        broadcast_server(BROADCAST_PORT) as baseline,
        Consoles(args.workers, compression=compression) as consoles,
    ):
        async with httpx.AsyncClient(base_url=network.gateway_url, timeout=60) as http:
            fanout = Fanout(network, consoles, baseline, recipient, http)
            await fanout.via_notifier(Side())  # no console yet: routing cache, code paths
            await settle(fanout.quiet)
            empty = {server: rss_kib(pid) for server, pid in fanout.pids.items()}
            connected = 0
            for size in sorted(args.sizes):
                rates = await grow(fanout, hellos, connected, size)
                connected = size
                idle = await cpu_load(fanout.quiet)
                print(f"  idle load with {size} consoles: {idle:.2f} cores")
                memory = {"idle": per_connection(fanout.pids, empty, size)}
                sides = await rounds_at(fanout, size, args.rounds, idle)
                await settle(fanout.quiet, idle=idle + 0.05)
                memory["after fan-out"] = per_connection(fanout.pids, empty, size)
                figures += size_figures(size, sides, memory, rates)
            resumes = await resuming_hellos(network.feed_url, officers, hellos[:connected])
            storm = await reconnect_storm(fanout, {"notifier": resumes, "baseline": hellos})
    return [
        *figures,
        Figure(f"consoles reconnected with resume_after per s, {connected}", "conn/s",
               storm["notifier"], "bare websockets broadcast", storm["baseline"]),
    ]  # fmt: skip


async def resuming_hellos(feed_url: str, officers: list[Officer], hellos: list[str]) -> list[str]:
    """The same consoles' hellos, each resuming after the last entry of its contact point.

    `hellos` take the officers in turn (`console_hellos`); where each contact point's feed
    stands is what a console of it is told in Synced.
    """
    cursors = {}
    for officer, hello in zip(officers, hellos, strict=False):
        async with connect(feed_url, open_timeout=30) as probe:
            await probe.send(hello)
            while not (message := str(await probe.recv())).startswith('{"type":"synced"'):
                pass
            cursors[officer.contact_point] = Synced.model_validate_json(message).cursor
    return [
        Hello.model_validate_json(hello)
        .model_copy(update={"resume_after": cursors[officers[n % len(officers)].contact_point]})
        .model_dump_json()
        for n, hello in enumerate(hellos)
    ]


async def reconnect_storm(fanout: Fanout, hellos: dict[str, list[str]]) -> dict[str, float]:
    """Every console drops, then all reconnect at once (resuming, on the notifier): per s."""
    rates = {}
    for server, url in fanout.urls.items():
        count = await fanout.consoles.disconnect(url)
        await settle(fanout.quiet)
        started = clock()
        await fanout.consoles.connect(url, hellos[server][:count], concurrency=CONNECTS_AT_ONCE)
        rates[server] = count / (clock() - started)
        print(f"  {count} consoles reconnected to the {server} at {rates[server]:6.1f}/s")
    return rates


def per_connection(servers: dict[str, int], empty: dict[str, int], size: int) -> dict[str, float]:
    """KiB of resident memory per console of each server: (VmRSS now - with none) / consoles."""
    return {name: (rss_kib(pid) - empty[name]) / size for name, pid in servers.items()}


def size_figures(
    size: int,
    sides: dict[str, Side],
    memory: dict[str, dict[str, float]],
    rates: dict[str, float],
) -> list[Figure]:
    """The figures of one size, the notifier's beside the bare server's."""
    ours, bare = sides["notifier"], sides["baseline"]
    for name, side in sides.items():
        if side.missing:
            print(f"  {size} consoles: {side.missing} deliveries of the {name} never arrived")
    baseline = "bare websockets broadcast"
    return [
        Figure(f"to the last of {size} consoles", "ms", median(ours.last), baseline,
               median(bare.last)),
        Figure(f"to half of {size} consoles", "ms", median(ours.half), baseline,
               median(bare.half)),
        *(Figure(f"memory per connection {when}, {size}", "KiB", kib["notifier"], baseline,
                 kib["baseline"]) for when, kib in memory.items()),
        Figure(f"consoles connected per s, to {size}", "conn/s", rates["notifier"], baseline,
               rates["baseline"]),
    ]  # fmt: skip


def main() -> None:
    """Start the network and the bare server, add consoles, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 5000, 10000],
    )
    parser.add_argument("--workers", type=int, default=4, help="console processes")
    parser.add_argument(
        "--no-compression", action="store_true", help="consoles offer no permessage-deflate"
    )
    args = parser.parse_args()

    with running_network() as network:
        figures = asyncio.run(measure(network, args))
    report(
        "notifier_fanout",
        figures,
        settings={
            "rounds": args.rounds,
            "sizes": ",".join(str(n) for n in sorted(args.sizes)),
            "console_processes": args.workers,
            "compression": "none" if args.no_compression else "permessage-deflate",
            "notifier": "1 process, uvicorn (uvloop), SQLite",
        },
    )


if __name__ == "__main__":
    main()
