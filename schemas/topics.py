"""Every Kafka topic of the network, declared once: name, key, envelope, producers, consumers.

Real and exercise traffic never share a topic: each topic that can carry exercise traffic has
an exercise twin named with the `exercise.` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.cap import Category, Status
from schemas.envelopes import (
    AlertAcknowledged,
    AlertPublished,
    DeliveryReceipt,
    Envelope,
    ObservationsReported,
    RegistryChange,
)

MAX_RECORD_BYTES = 32 * 1024 * 1024
"""The largest record written (an external source's alert of up to 8 MiB, its document as sent
beside it in base64); the broker accepts a batch a little larger (its framing)."""
BROKER_MAX_MESSAGE_BYTES = MAX_RECORD_BYTES + 1024 * 1024
EXERCISE_PREFIX = "exercise."
EXERCISE_STATUSES = frozenset({Status.EXERCISE, Status.TEST})
"""CAP statuses that are never real traffic and so travel on the exercise topics."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract."""

    name: str
    envelope: type[Envelope]
    key: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    description: str
    has_exercise_twin: bool = True

    def name_for(self, *, exercise: bool) -> str:
        """The topic to use for real or exercise traffic."""
        if exercise and not self.has_exercise_twin:
            raise ValueError(f"{self.name} carries no exercise traffic")
        return EXERCISE_PREFIX + self.name if exercise else self.name


ALERT_TOPICS: dict[Category, TopicSpec] = {
    category: TopicSpec(
        name=f"alerts.{category.value.lower()}",
        envelope=AlertPublished,
        key="sender,identifier of the chain's first alert",
        producers=("alert_gateway",),
        consumers=("notifier",),
        description=f"Accepted alerts, updates and cancels whose chain is of category "
        f"{category.value}.",
    )
    for category in Category
}
OBSERVATIONS = TopicSpec(
    name="observations",
    envelope=ObservationsReported,
    key="place: region, or region/station (every indicator of a place on one partition)",
    producers=("alert_gateway",),
    consumers=("evaluator",),
    description="Indicator observations from health and environment agencies.",
)
ACKS = TopicSpec(
    name="alerts.acks",
    envelope=AlertAcknowledged,
    key="sender,identifier of the acknowledged alert",
    producers=("notifier",),
    consumers=("notifier", "alert_gateway"),
    description="Acknowledgements by recipients, each with its CAP Ack message.",
)
DELIVERIES = TopicSpec(
    name="alerts.deliveries",
    envelope=DeliveryReceipt,
    key="sender,identifier of the delivered alert",
    producers=("notifier",),
    consumers=("notifier",),
    description="State changes of deliveries (sent, delivered, failed, escalated).",
)
REGISTRY_CHANGES = TopicSpec(
    name="registry.changes",
    envelope=RegistryChange,
    key="entity:entity_id",
    producers=("registry",),
    consumers=("notifier", "evaluator", "feed_ingest"),
    description="Every registry write, so that caches can refresh.",
    has_exercise_twin=False,
)

TOPICS: tuple[TopicSpec, ...] = (
    *ALERT_TOPICS.values(),
    OBSERVATIONS,
    ACKS,
    DELIVERIES,
    REGISTRY_CHANGES,
)


def all_topic_names() -> list[str]:
    """Every topic name the network uses, real and exercise."""
    names = [spec.name for spec in TOPICS]
    names += [spec.name_for(exercise=True) for spec in TOPICS if spec.has_exercise_twin]
    return sorted(names)


def route(envelope: Envelope) -> tuple[str, bytes]:
    """The topic and record key of an envelope: the one place that decides both."""
    match envelope:
        case AlertPublished(alert=alert, chain=chain, chain_category=category):
            if alert.status is Status.DRAFT:
                raise ValueError("Draft alerts are validated but never published")
            topic = ALERT_TOPICS[category].name_for(exercise=alert.status in EXERCISE_STATUSES)
            return topic, str(chain).encode()
        case ObservationsReported(observations=[first, *_]):
            topic = OBSERVATIONS.name_for(exercise=first.status in EXERCISE_STATUSES)
            return topic, envelope.place.encode()
        case AlertAcknowledged(alert=key, ack=ack):
            topic = ACKS.name_for(exercise=ack.status in EXERCISE_STATUSES)
            return topic, str(key).encode()
        case DeliveryReceipt(alert=key, exercise=exercise):
            return DELIVERIES.name_for(exercise=exercise), str(key).encode()
        case RegistryChange(entity=entity, entity_id=entity_id):
            return REGISTRY_CHANGES.name, f"{entity.value}:{entity_id}".encode()
    raise TypeError(f"no topic is declared for {type(envelope).__name__}")
