"""The alert gateway's answers to crisis centres."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.cap import Category, MsgType, Status
from schemas.envelopes import AlertKey
from schemas.errors import IngestWarning, Problem
from schemas.signatures import SignatureVerdict


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
    warnings: list[IngestWarning] = Field(
        default=[],
        description="For an external source read in ingest mode: what was repaired in its "
        "document or left out of it (the alert travels with them).",
    )
    signature: SignatureVerdict | None = Field(
        default=None,
        description="The verdict on the document's XML signatures under the sender's policy.",
    )


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


# ---------------------------------------------------------------- alerts composed in the console

CompositionState = Literal["draft", "submitted", "published", "withdrawn"]


class CompositionIn(BaseModel):
    """A composed alert as an officer saves it: the CAP JSON document, complete or not yet.

    The composer fills in what the officer does not choose: the sender (the officer's
    organisation), the identifier (kept from the first save) and, at publication, `sent`.
    `version` is the version the officer edited (absent for a new composition).
    """

    model_config = ConfigDict(extra="forbid")

    document: dict[str, object] = Field(description="The alert in the CAP JSON form.")
    version: int | None = Field(default=None, ge=1)


class CompositionStep(BaseModel):
    """Submit, approve or withdraw the version the officer looked at."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


class CompositionEvent(BaseModel):
    """Who did what to a composition, and when."""

    model_config = ConfigDict(frozen=True)

    version: int
    action: Literal["saved", "submitted", "approved", "published", "withdrawn"]
    by: str
    at: AwareDatetime


class Composition(BaseModel):
    """A composed alert, its state and its history."""

    model_config = ConfigDict(frozen=True)

    id: str
    organisation: str
    state: CompositionState
    version: int
    document: dict[str, object]
    created_by: str
    updated_by: str
    updated_at: AwareDatetime
    published: Acceptance | None = Field(
        default=None, description="Where the gateway published it, once approved."
    )
    changed_since: list[str] | None = Field(
        default=None,
        description="With ?since=N: the fields of the document changed since version N.",
    )
    history: list[CompositionEvent]


class RecipientPreview(BaseModel):
    """A contact point the alert would reach, and why (no addresses)."""

    model_config = ConfigDict(frozen=True)

    organisation: str
    organisation_name: str
    contact_point: str
    name: str
    language: str | None = Field(description="The alert's language it would be shown.")
    language_available: bool = Field(description="False when it reads none of the alert's.")
    reads: list[str] = Field(description="The languages it reads, in order of preference.")
    reasons: list[str]


class CompositionCheck(BaseModel):
    """What the gateway would answer for a composed alert, before anything is sent."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    problems: list[Problem] = Field(
        description="The CAP model's refusals and the authorisation rules', each naming its field."
    )
    recipients: list[RecipientPreview] = Field(
        description="Who the alert would reach (the registry's routing answer), when it is valid."
    )
    missing_languages: list[str] = Field(
        description="Languages some recipients read that the alert does not carry yet."
    )
    cap_xml: str | None = Field(description="The alert as CAP 1.2 XML, when it is valid.")
    publishes_alone: bool = Field(
        default=False,
        description="Whether this officer's submission would publish it at once: they hold "
        "alerts:approve and the organisation's single_approval allows its severity now.",
    )
