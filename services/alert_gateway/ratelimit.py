"""Per-client publishing rate: a token bucket per API client, shared by every gateway process."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.problems import ProblemError
from services.common.ratelimit import Rate, SharedRateLimiter, retry_after


class RateLimiter:
    """Allows `per_minute` alerts per client per minute, in bursts of up to that many."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], per_minute: int) -> None:
        self._limiter = SharedRateLimiter(sessions)
        self._per_minute = per_minute
        self._rate = Rate(burst=per_minute, every_seconds=60.0 / per_minute)

    async def take(self, client: str) -> None:
        """Count one request of `client`; 429 with Retry-After when its bucket is empty."""
        wait = await self._limiter.take({f"client:{client}": self._rate})
        if wait > 0:
            raise ProblemError(
                429,
                "rate_limited",
                f"client {client} sent more than {self._per_minute} alerts in a minute; "
                f"retry in {retry_after(wait)} s.",
                headers={"Retry-After": retry_after(wait)},
            )
