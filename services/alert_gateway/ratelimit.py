"""Per-client publishing rate: a token bucket per API client, shared by every gateway process.

A process takes a small lease of the client's allowance at a time (a fiftieth of the burst)
and spends it locally, so that the shared bucket in the database is written once per lease
rather than once per alert. The limit still holds across processes: a lease is counted when
it is taken; what a process leaves unspent lapses with the lease.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.problems import ProblemError
from services.common.ratelimit import Rate, SharedRateLimiter, retry_after


class RateLimiter:
    """Allows `per_minute` alerts per client per minute, in bursts of up to that many."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], per_minute: int) -> None:
        self._limiter = SharedRateLimiter(sessions)
        self._per_minute = per_minute
        self._rate = Rate(burst=per_minute, every_seconds=60.0 / per_minute)
        self._lease = max(1, per_minute // 50)
        self._leased: dict[str, tuple[int, float]] = {}
        """client -> (requests left in its lease, when the lease lapses)."""
        self._renewing: dict[str, asyncio.Lock] = {}

    async def take(self, client: str) -> None:
        """Count one request of `client`; 429 with Retry-After when its bucket is empty."""
        if self._spend(client):
            return
        # One request renews the lease; the others of the client wait for it and spend from
        # it, rather than each taking a lease of its own from the database at the same time.
        async with self._renewing.setdefault(client, asyncio.Lock()):
            if self._spend(client):
                return
            now = time.monotonic()
            key = {f"client:{client}": self._rate}
            wait = 0.0
            for lease in dict.fromkeys((self._lease, 1)):  # near the limit, one at a time
                wait = await self._limiter.take(key, cost=lease)
                if wait == 0:
                    self._leased[client] = (lease - 1, now + lease * self._rate.every_seconds)
                    return
        raise ProblemError(
            429,
            "rate_limited",
            f"client {client} sent more than {self._per_minute} alerts in a minute; "
            f"retry in {retry_after(wait)} s.",
            headers={"Retry-After": retry_after(wait)},
        )

    def _spend(self, client: str) -> bool:
        """Count one request against the client's lease, if it holds one still in force."""
        left, lapses = self._leased.get(client, (0, 0.0))
        if left > 0 and time.monotonic() < lapses:
            self._leased[client] = (left - 1, lapses)
            return True
        return False
