"""Checking a client's secret or an officer's password without letting anyone wear the registry out.

Token issuance is anonymous, and argon2 is slow and memory-hungry by design, so three guards
stand before it:

* **Throttles on failures**, shared by every registry process (in its database): per client
  address, per account at that address, and for officers per account. An account's throttle
  is skipped by a browser where the officer logged in before (a trusted device), so that
  whoever guesses an officer's password cannot lock the officer out; machine clients have no
  account-wide throttle at all (their secrets are long random strings, and such a throttle
  would let anyone silence a publisher).
* **A hashing gate** per kind of account: a few threads of its own and a short queue. Beyond
  that a request is refused at once (503), so a flood of logins neither queues for minutes
  nor delays the publishers' token requests, which pass another gate.
* **Recently verified client secrets**, remembered as SHA-256 digests: a publisher renewing
  its token every few minutes needs no argon2 at all.

Whatever happens, an unknown account costs and answers the same as a wrong password.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.problems import ProblemError
from services.common.ratelimit import Rate, SharedRateLimiter, retry_after
from services.registry import models as m
from services.registry.identity import verify_secret


class Throttles(BaseModel):
    """How many failed logins are tolerated, and how fast the allowance comes back."""

    model_config = ConfigDict(frozen=True)

    per_address: Rate = Rate(burst=30, every_seconds=10)
    """Any accounts from one address: slows password spraying."""
    per_account_at_address: Rate = Rate(burst=5, every_seconds=60)
    """One account from one address."""
    per_account: Rate = Rate(burst=10, every_seconds=120)
    """One officer's account from anywhere but a trusted device: bounds distributed guessing."""
    per_device: Rate = Rate(burst=5, every_seconds=60)
    """One officer's account from one trusted device."""


@dataclass(frozen=True)
class HashingLimits:
    """Threads and queue places of each hashing gate."""

    threads: int
    queue: int


class HashingGate:
    """Runs argon2 on threads of its own, a bounded number at a time; refuses the excess at once.

    The threads run at a lower scheduling priority (argon2's own lane threads inherit it), so
    that hashing takes the CPU the event loop leaves: a flood of logins slows other logins,
    not every request of the registry.
    """

    def __init__(self, name: str, limits: HashingLimits) -> None:
        self._capacity = limits.threads + limits.queue
        self._admitted = 0
        self._executor = ThreadPoolExecutor(
            max_workers=limits.threads, thread_name_prefix=name, initializer=_yield_cpu
        )

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """A place at the gate for one check: 503 at once when every place is taken."""
        if self._admitted >= self._capacity:
            raise ProblemError(
                503,
                "temporarily_unavailable",
                "The registry is checking too many credentials at once; retry in a second.",
                headers={"Retry-After": "1"},
                extra={"error": "temporarily_unavailable"},
            )
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def verify(self, hashed: str | None, secret: str) -> bool:
        """Whether `secret` matches `hashed` (None: an unknown account, at the same cost)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, verify_secret, hashed, secret)

    def close(self) -> None:
        """Stop the gate's threads once the hashing under way is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _yield_cpu() -> None:
    # Linux gives each thread its own nice value; raising one's own needs no privilege.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


HASHING_NICE = 10


