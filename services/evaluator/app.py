"""The evaluator's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.common.app import service_app
from services.common.health import kafka_check
from services.common.publishing import publisher_resources
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
        async with publisher_resources(
            settings, MIGRATIONS, registry_client=registry_client, gateway_client=gateway_client
        ) as owned:
            evaluator = Evaluator(settings, owned.engine, owned.registry, owned.gateway)
            app.state.evaluator = evaluator
            evaluator.start()
            try:
                yield
            finally:
                await evaluator.stop()

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
