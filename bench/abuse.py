"""The network under abuse, each figure beside its baseline measured in the same run.

    .venv/bin/python -m bench.abuse [--rounds 3] [--part tokens,memory,stall]

* **tokens**: a publisher renewing its token, and a client asking its first one, while a
  hundred wrong-password logins are always in flight (from another process), beside the same
  requests without the flood; once with the registry's default throttles (the flood comes
  from one address, as from one attacker) and once with the throttles opened wide (the hashing
  gate alone stands: an attacker with many addresses).
* **memory**: the notifier's resident memory while 50 consoles say hello and never read again
  and 30 large alerts (~600 KB each) reach them, beside 50 consoles that read; a fresh notifier
  for each side of each round.
* **stall**: how long the notifier takes to answer /healthz while one console sends 10,000
  renewals as fast as it can, beside the same probe without the flood.

Every service runs as its own process (`crossalert serve`, SQLite, the demo seed), with a real
broker: bench/notifier_network.py (ports 29300-29313); the lone registry of `tokens` on 29420.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import websockets

from bench.broker import bench_broker
from bench.consoles import StuckConsole
from bench.notifier_network import (
    PUBLISHER,
    Network,
    alerts,
    body_of,
    client_token,
    console_officers,
    login,
    routing,
    rss_kib,
    running_network,
    settle,
)
from bench.report import Figure, median, percentile, report
from schemas import Alert
from services.localnet import kafka, process
from services.localnet.service import registry_service, start_service
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED, read_seed

REGISTRY_PORT = 29420
BROKER_PORTS = (29300, 29301)
FLOOD = 100
"""Wrong-password logins always in flight during a flood."""
CONSOLES = 50
LARGE_ALERTS = 30
RENEWALS = 10_000
OPEN_THROTTLES = json.dumps(
    {name: {"burst": 10**6, "every_seconds": 1} for name in
     ("per_address", "per_account_at_address", "per_account", "per_device")}
)  # fmt: skip


# ---------------------------------------------------------------- tokens under a login flood


def _flood(url: str, flooding: multiprocessing.synchronize.Event,
           stop: multiprocessing.synchronize.Event, counts: dict[int, int]) -> None:  # fmt: skip
    """Keep FLOOD wrong-password logins in flight while `flooding` is set (a process of its own).

    It stands for attackers on other machines: its own CPU is not the registry's to lose, so it
    runs at the lowest priority here.
    """
    os.nice(19)

    seen: Counter[int] = Counter()

    async def attacker(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            if not flooding.is_set():
                await asyncio.sleep(0.05)
                continue
            wrong = {"username": "officer.liege", "password": uuid.uuid4().hex}
            try:
                seen[(await http.post("/v1/login", json=wrong)).status_code] += 1
            except httpx.HTTPError:
                seen[0] += 1  # no answer at all

    async def main() -> None:
        limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            await asyncio.gather(*(attacker(http) for _ in range(FLOOD)))

    asyncio.run(main())
    counts.update(seen)


@contextmanager
def lone_registry(stack: ExitStack, bootstrap: str, name: str, **settings: str) -> Iterator[str]:
    """A registry of its own (demo seed) on REGISTRY_PORT; its URL."""
    state = kafka.repo_root() / ".state" / f"bench-abuse-{name}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    service = registry_service(state, bootstrap, REGISTRY_PORT, **settings)
    asyncio.run(seed_database(service.env["CROSSALERT_REGISTRY_DATABASE_URL"], DEFAULT_SEED))
    pid = start_service(service)
    try:
        yield service.url
    finally:
        process.terminate(pid, timeout=30, marker="serve")


async def _token_ms(http: httpx.AsyncClient, client: tuple[str, str]) -> float:
    started = time.perf_counter()
    answer = await http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client[0],
            "client_secret": client[1],
        },
    )
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"{client[0]}: {answer.status_code} {answer.text}")
    return elapsed


def tokens_under_flood(url: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Token latencies (ms) with and without the flood, rounds interleaved; flood answer counts."""
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    counts = manager.dict()
    flooding, stop = context.Event(), context.Event()
    flooder = context.Process(target=_flood, args=(url, flooding, stop, counts), daemon=True)
    flooder.start()
    clients = [(c["client_id"], c["secret"]) for c in read_seed(DEFAULT_SEED)["api_clients"]]
    publisher, first_timers = clients[0], clients[1:]
    samples: dict[str, dict[str, list[float]]] = {
        side: {"renewal": [], "first": []} for side in ("quiet", "flood")
    }

    async def measure() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            await _token_ms(http, publisher)  # its secret is verified once, as in a shift
            for round_ in range(rounds):
                order = ("quiet", "flood") if round_ % 2 == 0 else ("flood", "quiet")
                for side in order:
                    if side == "flood":
                        flooding.set()
                        await asyncio.sleep(2)  # the flood is in full swing
                    for _ in range(20):
                        samples[side]["renewal"].append(await _token_ms(http, publisher))
                        await asyncio.sleep(0.05)
                    for _ in range(3):
                        if first_timers:
                            client = first_timers.pop()
                            samples[side]["first"].append(await _token_ms(http, client))
                    flooding.clear()
                    await asyncio.sleep(2)  # what was in flight is answered

    try:
        asyncio.run(measure())
    finally:
        stop.set()
        flooding.set()
        flooder.join(timeout=60)
    samples["flood_answers"] = {str(k): [float(v)] for k, v in sorted(dict(counts).items())}
    return samples


