"""The feed ingest worker's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.database import create_engine
from services.common.health import kafka_check
from services.common.migrations import migrate
from services.common.registry_client import registry_client_of
from services.feed_ingest.runtime import FeedIngest
from services.feed_ingest.settings import FeedIngestSettings

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(
    settings: FeedIngestSettings | None = None,
    *,
    registry_client: httpx.AsyncClient | None = None,
    gateway_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the worker's app; settings come from the environment unless given.

    `registry_client` and `gateway_client` let tests reach in-process services.
    """
    settings = settings or FeedIngestSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate(engine, MIGRATIONS)
        registry = registry_client_of(settings, client=registry_client)
        gateway = gateway_client or httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=settings.gateway_timeout_seconds
        )
        feeds_http = httpx.AsyncClient(
            # Redirects are followed by fetch(), which keeps them on the feed's host.
            timeout=settings.fetch_timeout_seconds,
            headers={"User-Agent": f"{settings.user_agent}/{version('crossalert')}"},
        )
        worker = FeedIngest(settings, engine, registry, gateway, feeds_http)
        app.state.feeds = worker
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            await feeds_http.aclose()
            if gateway_client is None:
                await gateway.aclose()
            await registry.aclose()
            await engine.dispose()

    async def database() -> None:
        await app.state.feeds.database_ready()

    async def feeds() -> None:
        await app.state.feeds.feeds_ready()

    app = service_app(
        settings,
        title="crossalert feed ingest",
        description="Polls external sources' CAP feeds (Atom, RSS) and brings their new alerts "
        "into the network through the gateway, as the source.",
        checks={"database": database, "registry_feeds": feeds},
        # Feeds are polled and published without the broker: it only hastens registry changes.
        optional_checks={"kafka": kafka_check(settings.kafka_bootstrap_servers)},
        lifespan=lifespan,
    )
    return app
