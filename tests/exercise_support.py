"""What exercise tests check on the broker: that nothing of an exercise reaches a real topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway_support import envelopes_on
from notifier_support import Network, free_port, network_on, serving

from schemas.envelopes import AlertAcknowledged, AlertPublished, DeliveryReceipt, Envelope
from schemas.topics import EXERCISE_PREFIX, TOPICS
from services.exercise.runner import Endpoints


@asynccontextmanager
async def served_network(
    tmp_path: Path, kafka: str, **options: Any
) -> AsyncIterator[tuple[Network, Endpoints]]:
    """The whole network (`options` as for `network_on`), its registry and gateway also served
    over HTTP for the planner's tools (which, like a planner's shell, talk to the services by
    URL)."""
    async with (
        network_on(tmp_path, kafka, **options) as network,
        serving(network.registry.app, free_port(), lifespan=False) as registry_url,
        serving(network.gateway.app, free_port(), lifespan=False) as gateway_url,
    ):
        yield network, Endpoints(registry_url, gateway_url, network.notifier.url)


async def on_real_topics(kafka: str) -> list[Envelope]:
    """Everything on the network's real topics (never the exercise twins), to their end."""
    found: list[Envelope] = []
    for spec in TOPICS:
        assert not spec.name.startswith(EXERCISE_PREFIX)
        found += await envelopes_on(kafka, spec.name)
    return found


def mentions(envelope: Envelope, marker: str) -> bool:
    """Whether a record is about a message whose identifier starts with `marker`."""
    if isinstance(envelope, AlertPublished):
        return envelope.alert.identifier.startswith(marker) or any(
            r.identifier.startswith(marker) for r in envelope.alert.references
        )
    if isinstance(envelope, AlertAcknowledged | DeliveryReceipt):
        return envelope.alert.identifier.startswith(marker)
    return False
