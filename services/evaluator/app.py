"""The evaluator's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.database import create_engine
from services.common.health import kafka_check
from services.common.migrations import migrate
from services.common.registry_client import registry_client_of
from services.evaluator.runtime import Evaluator
from services.evaluator.settings import EvaluatorSettings

MIGRATIONS = Path(__file__).with_name("migrations")


def create_app(
    settings: EvaluatorSettings | None = None,
    *,
    registry_client: httpx.AsyncClient | None = None,
    gateway_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the evaluator app; settings come from the environment unless given.

    `registry_client` and `gateway_client` let tests reach in-process services.
    """
    settings = settings or EvaluatorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate(engine, MIGRATIONS)
        registry = registry_client_of(settings, client=registry_client)
        gateway = gateway_client or httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=settings.gateway_timeout_seconds
        )
        evaluator = Evaluator(settings, engine, registry, gateway)
        app.state.evaluator = evaluator
        evaluator.start()
        try:
            yield
        finally:
            await evaluator.stop()
            if gateway_client is None:
                await gateway.aclose()
            await registry.aclose()
            await engine.dispose()

    async def database() -> None:
        await app.state.evaluator.database_ready()

    async def rules() -> None:
        await app.state.evaluator.rules_ready()

    async def observations_consumer() -> None:
        await app.state.evaluator.consumer_ready()

    app = service_app(
        settings,
        title="crossalert evaluator",
        description="Watches agencies' observations against the threshold rules and raises, "
        "updates and clears their alerts.",
        checks={
            "database": database,
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "registry_rules": rules,
            "observations_consumer": observations_consumer,
        },
        lifespan=lifespan,
    )
    return app
