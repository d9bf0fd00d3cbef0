"""The registry's HTTP API: records under /v1 and routing (identity: `identity_api.py`)."""

# No `from __future__ import annotations` here: the record routes are built in a loop and
# FastAPI must see each route's real body and response types, not their names.

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.identity import Scope, TokenClaims
from schemas.registry import Page, RoutingAnswer, RoutingRequest, routing_facts
from services.common.auth import requires, requires_any
from services.common.problems import ProblemError, problem_responses
from services.registry import store
from services.registry.records import KINDS, Kind
from services.registry.routing import UnknownSender, resolve


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the request succeeds."""
    async with request.app.state.sessions() as current, current.begin():
        yield current
    # Only writes add outbox events; waking the publisher after reads would cost it a query.
    if current.info.get(store.CHANGED):
        request.app.state.outbox.wake()


SessionDep = Annotated[AsyncSession, Depends(session)]
AdminDep = Annotated[TokenClaims, Depends(requires(Scope.REGISTRY_ADMIN))]
RouterDep = Annotated[TokenClaims, Depends(requires_any(Scope.ROUTING_READ, Scope.ROUTING_RESOLVE))]

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
    readers: Any = Annotated[TokenClaims, Depends(requires_any(*kind.readers))]

    @router.get(f"/{kind.path}", response_model=Page[record_out], tags=[kind.path],
                summary=f"List {noun}",
                description=f"Filters: {', '.join(sorted(kind.filters)) or 'none'}; "
                "pagination with limit and offset.")  # fmt: skip
    async def list_records(
        request: Request,
        db: SessionDep,
        _: readers,
        limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Page[BaseModel]:
        """One page of records in key order; other query parameters filter (see the kind)."""
        filters = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
        return await store.list_records(db, kind, filters=filters, limit=limit, offset=offset)

    @router.get(f"/{kind.path}/{{key}}", response_model=record_out, tags=[kind.path],
                summary=f"Read one of the {noun}", responses=problem_responses(404))  # fmt: skip
    async def read_record(key: str, response: Response, db: SessionDep, _: readers) -> Any:
        """The record, with its version as ETag."""
        record = await store.get_record(db, kind, key)
        response.headers["ETag"] = etag(record.version)  # type: ignore[attr-defined]
        return record

    @router.post(f"/{kind.path}", response_model=record_out, status_code=status.HTTP_201_CREATED,
                 tags=[kind.path], summary=f"Create one of the {noun}",
                 responses=problem_responses(409))  # fmt: skip
    async def create_record(
        record: record_in, response: Response, db: SessionDep, _: AdminDep
    ) -> Any:
        """Create the record; 409 if it exists, 422 naming an unknown reference."""
        created = await store.create_record(db, kind, record)
        response.headers["ETag"] = etag(created.version)  # type: ignore[attr-defined]
        response.headers["Location"] = f"/v1/{kind.path}/{getattr(created, kind.key)}"
        return created

    @router.put(f"/{kind.path}/{{key}}", response_model=record_out, tags=[kind.path],
                summary=f"Replace one of the {noun}",
                responses=problem_responses(400, 404, 409, 412, 428))  # fmt: skip
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
                   tags=[kind.path], summary=f"Delete one of the {noun}",
                   responses=problem_responses(400, 404, 409, 412))  # fmt: skip
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


@router.post("/routing", response_model=RoutingAnswer, tags=["routing"],
             responses=problem_responses(403))  # fmt: skip
async def route_alert(
    request: Request, body: RoutingRequest, db: SessionDep, claims: RouterDep
) -> RoutingAnswer:
    """Every contact point that must receive an alert, with channels, language and why.

    The network's services (`routing:resolve`) ask for any sender; a centre's system
    (`routing:read`) previews its own alerts only, without the contact points' addresses
    unless it may read the directory (`registry:read`).
    """
    facts = body.facts if body.facts is not None else routing_facts(body.alert)  # type: ignore[arg-type]
    field = "alert.sender" if body.alert is not None else "facts.sender"
    resolving = Scope.ROUTING_RESOLVE in claims.scopes
    if not resolving and facts.sender != claims.sender:
        raise ProblemError(
            403,
            "not_own_sender",
            f"this client previews the routing of its own alerts (as {claims.sender}) only, "
            f"not of {facts.sender}'s.",
            field=field,
        )
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
        answer = resolve(data, facts, today=datetime.now(UTC).date())
    except UnknownSender:
        raise ProblemError(
            422,
            "unknown_sender",
            f"no organisation of the registry publishes as '{facts.sender}'.",
            field=field,
        ) from None
    if resolving or Scope.REGISTRY_READ in claims.scopes:
        return answer
    return answer.model_copy(
        update={"recipients": [r.model_copy(update={"email": None}) for r in answer.recipients]}
    )
