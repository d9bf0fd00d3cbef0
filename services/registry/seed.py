"""Loading a seed file into the registry, idempotently: a second load changes nothing.

Records are created when absent and replaced when they differ, through the same operations
as the API, so every change is versioned and announced on `registry.changes`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.errors import CapValidationError, field_path
from schemas.thresholds import ThresholdRuleIn
from services.common.problems import ProblemError
from services.registry import models as m
from services.registry import store, thresholds
from services.registry.identity import verify_secret
from services.registry.principals import speaking_for
from services.registry.records import KINDS, Kind

DEFAULT_SEED = Path(__file__).with_name("seed") / "benelux_greater_region.yaml"

# Seed sections in dependency order, with the kind of record each holds.
SECTIONS = {
    "regions": "regions",
    "organisations": "organisations",
    "contact_points": "contact-points",
    "agreements": "agreements",
    "indicators": "indicators",
    "api_clients": "api-clients",
    "console_users": "console-users",
    "cap_feeds": "cap-feeds",
}
RULES = "threshold_rules"
"""Written last, each as its owner would (a new version when it differs from the latest)."""
SECRETS = {"api-clients": ("secret", "secret_hash"), "console-users": ("password", "password_hash")}


class SeedError(ValueError):
    """The seed file is not valid; the message names the entry and field."""


def read_seed(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read a seed file (YAML); refuse unknown sections."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise SeedError(f"{path}: a seed file is a mapping of sections")
    unknown = set(document) - {*SECTIONS, RULES}
    if unknown:
        known = [*SECTIONS, RULES]
        raise SeedError(f"{path}: unknown sections {sorted(unknown)}; known: {known}")
    return document


async def load_seed(
    sessions: async_sessionmaker[AsyncSession], document: dict[str, list[dict[str, Any]]]
) -> Counter[str]:
    """Create or update every record of the seed in one transaction; count what happened."""
    outcome: Counter[str] = Counter()
    async with sessions() as session, session.begin():
        regions = document.get("regions", [])
        # Neighbours name each other: new regions are first stored without them (parents
        # first), then every region is brought to its full form below.
        by_level = sorted(regions, key=lambda r: int(r.get("level", 0)))
        new_regions = set()
        for index, raw in enumerate(by_level):
            if await session.get(KINDS["regions"].table, raw.get("code")) is None:
                await _upsert(
                    session, KINDS["regions"], {**raw, "neighbours": []}, f"regions[{index}]"
                )
                new_regions.add(raw.get("code"))
        for section, path in SECTIONS.items():
            for index, raw in enumerate(document.get(section, [])):
                result = await _upsert(session, KINDS[path], raw, f"{section}[{index}]")
                if section == "regions" and raw.get("code") in new_regions:
                    result = "created"
                outcome[result] += 1
        for index, raw in enumerate(document.get(RULES, [])):
            outcome[await _write_rule(session, raw, f"{RULES}[{index}]")] += 1
    return outcome


async def _write_rule(session: AsyncSession, raw: dict[str, Any], where: str) -> str:
    try:
        rule = ThresholdRuleIn.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SeedError(f"{where}.{field_path(error['loc'])}: {error['msg']}") from None
    if await session.get(m.Organisation, rule.owner) is None:
        raise SeedError(f"{where}.owner: organisation '{rule.owner}' is not in the registry")
    owner = await speaking_for(session, rule.owner, "client", "seed", [])
    try:
        if await session.get(m.ThresholdRule, rule.id) is None:
            await thresholds.create_rule(session, rule=rule, claims=owner)
            return "created"
        stored = await thresholds.get_rule(session, rule_id=rule.id, claims=owner)
        latest = ThresholdRuleIn.model_validate(
            stored.latest.model_dump(include=set(raw) | set(ThresholdRuleIn.model_fields))
        )
        if latest == rule:
            return "unchanged"
        await thresholds.add_version(
            session, rule_id=rule.id, rule=rule, claims=owner, if_match=stored.latest.version
        )
    except ProblemError as exc:
        raise SeedError(f"{where}: {exc.field or ''} {exc.detail}".strip()) from None
    return "updated"


async def _upsert(session: AsyncSession, kind: Kind, raw: dict[str, Any], where: str) -> str:
    try:
        record = kind.record_in.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SeedError(f"{where}.{field_path(error['loc'])}: {error['msg']}") from None
    key = str(getattr(record, kind.key))
    row: Any = await session.get(kind.table, key)
    try:
        if row is None:
            await store.create_record(session, kind, record)
            return "created"
        update = _keep_matching_secret(kind, record, row)
        if _same(kind, update, kind.to_record(row)):
            return "unchanged"
        await store.replace_record(session, kind, key, update, if_match=row.version)
    except ProblemError as exc:
        raise SeedError(f"{where}: {exc.field or ''} {exc.detail}".strip()) from None
    except CapValidationError as exc:
        raise SeedError(f"{where}: {exc}") from None
    return "updated"


def _keep_matching_secret(kind: Kind, record: BaseModel, row: Any) -> BaseModel:
    """The record without its secret when the stored hash already matches it."""
    if kind.path not in SECRETS:
        return record
    field, hash_column = SECRETS[kind.path]
    secret = getattr(record, field)
    if secret is not None and verify_secret(getattr(row, hash_column), secret):
        return record.model_copy(update={field: None})
    return record


def _same(kind: Kind, record: BaseModel, stored: BaseModel) -> bool:
    """Whether storing `record` would change nothing."""
    current = stored.model_dump(exclude={"version"})
    if kind.path in SECRETS:
        secret = SECRETS[kind.path][0]
        if getattr(record, secret) is not None:
            return False
        wanted = record.model_dump(exclude={secret})
        wanted["scopes"] = sorted(str(scope) for scope in wanted["scopes"])
        return bool(wanted == current)
    # Built and read back without a session: the stored form sorts and de-duplicates.
    row = kind.to_row(record, None)
    row.version = 0
    return bool(kind.to_record(row).model_dump(exclude={"version"}) == current)
