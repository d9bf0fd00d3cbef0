"""The alert gateway's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from schemas.cap_ingest import MAX_INGEST_LIMIT
from schemas.identity import Audience
from services.alert_gateway.api import router
from services.alert_gateway.compositions import Publisher, Templates
from services.alert_gateway.compositions_api import router as compositions_router
from services.alert_gateway.ledger import Ledger
from services.alert_gateway.organisations import Organisations
from services.alert_gateway.ratelimit import RateLimiter
from services.alert_gateway.settings import GatewaySettings
from services.common.app import service_app
from services.common.auth import registry_verifier
from services.common.catalogue import IndicatorCatalogue
from services.common.database import create_engine, session_factory
from services.common.health import kafka_check
from services.common.kafka import LazyProducer
from services.common.migrations import migrate
from services.common.registry_client import registry_client_of
from services.common.registry_routing import RoutingClient

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(
    settings: GatewaySettings | None = None, *, registry_client: httpx.AsyncClient | None = None
) -> FastAPI:
    """Build the gateway app; settings come from the environment unless given.

    `registry_client` lets tests reach an in-process registry (JWKS, tokens, routing).
    """
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate(engine, MIGRATIONS)
        app.state.sessions = session_factory(engine)
        app.state.ledger = Ledger(app.state.sessions)
        app.state.producer = LazyProducer(settings)
        app.state.publisher = Publisher(
            app.state.sessions,
            app.state.ledger,
            app.state.producer,
            ack_timeout=settings.kafka_send_timeout_seconds,
            producer_name=settings.service_name,
        )
        app.state.rate_limiter = RateLimiter(app.state.sessions, settings.rate_limit_per_minute)
        app.state.registry = registry_client_of(settings, client=registry_client)
        # The gateway follows no change events: an answer is asked again once it is this old.
        fresh_for = settings.registry_fresh_seconds
        app.state.router = RoutingClient(app.state.registry, fresh_for=fresh_for)
        app.state.catalogue = IndicatorCatalogue(app.state.registry, fresh_for=fresh_for)
        app.state.organisations = Organisations(app.state.registry, fresh_for=fresh_for)
        app.state.templates = Templates(app.state.organisations)
        app.state.token_verifier = registry_verifier(
            settings.registry_url,
            issuer=settings.issuer,
            audience=Audience.GATEWAY,
            client=registry_client,
        )
        try:
            yield
        finally:
            await app.state.registry.aclose()
            await app.state.token_verifier.aclose()
            await app.state.ledger.aclose()
            await app.state.producer.close()
            await engine.dispose()

    async def signing_keys() -> None:
        await app.state.token_verifier.ready()

    app = service_app(
        settings,
        title="crossalert alert gateway",
        description="Crisis centres publish, update and cancel CAP 1.2 alerts here; agencies "
        "submit their observations.",
        checks={
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "registry_keys": signing_keys,
        },
        lifespan=lifespan,
        # An external source's document may be larger; the route bounds each client's
        # (strict publishers: max_body_bytes) once its token is known.
        larger_bodies={"/v1/alerts": MAX_INGEST_LIMIT},
    )
    app.include_router(router)
    app.include_router(compositions_router)
    return app
