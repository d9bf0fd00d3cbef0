"""Rate limits that every process of a service shares, kept in the service's own database.

Each limited key (a client, an account, an address) is one row holding its theoretical
arrival time (TAT) of the generic cell rate algorithm: a request is allowed when, after it,
the TAT would stand no further than `burst` intervals ahead of now. One atomic upsert per
request decides it, so several processes behind a load balancer enforce one limit together
rather than one each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, case, delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RATE_LIMITS = Table(
    "rate_limits",
    MetaData(),
    Column("key", String(200), primary_key=True),
    Column("tat", Float, nullable=False),
)
"""The table each service's migrations create: a key and its theoretical arrival time."""


@dataclass(frozen=True)
class Rate:
    """`burst` requests at once, then one more every `every_seconds`."""

    burst: int
    every_seconds: float

    @property
    def window(self) -> float:
        """How far ahead of now the TAT may stand after an allowed request."""
        return self.burst * self.every_seconds


class SharedRateLimiter:
    """GCRA over the `rate_limits` table of a service's database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def take(self, limits: Mapping[str, Rate], *, cost: int = 1) -> float:
        """Count `cost` requests under each key: 0 when every key allowed them, else the
        longest wait of a key that did not (that key counts none of them)."""
        now = time.time()
        wait = 0.0
        async with self._sessions() as session, session.begin():
            postgres = session.get_bind().dialect.name == "postgresql"
            for key, rate in limits.items():
                wait = max(wait, await _take(session, key, rate, now, cost, postgres=postgres))
        return wait

    async def wait(self, limits: Mapping[str, Rate]) -> float:
        """Seconds before one more request under every key would be allowed (0: now); counts
        nothing."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(RATE_LIMITS.c.key, RATE_LIMITS.c.tat).where(
                    RATE_LIMITS.c.key.in_(list(limits))
                )
            )
            stands: dict[str, float] = {key: tat for key, tat in rows}
        now = time.time()
        return max(
            (
                stands[key] + rate.every_seconds - rate.window - now
                for key, rate in limits.items()
                if key in stands
            ),
            default=0.0,
        )

    async def forget(self, key: str) -> None:
        """Start `key` afresh (a correct password after a few wrong ones)."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(RATE_LIMITS).where(RATE_LIMITS.c.key == key))

    async def purge(self) -> int:
        """Drop the keys whose every allowance is back (a row in the past equals no row)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(RATE_LIMITS).where(RATE_LIMITS.c.tat < time.time())
            )
        return int(getattr(result, "rowcount", 0) or 0)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


async def _take(
    session: AsyncSession, key: str, rate: Rate, now: float, cost: int, *, postgres: bool
) -> float:
    table = RATE_LIMITS
    spent = cost * rate.every_seconds
    start = case((table.c.tat > now, table.c.tat), else_=literal(now, Float))
    later = start + spent
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    allowed = await session.scalar(
        insert.values(key=key, tat=now + spent)
        .on_conflict_do_update(
            index_elements=[table.c.key], set_={"tat": later}, where=later - now <= rate.window
        )
        .returning(table.c.tat)
    )
    if allowed is not None:
        return 0.0
    tat = await session.scalar(select(table.c.tat).where(table.c.key == key))
    return max(0.0, (tat or now) + spent - rate.window - now)
