"""What a worker publishing through the gateway owns (the threshold evaluator, the feed ingest
worker): its migrated database, its registry client and its gateway client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.database import create_engine
from services.common.migrations import migrate
from services.common.registry_client import RegistryClient, registry_client_of
from services.common.settings import PublisherSettings


@dataclass(frozen=True)
class PublisherResources:
    engine: AsyncEngine
    registry: RegistryClient
    gateway: httpx.AsyncClient


@asynccontextmanager
async def publisher_resources(
    settings: PublisherSettings,
    migrations: Path,
    *,
    registry_client: httpx.AsyncClient | None = None,
    gateway_client: httpx.AsyncClient | None = None,
) -> AsyncIterator[PublisherResources]:
    """The database brought to its latest migration, the registry client and the gateway
    client, closed on the way out (`registry_client`, `gateway_client`: in-process services
    for tests; a given gateway client is the caller's to close)."""
    engine = create_engine(settings.database_url)
    await migrate(engine, migrations)
    registry = registry_client_of(settings, client=registry_client)
    gateway = gateway_client or httpx.AsyncClient(
        base_url=settings.gateway_url, timeout=settings.gateway_timeout_seconds
    )
    try:
        yield PublisherResources(engine, registry, gateway)
    finally:
        if gateway_client is None:
            await gateway.aclose()
        await registry.aclose()
        await engine.dispose()
