"""The feed ingest worker's runtime: the feeds it polls, each at its interval, side by side.

* schedule: every `tick_seconds`, the feeds due are polled, up to `concurrency` at once, each
  in a task of its own: a slow or failing feed never holds the others. The list of feeds is
  read from the registry (feeds:ingest) when older than `feeds_fresh_seconds`.
* registry changes: a feed or organisation written in the registry is read again at once (an
  organisation's limits travel in the tokens, which are dropped for it).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.envelopes import Envelope, RegistryChange, RegistryEntity
from schemas.identity import Scope
from schemas.registry import CapFeedOut
from schemas.topics import REGISTRY_CHANGES
from services.common.database import session_factory
from services.common.kafka import create_consumer, keep_consuming
from services.common.registry_client import RegistryClient, RegistryRefused, RegistryUnavailable
from services.common.workers import run_rounds, stop_tasks
from services.feed_ingest.ledger import Ledger
from services.feed_ingest.poller import Poller
from services.feed_ingest.settings import FeedIngestSettings

log = structlog.get_logger(__name__)
FEED_ENTITIES = frozenset({RegistryEntity.CAP_FEED, RegistryEntity.ORGANISATION})


class FeedIngest:
    """Everything the worker runs, for one process."""

    def __init__(
        self,
        settings: FeedIngestSettings,
        engine: AsyncEngine,
        registry: RegistryClient,
        gateway: httpx.AsyncClient,
        http: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.registry = registry
        self.ledger = Ledger(session_factory(engine))
        self.poller = Poller(settings, self.ledger, registry, gateway, http)
        self.feeds: dict[str, CapFeedOut] = {}
        self.polls: Counter[str] = Counter()
        """Polls ended, by feed."""
        self._read_at: float | None = None
        self._due: dict[str, float] = {}
        self._now: set[str] = set()
        """Feeds asked to be polled at once (after the poll under way, if any)."""
        self._polling: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._wake = asyncio.Event()
        self._polled = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers."""
        s = self.settings
        jobs = {
            "schedule": run_rounds(
                self._round, every=s.tick_seconds, name="feed-ingest-schedule", wake=self._wake
            ),
            "registry-changes": keep_consuming(
                lambda: create_consumer(s, REGISTRY_CHANGES.name, group_id=None, start="latest"),
                self._on_change,
                commit=False,
            ),
        }
        self._tasks = [asyncio.create_task(job, name=f"feed-ingest-{n}") for n, job in jobs.items()]

    async def stop(self) -> None:
        """Stop the workers and the polls under way."""
        await stop_tasks([*self._tasks, *self._polling.values()])

    async def database_ready(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def feeds_ready(self) -> None:
        if self._read_at is None:
            raise RuntimeError("the CAP feeds were not read from the registry yet")

    async def poll_now(self) -> None:
        """Read the feeds again and poll every one at once; return when each has been polled
        since (for drills and tests: the registry bounds intervals to 30 s and more)."""
        await self._read_feeds()
        # A poll under way may have fetched before the call: the one after it counts.
        wanted = {f: self.polls[f] + (2 if f in self._polling else 1) for f in self.feeds}
        self._now = set(self.feeds)
        self._wake.set()
        while True:
            self._polled.clear()
            if all(self.polls[f] >= n for f, n in wanted.items() if f in self.feeds):
                return
            await self._polled.wait()

    async def _round(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._read_at is None or loop.time() - self._read_at > self.settings.feeds_fresh_seconds:
            try:
                await self._read_feeds()
            except (RegistryUnavailable, RegistryRefused) as exc:
                log.warning("feeds_not_read", reason=str(exc))
        for feed in self.feeds.values():
            if feed.id in self._polling:
                continue
            if feed.id in self._now or loop.time() >= self._due.get(feed.id, 0.0):
                self._now.discard(feed.id)
                self._polling[feed.id] = asyncio.create_task(
                    self._poll(feed), name=f"feed-ingest-poll-{feed.id}"
                )
        return False

    async def _poll(self, feed: CapFeedOut) -> None:
        try:
            async with self._slots:
                await self.poller.poll(feed)
        except Exception:
            log.exception("feed_poll_failed", feed=feed.id)
        finally:
            self._due[feed.id] = asyncio.get_running_loop().time() + feed.poll_seconds
            self._polling.pop(feed.id, None)
            self.polls[feed.id] += 1
            self._polled.set()
            if feed.id in self._now:
                self._wake.set()

    async def _read_feeds(self) -> None:
        """The enabled feeds, from the registry."""
        every = await self.registry.records("cap-feeds", CapFeedOut, scope=Scope.FEEDS_INGEST)
        feeds = {feed.id: feed for feed in every if feed.enabled}
        for gone in self.feeds.keys() - feeds.keys():
            self._due.pop(gone, None)
        self.feeds = feeds
        self._read_at = asyncio.get_running_loop().time()

    async def _on_change(self, envelope: Envelope) -> None:
        if isinstance(envelope, RegistryChange) and envelope.entity in FEED_ENTITIES:
            if envelope.entity is RegistryEntity.ORGANISATION:
                self.registry.forget(Scope.ALERTS_PUBLISH, on_behalf_of=envelope.entity_id)
            self._read_at = None
            self._wake.set()
