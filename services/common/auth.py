"""Offline verification of registry-issued access tokens, and the FastAPI dependencies using it.

Every service checks a token against the registry's public keys alone: no call to the registry
per request. The keys come from a fixed set (the registry itself, tests) or from the registry's
JWKS URL, fetched once, cached, and fetched again only for a key id not seen yet.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from dataclasses import dataclass
from typing import Annotated

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from schemas.identity import (
    ACCESS_TOKEN_TYPE,
    JWKS_PATH,
    TOKEN_ALGORITHM,
    Audience,
    JwkSet,
    Scope,
    TokenClaims,
)
from services.common.problems import ProblemError

log = structlog.get_logger(__name__)

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


VERIFIED_TOKENS_KEPT = 10_000
"""Verified tokens a verifier remembers (a few MB): more than the clients and consoles of a
process renew within a token's five minutes."""


class TokenVerifier:
    """Verifies access tokens against the registry's keys: a fixed set, or its JWKS URL."""

    def __init__(
        self,
        keys: JwkSet | str,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = 30,
        refetch_interval_seconds: float = 30,
        retry_interval_seconds: float = 1,
        timeout_seconds: float = 2,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._verified: dict[str, TokenClaims] = {}
        """Tokens already verified, until they expire: a client sends the same one with every
        request, and checking its signature again would cost more than the rest of the route."""
        self._refetch_interval = refetch_interval_seconds
        self._retry_interval = retry_interval_seconds
        self._timeout = timeout_seconds
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._loaded = False
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self._url: str | None = None
        self._client: httpx.AsyncClient | None = None
        self._owns_client = False
        if isinstance(keys, JwkSet):
            self._keys, self._loaded = _public_keys(keys), True
        else:
            self._url = keys
            self._client = client or httpx.AsyncClient(timeout=timeout_seconds)
            self._owns_client = client is None

    async def aclose(self) -> None:
        """Close the HTTP client this verifier opened, if any."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()

    async def ready(self) -> None:
        """Return when keys are at hand (fetching them if never fetched); raise otherwise."""
        if not self._keys:
            await self._refresh()
        if not self._keys:
            raise RuntimeError("no signing keys of the registry known yet")

    async def verify(self, token: str) -> TokenClaims:
        """The claims of `token` once its algorithm, key, signature, times and issuer check out."""
        known = self._verified.get(token)
        if known is not None and time.time() < known.exp + self._leeway:
            return known
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            # Oldest first: expired tokens go before those of the clients still sending.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    async def _verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _unauthorized(
                "invalid_token", "The access token is not a well-formed JWT."
            ) from None
        if header.get("alg") != TOKEN_ALGORITHM:
            raise _unauthorized(
                "invalid_token", f"The access token must be signed with {TOKEN_ALGORITHM}."
            )
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise _unauthorized("invalid_token", "The token is not an access token.")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _unauthorized("invalid_token", "The access token does not name its key (kid).")
        key = await self._key(kid)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[TOKEN_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
            return TokenClaims.model_validate(payload)
        except jwt.ExpiredSignatureError:
            raise _unauthorized("expired_token", "The access token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise _unauthorized("invalid_token", "The access token is not valid yet.") from None
        except jwt.InvalidAudienceError:
            raise _unauthorized(
                "invalid_token", "The access token is not meant for this service (aud)."
            ) from None
        except jwt.InvalidIssuerError:
            raise _unauthorized(
                "invalid_token", f"The access token was not issued by {self._issuer}."
            ) from None
        except jwt.InvalidSignatureError:
            raise _unauthorized(
                "invalid_token", "The access token's signature does not verify."
            ) from None
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
            raise _unauthorized(
                "invalid_token", f"The access token's claims are missing or malformed: {fields}."
            ) from None
        except jwt.InvalidTokenError as exc:
            reason = str(exc).rstrip(".")
            raise _unauthorized(
                "invalid_token", f"The access token is invalid: {reason}."
            ) from None

    async def _key(self, kid: str) -> Ed25519PublicKey:
        if kid not in self._keys and self._url is not None:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise _unauthorized(
                "unknown_key", "The access token was signed by a key the registry does not publish."
            )
        return key

    async def _refresh(self) -> None:
        async with self._lock:
            # Whoever waited on the lock finds the keys the previous holder fetched; a token
            # naming a made-up kid cannot make every request call the registry.
            interval = self._refetch_interval if self._loaded else self._retry_interval
            now = time.monotonic()
            if self._attempted_at is None or now - self._attempted_at >= interval:
                self._attempted_at = now
                await self._fetch()
        if not self._loaded:
            raise ProblemError(
                503,
                "registry_unreachable",
                "The registry's signing keys cannot be fetched, so no access token can be "
                "verified yet; retry shortly.",
                headers={"Retry-After": str(max(1, math.ceil(self._retry_interval)))},
            )

    async def _fetch(self) -> None:
        assert self._url is not None and self._client is not None
        try:
            # httpx bounds each phase; this bounds the whole exchange.
            async with asyncio.timeout(self._timeout):
                response = await self._client.get(self._url)
            response.raise_for_status()
            self._keys = _public_keys(JwkSet.model_validate_json(response.content))
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            log.warning("jwks_fetch_failed", url=self._url, error=str(exc) or type(exc).__name__)
            return
        self._loaded = True
        log.info("jwks_fetched", url=self._url, kids=sorted(self._keys))


def registry_verifier(
    registry_url: str, *, issuer: str, audience: Audience, client: httpx.AsyncClient | None = None
) -> TokenVerifier:
    """A verifier of the tokens the registry at `registry_url` issues for `audience`."""
    return TokenVerifier(
        registry_url.rstrip("/") + JWKS_PATH, issuer=issuer, audience=audience, client=client
    )


def _public_keys(jwk_set: JwkSet) -> dict[str, Ed25519PublicKey]:
    return {
        jwk.kid: Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk.x + "="))
        for jwk in jwk_set.keys
    }


def _unauthorized(code: str, detail: str) -> ProblemError:
    description = "".join(c for c in detail if c not in '"\\')
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return ProblemError(401, code, detail, headers={"WWW-Authenticate": challenge})


BEARER = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token of the registry (POST /v1/oauth/token), meant for this service.",
)
"""The security scheme of every protected route, as the OpenAPI page documents it."""


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> str:
    """The token of the request's `Authorization: Bearer …` header (RFC 6750 §2.1)."""
    token = credentials.credentials.strip() if credentials is not None else ""
    if credentials is None or credentials.scheme.lower() != "bearer" or not token:
        # RFC 6750 §3.1: a request without credentials gets a challenge but no error code.
        raise ProblemError(
            401,
            "missing_token",
            "This request needs an access token: send Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token


@dataclass(frozen=True)
class Requires:
    """A route's dependency: the verified claims of a token granting the scopes it needs.

    Kept as data, so that the authorisation table of every route can be read off the apps.
    """

    scopes: tuple[Scope, ...]
    any_of: bool = False
    """One of `scopes` is enough (else every one is needed)."""

    async def __call__(
        self, request: Request, token: Annotated[str, Depends(bearer_token)]
    ) -> TokenClaims:
        """The claims, once the token verified and grants the scopes (401/403 otherwise)."""
        claims = await _verifier(request).verify(token)
        missing = [str(scope) for scope in self.scopes if scope not in claims.scopes]
        if missing and not (self.any_of and len(missing) < len(self.scopes)):
            needed = " or ".join(missing) if self.any_of else ", ".join(missing)
            raise ProblemError(
                403,
                "insufficient_scope",
                f"The access token does not grant the scope {needed} that this request needs.",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", '
                    f'scope="{" ".join(self.scopes)}"'
                },
                extra={"missing_scopes": missing},
            )
        return claims


def requires(*scopes: Scope) -> Requires:
    """A dependency answering the verified claims of a token that grants every one of `scopes`."""
    return Requires(scopes)


def requires_any(*scopes: Scope) -> Requires:
    """A dependency answering the verified claims of a token that grants one of `scopes`."""
    return Requires(scopes, any_of=True)


def _verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("app.state.token_verifier is not set: the app's lifespan builds it")
    return verifier


ClaimsDep = Annotated[TokenClaims, Depends(requires())]
"""The verified claims of the request's access token, whatever its scopes."""
