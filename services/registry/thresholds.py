"""Threshold rules in the registry: who may read and write them, and their versions.

An agency writes its own rules only, for indicators within its competences and regions it acts
for, bound (if at all) to an agreement it is party to. A change is a new version; no version is
ever changed or removed. The network's services read every rule; an agency reads its own and
those bound to an agreement that binds it too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.envelopes import RegistryEntity
from schemas.identity import Principal, Scope
from schemas.thresholds import (
    ThresholdRule,
    ThresholdRuleIn,
    ThresholdRuleVersion,
)
from services.common.problems import ProblemError
from services.registry import models as m
from services.registry.store import record_change


async def list_rules(session: AsyncSession, *, claims: Principal) -> list[ThresholdRule]:
    """Every rule the caller may read, by id."""
    rows = (await session.scalars(select(m.ThresholdRule).order_by(m.ThresholdRule.id))).all()
    rules = [_rule(row) for row in rows]
    return [rule for rule in rules if await _may_read(session, rule, claims)]


async def get_rule(session: AsyncSession, *, rule_id: str, claims: Principal) -> ThresholdRule:
    """One rule with all its versions; 404 when unknown, 403 when not the caller's to read."""
    row = await session.get(m.ThresholdRule, rule_id)
    if row is None:
        raise ProblemError(404, "not_found", f"threshold-rules/{rule_id} does not exist.")
    rule = _rule(row)
    if not await _may_read(session, rule, claims):
        raise ProblemError(
            403,
            "not_owner_or_party",
            f"{claims.org} neither owns {rule_id} nor is bound by its agreement.",
        )
    return rule


async def create_rule(
    session: AsyncSession, *, rule: ThresholdRuleIn, claims: Principal
) -> ThresholdRule:
    """Store a new rule as its version 1; 409 when the id is taken."""
    await _check(session, rule, claims)
    if await session.get(m.ThresholdRule, rule.id) is not None:
        raise ProblemError(409, "already_exists", f"threshold-rules/{rule.id} exists.", field="id")
    row = m.ThresholdRule(id=rule.id, owner_id=rule.owner, versions=[_version_row(rule, 1, claims)])
    session.add(row)
    await session.flush()
    await record_change(session, RegistryEntity.THRESHOLD, rule.id, "created", 1)
    return _rule(row)


async def add_version(
    session: AsyncSession,
    *,
    rule_id: str,
    rule: ThresholdRuleIn,
    claims: Principal,
    if_match: int,
) -> ThresholdRule:
    """Add the next version of the caller's own rule; 412 when `if_match` is not the latest."""
    row = await session.get(m.ThresholdRule, rule_id)
    if row is None:
        raise ProblemError(404, "not_found", f"threshold-rules/{rule_id} does not exist.")
    if row.owner_id != claims.org:
        raise ProblemError(
            403, "not_owner", f"{rule_id} is {row.owner_id}'s rule, not {claims.org}'s."
        )
    latest = _rule(row).latest
    if rule.id != rule_id:
        raise ProblemError(422, "key_mismatch", f"the body's id must be '{rule_id}'.", field="id")
    if latest.version != if_match:
        raise ProblemError(
            412,
            "version_mismatch",
            f"{rule_id} is at version {latest.version}, not {if_match}: read it again, then "
            "write the next version.",
            extra={"current_version": latest.version},
        )
    if rule.indicator != latest.indicator:
        raise ProblemError(
            422,
            "indicator_changed",
            f"{rule_id} watches {latest.indicator} for life; write a new rule for "
            f"{rule.indicator}.",
            field="indicator",
        )
    await _check(session, rule, claims)
    row.versions.append(_version_row(rule, latest.version + 1, claims))
    await session.flush()
    await record_change(session, RegistryEntity.THRESHOLD, rule_id, "updated", latest.version + 1)
    return _rule(row)


async def _may_read(session: AsyncSession, rule: ThresholdRule, claims: Principal) -> bool:
    if claims.scopes & {Scope.THRESHOLDS_READ, Scope.REGISTRY_READ} or rule.owner == claims.org:
        return True
    agreement = rule.latest.agreement
    return agreement is not None and await _binds(session, agreement, claims)


async def _binds(session: AsyncSession, agreement_id: str, claims: Principal) -> bool:
    """Whether the agreement binds the caller's organisation (a party, or acting within one)."""
    parties = (
        await session.scalars(
            select(m.AgreementParty).where(m.AgreementParty.agreement_id == agreement_id)
        )
    ).all()
    regions = tuple(p.region_code for p in parties if p.region_code)
    return any(p.organisation_id == claims.org for p in parties) or any(
        region.startswith(regions) for region in claims.regions if regions
    )


async def _check(session: AsyncSession, rule: ThresholdRuleIn, claims: Principal) -> None:
    """Refuse a rule the caller may not write, or one naming what the registry lacks."""
    if rule.owner != claims.org:
        raise ProblemError(
            403,
            "not_owner",
            f"{claims.org} writes its own rules only, not {rule.owner}'s.",
            field="owner",
        )
    indicator = await session.get(m.Indicator, rule.indicator)
    if indicator is None:
        raise _unknown("indicator", rule.indicator, "indicator")
    if indicator.category not in claims.categories:
        raise ProblemError(
            403,
            "not_competent",
            f"{claims.org} holds no competence for {indicator.category}, the category of "
            f"{rule.indicator}.",
            field="indicator",
        )
    for i, level in enumerate(rule.levels):
        for j, condition in enumerate(level.conditions):
            other = await session.get(m.Indicator, condition.indicator)
            field = f"levels[{i}].conditions[{j}].indicator"
            if other is None:
                raise _unknown(field, condition.indicator, "indicator")
            if other.period != indicator.period:
                raise ProblemError(
                    422,
                    "period_mismatch",
                    f"{condition.indicator} is reported per {other.period}, {rule.indicator} "
                    f"per {indicator.period}: a condition needs the same periods.",
                    field=field,
                )
    for i, region in enumerate(rule.regions):
        if await session.get(m.Region, region) is None:
            raise _unknown(f"regions[{i}]", region, "region")
        if not region.startswith(tuple(claims.regions)):
            raise ProblemError(
                403,
                "outside_regions",
                f"{claims.org} acts for {', '.join(claims.regions) or 'no region'}, not for "
                f"{region}.",
                field=f"regions[{i}]",
            )
    if rule.agreement is not None:
        if await session.get(m.Agreement, rule.agreement) is None:
            raise _unknown("agreement", rule.agreement, "agreement")
        if not await _binds(session, rule.agreement, claims):
            raise ProblemError(
                403,
                "not_a_party",
                f"{rule.agreement} does not bind {claims.org}.",
                field="agreement",
            )


def _unknown(field: str, value: str, label: str) -> ProblemError:
    return ProblemError(
        422, "unknown_reference", f"{label} '{value}' is not in the registry.", field=field
    )


def _version_row(rule: ThresholdRuleIn, number: int, claims: Principal) -> m.ThresholdRuleVersion:
    return m.ThresholdRuleVersion(
        version=number,
        effective_from=rule.effective_from,
        body=rule.model_dump(mode="json"),
        created_at=datetime.now(UTC),
        created_by=claims.sub,
    )


def _rule(row: m.ThresholdRule) -> ThresholdRule:
    return ThresholdRule(
        id=row.id,
        owner=row.owner_id,
        versions=[
            ThresholdRuleVersion.model_validate(
                version.body
                | {
                    "version": version.version,
                    "created_at": version.created_at,
                    "created_by": version.created_by,
                }
            )
            for version in row.versions
        ],
    )
