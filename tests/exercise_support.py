"""What exercise tests check on the broker: that nothing of an exercise reaches a real topic."""

from __future__ import annotations

from gateway_support import envelopes_on

from schemas.envelopes import AlertAcknowledged, AlertPublished, DeliveryReceipt, Envelope
from schemas.topics import EXERCISE_PREFIX, TOPICS


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
