"""The envelopes of every message that crosses a process boundary on Kafka.

Each envelope says what happened (`type`), when and by whom it was produced, and carries its
payload; `decode_envelope` reads any of them from the bytes of a Kafka record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from schemas.cap import Alert, Category, MsgType, Status
from schemas.cap_types import CapToken, Text
from schemas.errors import CapValidationError, IngestWarning
from schemas.observations import Observation
from schemas.signatures import SignatureVerdict


def _now() -> datetime:
    return datetime.now(UTC)


class ContractModel(BaseModel):
    """Base of the Kafka contract: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertKey(ContractModel):
    """The identity of an alert in the network: its CAP sender and identifier."""

    sender: CapToken
    identifier: CapToken

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier}"


class Envelope(ContractModel):
    """What every Kafka message carries besides its payload."""

    message_id: UUID = Field(default_factory=uuid4, description="Unique per message.")
    produced_at: AwareDatetime = Field(default_factory=_now)
    producer: str = Field(description="The service (and instance) that produced the message.")


class AlertPublished(Envelope):
    """An alert (or its update, cancel or error) accepted by the gateway."""

    # `original` is bytes as sent, written in JSON as base64.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    type: Literal["alert.published"] = "alert.published"
    alert: Alert
    chain: AlertKey = Field(
        description="The first alert of the incident chain; every message of a chain shares "
        "this key and so stays in order on one partition."
    )
    chain_category: Category = Field(
        description="Category of the chain's first alert; selects the topic for the whole chain."
    )
    client_id: str = Field(description="The API client that published it.")
    received_at: AwareDatetime
    warnings: list[IngestWarning] = Field(
        default=[],
        description="What was repaired in, or left out of, a document of an external source "
        "read in ingest mode (schemas.cap_ingest); empty for the network's own alerts.",
    )
    original: bytes | None = Field(
        default=None,
        description="The document exactly as sent, base64-encoded, when it came from an "
        "external source (read in ingest mode) or was signed: kept for audit and re-export "
        "beside the alert, and so that its signatures can still be verified.",
    )
    signature: SignatureVerdict | None = Field(
        default=None,
        description="The verdict on the document's XML signatures under the sender's policy "
        "(None: sent as JSON, which carries none).",
    )


class ObservationsReported(Envelope):
    """Observations an agency submitted for one place (a region, or a station), in one go.

    A submission's rows for one place travel together, so that the evaluator weighs them
    together: their order within a submission does not matter.
    """

    type: Literal["observations.reported"] = "observations.reported"
    client_id: str = Field(description="The API client that submitted them.")
    observations: list[Observation] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_place_one_traffic(self) -> ObservationsReported:
        places = {o.place for o in self.observations}
        kinds = {o.status is Status.ACTUAL for o in self.observations}
        if len(places) > 1 or len(kinds) > 1:
            raise ValueError("one envelope carries one place's observations, real or exercise.")
        return self

    @property
    def place(self) -> str:
        """The region, or region/station, every observation of the envelope is of."""
        return self.observations[0].place


class AlertAcknowledged(Envelope):
    """A recipient acknowledged an alert; `ack` is the CAP Ack message that says so."""

    type: Literal["alert.acknowledged"] = "alert.acknowledged"
    alert: AlertKey
    contact_point_id: str
    acknowledged_by: str = Field(description="The duty officer (user name) who acknowledged.")
    acknowledged_at: AwareDatetime
    note: Text | None = None
    ack: Alert

    @model_validator(mode="after")
    def _ack_references_the_alert(self) -> AlertAcknowledged:
        if self.ack.msg_type is not MsgType.ACK:
            raise ValueError("ack must be a CAP message of msgType Ack.")
        if not any(
            (ref.sender, ref.identifier) == (self.alert.sender, self.alert.identifier)
            for ref in self.ack.references
        ):
            raise ValueError("ack must reference the acknowledged alert.")
        return self


class Channel(StrEnum):
    """How a recipient is reached."""

    CONSOLE = "console"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    """Where one delivery (alert, contact point, channel) stands."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"


class DeliveryReceipt(Envelope):
    """A change in the state of one delivery, for the sender and the after-action report."""

    type: Literal["delivery.receipt"] = "delivery.receipt"
    alert: AlertKey
    contact_point_id: str
    channel: Channel
    status: DeliveryStatus
    at: AwareDatetime
    detail: Text | None = Field(default=None, description="e.g. the SMTP server's answer.")
    exercise: bool = Field(default=False, description="The alert is exercise or test traffic.")


class RegistryEntity(StrEnum):
    """The kinds of record the registry owns."""

    REGION = "region"
    ORGANISATION = "organisation"
    CONTACT_POINT = "contact_point"
    COMPETENCE = "competence"
    AGREEMENT = "agreement"
    INDICATOR = "indicator"
    THRESHOLD = "threshold"
    API_CLIENT = "api_client"
    CONSOLE_USER = "console_user"
    CAP_FEED = "cap_feed"


class RegistryChange(Envelope):
    """A registry record was created, updated or deleted; caches of it are stale."""

    type: Literal["registry.change"] = "registry.change"
    entity: RegistryEntity
    entity_id: str
    operation: Literal["created", "updated", "deleted"]
    version: int = Field(ge=0, description="The record's version after the change.")


AnyEnvelope = Annotated[
    AlertPublished | ObservationsReported | AlertAcknowledged | DeliveryReceipt | RegistryChange,
    Field(discriminator="type"),
]
ENVELOPE_TYPES: tuple[type[Envelope], ...] = (
    AlertPublished,
    ObservationsReported,
    AlertAcknowledged,
    DeliveryReceipt,
    RegistryChange,
)
_ENVELOPE = TypeAdapter[AnyEnvelope](AnyEnvelope)


def decode_envelope(data: bytes | str) -> Envelope:
    """Read any contract envelope from JSON; raise CapValidationError naming the field."""
    try:
        return _ENVELOPE.validate_json(data)
    except ValidationError as exc:
        raise CapValidationError.from_pydantic(exc, tagged=True) from None


def encode_envelope(envelope: Envelope) -> bytes:
    """Write an envelope as the JSON bytes of a Kafka record value."""
    return envelope.model_dump_json(by_alias=True, exclude_none=True).encode()
