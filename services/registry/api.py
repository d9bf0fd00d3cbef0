"""The registry's HTTP API: records under /v1, routing, tokens and the JWKS."""

# No `from __future__ import annotations` here: the record routes are built in a loop and
# FastAPI must see each route's real body and response types, not their names.

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.identity import JWKS_PATH, JwkSet, Principal, Scope, TokenClaims, TokenResponse
from schemas.registry import Page, RoutingAnswer, RoutingRequest, routing_facts
from services.common.auth import requires
from services.common.problems import ProblemError
from services.registry import models as m
from services.registry import sessions, store
from services.registry.identity import issue_token, verify_secret
from services.registry.records import KINDS, Kind
from services.registry.routing import UnknownSender, resolve
from services.registry.settings import RegistrySettings


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the request succeeds."""
    async with request.app.state.sessions() as current, current.begin():
        yield current
    # Only writes add outbox events; waking the publisher after reads would cost it a query.
    if current.info.get(store.CHANGED):
        request.app.state.outbox.wake()


SessionDep = Annotated[AsyncSession, Depends(session)]
ReaderDep = Annotated[TokenClaims, Depends(requires(Scope.REGISTRY_READ))]
AdminDep = Annotated[TokenClaims, Depends(requires(Scope.REGISTRY_ADMIN))]
RouterDep = Annotated[TokenClaims, Depends(requires(Scope.ROUTING_READ))]

router = APIRouter(prefix="/v1")


def etag(version: int) -> str:
    """The ETag of a record at this version."""
    return f'"{version}"'


def version_of(if_match: str | None, *, required: bool) -> int | None:
    """The version an If-Match header names; 428 when it is required and missing."""
    if if_match is None:
        if required:
            raise ProblemError(
                428,
                "if_match_required",
                "send If-Match with the ETag you read, so that a concurrent change is not lost.",
                field="If-Match",
            )
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ProblemError(
            400,
            "invalid_if_match",
            f'If-Match must be an ETag like "3"; got {if_match}.',
            field="If-Match",
        )
    return int(value)


def _record_routes(kind: Kind) -> None:
    record_in: Any = kind.record_in
    record_out: Any = kind.record_out
    noun = kind.path.replace("-", " ")

    @router.get(f"/{kind.path}", response_model=Page[record_out], tags=[kind.path],
                summary=f"List {noun}",
                description=f"Filters: {', '.join(sorted(kind.filters)) or 'none'}; "
                "pagination with limit and offset.")  # fmt: skip
    async def list_records(
        request: Request,
        db: SessionDep,
        _: ReaderDep,
        limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Page[BaseModel]:
        """One page of records in key order; other query parameters filter (see the kind)."""
        filters = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
        return await store.list_records(db, kind, filters=filters, limit=limit, offset=offset)

    @router.get(f"/{kind.path}/{{key}}", response_model=record_out, tags=[kind.path],
                summary=f"Read one of the {noun}")  # fmt: skip
    async def read_record(key: str, response: Response, db: SessionDep, _: ReaderDep) -> Any:
        """The record, with its version as ETag."""
        record = await store.get_record(db, kind, key)
        response.headers["ETag"] = etag(record.version)  # type: ignore[attr-defined]
        return record

    @router.post(f"/{kind.path}", response_model=record_out, status_code=status.HTTP_201_CREATED,
                 tags=[kind.path], summary=f"Create one of the {noun}")  # fmt: skip
    async def create_record(
        record: record_in, response: Response, db: SessionDep, _: AdminDep
    ) -> Any:
        """Create the record; 409 if it exists, 422 naming an unknown reference."""
        created = await store.create_record(db, kind, record)
        response.headers["ETag"] = etag(created.version)  # type: ignore[attr-defined]
        response.headers["Location"] = f"/v1/{kind.path}/{getattr(created, kind.key)}"
        return created

    @router.put(f"/{kind.path}/{{key}}", response_model=record_out, tags=[kind.path],
                summary=f"Replace one of the {noun}")  # fmt: skip
    async def replace_record(
        key: str,
        record: record_in,
        response: Response,
        db: SessionDep,
        _: AdminDep,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Replace the record; If-Match is required and a stale version gets 412."""
        expected = version_of(if_match, required=True)
        assert expected is not None
        replaced = await store.replace_record(db, kind, key, record, if_match=expected)
        response.headers["ETag"] = etag(replaced.version)  # type: ignore[attr-defined]
        return replaced

    @router.delete(f"/{kind.path}/{{key}}", status_code=status.HTTP_204_NO_CONTENT,
                   tags=[kind.path], summary=f"Delete one of the {noun}")  # fmt: skip
    async def delete_record(
        key: str,
        db: SessionDep,
        _: AdminDep,
        if_match: Annotated[str | None, Header()] = None,
    ) -> None:
        """Delete the record; 409 listing what still refers to it."""
        await store.delete_record(db, kind, key, if_match=version_of(if_match, required=False))


