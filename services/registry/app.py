"""The registry application factory and the lifespan that owns its resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from services.common.app import service_app
from services.common.auth import TokenVerifier
from services.common.database import create_engine, session_factory
from services.common.health import kafka_check
from services.common.kafka import LazyProducer
from services.common.outbox import OutboxPublisher
from services.registry import models as m
from services.registry.api import jwks_router, router
from services.registry.database import migrate
from services.registry.identity import jwks, load_or_create_signing_key
from services.registry.settings import RegistrySettings
from services.registry.snapshot import RoutingCache


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """Build the registry app; settings come from the environment unless given."""
    settings = settings or RegistrySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate(engine)
        app.state.sessions = session_factory(engine)
        app.state.engine = engine
        key = load_or_create_signing_key(settings.signing_key_file)
        app.state.signing_key = key
        app.state.jwks = jwks([key])
        app.state.token_verifier = TokenVerifier(app.state.jwks, issuer=settings.issuer)
        app.state.routing_cache = RoutingCache()
        producer = LazyProducer(settings)
        app.state.outbox = OutboxPublisher(
            app.state.sessions,
            producer,
            model=m.OutboxEvent,
            to_envelope=m.OutboxEvent.envelope,
            producer_name=settings.service_name,
            ack_timeout=settings.kafka_send_timeout_seconds,
        )
        publisher = asyncio.create_task(app.state.outbox.run(), name="registry-outbox")
        try:
            yield
        finally:
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            await producer.close()
            await app.state.token_verifier.aclose()
            await engine.dispose()

    async def database_check() -> None:
        async with app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    app = service_app(
        settings,
        title="crossalert registry",
        description="Regions, organisations, contact points, competences, mutual-assistance "
        "agreements, routing and identity.",
        checks={"database": database_check},
        optional_checks={"kafka": kafka_check(settings.kafka_bootstrap_servers)},
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(jwks_router)
    return app
