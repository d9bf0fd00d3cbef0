"""The registry's records and its routing answer, as every service and client sees them."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    field_validator,
    model_validator,
)

from schemas.cap import Alert, Category, Certainty, Severity, Status, Urgency
from schemas.cap import Scope as CapScope
from schemas.cap_ingest import MAX_INGEST_LIMIT, CapMode
from schemas.cap_types import CapToken, CircleArea, Polygon
from schemas.envelopes import Channel
from schemas.identity import Scope, SingleApproval
from schemas.names import Language, RegionCode, Slug
from schemas.signatures import SignaturePolicy, SigningKey, public_key_of
from schemas.topics import EXERCISE_STATUSES

NUTS_GEOCODE_NAMES = ("NUTS", "NUTS0", "NUTS1", "NUTS2", "NUTS3")
"""CAP geocode value names whose values are the network's region codes."""


class OrganisationKind(StrEnum):
    """What an organisation does in the network."""

    CRISIS_CENTRE = "crisis_centre"
    HEALTH_AGENCY = "health_agency"
    CIVIL_PROTECTION = "civil_protection"
    POLICE = "police"
    FIRE_AND_RESCUE = "fire_and_rescue"
    ENVIRONMENT_AGENCY = "environment_agency"
    WATER_AUTHORITY = "water_authority"


class ContactFunction(StrEnum):
    """The role of a contact point."""

    DUTY_DESK = "duty_desk"
    SINGLE_POINT_OF_CONTACT = "single_point_of_contact"
    LIAISON_OFFICER = "liaison_officer"
    OPERATIONS_CENTRE = "operations_centre"


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"'{value}' is not an email address.")
    return value


Email = Annotated[str, AfterValidator(_email)]


class Record(BaseModel):
    """Base of the registry's records: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionIn(Record):
    """A NUTS-style region: a country (level 0) down to a district (level 3)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "BE33",
                    "country": "BE",
                    "level": 2,
                    "parent": "BE3",
                    "names": {"fr": "Liège", "nl": "Luik", "de": "Lüttich", "en": "Liège"},
                    "basins": ["Meuse"],
                    "neighbours": ["BE34", "BE35", "NL42", "DEA2"],
                }
            ]
        }
    )

    code: RegionCode
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    level: int = Field(ge=0, le=3)
    parent: RegionCode | None = None
    names: dict[Language, str] = Field(default_factory=dict)
    basins: list[str] = Field(default_factory=list, description="River basins, e.g. Meuse.")
    neighbours: list[RegionCode] = Field(default_factory=list)


class Competence(Record):
    """A CAP category handled, optionally narrowed to event codes."""

    category: Category
    event_codes: list[str] = Field(default_factory=list)


class TemplateText(Record):
    """A hazard template's texts in one language; `{name}` marks what the officer fills in."""

    event: str = Field(min_length=1, max_length=200)
    headline: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=4000)
    instruction: str = Field(default="", max_length=4000)


class AlertTemplate(Record):
    """A hazard an organisation warns of, ready to compose: category, the usual urgency,
    severity and certainty, and its texts per language."""

    id: Slug
    category: Category
    event_code: str | None = Field(default=None, max_length=100)
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    texts: dict[Language, TemplateText] = Field(min_length=1)
    web: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=300)