def token_figures(label: str, samples: dict[str, dict[str, list[float]]]) -> list[Figure]:
    quiet, flood = samples["quiet"], samples["flood"]
    figures = []
    for kind in ("renewal", "first"):
        if not flood[kind] or not quiet[kind]:
            continue
        figures += [
            Figure(f"{label}: {kind} token p50 under flood", "ms", median(flood[kind]),
                   "same, no flood", median(quiet[kind])),
            Figure(f"{label}: {kind} token p95 under flood", "ms", percentile(flood[kind], 95),
                   "same, no flood", percentile(quiet[kind], 95)),
        ]  # fmt: skip
    return figures


# ---------------------------------------------------------------- memory under slow consumers


async def _reading_consoles(url: str, hellos: list[str], stop: asyncio.Event) -> None:
    async def console(hello: str) -> None:
        async with websockets.connect(url, max_size=None) as socket_:
            await socket_.send(hello)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(socket_.recv(), 1)

    await asyncio.gather(*(console(hello) for hello in hellos))


def large(batch: list[Alert]) -> list[Alert]:
    """The alerts with a long situation report (~600 KB) in their first info block."""
    report = "Pegelstand, Lage und Prognose. " * 20_000
    return [
        alert.model_copy(
            update={"info": [alert.info[0].model_copy(update={"description": report}),
                             *alert.info[1:]]}
        )
        for alert in batch
    ]  # fmt: skip


async def memory_round(network: Network, stuck: bool) -> dict[str, float]:
    """Peak and settled RSS growth (KiB) of one fresh notifier under one kind of consoles."""
    pid = network.notifier_pid
    plain = alerts(f"MEM-{uuid.uuid4().hex[:6]}", LARGE_ALERTS)
    chosen = console_officers(await routing(network.registry_url, plain[0]))
    batch = large(plain)
    tokens = [await login(network.notifier_url, officer) for officer in chosen]
    hellos = [json.dumps({"type": "hello", "token": tokens[n % len(tokens)]})
              for n in range(CONSOLES)]  # fmt: skip
    await settle([pid])
    before = rss_kib(pid)
    stop = asyncio.Event()
    stuck_consoles: list[StuckConsole] = []
    readers: asyncio.Task[None] | None = None
    if stuck:
        stuck_consoles = [StuckConsole(network.feed_url, hello) for hello in hellos]
    else:
        readers = asyncio.create_task(_reading_consoles(network.feed_url, hellos, stop))
    await asyncio.sleep(2)
    peak = rss_kib(pid)
    token = await client_token(network.registry_url, PUBLISHER, "alerts:publish")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=network.gateway_url, timeout=60) as http:
        for alert in batch:
            answer = await http.post("/v1/alerts", content=body_of(alert), headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
            peak = max(peak, rss_kib(pid))
    # The send timeout (10 s) and the close (2 s) have passed well within this window.
    watched_until = time.monotonic() + 30
    while time.monotonic() < watched_until:
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.2)
    dropped = sum(await asyncio.gather(*(asyncio.to_thread(c.cut_off, 30) for c in stuck_consoles)))
    stop.set()
    if readers is not None:
        with contextlib.suppress(Exception):
            await readers
    await settle([pid])
    return {
        "peak": peak - before,
        "settled": rss_kib(pid) - before,
        "dropped": float(dropped),
        "before": float(before),
    }


