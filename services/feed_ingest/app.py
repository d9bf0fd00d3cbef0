"""The feed ingest worker's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.health import kafka_check
from services.common.publishing import publisher_resources
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
        async with (
            publisher_resources(
                settings, MIGRATIONS, registry_client=registry_client, gateway_client=gateway_client
            ) as owned,
            httpx.AsyncClient(
                # Redirects are followed by fetch(), which keeps them on the feed's host.
                timeout=settings.fetch_timeout_seconds,
                headers={"User-Agent": f"{settings.user_agent}/{version('crossalert')}"},
            ) as feeds_http,
        ):
            worker = FeedIngest(settings, owned.engine, owned.registry, owned.gateway, feeds_http)
            app.state.feeds = worker
            worker.start()
            try:
                yield
            finally:
                await worker.stop()

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