class OrganisationIn(Record):
    """An organisation of the network."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "be-liege-governor",
                    "name": "Liège governor's crisis unit",
                    "kind": "civil_protection",
                    "home_region": "BE33",
                    "acts_for": ["BE33"],
                    "cap_sender": "cellule-crise@gouverneur-liege.example.org",
                    "languages": ["fr", "de"],
                }
            ]
        }
    )

    id: Slug
    name: str = Field(min_length=1, max_length=300)
    kind: OrganisationKind
    home_region: RegionCode
    acts_for: list[RegionCode] = Field(default_factory=list)
    cap_sender: CapToken
    languages: list[Language] = Field(default_factory=list)
    single_approval: list[SingleApproval] = Field(
        default_factory=list,
        max_length=20,
        description="The alerts composed in the console that one officer holding "
        "alerts:approve may publish alone (a severity, at any hour or between two local "
        "times); every other composed alert needs a second officer's approval (four eyes).",
    )
    alert_templates: list[AlertTemplate] = Field(
        default_factory=list,
        max_length=50,
        description="The hazards its duty officers compose alerts from in the console.",
    )
    cap_mode: CapMode = Field(
        default=CapMode.STRICT,
        description="How the gateway reads the CAP documents its clients send: strict (a "
        "centre of the network: any defect refused, naming the field) or ingest (an external "
        "source whose public warnings are brought in: defects repaired or left out, and said "
        "with the alert).",
    )
    max_cap_bytes: int | None = Field(
        default=None,
        ge=1024,
        le=MAX_INGEST_LIMIT,
        description="In ingest mode, the largest CAP document its clients may send, in "
        "bytes (5 MiB by default); strict mode keeps the 1 MiB of every publisher.",
    )
    signature_policy: SignaturePolicy = Field(
        default=SignaturePolicy.VERIFY_IF_PRESENT,
        description="What the gateway does with the XML signatures of its CAP documents: "
        "require (refuse a document no registered key signs), verify-if-present (verify, "
        "accept either way with the verdict) or ignore (keep them unchecked).",
    )
    signing_keys: list[SigningKey] = Field(
        default_factory=list,
        max_length=10,
        description="The certificates or public keys (PEM) its documents are signed with: "
        "an originator's, and a distributor's that signs beside it.",
    )

    @field_validator("signing_keys")
    @classmethod
    def _keys_readable(cls, keys: list[SigningKey]) -> list[SigningKey]:
        for key in keys:
            public_key_of(key.pem)  # a PEM that is neither certificate nor key is refused
        return keys


class ContactPointIn(Record):
    """A desk or person of an organisation that receives alerts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "be-liege-duty",
                    "organisation": "be-liege-governor",
                    "function": "duty_desk",
                    "name": "Permanence 24/7 Liège",
                    "email": "permanence@liege.example.org",
                    "languages": ["fr", "de", "en"],
                    "staffed_24_7": True,
                    "competences": [
                        {"category": "Geo"},
                        {"category": "Met"},
                        {"category": "Health", "event_codes": ["epidemic.indicator"]},
                    ],
                }
            ]
        }
    )

    id: Slug
    organisation: Slug
    function: ContactFunction
    name: str = Field(min_length=1, max_length=300)
    email: Email | None = None
    languages: list[Language] = Field(default_factory=list, description="In order of preference.")
    staffed_24_7: bool = False
    competences: list[Competence] = Field(default_factory=list)


class Parties(Record):
    """Who an agreement binds: organisations, and every organisation acting within regions."""

    organisations: list[Slug] = Field(default_factory=list)
    regions: list[RegionCode] = Field(default_factory=list)


class AgreementIn(Record):
    """A mutual-assistance agreement."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "meuse-flood-cooperation",
                    "name": "Meuse flood cooperation",
                    "reference": "IMC flood warning arrangement (fictitious)",
                    "parties": {"organisations": [], "regions": ["BE33", "NL42", "FRF3"]},
                    "categories": ["Geo", "Met", "Env"],
                    "min_severity": "Moderate",
                    "applies_to_exercises": True,
                    "ack_deadline_minutes": 30,
                    "escalation_contacts": ["be-nccn-duty"],
                    "valid_from": "2002-12-03",
                    "valid_until": None,
                }
            ]
        }
    )

    id: Slug
    name: str = Field(min_length=1, max_length=300)
    reference: str = ""
    parties: Parties
    categories: list[Category] = Field(min_length=1)
    min_severity: Severity
    applies_to_exercises: bool = True
    ack_deadline_minutes: int | None = Field(default=None, gt=0)
    escalation_contacts: list[Slug] = Field(default_factory=list)
    valid_from: date
    valid_until: date | None = None

    @model_validator(mode="after")
    def _coherent(self) -> AgreementIn:
        if len(self.parties.organisations) + len(self.parties.regions) < 2:
            raise ValueError("an agreement binds at least two parties (organisations or regions).")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from.")
        return self


Secret = Annotated[str, Field(min_length=12, max_length=200)]


class ApiClientIn(Record):
    """A machine client; `secret` is write-only (omit it on update to keep the current one)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "be-liege-system",
                    "organisation": "be-liege-governor",
                    "secret": "a-long-random-secret",
                    "scopes": ["alerts:publish", "alerts:read"],
                    "revoked": False,
                }
            ]
        }
    )

    client_id: Slug
    organisation: Slug
    secret: Secret | None = None
    scopes: list[Scope] = Field(default_factory=list)
    revoked: bool = False