def memory(rounds: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {"readers": [], "stuck": []}
    for round_ in range(rounds):
        for side in ("readers", "stuck") if round_ % 2 == 0 else ("stuck", "readers"):
            with running_network(console_send_timeout_seconds="10") as network:
                results[side].append(asyncio.run(memory_round(network, side == "stuck")))
    return results


# ---------------------------------------------------------------- event loop under a frame flood


async def healthz_ms(url: str, seconds: float) -> list[float]:
    """/healthz answer times (ms), one probe every 20 ms for `seconds`."""
    found = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            started = time.perf_counter()
            await http.get("/healthz")
            found.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    return found


def _renewal_flood(url: str, hello: str, token: str, closed: dict[str, object]) -> None:
    """Send RENEWALS renewals on one console as fast as it can (a process of its own)."""

    async def main() -> None:
        sent = 0
        async with websockets.connect(url, max_size=None) as socket_:
            await socket_.send(hello)
            renew = json.dumps({"type": "renew", "token": token})
            with contextlib.suppress(websockets.ConnectionClosed):
                for sent in range(1, RENEWALS + 1):  # noqa: B007  (counted after the loop)
                    await socket_.send(renew)
                await socket_.wait_closed()
            closed.update(code=socket_.close_code, sent=sent)

    asyncio.run(main())


def stall(network: Network, rounds: int) -> dict[str, list[float]]:
    """/healthz answer times with and without a renewal flood, rounds interleaved."""
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    samples: dict[str, list[float]] = {"quiet": [], "flood": [], "close_codes": []}
    officer = console_officers(asyncio.run(routing(network.registry_url, alerts("S", 1)[0])))[0]
    for round_ in range(rounds):
        for side in ("quiet", "flood") if round_ % 2 == 0 else ("flood", "quiet"):
            if side == "quiet":
                samples["quiet"] += asyncio.run(healthz_ms(network.notifier_url, 5))
                continue
            token = asyncio.run(login(network.notifier_url, officer))
            closed = manager.dict()
            hello = json.dumps({"type": "hello", "token": token})
            flooder = context.Process(
                target=_renewal_flood, args=(network.feed_url, hello, token, closed), daemon=True
            )
            flooder.start()
            samples["flood"] += asyncio.run(healthz_ms(network.notifier_url, 5))
            flooder.join(timeout=60)
            samples["close_codes"].append(float(closed.get("code") or 0))
    return samples


# ---------------------------------------------------------------- report


def main() -> None:
    """Measure the parts asked for, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part", default="tokens,memory,stall")
    args = parser.parse_args()
    parts = set(args.part.split(","))
    figures: list[Figure] = []
    notes: dict[str, object] = {"rounds": args.rounds}

    if "tokens" in parts:
        with ExitStack() as stack:
            bootstrap = bench_broker(stack, "bench-notifier-kafka", BROKER_PORTS)
            for label, settings in (
                ("default throttles", {}),
                ("throttles opened", {"throttles": OPEN_THROTTLES}),
            ):
                with lone_registry(stack, bootstrap, label.replace(" ", "-"), **settings) as url:
                    samples = tokens_under_flood(url, args.rounds)
                figures += token_figures(label, samples)
                notes[f"flood answers ({label})"] = {
                    code: int(values[0]) for code, values in samples["flood_answers"].items()
                }
    if "memory" in parts:
        results = memory(args.rounds)
        for key, label in (("peak", "peak RSS growth"), ("settled", "settled RSS growth")):
            figures.append(
                Figure(f"{CONSOLES} consoles that stop reading: {label}", "MiB",
                       median([r[key] for r in results["stuck"]]) / 1024,
                       f"{CONSOLES} reading consoles",
                       median([r[key] for r in results["readers"]]) / 1024)
            )  # fmt: skip
        notes["stuck consoles dropped (per round)"] = [int(r["dropped"]) for r in results["stuck"]]
        notes["notifier RSS before (MiB)"] = [round(r["before"] / 1024) for r in results["stuck"]]
    if "stall" in parts:
        with running_network() as network:
            probes = stall(network, args.rounds)
        for q in (50, 99, 100):
            figures.append(
                Figure(f"/healthz p{q} during a {RENEWALS}-renewal flood", "ms",
                       percentile(probes["flood"], q), "same, no flood",
                       percentile(probes["quiet"], q))
            )  # fmt: skip
        notes["flooding console closed with"] = Counter(int(c) for c in probes["close_codes"])
    report("abuse", figures, settings={k: str(v) for k, v in notes.items()})


if __name__ == "__main__":
    main()
