"""Routing cost on the network's seed data, SQLite and PostgreSQL, cached and uncached.

    .venv/bin/python -m bench.registry_routing [--rounds 5] [--resolutions 300]

Each resolution answers one alert's routing facts (a crisis centre of the seed as sender,
random categories, severity and regions, fixed random seed). "cached" is what the registry
does on every request: read the generation counter, reuse the loaded data, resolve.
"uncached" loads all routing data from the database for every resolution. The baseline,
measured in the same run and session, is a primary-key SELECT of one organisation: the
cost of the lightest possible database-backed answer. Uses its own PostgreSQL cluster
(port 25432, .state/bench-postgres) unless CROSSALERT_BENCH_POSTGRES names a server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.broker import bench_postgres
from bench.report import Figure, median, percentile, report
from schemas.cap import Category, Severity, Status
from schemas.registry import RoutingFacts
from services.common.database import create_engine, session_factory
from services.localnet import postgres
from services.registry import models as m
from services.registry.cli import seed_database
from services.registry.routing import resolve
from services.registry.seed import DEFAULT_SEED, read_seed
from services.registry.snapshot import RoutingCache, load_routing_data


def alerts(count: int) -> list[RoutingFacts]:
    """`count` plausible routing questions drawn from the seed (fixed random seed)."""
    seed = read_seed(DEFAULT_SEED)
    chance = random.Random(2026)
    senders = [o["cap_sender"] for o in seed["organisations"] if o["kind"] == "crisis_centre"]
    regions = [r["code"] for r in seed["regions"]]
    severities = [Severity.EXTREME, Severity.SEVERE, Severity.MODERATE, Severity.MINOR]
    return [
        RoutingFacts(
            sender=chance.choice(senders),
            status=chance.choice([Status.ACTUAL, Status.ACTUAL, Status.EXERCISE]),
            categories=chance.sample(list(Category), k=chance.randint(1, 2)),
            severity=chance.choice(severities),
            regions=chance.sample(regions, k=chance.randint(1, 3)),
            languages=["fr-BE", "nl-BE", "de-DE"],
        )
        for _ in range(count)
    ]


Step = Callable[[AsyncSession, RoutingFacts], Awaitable[object]]


async def timings(session: AsyncSession, step: Step, questions: list[RoutingFacts]) -> list[float]:
    """Milliseconds per call of `step` over the questions."""
    samples = []
    for facts in questions:
        started = time.perf_counter()
        await step(session, facts)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(url: str, label: str, args: argparse.Namespace) -> list[Figure]:
    """Seed the database at `url`, then time the three steps in interleaved rounds."""
    await seed_database(url, DEFAULT_SEED)
    engine = create_engine(url)
    cache = RoutingCache()
    today = datetime.now(UTC).date()
    first_org = "be-nccn"

    async def baseline(session: AsyncSession, _facts: RoutingFacts) -> object:
        return await session.scalar(
            select(m.Organisation.name).where(m.Organisation.id == first_org)
        )

    async def cached(session: AsyncSession, facts: RoutingFacts) -> object:
        return resolve(await cache.get(session), facts, today=today)

    async def uncached(session: AsyncSession, facts: RoutingFacts) -> object:
        return resolve(await load_routing_data(session), facts, today=today)

    steps: dict[str, Step] = {"baseline": baseline, "cached": cached, "uncached": uncached}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    questions = alerts(args.resolutions)
    try:
        async with session_factory(engine)() as session:
            for step in steps.values():  # warm-up: connections, statement caches, the cache
                await timings(session, step, questions[:20])
            for _ in range(args.rounds):
                for name, step in steps.items():
                    samples[name] += await timings(session, step, questions)
                    await session.rollback()  # end the read transaction between steps
    finally:
        await engine.dispose()

    base = samples["baseline"]
    rate = {name: 1000 / median(values) for name, values in samples.items()}
    figures = []
    for name in ("cached", "uncached"):
        ours = samples[name]
        for q in (50, 99):
            figures.append(
                Figure(f"{label} {name} p{q}", "ms", percentile(ours, q), "pk select",
                       percentile(base, q))
            )  # fmt: skip
        figures.append(
            Figure(f"{label} {name} rate", "res/s", rate[name], "pk select", rate["baseline"])
        )
    return figures


async def run(args: argparse.Namespace, postgres_base: str, folder: Path) -> list[Figure]:
    """Measure on a fresh SQLite file, then on a fresh PostgreSQL database."""
    figures = await measure(f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", "sqlite", args)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(postgres_base, name)
    try:
        figures += await measure(url, "postgresql", args)
    finally:
        await postgres.drop_database(postgres_base, name)
    return figures


def main() -> None:
    """Start (or use) PostgreSQL, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--resolutions", type=int, default=300)
    args = parser.parse_args()

    with ExitStack() as stack:
        base = bench_postgres(stack)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        figures = asyncio.run(run(args, base, folder))
    report(
        "registry_routing",
        figures,
        settings={
            "rounds": args.rounds,
            "resolutions_per_round": args.resolutions,
            "seed": DEFAULT_SEED.name,
        },
    )


if __name__ == "__main__":
    main()