for _kind in KINDS.values():
    _record_routes(_kind)


@router.post("/routing", response_model=RoutingAnswer, tags=["routing"])
async def route_alert(
    request: Request, body: RoutingRequest, db: SessionDep, _: RouterDep
) -> RoutingAnswer:
    """Every contact point that must receive an alert, with channels, language and why."""
    facts = body.facts if body.facts is not None else routing_facts(body.alert)  # type: ignore[arg-type]
    data = await request.app.state.routing_cache.get(db)
    unknown = [code for code in facts.regions if code not in data.parents]
    if body.facts is not None and unknown:
        index = facts.regions.index(unknown[0])
        raise ProblemError(
            422,
            "unknown_reference",
            f"region '{unknown[0]}' is not in the registry.",
            field=f"facts.regions[{index}]",
        )
    try:
        return resolve(data, facts, today=datetime.now(UTC).date())
    except UnknownSender:
        raise ProblemError(
            422,
            "unknown_sender",
            f"no organisation of the registry publishes as '{facts.sender}'.",
            field="alert.sender" if body.alert is not None else "facts.sender",
        ) from None


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    tags=["identity"],
)
async def token(
    request: Request,
    db: SessionDep,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    """OAuth2 token endpoint: `client_credentials` for systems, `password` and
    `refresh_token` (a session started by /v1/login) for duty officers."""
    if grant_type == "client_credentials":
        principal = await _client_principal(db, client_id or "", client_secret or "")
    elif grant_type == "password":
        principal = await _user_principal(db, username or "", password or "")
    elif grant_type == "refresh_token":
        return await _renewed(request, db, refresh_token or "")
    else:
        raise _oauth_error(
            400, "unsupported_grant_type", f"grant_type {grant_type} is not offered."
        )
    if scope:
        wanted = set(scope.split())
        if not wanted <= principal.scopes:
            raise _oauth_error(
                400, "invalid_scope", f"not granted: {' '.join(sorted(wanted - principal.scopes))}."
            )
        principal = principal.model_copy(update={"scope": " ".join(sorted(wanted))})
    return _issue(request, principal)


class Login(BaseModel):
    """A duty officer's credentials."""

    username: str
    password: str


@router.post(
    "/login", response_model=TokenResponse, response_model_exclude_none=True, tags=["identity"]
)
async def login(request: Request, body: Login, db: SessionDep) -> TokenResponse:
    """Password login for duty officers: a short access token and the shift's refresh token."""
    principal = await _user_principal(db, body.username, body.password)
    settings: RegistrySettings = request.app.state.settings
    refresh = await sessions.start(
        db, username=body.username, ttl_seconds=settings.session_ttl_seconds
    )
    return _issue(request, principal).model_copy(
        update={"refresh_token": refresh, "refresh_expires_in": settings.session_ttl_seconds}
    )


class Logout(BaseModel):
    """The session to end."""

    refresh_token: str


@router.post("/logout", status_code=204, tags=["identity"])
async def logout(body: Logout, db: SessionDep) -> Response:
    """End a duty officer's session: its refresh token works no more."""
    await sessions.end(db, body.refresh_token)
    # Said the same for an unknown token: a logout must not tell which tokens exist.
    return Response(status_code=204)


jwks_router = APIRouter()


@jwks_router.get(JWKS_PATH, response_model=JwkSet, tags=["identity"])
async def jwks(request: Request) -> JwkSet:
    """The public keys that verify the registry's tokens (for offline verification)."""
    keys: JwkSet = request.app.state.jwks
    return keys


def _issue(request: Request, principal: Principal) -> TokenResponse:
    settings: RegistrySettings = request.app.state.settings
    return issue_token(
        request.app.state.signing_key,
        principal,
        issuer=settings.issuer,
        ttl_seconds=settings.token_ttl_seconds,
    )


async def _client_principal(db: AsyncSession, client_id: str, secret: str) -> Principal:
    client = await db.get(m.ApiClient, client_id)
    # Verified even for an unknown client, so that timing does not tell which ids exist; in a
    # thread, because argon2 spends tens of milliseconds of CPU by design.
    valid = await asyncio.to_thread(verify_secret, client.secret_hash if client else None, secret)
    if client is None or not valid or client.revoked:
        raise _oauth_error(401, "invalid_client", "unknown client, wrong secret, or revoked.")
    return await _principal(db, "client", client.client_id, client.organisation_id, client.scopes)


async def _renewed(request: Request, db: AsyncSession, refresh_token: str) -> TokenResponse:
    renewal = await sessions.renew(db, refresh_token)
    user = await db.get(m.ConsoleUser, renewal[0].username) if renewal else None
    if renewal is None or user is None or user.disabled:
        raise _oauth_error(
            401, "invalid_grant", "the session ended, expired or is unknown: log in again."
        )
    _, fresh, lasts = renewal
    return _issue(request, await _officer(db, user)).model_copy(
        update={"refresh_token": fresh, "refresh_expires_in": lasts}
    )


async def _user_principal(db: AsyncSession, username: str, password: str) -> Principal:
    user = await db.get(m.ConsoleUser, username)
    valid = await asyncio.to_thread(verify_secret, user.password_hash if user else None, password)
    if user is None or not valid or user.disabled:
        raise _oauth_error(401, "invalid_grant", "unknown user, wrong password, or disabled.")
    return await _officer(db, user)


async def _officer(db: AsyncSession, user: m.ConsoleUser) -> Principal:
    return await _principal(
        db, "user", user.username, user.organisation_id, user.scopes,
        contact_point=user.contact_point_id, name=user.display_name,
    )  # fmt: skip


async def _principal(
    db: AsyncSession,
    kind: Literal["client", "user"],
    subject: str,
    organisation_id: str,
    scopes: list[str],
    **extra: str | None,
) -> Principal:
    organisation = await db.get(m.Organisation, organisation_id)
    assert organisation is not None  # a foreign key guarantees it
    regions = await db.scalars(
        select(m.OrganisationRegion.region_code)
        .where(m.OrganisationRegion.organisation_id == organisation_id)
        .order_by(m.OrganisationRegion.region_code)
    )
    categories = await db.scalars(
        select(m.Competence.category)
        .join(m.ContactPoint, m.ContactPoint.id == m.Competence.contact_point_id)
        .where(m.ContactPoint.organisation_id == organisation_id)
        .distinct()
        .order_by(m.Competence.category)
    )
    return Principal(
        sub=subject,
        kind=kind,
        org=organisation.id,
        sender=organisation.cap_sender,
        scope=" ".join(sorted(scopes)),
        regions=tuple(regions),
        categories=tuple(categories),
        **extra,
    )


def _oauth_error(status_code: int, error: str, detail: str) -> ProblemError:
    # RFC 6749 clients look for `error`; the rest is the usual problem body.
    return ProblemError(status_code, error, detail, extra={"error": error})
