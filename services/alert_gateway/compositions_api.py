"""Routes of the console's composer: duty officers' drafts, approval and publication."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, status

from schemas.gateway import Composition, CompositionCheck, CompositionIn, CompositionStep
from schemas.identity import Scope, TokenClaims
from schemas.registry import AlertTemplate
from services.alert_gateway import compositions
from services.common.auth import requires_any
from services.common.problems import problem_responses

router = APIRouter(prefix="/v1/compositions", tags=["compositions"])

# Composing and approving are checked per step (`compositions._require`).
OfficerDep = Annotated[
    TokenClaims,
    Depends(
        requires_any(Scope.ALERTS_COMPOSE, Scope.ALERTS_COMPOSE_EXERCISE, Scope.ALERTS_APPROVE)
    ),
]
_PATH = "/{composition_id}"


@router.post(
    "/check", response_model=CompositionCheck, responses=problem_responses(401, 403, 422, 503)
)
async def check(
    request: Request,
    claims: OfficerDep,
    document: Annotated[dict[str, Any], Body(description="The alert in the CAP JSON form.")],
) -> CompositionCheck:
    """Validate a composed alert as the gateway would and preview whom it reaches (the
    registry's routing answer) and which of their languages it still lacks; nothing is saved."""
    return await compositions.check(document, claims, request.app.state.router)


@router.get(
    "/templates", response_model=list[AlertTemplate], responses=problem_responses(401, 403, 503)
)
async def templates(request: Request, claims: OfficerDep) -> list[AlertTemplate]:
    """The hazard templates the officer's organisation keeps in the registry: category, the
    usual urgency, severity and certainty, texts per language with `{placeholders}`."""
    templates: compositions.Templates = request.app.state.templates
    return await templates.of(claims)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Composition,
    responses=problem_responses(401, 403, 422),
)
async def create(request: Request, claims: OfficerDep, body: CompositionIn) -> Composition:
    """Save a new draft for the officer's organisation (it may be incomplete)."""
    return await compositions.create(request.app.state.sessions, claims, body)


@router.get("", response_model=list[Composition], responses=problem_responses(401, 403))
async def listing(request: Request, claims: OfficerDep) -> list[Composition]:
    """The organisation's compositions: the open ones, then the latest closed ones."""
    return await compositions.listing(request.app.state.sessions, claims)


@router.get(_PATH, response_model=Composition, responses=problem_responses(401, 403, 404, 422))
async def read(
    request: Request,
    claims: OfficerDep,
    composition_id: str,
    since: Annotated[
        int | None, Query(ge=1, description="Name the fields changed since this version.")
    ] = None,
) -> Composition:
    """One composition of the officer's organisation, with its history."""
    return await compositions.read(request.app.state.sessions, claims, composition_id, since)


@router.put(_PATH, response_model=Composition, responses=problem_responses(401, 403, 404, 409, 422))
async def save(
    request: Request, claims: OfficerDep, composition_id: str, body: CompositionIn
) -> Composition:
    """Save a new version; 409 if another officer saved since the version given."""
    return await compositions.save(request.app.state.sessions, claims, composition_id, body)


@router.post(
    _PATH + "/submit",
    response_model=Composition,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def submit(
    request: Request, claims: OfficerDep, composition_id: str, body: CompositionStep
) -> Composition:
    """Ask a colleague's approval (published at once where one officer may approve alone)."""
    state = request.app.state
    return await compositions.submit(
        state.sessions, claims, composition_id, body.version, state.publisher
    )


@router.post(
    _PATH + "/approve",
    response_model=Composition,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def approve(
    request: Request, claims: OfficerDep, composition_id: str, body: CompositionStep
) -> Composition:
    """Approve the version read: the gateway publishes it as the organisation's alert."""
    state = request.app.state
    return await compositions.approve(
        state.sessions, claims, composition_id, body.version, state.publisher
    )


@router.post(
    _PATH + "/withdraw",
    response_model=Composition,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def withdraw(
    request: Request, claims: OfficerDep, composition_id: str, body: CompositionStep
) -> Composition:
    """Close an open composition without publishing it."""
    return await compositions.withdraw(
        request.app.state.sessions, claims, composition_id, body.version
    )
