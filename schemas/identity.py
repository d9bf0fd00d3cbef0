"""Identity contract: the scopes, the claims of a registry-issued token, the token response, JWKS.

The registry signs access tokens (JWT, EdDSA over Ed25519); every other service verifies them
offline against the registry's published JSON Web Key Set.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.cap import Severity
from schemas.cap_ingest import CapMode
from schemas.signatures import SignaturePolicy

TOKEN_ALGORITHM = "EdDSA"  # noqa: S105
"""The only JOSE `alg` an access token may carry (Ed25519, RFC 8037)."""

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105
"""JOSE `typ` of access tokens (RFC 9068), so that no other JWT passes for one."""

JWKS_PATH = "/.well-known/jwks.json"
"""Where the registry publishes its signing keys."""


class Scope(StrEnum):
    """What a token allows, OAuth2 style (RFC 6749 §3.3)."""

    REGISTRY_READ = "registry:read"
    REGISTRY_ADMIN = "registry:admin"
    ROUTING_READ = "routing:read"
    """Preview who would receive the organisation's own alerts (no contact addresses)."""
    ROUTING_RESOLVE = "routing:resolve"
    """Resolve the recipients of any sender's alert, with their addresses: network services."""
    ALERTS_PUBLISH = "alerts:publish"
    ALERTS_READ = "alerts:read"
    ALERTS_ON_BEHALF = "alerts:on-behalf"
    """Get a token publishing as an organisation that owns threshold rules: the evaluator."""
    OBSERVATIONS_SUBMIT = "observations:submit"
    THRESHOLDS_WRITE = "thresholds:write"
    """Write the organisation's own threshold rules (a new version each time)."""
    THRESHOLDS_READ = "thresholds:read"
    """Read every threshold rule and indicator: the network's services."""
    CONSOLE = "console"
    EXERCISES_PLAN = "exercises:plan"
    """An exercise planner's: send addressed exercises (communication checks) to chosen contact
    points, and publish after-action reports to the participating organisations."""
    ALERTS_COMPOSE = "alerts:compose"
    """A duty officer's: compose the organisation's alerts in the console and ask for approval."""
    ALERTS_APPROVE = "alerts:approve"
    """A duty officer's: approve a colleague's composed alert, which publishes it."""
    ALERTS_COMPOSE_EXERCISE = "alerts:compose-exercise"
    """A trainee's or an exercise participant's: compose as with alerts:compose, but alerts of
    status Exercise only (the console's composer is then in exercise mode)."""
    FEEDS_INGEST = "feeds:ingest"
    """The feed ingest worker's: read the registered CAP feeds, and get a token publishing as
    the organisation of a feed (the external source whose warnings the feed brings)."""


class Audience(StrEnum):
    """The services a token is meant for (its `aud` claim, RFC 7519 §4.1.3; RFC 8707 resources).

    Each service accepts only tokens naming it, so a token given to one service cannot be
    replayed at another whose routes its scopes were never meant for.
    """

    REGISTRY = "urn:crossalert:registry"
    GATEWAY = "urn:crossalert:alert-gateway"
    NOTIFIER = "urn:crossalert:notifier"


SCOPE_AUDIENCES: dict[Scope, tuple[Audience, ...]] = {
    Scope.REGISTRY_READ: (Audience.REGISTRY,),
    Scope.REGISTRY_ADMIN: (Audience.REGISTRY,),
    Scope.ROUTING_READ: (Audience.REGISTRY,),
    Scope.ROUTING_RESOLVE: (Audience.REGISTRY,),
    Scope.ALERTS_PUBLISH: (Audience.GATEWAY,),
    Scope.ALERTS_ON_BEHALF: (Audience.REGISTRY,),
    Scope.THRESHOLDS_WRITE: (Audience.REGISTRY,),
    Scope.THRESHOLDS_READ: (Audience.REGISTRY,),
    # An alert's state at the gateway, its delivery report at the notifier.
    Scope.ALERTS_READ: (Audience.GATEWAY, Audience.NOTIFIER),
    Scope.OBSERVATIONS_SUBMIT: (Audience.GATEWAY,),
    Scope.CONSOLE: (Audience.NOTIFIER,),
    Scope.EXERCISES_PLAN: (Audience.GATEWAY, Audience.NOTIFIER),
    Scope.ALERTS_COMPOSE: (Audience.GATEWAY,),
    Scope.ALERTS_COMPOSE_EXERCISE: (Audience.GATEWAY,),
    Scope.ALERTS_APPROVE: (Audience.GATEWAY,),
    Scope.FEEDS_INGEST: (Audience.REGISTRY,),
}
"""Which services honour each scope: a token is issued for the services its scopes open."""


def audiences_of(scopes: Iterable[str]) -> tuple[Audience, ...]:
    """The services that honour at least one of `scopes`, in a stable order."""
    by_name = {str(scope): audiences for scope, audiences in SCOPE_AUDIENCES.items()}
    wanted = {audience for scope in scopes for audience in by_name.get(scope, ())}
    return tuple(audience for audience in Audience if audience in wanted)