class ConsoleUserIn(Record):
    """A duty officer; `password` is write-only (omit it on update to keep the current one)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "officer.liege",
                    "organisation": "be-liege-governor",
                    "contact_point": "be-liege-duty",
                    "display_name": "Julie Lambert",
                    "password": "a-long-passphrase",
                    "scopes": ["console"],
                }
            ]
        }
    )

    username: Slug
    organisation: Slug
    contact_point: Slug | None = None
    display_name: str = Field(min_length=1, max_length=200)
    password: Secret | None = None
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.CONSOLE])
    disabled: bool = False


MIN_POLL_SECONDS = 30
MAX_POLL_SECONDS = 86_400


class CapFeedIn(Record):
    """An external source's public CAP feed (Atom or RSS 2.0), which the feed ingest worker
    polls: each new CAP document it lists is published as an alert of `organisation`, whose
    cap_mode, max_cap_bytes and signature_policy apply to it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "meteoalarm-de",
                    "url": "https://feeds.meteoalarm.org/feeds/meteoalarm-legacy-atom-germany",
                    "organisation": "de-dwd",
                    "poll_seconds": 300,
                    "enabled": True,
                }
            ]
        }
    )

    id: Slug
    url: HttpUrl = Field(description="The feed's address (http or https).")
    organisation: Slug = Field(
        description="The external source whose alerts the feed brings: it is their sender."
    )
    poll_seconds: int = Field(
        default=300,
        ge=MIN_POLL_SECONDS,
        le=MAX_POLL_SECONDS,
        description="How often the feed is asked for what is new.",
    )
    enabled: bool = True


class Versioned(BaseModel):
    """Adds the record's version, also sent as its ETag."""

    version: int


class RegionOut(RegionIn, Versioned):
    """A region as stored."""


class OrganisationOut(OrganisationIn, Versioned):
    """An organisation as stored."""


class ContactPointOut(ContactPointIn, Versioned):
    """A contact point as stored."""


class AgreementOut(AgreementIn, Versioned):
    """An agreement as stored."""


class CapFeedOut(CapFeedIn, Versioned):
    """A CAP feed as stored."""


class ApiClientOut(Record, Versioned):
    """A machine client as stored (never its secret)."""

    client_id: str
    organisation: str
    scopes: list[Scope]
    revoked: bool


class ConsoleUserOut(Record, Versioned):
    """A duty officer as stored (never the password)."""

    username: str
    organisation: str
    contact_point: str | None
    display_name: str
    scopes: list[Scope]
    disabled: bool


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    total: int
    limit: int
    offset: int


class RoutingFacts(Record):
    """What routing needs to know of an alert."""

    sender: CapToken
    status: Status
    categories: list[Category] = Field(min_length=1)
    severity: Severity
    event_codes: list[str] = Field(default_factory=list)
    regions: list[RegionCode] = Field(default_factory=list, description="NUTS codes named.")
    polygons: list[Polygon] = Field(
        default_factory=list,
        description="The area's polygons: organisations acting for a region one touches are "
        "reached as if it were named.",
    )
    circles: list[CircleArea] = Field(
        default_factory=list, description="The area's circles, routed as its polygons are."
    )
    languages: list[str] = Field(default_factory=list, description="Languages of the info blocks.")
    sent: AwareDatetime | None = Field(default=None, description="Defaults to now.")
    addresses: list[str] = Field(
        default_factory=list,
        description="An addressed exercise (CAP scope Private, status Exercise or Test) reaches "
        "exactly these, and nobody else: `contact:ID`, `organisation:ID`, `agreement:ID` "
        "(its parties), `region:CODE` (organisations acting for it, within it or around it), "
        "`network:all`.",
    )


