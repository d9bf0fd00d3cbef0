"""The registry's threshold-rule routes: an agency writes its own rules, version by version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status

from schemas.identity import Scope, TokenClaims
from schemas.thresholds import ThresholdRule, ThresholdRuleIn
from services.common.auth import requires, requires_any
from services.common.problems import problem_responses
from services.registry import thresholds
from services.registry.api import SessionDep, etag, version_of

router = APIRouter(prefix="/v1/threshold-rules", tags=["threshold-rules"])

ReaderDep = Annotated[
    TokenClaims,
    Depends(requires_any(Scope.THRESHOLDS_READ, Scope.THRESHOLDS_WRITE, Scope.REGISTRY_READ)),
]
WriterDep = Annotated[TokenClaims, Depends(requires(Scope.THRESHOLDS_WRITE))]


@router.get("", response_model=list[ThresholdRule])
async def list_rules(db: SessionDep, claims: ReaderDep) -> list[ThresholdRule]:
    """The rules the caller may read: its own, those of its agreements (services: every rule)."""
    return await thresholds.list_rules(db, claims=claims)


@router.get("/{rule_id}", response_model=ThresholdRule, responses=problem_responses(404))
async def read_rule(
    rule_id: str, response: Response, db: SessionDep, claims: ReaderDep
) -> ThresholdRule:
    """A rule with every version it had; its latest version number is the ETag."""
    rule = await thresholds.get_rule(db, rule_id=rule_id, claims=claims)
    response.headers["ETag"] = etag(rule.latest.version)
    return rule


@router.post(
    "",
    response_model=ThresholdRule,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
async def create_rule(
    body: ThresholdRuleIn, response: Response, db: SessionDep, claims: WriterDep
) -> ThresholdRule:
    """Write a new rule of the caller's organisation (its version 1)."""
    rule = await thresholds.create_rule(db, rule=body, claims=claims)
    response.headers["ETag"] = etag(1)
    response.headers["Location"] = f"/v1/threshold-rules/{rule.id}"
    return rule


@router.put(
    "/{rule_id}",
    response_model=ThresholdRule,
    responses=problem_responses(400, 404, 412, 428),
)
async def add_version(
    rule_id: str,
    body: ThresholdRuleIn,
    response: Response,
    db: SessionDep,
    claims: WriterDep,
    if_match: Annotated[str | None, Header()] = None,
) -> ThresholdRule:
    """Write the next version of one of the caller's rules; If-Match names the latest one."""
    expected = version_of(if_match, required=True)
    assert expected is not None
    rule = await thresholds.add_version(
        db, rule_id=rule_id, rule=body, claims=claims, if_match=expected
    )
    response.headers["ETag"] = etag(rule.latest.version)
    return rule