class VerifiedSecrets:
    """Client secrets verified lately, as digests, so that a renewal needs no argon2.

    An entry is bound to the stored hash it was verified against: a new secret misses it.
    """

    def __init__(self, *, ttl_seconds: float = 600, size: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._size = size
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    def known(self, client: m.ApiClient, secret: str) -> bool:
        """Whether `secret` is the one verified for this client's current hash, lately."""
        entry = self._entries.get((client.client_id, client.secret_hash))
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], _digest(secret))

    def remember(self, client: m.ApiClient, secret: str) -> None:
        """Keep `secret` as verified for this client's current hash."""
        key = (client.client_id, client.secret_hash)
        self._entries[key] = (_digest(secret), time.monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class Credentials:
    """Verifies clients and officers behind the throttles, the gates and the cache."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        throttles: Throttles,
        hashing: HashingLimits,
        device_ttl_seconds: int,
    ) -> None:
        self._sessions = sessions
        self._limiter = SharedRateLimiter(sessions)
        self._throttles = throttles
        self._clients = HashingGate("client-secrets", hashing)
        self._officers = HashingGate("passwords", hashing)
        self._verified = VerifiedSecrets()
        self._device_ttl = timedelta(seconds=device_ttl_seconds)

    def close(self) -> None:
        """Stop the hashing threads."""
        self._clients.close()
        self._officers.close()

    async def purge(self) -> bool:
        """Forget throttles whose allowance is back and devices no longer trusted."""
        await self._limiter.purge()
        async with self._sessions() as session, session.begin():
            now = datetime.now(UTC)
            await session.execute(delete(m.TrustedDevice).where(m.TrustedDevice.expires_at < now))
        return False

    async def client(self, client_id: str, secret: str, *, address: str) -> m.ApiClient:
        """The API client whose secret this is; 401, 429 (throttled) or 503 (busy) otherwise."""
        throttles = self._throttles
        pair = f"client:{client_id}@{address}"
        keys = {f"address:{address}": throttles.per_address, pair: throttles.per_account_at_address}
        await self._refuse_if_throttled(keys)
        async with self._sessions() as session:
            client = await session.get(m.ApiClient, client_id)
        renewal = client is not None and self._verified.known(client, secret)
        if renewal:
            valid = True  # no hashing, no place at the gate needed
        else:
            with self._clients.admitted():
                valid = await self._clients.verify(client.secret_hash if client else None, secret)
        if client is None or not valid or client.revoked:
            await self._limiter.take(keys)
            raise oauth_error(401, "invalid_client", "unknown client, wrong secret, or revoked.")
        if not renewal:
            self._verified.remember(client, secret)
            await self._limiter.forget(pair)
        return client

    async def officer(
        self, username: str, password: str, *, address: str, device: str | None = None
    ) -> m.ConsoleUser:
        """The duty officer with this password; 401, 429 (throttled) or 503 (busy) otherwise.

        `device` is a trusted-device token this browser got at an earlier login.
        """
        throttles = self._throttles
        pair = f"user:{username}@{address}"
        trusted = device is not None and await self._trusted(username, device)
        if trusted:
            assert device is not None
            keys = {f"device:{_digest(device).hex()}": throttles.per_device}
        else:
            keys = {
                f"address:{address}": throttles.per_address,
                pair: throttles.per_account_at_address,
                f"user:{username}": throttles.per_account,
            }
        # A password is always hashed: a place at the gate first, before any database work, so
        # that a flood is refused for nothing.
        with self._officers.admitted():
            await self._refuse_if_throttled(keys)
            async with self._sessions() as session:
                user = await session.get(m.ConsoleUser, username)
            valid = await self._officers.verify(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled:
            await self._limiter.take(keys)
            raise oauth_error(401, "invalid_grant", "unknown user, wrong password, or disabled.")
        await self._limiter.forget(pair)
        return user

    async def device_token(self, username: str, presented: str | None) -> str:
        """The device token of the browser `username` just logged in from: the one it
        presented if that is trusted for this officer, else a new one."""
        if presented is not None and await self._trusted(username, presented):
            return presented
        return await self._trust_device(username)

    async def _trust_device(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            session.add(
                m.TrustedDevice(
                    token_digest=_digest(token).hex(),
                    username=username,
                    created_at=now,
                    expires_at=now + self._device_ttl,
                )
            )
        return token

    async def _trusted(self, username: str, device: str) -> bool:
        async with self._sessions() as session:
            known = await session.get(m.TrustedDevice, _digest(device).hex())
        return (
            known is not None
            and known.username == username
            and known.expires_at > datetime.now(UTC)
        )

    async def _refuse_if_throttled(self, keys: dict[str, Rate]) -> None:
        # Looked at before any hashing, so a throttled attempt costs one read.
        wait = await self._limiter.wait(keys)
        if wait > 0:
            raise ProblemError(
                429,
                "too_many_attempts",
                "Too many failed attempts for this account or from this address; "
                f"retry in {retry_after(wait)} s.",
                headers={"Retry-After": retry_after(wait)},
                extra={"error": "temporarily_unavailable"},
            )


def oauth_error(status: int, error: str, detail: str) -> ProblemError:
    """A refusal in the form OAuth2 clients look for (`error`) and as a problem document."""
    return ProblemError(status, error, detail, extra={"error": error})


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
