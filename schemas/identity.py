"""Identity contract: the scopes, the claims of a registry-issued token, the token response, JWKS.

The registry signs access tokens (JWT, EdDSA over Ed25519); every other service verifies them
offline against the registry's published JSON Web Key Set.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    ALERTS_PUBLISH = "alerts:publish"
    ALERTS_READ = "alerts:read"
    OBSERVATIONS_SUBMIT = "observations:submit"
    CONSOLE = "console"


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

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes as a set."""
        return frozenset(self.scope.split())


class TokenClaims(Principal):
    """The claims of a registry-issued access token (times are seconds since the epoch)."""

    iss: str
    aud: str | None = None
    exp: int
    iat: int
    nbf: int | None = None
    jti: str = Field(min_length=1)


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