def addressed_exercise(alert: Alert) -> bool:
    """Whether the alert is an exercise addressed to chosen contact points (a communication
    check): scope Private, status Exercise or Test. Its routing is its addresses alone."""
    return alert.scope is CapScope.PRIVATE and alert.status in EXERCISE_STATUSES


def routing_facts(alert: Alert) -> RoutingFacts:
    """The routing facts of a CAP alert: categories, highest severity, NUTS geocodes, languages."""
    infos = alert.info
    categories = sorted({c for info in infos for c in info.category}, key=str)
    severity = max((info.severity for info in infos), key=lambda s: s.rank, default=None)
    return RoutingFacts(
        sender=alert.sender,
        status=alert.status,
        categories=categories or [Category.OTHER],
        severity=severity or Severity.UNKNOWN,
        event_codes=sorted({code.value for info in infos for code in info.event_code}),
        regions=sorted(
            {
                geocode.value
                for info in infos
                for area in info.area
                for geocode in area.geocode
                if geocode.value_name.upper() in NUTS_GEOCODE_NAMES
            }
        ),
        polygons=list(
            dict.fromkeys(p for info in infos for area in info.area for p in area.polygon)
        ),
        circles=list(dict.fromkeys(c for info in infos for area in info.area for c in area.circle)),
        languages=list(dict.fromkeys(info.language for info in infos)),
        sent=alert.sent,
        addresses=list(alert.addresses) if addressed_exercise(alert) else [],
    )


class RoutingRequest(Record):
    """Ask who must receive an alert: give the CAP alert itself, or its routing facts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "facts": {
                        "sender": "cellule-crise@gouverneur-liege.example.org",
                        "status": "Actual",
                        "categories": ["Geo"],
                        "severity": "Severe",
                        "event_codes": ["flood.riverine"],
                        "regions": ["BE33"],
                        "languages": ["fr-BE", "de-DE"],
                        "sent": "2026-11-28T14:05:00+01:00",
                    }
                }
            ]
        }
    )

    alert: Alert | None = None
    facts: RoutingFacts | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RoutingRequest:
        if (self.alert is None) == (self.facts is None):
            raise ValueError("give exactly one of alert and facts.")
        return self


class Reason(Record):
    """Why a contact point receives an alert."""

    kind: Literal["area", "agreement", "escalation", "address"]
    agreement: str | None = None
    region: str | None = None
    detail: str


class Recipient(Record):
    """One contact point that must receive the alert, how, in which language, and why."""

    contact_point: str
    organisation: str
    organisation_name: str
    name: str
    function: ContactFunction
    email: str | None
    channels: list[Channel]
    language: str | None
    language_available: bool
    reads: list[str] = Field(
        default_factory=list,
        description="The languages the contact point reads, in order of preference (else its "
        "organisation's): what a composer should add when `language_available` is false.",
    )
    reasons: list[Reason]
    escalation_only: bool = Field(
        description="Only an escalation contact: chased when a deadline passes, not at once."
    )
    ack_deadline_minutes: int | None


class MatchedAgreement(Record):
    """An agreement that applies to the alert."""

    id: str
    name: str
    ack_deadline_minutes: int | None
    escalation_contacts: list[str]


class RoutingAnswer(Record):
    """Every recipient of an alert, in a stable order, with the agreements that apply."""

    facts: RoutingFacts
    recipients: list[Recipient]
    agreements: list[MatchedAgreement]
