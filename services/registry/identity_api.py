"""The registry's identity routes: tokens for systems and officers, officers' sessions, the JWKS.

These routes are anonymous by nature, so each bounds what it reads (field lengths, and the
body limit every route has), and every credential check passes the guards of
`credentials.py` before any hashing. No database connection is held while a secret is hashed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.identity import (
    JWKS_PATH,
    Audience,
    JwkSet,
    Principal,
    Scope,
    TokenResponse,
    audiences_of,
)
from services.common.problems import problem_responses
from services.registry import models as m
from services.registry import sessions
from services.registry.credentials import Credentials, oauth_error
from services.registry.identity import issue_token
from services.registry.principals import speaking_for
from services.registry.settings import RegistrySettings

router = APIRouter(prefix="/v1", tags=["identity"])

MAX_SECRET = 256
"""Longest password or secret read: argon2 hashes whatever it gets, so this bounds its work."""
MAX_NAME = 100
MAX_TOKEN = 100

_REFUSALS = problem_responses(400, 401, 413, 422, 429, 503)


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=_REFUSALS,
)
async def token(
    request: Request,
    grant_type: Annotated[str, Form(max_length=40)],
    client_id: Annotated[str | None, Form(max_length=MAX_NAME)] = None,
    client_secret: Annotated[str | None, Form(max_length=MAX_SECRET)] = None,
    username: Annotated[str | None, Form(max_length=MAX_NAME)] = None,
    password: Annotated[str | None, Form(max_length=MAX_SECRET)] = None,
    refresh_token: Annotated[str | None, Form(max_length=MAX_TOKEN)] = None,
    scope: Annotated[str | None, Form(max_length=500)] = None,
    resource: Annotated[list[Audience] | None, Form()] = None,
    on_behalf_of: Annotated[str | None, Form(max_length=MAX_NAME)] = None,
) -> TokenResponse:
    """OAuth2 token endpoint: `client_credentials` for systems, `password` and
    `refresh_token` (a session started by /v1/login) for duty officers.

    `scope` narrows the token to some of the granted scopes, `resource` (RFC 8707) to some
    of the services they open. `on_behalf_of` asks a token that publishes as an organisation
    owning threshold rules (with `alerts:on-behalf`) or registered with a CAP feed (with
    `feeds:ingest`), naming the client in `act`.
    """
    credentials: Credentials = request.app.state.credentials
    address = client_address(request)
    if grant_type == "client_credentials":
        client = await credentials.client(client_id or "", client_secret or "", address=address)
        principal = await _as_principal(request, client)
        if on_behalf_of:
            principal = await _on_behalf(request, principal, on_behalf_of)
    elif grant_type == "password":
        user = await credentials.officer(username or "", password or "", address=address)
        principal = await _as_principal(request, user)
    elif grant_type == "refresh_token":
        return await _renewed(request, refresh_token or "")
    else:
        raise oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type} is not offered.")
    if scope:
        wanted = set(scope.split())
        if not wanted <= principal.scopes:
            raise oauth_error(
                400, "invalid_scope", f"not granted: {' '.join(sorted(wanted - principal.scopes))}."
            )
        principal = principal.model_copy(update={"scope": " ".join(sorted(wanted))})
    audiences = audiences_of(principal.scopes)
    if resource:
        foreign = sorted(set(resource) - set(audiences))
        if foreign:
            raise oauth_error(
                400,
                "invalid_target",
                f"the granted scopes open nothing at {', '.join(foreign)}.",
            )
        audiences = tuple(a for a in audiences if a in resource)
    return _issue(request, principal, audiences)


class Login(BaseModel):
    """A duty officer's credentials, and the device token an earlier login gave this browser."""

    username: str = Field(max_length=MAX_NAME)
    password: str = Field(max_length=MAX_SECRET)
    device_token: str | None = Field(default=None, max_length=MAX_TOKEN)


@router.post(
    "/login", response_model=TokenResponse, response_model_exclude_none=True, responses=_REFUSALS
)
async def login(request: Request, body: Login) -> TokenResponse:
    """Password login for duty officers: a short access token, the shift's refresh token, and
    a device token for this browser's next logins."""
    credentials: Credentials = request.app.state.credentials
    user = await credentials.officer(
        body.username, body.password, address=client_address(request), device=body.device_token
    )
    principal = await _as_principal(request, user)
    settings: RegistrySettings = request.app.state.settings
    async with request.app.state.sessions() as db, db.begin():
        refresh = await sessions.start(
            db, username=user.username, ttl_seconds=settings.session_ttl_seconds
        )
    device = await credentials.device_token(user.username, body.device_token)
    return _issue(request, principal, audiences_of(principal.scopes)).model_copy(
        update={
            "refresh_token": refresh,
            "refresh_expires_in": settings.session_ttl_seconds,
            "device_token": device,
        }
    )