class SingleApproval(BaseModel):
    """A composed alert one officer holding alerts:approve may publish alone: of this severity,
    at any hour or only between two local times (e.g. Extreme from 22:00 to 07:00, when no
    colleague is on duty). A bare severity ("Extreme") is the rule for every hour."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {"severity": "Extreme"},
                {"severity": "Severe", "between": ["22:00", "07:00"], "time_zone": "Europe/Paris"},
            ]
        },
    )

    severity: Severity
    between: tuple[time, time] | None = Field(
        default=None,
        description="Local start and end of the hours it holds (the end excluded); a start "
        "after the end spans midnight. None: at any hour.",
    )
    time_zone: str = Field(
        default="Europe/Brussels", description="IANA time zone of `between`'s local times."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_severity(cls, value: Any) -> Any:
        return {"severity": value} if isinstance(value, str) else value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (Europe/Brussels…).") from None
        return value

    @field_validator("between")
    @classmethod
    def _distinct_ends(cls, value: tuple[time, time] | None) -> tuple[time, time] | None:
        if value is not None and value[0] == value[1]:
            raise ValueError("start and end are the same time: leave `between` out for every hour.")
        return value

    def allows(self, severity: Severity, at: datetime) -> bool:
        """Whether an alert of this severity may go with one officer's approval at `at`."""
        if severity != self.severity:
            return False
        if self.between is None:
            return True
        start, end = self.between
        now = at.astimezone(ZoneInfo(self.time_zone)).time().replace(tzinfo=None)
        return start <= now < end if start < end else now >= start or now < end

    def __str__(self) -> str:
        if self.between is None:
            return str(self.severity)
        start, end = (t.strftime("%H:%M") for t in self.between)
        return f"{self.severity} from {start} to {end} ({self.time_zone})"


class Principal(BaseModel):
    """Who a token speaks for: an API client of an organisation, or a console user."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, description="The API client's client_id, or the username.")
    kind: Literal["client", "user"]
    org: str = Field(min_length=1, description="Identifier of the organisation.")
    sender: str = Field(min_length=1, description="The organisation's CAP sender identifier.")
    scope: str = Field(default="", description="Granted scopes, space-separated (RFC 6749 §3.3).")
    regions: tuple[str, ...] = Field(
        default=(), description="Codes of the regions the organisation acts for."
    )
    categories: tuple[str, ...] = Field(
        default=(),
        description="CAP categories the organisation holds a competence for (it may publish).",
    )
    contact_point: str | None = Field(
        default=None, description="The contact point a duty officer watches for."
    )
    name: str | None = Field(default=None, description="Display name.")
    act: dict[str, str] | None = Field(
        default=None,
        description="Who acts for the organisation (RFC 8693): the service holding the token.",
    )
    single_approval: tuple[SingleApproval, ...] = Field(
        default=(),
        description="A duty officer's: when an alert of the organisation, composed in the "
        "console, may be published by one officer holding alerts:approve alone (no second "
        "officer): its severity, and the hours if not at any.",
    )

    cap_mode: CapMode = Field(
        default=CapMode.STRICT,
        description="How the gateway reads the CAP this organisation's clients send.",
    )
    max_cap_bytes: int | None = Field(
        default=None,
        description="In ingest mode, the largest CAP document they may send; None: 5 MiB.",
    )
    signature_policy: SignaturePolicy = Field(
        default=SignaturePolicy.VERIFY_IF_PRESENT,
        description="What the gateway does with the XML signatures of their CAP documents.",
    )

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split())


class TokenClaims(Principal):
    """The claims of a registry-issued access token (times are seconds since the epoch)."""

    iss: str
    aud: tuple[str, ...] = Field(description="The services this token is meant for.")
    exp: int
    iat: int
    nbf: int | None = None
    jti: str = Field(min_length=1)

    @field_validator("aud", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        # RFC 7519 allows one audience as a plain string.
        return (value,) if isinstance(value, str) else value


class TokenResponse(BaseModel):
    """A successful token response (RFC 6749 §5.1)."""

    model_config = ConfigDict(frozen=True)

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(gt=0, description="Seconds until the token expires.")
    scope: str
    refresh_token: str | None = Field(
        default=None,
        description="A duty officer's session: trade it for a new access token (grant_type "
        "refresh_token) before this one expires; each use returns the next one.",
    )
    refresh_expires_in: int | None = Field(
        default=None, description="Seconds until the session ends, whatever its renewals."
    )
    device_token: str | None = Field(
        default=None,
        description="Given at an officer's login: sent with the next logins from this browser, "
        "it keeps them open while someone else's failed guesses slow the account down.",
    )


class Jwk(BaseModel):
    """An Ed25519 public signing key as a JSON Web Key (RFC 8037)."""

    model_config = ConfigDict(frozen=True)

    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$", description="The 32-byte public key, base64url.")
    kid: str = Field(min_length=1, description="RFC 7638 thumbprint of the key.")
    alg: Literal["EdDSA"] = "EdDSA"
    use: Literal["sig"] = "sig"


class JwkSet(BaseModel):
    """The registry's published signing keys (RFC 7517 §5)."""

    model_config = ConfigDict(frozen=True)

    keys: tuple[Jwk, ...]
