"""The alert gateway's answers to crisis centres."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.cap import Category, MsgType, Status
from schemas.envelopes import AlertKey


class Acceptance(BaseModel):
    """The answer to an accepted alert: its key and where the broker wrote it."""

    model_config = ConfigDict(frozen=True)

    sender: str
    identifier: str
    published: bool = Field(description="False for a Draft: validated, never published.")
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    chain: AlertKey
    received_at: AwareDatetime


class AlertState(BaseModel):
    """What the gateway knows of an alert: when and where it was accepted, its chain, its state."""

    model_config = ConfigDict(frozen=True)

    sender: str
    identifier: str
    msg_type: MsgType
    status: Status
    sent: AwareDatetime
    received_at: AwareDatetime
    client_id: str | None = Field(description="The API client that sent it: for its sender only.")
    published: bool
    topic: str | None = Field(description="Where the log holds it: for its sender only.")
    partition: int | None
    offset: int | None
    chain: AlertKey
    chain_category: Category
    references: list[AlertKey]
    referenced_by: list[AlertKey]
    expires: AwareDatetime | None
    state: Literal["active", "updated", "cancelled", "expired"]


class ObservationsAccepted(BaseModel):
    """The answer to accepted observations: how many, of which places, on which topic."""

    model_config = ConfigDict(frozen=True)

    rows: int = Field(description="Observations accepted (every row of the submission).")
    not_reported: int = Field(description="Of them, values not reported ('-' or empty).")
    places: list[str] = Field(description="The regions (or region/station) they are of.")
    topic: str = Field(description="observations, or its exercise twin.")
