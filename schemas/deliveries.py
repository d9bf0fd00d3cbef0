"""The notifier's answer to "who has this alert, and who acknowledged it?"."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.cap import MsgType
from schemas.console import AlertState, Escalation
from schemas.envelopes import AlertKey, Channel, DeliveryStatus
from schemas.errors import IngestWarning
from schemas.registry import Reason


class ReportModel(BaseModel):
    """Base of the delivery report."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DeliveryView(ReportModel):
    """One delivery: an alert to one contact point over one channel."""

    contact_point: str
    contact_point_name: str
    organisation: str
    organisation_name: str
    channel: Channel
    status: DeliveryStatus
    language: str | None
    language_available: bool
    escalation: bool = Field(description="Reached this contact point as an escalation.")
    reasons: list[Reason]
    created_at: AwareDatetime
    sent_at: AwareDatetime | None
    delivered_at: AwareDatetime | None
    failed_at: AwareDatetime | None
    attempts: int = Field(description="Send attempts (email).")
    detail: str | None = Field(description="e.g. the mail server's last answer.")
    ack_deadline: AwareDatetime | None
    acknowledged_at: AwareDatetime | None
    acknowledged_by: str | None
    acknowledgement_note: str | None


class ChainEntry(ReportModel):
    """One message of the alert's incident chain, oldest first."""

    key: AlertKey
    msg_type: MsgType
    sent: AwareDatetime
    headline: str | None
    state: AlertState


class DeliveryReport(ReportModel):
    """Every delivery of one alert message, its escalations and its incident chain."""

    alert: AlertKey
    chain: AlertKey
    exercise: bool
    state: AlertState
    received_at: AwareDatetime
    deliveries: list[DeliveryView]
    escalations: list[Escalation]
    history: list[ChainEntry]
    warnings: list[IngestWarning] = Field(
        default_factory=list,
        description="An external source's alert: what was repaired in its document or left "
        "out of it to bring it in.",
    )
