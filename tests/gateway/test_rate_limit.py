"""The publishing rate of one client, shared by gateway processes that each take small leases."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from services.alert_gateway.app import MIGRATIONS
from services.alert_gateway.ratelimit import RateLimiter
from services.common.database import create_engine, session_factory
from services.common.migrations import migrate
from services.common.problems import ProblemError


async def admitted(limiter: RateLimiter, client: str) -> bool:
    try:
        await limiter.take(client)
    except ProblemError as refused:
        assert refused.status == 429
        return False
    return True


async def test_a_burst_across_two_processes_never_exceeds_the_limit(
    tmp_path: Path, database_url: str
) -> None:
    engine = create_engine(database_url)
    await migrate(engine, MIGRATIONS)
    sessions = session_factory(engine)
    # Two processes on one database; 500 a minute lets each take ten at a time.
    one, two = RateLimiter(sessions, 500), RateLimiter(sessions, 500)
    started = time.monotonic()
    try:
        answers = [
            await admitted(limiter, "liege-system") for _ in range(300) for limiter in (one, two)
        ]
        other = await admitted(one, "limburg-system")
    finally:
        await engine.dispose()
    refilled = math.ceil((time.monotonic() - started) * 500 / 60)

    # Leases are counted when taken: at most the burst (and what refilled meanwhile), less at
    # most what each process holds unspent.
    assert 500 - 2 * 9 <= sum(answers) <= 500 + refilled
    assert answers[:400] == [True] * 400
    # Past the burst, refusals: all but what refilled meanwhile (the bucket refills 8 a second,
    # so on a slow machine the very last request may find a fresh lease: not what is checked).
    assert answers[500 + refilled :].count(True) <= 2 * 10
    assert other, "another client has a bucket of its own"


@pytest.mark.parametrize("per_minute", [1, 3, 49])
async def test_a_small_limit_is_counted_one_by_one(tmp_path: Path, per_minute: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'g.sqlite3'}")
    await migrate(engine, MIGRATIONS)
    sessions = session_factory(engine)
    one, two = RateLimiter(sessions, per_minute), RateLimiter(sessions, per_minute)
    try:
        answers = [await admitted(each, "c") for _ in range(per_minute) for each in (one, two)]
    finally:
        await engine.dispose()

    assert sum(answers) == per_minute


async def test_concurrent_requests_renew_a_lapsed_lease_once(
    tmp_path: Path, database_url: str
) -> None:
    engine = create_engine(database_url)
    await migrate(engine, MIGRATIONS)
    limiter = RateLimiter(session_factory(engine), 6000)  # leases of 120
    taken = 0

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def counted(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        nonlocal taken
        taken += statement.lstrip().upper().startswith("INSERT INTO RATE_LIMITS")

    try:
        # A burst of 100 at once (a flood's worth of alerts from one centre), twice.
        first = await asyncio.gather(*(admitted(limiter, "liege-system") for _ in range(100)))
        renewed_once = taken
        second = await asyncio.gather(*(admitted(limiter, "liege-system") for _ in range(100)))
    finally:
        await engine.dispose()

    assert all(first) and all(second)
    assert renewed_once == 1  # not one database write per request waiting for it
    assert taken == 2  # the second burst spent 20 of the lease and renewed it once