class Logout(BaseModel):
    """The session to end."""

    refresh_token: str = Field(max_length=MAX_TOKEN)


@router.post("/logout", status_code=204, responses=problem_responses(413, 422))
async def logout(request: Request, body: Logout) -> Response:
    """End a duty officer's session: its refresh token works no more."""
    async with request.app.state.sessions() as db, db.begin():
        await sessions.end(db, body.refresh_token)
    # Said the same for an unknown token: a logout must not tell which tokens exist.
    return Response(status_code=204)


jwks_router = APIRouter(tags=["identity"])


@jwks_router.get(JWKS_PATH, response_model=JwkSet)
async def jwks(request: Request) -> JwkSet:
    """The public keys that verify the registry's tokens (for offline verification)."""
    keys: JwkSet = request.app.state.jwks
    return keys


def client_address(request: Request) -> str:
    """The caller's address (the server resolves X-Forwarded-For of trusted proxies)."""
    return request.client.host if request.client else "unknown"


def _issue(
    request: Request, principal: Principal, audiences: tuple[Audience, ...]
) -> TokenResponse:
    settings: RegistrySettings = request.app.state.settings
    return issue_token(
        request.app.state.signing_key,
        principal,
        issuer=settings.issuer,
        ttl_seconds=settings.token_ttl_seconds,
        audience=audiences,
    )


async def _renewed(request: Request, refresh_token: str) -> TokenResponse:
    async with request.app.state.sessions() as db, db.begin():
        renewal = await sessions.renew(db, refresh_token)
        user = await db.get(m.ConsoleUser, renewal[0].username) if renewal else None
        if renewal is None or user is None or user.disabled:
            raise oauth_error(
                401, "invalid_grant", "the session ended, expired or is unknown: log in again."
            )
        principal = await _principal(db, user)
    _, fresh, lasts = renewal
    return _issue(request, principal, audiences_of(principal.scopes)).model_copy(
        update={"refresh_token": fresh, "refresh_expires_in": lasts}
    )


async def _as_principal(request: Request, account: m.ApiClient | m.ConsoleUser) -> Principal:
    async with request.app.state.sessions() as db:
        return await _principal(db, account)


async def _principal(db: AsyncSession, account: m.ApiClient | m.ConsoleUser) -> Principal:
    """Who the token speaks for: the account, its organisation's sender, regions, competences."""
    if isinstance(account, m.ApiClient):
        return await speaking_for(db, account.organisation_id, "client", account.client_id,
                                   account.scopes)  # fmt: skip
    return await speaking_for(
        db, account.organisation_id, "user", account.username, account.scopes,
        contact_point=account.contact_point_id, name=account.display_name,
    )  # fmt: skip


async def _on_behalf(request: Request, service: Principal, organisation_id: str) -> Principal:
    """A token publishing as `organisation_id`, for a service allowed to: the evaluator
    (alerts:on-behalf) for an organisation that owns threshold rules (it raises their alerts),
    the feed ingest worker (feeds:ingest) for the organisation of an enabled CAP feed (it
    brings in that source's alerts). Neither acts for the other's organisations."""
    grounds = {
        Scope.ALERTS_ON_BEHALF: select(m.ThresholdRule.id).where(
            m.ThresholdRule.owner_id == organisation_id
        ),
        Scope.FEEDS_INGEST: select(m.CapFeed.id).where(
            m.CapFeed.organisation_id == organisation_id, m.CapFeed.enabled.is_(True)
        ),
    }
    held = [scope for scope in grounds if scope in service.scopes]
    if not held:
        raise oauth_error(
            403, "unauthorized_client", f"{service.sub} may not act for another organisation."
        )
    async with request.app.state.sessions() as db:
        for scope in held:
            if await db.scalar(grounds[scope].limit(1)) is not None:
                break
        else:
            raise oauth_error(
                403,
                "unauthorized_client",
                f"nothing lets {service.sub} act for {organisation_id} (a threshold rule it "
                "owns, for alerts:on-behalf; an enabled CAP feed of it, for feeds:ingest).",
            )
        return await speaking_for(
            db, organisation_id, "client", service.sub, [Scope.ALERTS_PUBLISH],
            act={"sub": service.sub, "org": service.org},
        )  # fmt: skip
