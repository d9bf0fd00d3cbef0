"""The CAP 1.2 alert: enumerations, the alert/info/resource/area model, and its JSON twin.

Field names in JSON (and in error paths) are CAP's own element names (`msgType`, `areaDesc`),
so a crisis centre reads the same words in the standard, in XML and in JSON.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from schemas.cap_types import (
    Base64Text,
    CapDateTime,
    CapToken,
    CircleArea,
    Language,
    ListItem,
    Polygon,
    ReferenceTriple,
    RequiredText,
    ResourceUri,
    Sha1Hex,
    Text,
    WebUrl,
    XmlSignature,
    is_relative_reference,
    relative_uri_without_content,
)
from schemas.errors import DOCUMENT, CapValidationError

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_CAP_BYTES = 1024 * 1024
"""The largest CAP document accepted, XML or JSON."""


class Status(StrEnum):
    """Who the alert is for: real (Actual) or one of the non-real uses."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(StrEnum):
    """What the message does: a new alert, or something about earlier ones."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(StrEnum):
    """Who may see the alert."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(StrEnum):
    """The CAP 1.2 event categories."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(StrEnum):
    """The action recommended to the audience."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(StrEnum):
    """How soon responsive action should be taken."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(StrEnum):
    """How bad the event is, from Extreme down to Minor."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"

    @property
    def rank(self) -> int:
        """Order for thresholds: Extreme=4 ... Minor=1, Unknown=0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.EXTREME: 4,
    Severity.SEVERE: 3,
    Severity.MODERATE: 2,
    Severity.MINOR: 1,
    Severity.UNKNOWN: 0,
}


class Certainty(StrEnum):
    """How sure the sender is that the event occurs."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class CapModel(BaseModel):
    """Base of the CAP models: immutable, CAP element names as JSON keys, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


class NamedValue(CapModel):
    """A `valueName`/`value` pair: eventCode, parameter and geocode entries."""

    value_name: RequiredText
    value: Text


class Resource(CapModel):
    """A file with supplemental information: an image, a map, a document."""

    resource_desc: RequiredText
    mime_type: RequiredText
    size: int | None = Field(default=None, ge=0, description="Size in bytes.")
    uri: ResourceUri | None = None
    deref_uri: Base64Text | None = Field(
        default=None, description="The resource itself, base64-encoded."
    )
    digest: Sha1Hex | None = Field(default=None, description="SHA-1 of the resource, hex.")

    @model_validator(mode="after")
    def _relative_uri_needs_deref_uri(self) -> Resource:
        if self.uri is not None and self.deref_uri is None and is_relative_reference(self.uri):
            # A ValidationError located at `uri`: an error raised plainly here would name the
            # whole resource, not the field at fault.
            error = InitErrorDetails(
                type=relative_uri_without_content(self.uri), loc=("uri",), input=self.uri
            )
            raise ValidationError.from_exception_data(type(self).__name__, [error])
        return self


class Area(CapModel):
    """A geographic area the info applies to."""

    area_desc: RequiredText
    polygon: list[Polygon] = []
    circle: list[CircleArea] = []
    geocode: list[NamedValue] = []
    altitude: float | None = Field(default=None, description="Feet above mean sea level.")
    ceiling: float | None = Field(default=None, description="Feet; only with altitude.")

    @field_validator("ceiling")
    @classmethod
    def _ceiling_needs_altitude(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("altitude") is None and "altitude" in info.data:
            raise PydanticCustomError(
                "ceiling_without_altitude", "may only be given with altitude."
            )
        return value


class Info(CapModel):
    """One language's description of the event, its urgency, severity, certainty and areas."""

    language: Language = "en-US"
    category: list[Category] = Field(min_length=1)
    event: RequiredText
    response_type: list[ResponseType] = []
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    audience: Text | None = None
    event_code: list[NamedValue] = []
    effective: CapDateTime | None = None
    onset: CapDateTime | None = None
    expires: CapDateTime | None = None
    sender_name: Text | None = None
    headline: Text | None = None
    description: Text | None = None
    instruction: Text | None = None
    web: WebUrl | None = None
    contact: Text | None = None
    parameter: list[NamedValue] = []
    resource: list[Resource] = []
    area: list[Area] = []


