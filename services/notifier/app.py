"""The notifier's application factory and the lifespan that owns its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from services.common.app import service_app
from services.common.health import kafka_check
from services.notifier import console, public_api
from services.notifier.api import router
from services.notifier.runtime import Notifier
from services.notifier.settings import NotifierSettings
from services.notifier.transport import AbortableWebSockets

MAX_REPORT_BYTES = 4 * 1024 * 1024


def create_app(
    settings: NotifierSettings | None = None,
    *,
    registry_client: httpx.AsyncClient | None = None,
    gateway_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build the notifier app; settings come from the environment unless given.

    `registry_client` and `gateway_client` let tests reach an in-process registry (tokens,
    routing, login) and gateway (the composer's calls).
    """
    settings = settings or NotifierSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        notifier = Notifier(
            settings, registry_client=registry_client, gateway_client=gateway_client
        )
        app.state.notifier = notifier
        app.state.token_verifier = notifier.token_verifier
        try:
            await notifier.start()
            yield
        finally:
            await notifier.aclose()

    async def database_check() -> None:
        async with app.state.notifier.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def signing_keys() -> None:
        await app.state.token_verifier.ready()

    async def alerts_consumer() -> None:
        if not app.state.notifier.consuming:
            raise RuntimeError("not yet reading the alert topics (joining the consumer group)")

    app = service_app(
        settings,
        title="crossalert notifier",
        description="Routes alerts to duty officers' consoles and mailboxes, tracks delivery and "
        "acknowledgement, escalates what nobody acknowledges.",
        checks={
            "database": database_check,
            "kafka": kafka_check(settings.kafka_bootstrap_servers),
            "registry_keys": signing_keys,
            "alerts_consumer": alerts_consumer,
        },
        lifespan=lifespan,
        # An exercise's after-action report names every contact point and expectation.
        larger_bodies={"/v1/exercise-reports": MAX_REPORT_BYTES},
    )
    app.include_router(router)
    app.include_router(console.router)
    app.include_router(public_api.router)
    app.add_middleware(AbortableWebSockets)
    return app
