"""Per-client rate limiting: a token bucket for each API client, in this process."""

from __future__ import annotations

import math
import time

from services.common.problems import ProblemError


class RateLimiter:
    """Allows `per_minute` requests per client per minute, in bursts of up to that many."""

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._refill_per_second = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> None:
        """Count one request of `client`; 429 with Retry-After when its bucket is empty."""
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_second)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self._refill_per_second)
            self._buckets[client] = (tokens, now)
            raise ProblemError(
                429,
                "rate_limited",
                f"client {client} sent more than {int(self._capacity)} alerts in a minute; "
                f"retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        self._buckets[client] = (tokens - 1.0, now)