_NEEDS_REFERENCES = (MsgType.UPDATE, MsgType.CANCEL, MsgType.ACK, MsgType.ERROR)


class Alert(CapModel):
    """A CAP 1.2 alert message, with its info blocks and an optional enveloped XML signature."""

    identifier: CapToken
    sender: CapToken
    sent: CapDateTime
    status: Status
    msg_type: MsgType
    source: Text | None = None
    scope: Scope
    restriction: Text | None = Field(default=None, validate_default=True)
    addresses: list[ListItem] = Field(default=[], validate_default=True)
    code: list[Text] = []
    note: Text | None = None
    references: list[ReferenceTriple] = Field(default=[], validate_default=True)
    incidents: list[ListItem] = []
    info: list[Info] = []
    signature: list[XmlSignature] = Field(
        default=[],
        description="The enveloped XML signatures (ds:Signature), any number as CAP 1.2 allows "
        "(an originator's and a distributor's), in a stable text form. The gateway verifies "
        "them on the document as received (schemas.signatures) and keeps that document byte "
        "for byte.",
    )

    @field_validator("signature", mode="before")
    @classmethod
    def _one_signature_is_a_list_of_one(cls, value: object) -> object:
        # Documents stored before several signatures were kept held one, as a string.
        return [value] if isinstance(value, str) else value

    @field_validator("restriction")
    @classmethod
    def _restricted_needs_restriction(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("scope") == Scope.RESTRICTED and not (value and value.strip()):
            raise PydanticCustomError(
                "missing", "is required when scope is Restricted: say who may see the alert."
            )
        return value

    @field_validator("addresses")
    @classmethod
    def _private_needs_addresses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("scope") == Scope.PRIVATE and not value:
            raise PydanticCustomError(
                "missing", "are required when scope is Private: name the intended recipients."
            )
        return value

    @field_validator("references")
    @classmethod
    def _follow_up_needs_references(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        msg_type = info.data.get("msg_type")
        if msg_type in _NEEDS_REFERENCES and not value:
            raise PydanticCustomError(
                "missing",
                "are required for a {msg_type} message: name the earlier message(s) as "
                "'sender,identifier,sent'.",
                {"msg_type": str(msg_type)},
            )
        return value

    @property
    def key(self) -> tuple[str, str]:
        """The alert's identity: (sender, identifier)."""
        return (self.sender, self.identifier)


def validate_alert(data: Any) -> Alert:
    """Build an Alert from Python data (CAP or Python field names); raise CapValidationError."""
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        raise CapValidationError.from_pydantic(exc) from None


def document_bytes(data: bytes | str) -> bytes:
    """The document as bytes, a text encoded as UTF-8; refuse a text no encoding can carry."""
    if isinstance(data, bytes):
        return data
    try:
        return data.encode()
    except UnicodeEncodeError as exc:
        raise CapValidationError.single(
            DOCUMENT,
            "invalid_character",
            f"the document holds a lone surrogate ({data[exc.start]!r}), which is not a "
            "character and cannot be encoded.",
        ) from None


def check_size(document: bytes, limit: int = MAX_CAP_BYTES) -> None:
    """Refuse a document larger than `limit` before any work is spent on it."""
    if len(document) > limit:
        raise CapValidationError.single(
            DOCUMENT,
            "too_large",
            f"the document is {len(document)} bytes; CAP documents are limited to "
            f"{limit} bytes here.",
        )


def parse_cap_json(data: bytes | str) -> Alert:
    """Read the JSON twin of a CAP 1.2 alert; raise CapValidationError naming the field."""
    raw = document_bytes(data)
    check_size(raw)
    try:
        return Alert.model_validate_json(raw)
    except ValidationError as exc:
        raise CapValidationError.from_pydantic(exc) from None


def to_cap_json(alert: Alert, *, indent: int | None = 2) -> str:
    """Write the JSON twin of an alert (absent and empty elements left out)."""
    return alert.model_dump_json(indent=indent, exclude_defaults=True)
