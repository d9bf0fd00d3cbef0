"""The notifier's running parts, owned by one object: built and started by the app's lifespan,
closed by it, reached by the routes as `app.state.notifier`.

What runs (each a worker task; every one of them survives a database or broker outage):

* the intake, a consumer of the alert topics in the notifier's consumer group, recording each
  burst's deliveries (`intake.record_alerts`) and handing their items to the hub;
* the hub, pushing the feed to this process's consoles (`hub.Hub`);
* console deliveries, marking what the hub handed out (`receipts.ConsoleDeliveries`);
* the mailer, the escalator and the outbox publisher (receipts, acknowledgements);
* a follower of the registry's changes, which empties the routing cache;
* on PostgreSQL, a listener for the feed entries other processes wrote.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import structlog

from schemas.envelopes import AlertPublished, Envelope, RegistryChange
from schemas.identity import Audience
from schemas.topics import ALERT_TOPICS, REGISTRY_CHANGES
from services.common.auth import TokenVerifier, registry_verifier
from services.common.database import create_engine, listen, session_factory
from services.common.kafka import (
    Batched,
    LazyProducer,
    consume_group,
    create_consumer,
    keep_consuming,
)
from services.common.migrations import migrate
from services.common.outbox import OutboxPublisher
from services.common.registry_client import registry_client_of, retry_delay
from services.common.registry_routing import RoutingClient
from services.common.workers import stop_tasks
from services.notifier.escalation import Escalator
from services.notifier.feed import FEED_CHANNEL
from services.notifier.hub import Hub
from services.notifier.intake import record_alerts
from services.notifier.mailer import Mailer
from services.notifier.models import OutboxEvent
from services.notifier.receipts import ConsoleDeliveries
from services.notifier.settings import NotifierSettings

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
ALERT_TOPIC_NAMES = [
    spec.name_for(exercise=exercise) for spec in ALERT_TOPICS.values() for exercise in (False, True)
]


class Notifier:
    """One notifier process's resources and workers."""

    def __init__(
        self,
        settings: NotifierSettings,
        *,
        registry_client: httpx.AsyncClient | None = None,
        gateway_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        # Unique even for two apps in one process (tests), so receipts tell who recorded what.
        self.instance = (
            f"{settings.service_name}@{socket.gethostname()}:{os.getpid()}/{uuid.uuid4().hex[:6]}"
        )
        self.engine = create_engine(settings.database_url)
        self.sessions = session_factory(self.engine)
        self.registry_http = registry_client or httpx.AsyncClient(
            base_url=settings.registry_url, timeout=settings.registry_timeout_seconds
        )
        # Publishing an approved alert waits for the broker (twice the send timeout at most).
        self.gateway_http = gateway_client or httpx.AsyncClient(
            base_url=settings.gateway_url, timeout=2 * settings.kafka_send_timeout_seconds + 10
        )
        self._opened = [
            mine for mine, given in ((self.registry_http, registry_client),
                                     (self.gateway_http, gateway_client)) if given is None
        ]  # fmt: skip
        self.token_verifier: TokenVerifier = registry_verifier(
            settings.registry_url, issuer=settings.issuer, audience=Audience.NOTIFIER,
            client=registry_client,
        )  # fmt: skip
        self.producer = LazyProducer(settings)
        self.outbox = OutboxPublisher(
            self.sessions, self.producer, model=OutboxEvent, to_envelope=OutboxEvent.envelope,
            producer_name=self.instance, ack_timeout=settings.kafka_send_timeout_seconds,
        )  # fmt: skip
        self.router = RoutingClient(registry_client_of(settings, client=self.registry_http))
        self.deliveries = ConsoleDeliveries(
            self.sessions, producer=self.instance, written=self.outbox.wake
        )
        self.hub = Hub(
            self.sessions, poll_seconds=settings.feed_poll_seconds, delivered=self.deliveries.note
        )
        self.mailer = Mailer(self.sessions, settings, producer=self.instance)
        self.escalator = Escalator(
            self.sessions, poll_seconds=settings.escalation_poll_seconds, producer=self.instance,
            wake=self.written,
        )  # fmt: skip
        self.consuming = False
        """Whether the intake reads the alert topics (joined its group, knows where it reads)."""
        self._tasks: list[asyncio.Task[None]] = []

    def written(self) -> None:
        """Something was written to the feed, the mail queue or the outbox: act on it now."""
        self.hub.wake()
        self.outbox.wake()
        self.mailer.wake()

    async def start(self) -> None:
        """Bring the database up to date and start every worker; the hub knows where the feed
        stands before any console attaches."""
        await migrate(self.engine, MIGRATIONS)
        await self.hub.start()
        jobs: dict[str, Coroutine[Any, Any, None]] = {
            "outbox": self.outbox.run(),
            "hub": self.hub.run(),
            "console-deliveries": self.deliveries.run(),
            "mailer": self.mailer.run(),
            "escalator": self.escalator.run(),
            "alerts": consume_group(
                self.settings,
                ALERT_TOPIC_NAMES,
                Batched(self.on_alerts),
                group_id=self.settings.consumer_group,
                start=self.settings.consumer_start,
                started=self._consuming,
            ),
            "registry-changes": self._follow_registry(),
        }
        if self.engine.dialect.name == "postgresql":
            # Other processes' writes reach this process's consoles at once, not at the poll.
            jobs["feed-notifications"] = listen(
                self.settings.database_url, FEED_CHANNEL, self.hub.wake
            )
        self._tasks = [
            asyncio.create_task(job, name=f"notifier-{name}") for name, job in jobs.items()
        ]

    async def aclose(self) -> None:
        """Tell the consoles, stop the workers, close what this object opened."""
        self.hub.close_all()
        await stop_tasks(self._tasks)
        await self.token_verifier.aclose()
        for client in self._opened:
            await client.aclose()
        await self.producer.close()
        await self.engine.dispose()

    async def on_alerts(self, envelopes: list[Envelope]) -> None:
        """Record the deliveries of the published alerts of one fetch, in one transaction, and
        push their items to the consoles here."""
        waiting = [envelope for envelope in envelopes if isinstance(envelope, AlertPublished)]
        for attempt in itertools.count():
            recorded = await record_alerts(
                waiting, sessions=self.sessions, router=self.router, producer=self.instance
            )
            if recorded.written:
                self.hub.push_written(recorded.written)
                self.written()
            waiting = recorded.waiting
            if not waiting:
                return
            # Only routing facts never seen before need the registry; wait for it rather than
            # skip the alert (the offset stays uncommitted meanwhile; only the alerts behind it
            # in its partition wait with it).
            delay = retry_delay(attempt)
            first = waiting[0].alert
            log.warning("registry unreachable; alert waits", reason=recorded.reason,
                        retry=delay, alert=f"{first.sender},{first.identifier}")  # fmt: skip
            await asyncio.sleep(delay)

    def _consuming(self, ready: bool) -> None:
        self.consuming = ready

    async def _follow_registry(self) -> None:
        async def on_change(envelope: Envelope) -> None:
            if isinstance(envelope, RegistryChange):
                self.router.invalidate()

        await keep_consuming(
            lambda: create_consumer(self.settings, REGISTRY_CHANGES.name, group_id=None),
            on_change,
            commit=False,
        )
