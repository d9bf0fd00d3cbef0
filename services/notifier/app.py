"""The notifier's application factory and the lifespan that owns its resources."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from sqlalchemy import text

from schemas.envelopes import AlertPublished, Envelope, RegistryChange
from schemas.identity import Audience
from schemas.topics import ALERT_TOPICS, REGISTRY_CHANGES, all_topic_names
from services.common.app import service_app
from services.common.auth import registry_verifier
from services.common.database import create_engine, listen, session_factory
from services.common.health import kafka_check
from services.common.kafka import LazyProducer, create_consumer, create_topics, keep_consuming
from services.common.migrations import migrate
from services.common.outbox import OutboxPublisher
from services.common.registry_client import RegistryUnavailable, registry_client_of
from services.common.registry_routing import RoutingClient
from services.common.workers import stop_tasks
from services.notifier import console
from services.notifier.api import router
from services.notifier.escalation import Escalator
from services.notifier.feed import FEED_CHANNEL
from services.notifier.hub import Hub
from services.notifier.intake import record_alert
from services.notifier.mailer import Mailer
from services.notifier.models import OutboxEvent
from services.notifier.settings import NotifierSettings
from services.notifier.transport import AbortableWebSockets

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
ALERT_TOPIC_NAMES = [
    spec.name_for(exercise=exercise) for spec in ALERT_TOPICS.values() for exercise in (False, True)
]
REGISTRY_RETRY_SECONDS = (0.5, 1, 2, 5)


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
    # Unique even for two apps in one process (tests), so receipts tell who recorded what.
    instance = (
        f"{settings.service_name}@{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:6]}"
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        await migrate(engine, MIGRATIONS)
        sessions = session_factory(engine)
        registry_http = registry_client or httpx.AsyncClient(
            base_url=settings.registry_url, timeout=settings.registry_timeout_seconds
        )
        producer = LazyProducer(settings)
        outbox = OutboxPublisher(
            sessions, producer, model=OutboxEvent, to_envelope=OutboxEvent.envelope,
            producer_name=instance, ack_timeout=settings.kafka_send_timeout_seconds,
        )  # fmt: skip
        router_ = RoutingClient(registry_client_of(settings, client=registry_http))
        hub = Hub(sessions, poll_seconds=settings.feed_poll_seconds, producer=instance)
        mailer = Mailer(sessions, settings, producer=instance)

        def written() -> None:
            hub.wake()
            outbox.wake()
            mailer.wake()

        async def on_alert(envelope: Envelope) -> None:
            if not isinstance(envelope, AlertPublished):
                return
            for attempt in itertools.count():
                try:
                    hub.push_written(
                        await record_alert(
                            envelope, sessions=sessions, router=router_, producer=instance
                        )
                    )
                    break
                except RegistryUnavailable as exc:
                    # Only routing facts never seen before need the registry; wait for it
                    # rather than skip the alert (the offset stays uncommitted meanwhile; only
                    # the alerts behind it in its partition wait with it).
                    delay = REGISTRY_RETRY_SECONDS[min(attempt, len(REGISTRY_RETRY_SECONDS) - 1)]
                    log.warning("registry unreachable; alert waits", reason=str(exc), retry=delay)
                    await asyncio.sleep(delay)
            written()

        async def on_change(envelope: Envelope) -> None:
            if isinstance(envelope, RegistryChange):
                router_.invalidate()

        async def consume_alerts() -> None:
            with contextlib.suppress(Exception):
                # Usually there already (`crossalert up`, deployment); without them a consumer
                # would wait for topics nobody creates.
                await create_topics(settings.kafka_bootstrap_servers, all_topic_names())
            await keep_consuming(
                lambda: create_consumer(
                    settings,
                    *ALERT_TOPIC_NAMES,
                    group_id=settings.consumer_group,
                    start=settings.consumer_start,
                ),
                on_alert,
                commit=True,
                started=consuming,
            )

        def consuming(ready: bool) -> None:
            app.state.consuming = ready

        async def follow_registry() -> None:
            await keep_consuming(
                lambda: create_consumer(settings, REGISTRY_CHANGES.name, group_id=None),
                on_change,
                commit=False,
            )

        escalator = Escalator(
            sessions, poll_seconds=settings.escalation_poll_seconds, producer=instance,
            wake=written,
        )  # fmt: skip
        app.state.engine = engine
        app.state.consuming = False
        app.state.sessions = sessions
        app.state.instance = instance
        app.state.registry_http = registry_http
        # Publishing an approved alert waits for the broker (twice the send timeout at most).
        gateway_http = gateway_client or httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=2 * settings.kafka_send_timeout_seconds + 10
        )
        app.state.gateway_http = gateway_http
        app.state.outbox = outbox
        app.state.hub = hub
        app.state.token_verifier = registry_verifier(
            settings.registry_url, issuer=settings.issuer, audience=Audience.NOTIFIER,
            client=registry_client,
        )  # fmt: skip
        jobs: dict[str, Coroutine[Any, Any, None]] = {
            "outbox": outbox.run(),
            "hub": hub.run(),
            "mailer": mailer.run(),
            "escalator": escalator.run(),
            "alerts": consume_alerts(),
            "registry-changes": follow_registry(),
        }
        if engine.dialect.name == "postgresql":
            # Other processes' writes reach this process's consoles at once, not at the poll.
            jobs["feed-notifications"] = listen(settings.database_url, FEED_CHANNEL, hub.wake)
        await hub.start()
        tasks = [asyncio.create_task(job, name=f"notifier-{name}") for name, job in jobs.items()]
        try:
            yield
        finally:
            hub.close_all()
            await stop_tasks(tasks)
            await app.state.token_verifier.aclose()
            if registry_client is None:
                await registry_http.aclose()
            if gateway_client is None:
                await gateway_http.aclose()
            await producer.close()
            await engine.dispose()

    async def database_check() -> None:
        async with app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def signing_keys() -> None:
        await app.state.token_verifier.ready()

    async def alerts_consumer() -> None:
        if not app.state.consuming:
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
    app.add_middleware(AbortableWebSockets)
    return app
