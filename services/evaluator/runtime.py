"""The evaluator's runtime: its resources and its four workers, started and stopped together.

* observations: a consumer group on the observations topic and its exercise twin; each batch
  is stored and replayed, and the offset committed only after the transaction that wrote the
  messages (services/evaluator/service.py).
* publisher: the outbox, to the gateway, as the agencies (services/evaluator/publisher.py).
* open series: every open alert replayed at the check interval, so that a silent series says it
  has no data even when nothing arrives.
* registry changes: a changed rule or indicator is read again at once; every series of a changed
  rule is replayed from the readings held, and open series are replayed.
"""

from __future__ import annotations

import asyncio
import itertools

import httpx
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.envelopes import Envelope, ObservationsReported, RegistryChange, RegistryEntity
from schemas.topics import OBSERVATIONS, REGISTRY_CHANGES
from services.common.cap_signing import SigningIdentities
from services.common.database import session_factory
from services.common.kafka import consume_group, create_consumer, keep_consuming
from services.common.registry_client import RegistryClient, RegistryUnavailable, retry_delay
from services.common.workers import run_rounds, stop_tasks
from services.evaluator.publisher import Publisher
from services.evaluator.rules import RuleBook
from services.evaluator.service import check_open_series, handle_observations, replay_rules
from services.evaluator.settings import EvaluatorSettings

log = structlog.get_logger(__name__)

OBSERVATION_TOPICS = [OBSERVATIONS.name_for(exercise=e) for e in (False, True)]
RULE_ENTITIES = frozenset({RegistryEntity.THRESHOLD, RegistryEntity.INDICATOR})


class Evaluator:
    """Everything the evaluator runs, for one process."""

    def __init__(
        self,
        settings: EvaluatorSettings,
        engine: AsyncEngine,
        registry: RegistryClient,
        gateway: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = session_factory(engine)
        self.book = RuleBook(registry, fresh_for=settings.rules_fresh_seconds)
        self.publisher = Publisher(
            self.sessions, registry, gateway, concurrency=settings.publish_concurrency,
            identities=SigningIdentities(settings.signing_keys_dir),
        )  # fmt: skip
        self.consuming = False
        self._to_publish = asyncio.Event()
        self._to_check = asyncio.Event()
        self._changed_rules: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers."""
        s = self.settings
        jobs = {
            "observations": consume_group(
                s, OBSERVATION_TOPICS, self.on_observations, group_id=s.consumer_group,
                start=s.consumer_start, started=self._consuming,
            ),
            "publisher": run_rounds(
                self.publisher.round, every=s.outbox_retry_seconds, name="evaluator-publisher",
                wake=self._to_publish,
            ),
            "open-series": run_rounds(
                self._check, every=s.no_data_check_seconds, name="evaluator-open-series",
                wake=self._to_check,
            ),
            "registry-changes": keep_consuming(
                lambda: create_consumer(s, REGISTRY_CHANGES.name, group_id=None, start="latest"),
                self._on_change,
                commit=False,
            ),
        }  # fmt: skip
        self._tasks = [asyncio.create_task(job, name=f"evaluator-{n}") for n, job in jobs.items()]

    async def stop(self) -> None:
        """Stop the workers, newest first."""
        await stop_tasks(self._tasks)

    async def database_ready(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def rules_ready(self) -> None:
        await self.book.rules()

    async def consumer_ready(self) -> None:
        if not self.consuming:
            raise RuntimeError("not yet reading the observations (joining the consumer group)")

    async def on_observations(self, envelope: Envelope) -> None:
        """Store and replay one place's observations; wait for the registry rather than skip."""
        if not isinstance(envelope, ObservationsReported):
            return
        for attempt in itertools.count():
            try:
                written = await handle_observations(
                    envelope, sessions=self.sessions, book=self.book
                )
                break
            except RegistryUnavailable as exc:
                # The offset stays uncommitted meanwhile: nothing is skipped, only this
                # partition waits.
                delay = retry_delay(attempt)
                log.warning("registry unreachable; observations wait", reason=str(exc))
                await asyncio.sleep(delay)
        if written:
            self._to_publish.set()

    def _consuming(self, ready: bool) -> None:
        self.consuming = ready

    async def _check(self) -> bool:
        changed = set(self._changed_rules)
        written = await replay_rules(changed, sessions=self.sessions, book=self.book)
        self._changed_rules -= changed  # only once replayed: a failed round tries them again
        written += await check_open_series(sessions=self.sessions, book=self.book)
        if written:
            self._to_publish.set()
        return False

    async def _on_change(self, envelope: Envelope) -> None:
        if isinstance(envelope, RegistryChange) and envelope.entity in RULE_ENTITIES:
            if envelope.entity is RegistryEntity.THRESHOLD:
                self._changed_rules.add(envelope.entity_id)
            self.book.invalidate()
            self._to_check.set()
