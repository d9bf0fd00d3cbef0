"""The live feed contract between the notifier and a duty officer's console (WebSocket, JSON).

The conversation, one JSON object per WebSocket text message:

1. The console opens `/v1/feed` and sends `Hello` with its registry access token and, after a
   reconnect, the `seq` of the last feed item it saw (`resume_after`).
2. The notifier answers `Welcome`; then either every feed item after `resume_after`, or, on a
   first connection (or when the gap is too long to replay, after a `Reset`), one item per
   alert currently active for the console's contact point; then `Synced`.
3. New `FeedItem`s follow as they happen, in increasing `seq` order, and a `Heartbeat` whenever
   nothing else was sent for `HEARTBEAT_SECONDS`.
4. Before its access token expires, the console sends `Renew` with the next token of the same
   officer; the connection then lasts as long as that token. A connection whose token expires
   is closed (4401); a console that cannot renew reconnects with `Hello` and `resume_after`.

`seq` orders everything a contact point is shown; a console keeps the highest it has seen and
resumes from it, so nothing is missed and nothing is shown twice. A `FeedItem` always carries
the whole current view of one alert message: a console replaces what it holds under that key.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from schemas.cap import Alert
from schemas.envelopes import AlertKey
from schemas.errors import IngestWarning
from schemas.registry import Reason
from schemas.signatures import SignatureVerdict

FEED_PATH = "/v1/feed"
HEARTBEAT_SECONDS = 10


class CloseCode(IntEnum):
    """Why the notifier closed a console's WebSocket (RFC 6455 §7.4.2 private range)."""

    BAD_MESSAGE = 4400
    """The console sent something other than a valid Hello first, or than a Renew after it."""
    UNAUTHORIZED = 4401
    """No token, an invalid one, or it expired: renew it (or log in again) and reconnect."""
    FORBIDDEN = 4403
    """The token is valid but not a duty officer's (no console scope or no contact point), or
    a `Renew` carried another officer's token."""
    TOO_SLOW = 4408
    """The console fell behind the feed or stopped reading; reconnect with `resume_after`."""
    TOO_MANY = 4429
    """The console sent too many messages, or its officer holds too many feeds open on this
    notifier: reconnect after a while (with back-off)."""
    TOO_BIG = 1009
    """The console sent a message larger than the notifier reads."""
    GOING_AWAY = 1001
    """The notifier is shutting down; reconnect (to it or another instance)."""


class FeedModel(BaseModel):
    """Base of the feed contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Hello(FeedModel):
    """The console's first message."""

    type: Literal["hello"] = "hello"
    token: str = Field(min_length=1, description="A registry access token with scope console.")
    resume_after: int | None = Field(
        default=None, ge=0, description="The highest `seq` seen before a reconnect."
    )


class Renew(FeedModel):
    """The console's next access token, sent on the open feed before the current one expires."""

    type: Literal["renew"] = "renew"
    token: str = Field(
        min_length=1, description="A newer registry access token of the same duty officer."
    )


class ItemKind(StrEnum):
    """What made a feed item."""

    ALERT = "alert"
    """An alert, update or cancel reached this contact point."""
    ACKNOWLEDGEMENT = "acknowledgement"
    """Someone of this organisation acknowledged the alert."""
    ESCALATION = "escalation"
    """The alert reached this contact point because a recipient missed its deadline."""


class AlertState(StrEnum):
    """Where an alert message stands for the consoles."""

    ACTIVE = "active"
    REPLACED = "replaced"
    """An Update of the same incident replaced it."""
    CANCELLED = "cancelled"
    """A Cancel closed it (or the cancel itself)."""
    EXPIRED = "expired"


class Acknowledgement(FeedModel):
    """One contact point of the officer's organisation acknowledged the alert."""

    contact_point: str
    by: str = Field(description="User name of the duty officer.")
    by_name: str | None = None
    at: AwareDatetime
    note: str | None = None


class Escalation(FeedModel):
    """A recipient missed its acknowledgement deadline and the escalation contacts were chased."""

    missed_by: str = Field(description="The contact point that did not acknowledge in time.")
    deadline: AwareDatetime
    escalated_at: AwareDatetime
    notified: list[str] = Field(description="The escalation contact points notified.")


class FeedItem(FeedModel):
    """The current view of one alert message for one contact point."""

    type: Literal["item"] = "item"
    seq: int = Field(ge=1)
    kind: ItemKind
    key: AlertKey
    chain: AlertKey
    alert: Alert = Field(description="The whole CAP alert, every language.")
    exercise: bool = Field(description="Exercise or test traffic, never real.")
    state: AlertState
    language: str | None = Field(description="The info language chosen for this contact point.")
    language_available: bool = Field(
        description="False when none of the contact point's languages is in the alert."
    )
    reasons: list[Reason] = Field(description="Why this contact point received the alert.")
    replaces: list[AlertKey] = Field(
        default_factory=list, description="Earlier messages this Update replaces."
    )
    closes: list[AlertKey] = Field(
        default_factory=list, description="Earlier messages this Cancel closes."
    )
    acknowledgements: list[Acknowledgement] = Field(
        default_factory=list, description="By contact points of the officer's organisation."
    )
    escalations: list[Escalation] = Field(default_factory=list)
    ack_deadline: AwareDatetime | None = None
    warnings: list[IngestWarning] = Field(
        default_factory=list,
        description="An external source's alert: what was repaired in its document or left "
        "out of it to bring it in.",
    )
    signature: SignatureVerdict | None = Field(
        default=None,
        description="The verdict on the alert's XML signatures, under its sender's policy.",
    )


class Welcome(FeedModel):
    """The notifier accepted the console."""

    type: Literal["welcome"] = "welcome"
    username: str
    display_name: str | None
    organisation: str
    contact_point: str
    instance: str = Field(description="The notifier process serving this connection.")


class Reset(FeedModel):
    """The gap since `resume_after` is too long to replay: drop what is held; a snapshot follows."""

    type: Literal["reset"] = "reset"


class Synced(FeedModel):
    """Everything up to `cursor` has been sent; live items follow."""

    type: Literal["synced"] = "synced"
    cursor: int = Field(ge=0)


class Heartbeat(FeedModel):
    """Sent when nothing else was for a while: a console without one for long shows it is stale."""

    type: Literal["heartbeat"] = "heartbeat"
    at: AwareDatetime
    cursor: int = Field(ge=0, description="The highest seq sent on this connection.")


ServerMessage = Annotated[
    Welcome | Reset | FeedItem | Synced | Heartbeat, Field(discriminator="type")
]
SERVER_MESSAGE = TypeAdapter[ServerMessage](ServerMessage)
"""Reads any message the notifier sends to a console."""


class AcknowledgeRequest(FeedModel):
    """A duty officer acknowledges an alert, with an optional note."""

    note: str | None = Field(default=None, max_length=2000)
