"""The registry application factory and the lifespan that owns its resources."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from schemas.cap_ingest import MAX_INGEST_LIMIT
from schemas.identity import Audience
from services.common.app import service_app
from services.common.auth import TokenVerifier
from services.common.database import create_engine, session_factory
from services.common.health import kafka_check
from services.common.kafka import LazyProducer
from services.common.outbox import OutboxPublisher
from services.common.workers import run_rounds, stop_tasks
from services.registry import identity_api, thresholds_api
from services.registry import models as m
from services.registry.api import router
from services.registry.credentials import Credentials, HashingLimits
from services.registry.database import migrate
from services.registry.identity import jwks, load_or_create_signing_key
from services.registry.settings import RegistrySettings
from services.registry.snapshot import RoutingCache

PURGE_SECONDS = 300


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
        app.state.token_verifier = TokenVerifier(
            app.state.jwks, issuer=settings.issuer, audience=Audience.REGISTRY
        )
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
        app.state.credentials = Credentials(
            app.state.sessions,
            throttles=settings.throttles,
            hashing=HashingLimits(threads=settings.hashing_threads, queue=settings.hashing_queue),
            device_ttl_seconds=settings.device_ttl_seconds,
        )
        workers = [
            asyncio.create_task(app.state.outbox.run(), name="registry-outbox"),
            asyncio.create_task(
                run_rounds(app.state.credentials.purge, every=PURGE_SECONDS, name="purge"),
                name="registry-purge",
            ),
        ]
        try:
            yield
        finally:
            await stop_tasks(workers)
            app.state.credentials.close()
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
        # A routing preview may carry a whole CAP alert.
        # A routing request carries an alert's polygons: an external source's alert may be
        # up to MAX_INGEST_LIMIT, and its facts as JSON about as large.
        larger_bodies={"/v1/routing": 2 * MAX_INGEST_LIMIT},
    )
    app.include_router(router)
    app.include_router(thresholds_api.router)
    app.include_router(identity_api.router)
    app.include_router(identity_api.jwks_router)
    return app
