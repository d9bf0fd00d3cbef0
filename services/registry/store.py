"""The registry's operations on records: list, read, create, replace, delete.

Each function runs inside the caller's transaction. Every write also records an outbox event
(published to Kafka as a registry change) and bumps the generation counter (so that routing
caches in every registry process notice), in that same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from schemas.envelopes import RegistryEntity
from schemas.registry import Page
from services.common.problems import ProblemError
from services.registry import models as m
from services.registry.records import Kind, Row, check_record, referrers_of

MAX_PAGE = 500


async def list_records(
    session: AsyncSession, kind: Kind, *, filters: dict[str, str], limit: int, offset: int
) -> Page[BaseModel]:
    """One page of the records matching every filter, in key order."""
    for name in filters:
        if name not in kind.filters:
            raise ProblemError(
                422,
                "unknown_filter",
                f"{kind.path} cannot be filtered by {name}; use one of "
                f"{', '.join(sorted(kind.filters)) or 'no filter'}.",
                field=name,
            )
    key_column = getattr(kind.table, kind.key)
    rows = (await session.scalars(select(kind.table).order_by(key_column))).all()
    # The registry holds hundreds of records, not millions: filtering the loaded records keeps
    # the filters identical on SQLite and PostgreSQL, including those over JSON lists.
    records = [
        record
        for record in map(kind.to_record, rows)
        if all(kind.filters[name](record, value) for name, value in filters.items())
    ]
    return Page[BaseModel](
        items=records[offset : offset + limit], total=len(records), limit=limit, offset=offset
    )


async def get_record(session: AsyncSession, kind: Kind, key: str) -> BaseModel:
    """The record with this key; 404 when there is none."""
    return kind.to_record(await _row(session, kind, key))


async def create_record(session: AsyncSession, kind: Kind, record: BaseModel) -> BaseModel:
    """Store a new record; 409 when its key (or another unique value) is taken."""
    key = str(getattr(record, kind.key))
    if await session.get(kind.table, key) is not None:
        raise ProblemError(
            409, "already_exists", f"{kind.path}/{key} exists already.", field=kind.key
        )
    await check_record(session, kind, record)
    row = kind.to_row(record, None)
    row.version = 1
    session.add(row)
    await _flush(session, kind, key)
    await record_change(session, kind.entity, key, "created", row.version)
    return kind.to_record(row)


async def replace_record(
    session: AsyncSession, kind: Kind, key: str, record: BaseModel, *, if_match: int
) -> BaseModel:
    """Replace a record whose current version is `if_match`; 412 when it changed meanwhile."""
    if str(getattr(record, kind.key)) != key:
        raise ProblemError(
            422,
            "key_mismatch",
            f"the body's {kind.key} must be '{key}', the record this request addresses.",
            field=kind.key,
        )
    row = await _row(session, kind, key)
    _check_version(kind, key, row.version, if_match)
    await check_record(session, kind, record)
    kind.to_row(record, row)
    row.version = if_match + 1
    await _flush(session, kind, key)
    await record_change(session, kind.entity, key, "updated", row.version)
    return kind.to_record(row)


async def delete_record(
    session: AsyncSession, kind: Kind, key: str, *, if_match: int | None
) -> None:
    """Delete a record nothing refers to; 409 listing the referrers otherwise."""
    row = await _row(session, kind, key)
    if if_match is not None:
        _check_version(kind, key, row.version, if_match)
    referrers = await referrers_of(session, kind, key)
    if referrers:
        raise ProblemError(
            409,
            "still_referenced",
            f"{kind.path}/{key} cannot be deleted: {len(referrers)} record(s) refer to it.",
            extra={"referenced_by": referrers},
        )
    version = row.version
    await session.delete(row)
    await _flush(session, kind, key)
    await record_change(session, kind.entity, key, "deleted", version + 1)


async def _row(session: AsyncSession, kind: Kind, key: str) -> Row:
    row = await session.get(kind.table, key)
    if row is None:
        raise ProblemError(404, "not_found", f"{kind.path}/{key} does not exist.")
    return row


def _check_version(kind: Kind, key: str, current: int, expected: int) -> None:
    if current != expected:
        raise ProblemError(
            412,
            "version_mismatch",
            f"{kind.path}/{key} is at version {current}, not {expected}: read it again, "
            "then repeat the change.",
            extra={"current_version": current},
        )


async def _flush(session: AsyncSession, kind: Kind, key: str) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise ProblemError(
            412,
            "version_mismatch",
            f"{kind.path}/{key} was changed by someone else meanwhile: read it again.",
        ) from None
    except IntegrityError as exc:
        raise ProblemError(
            409,
            "conflict",
            f"{kind.path}/{key} conflicts with a stored record: {_first_line(exc)}.",
        ) from None


def _first_line(exc: IntegrityError) -> str:
    return str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"


CHANGED = "registry_changed"
"""Set in `session.info` when the session wrote outbox events."""


async def record_change(
    session: AsyncSession, entity: RegistryEntity, key: str, operation: str, version: int
) -> None:
    """Record a write for the change events, and tell every process its caches are stale."""
    session.info[CHANGED] = True
    session.add(
        m.OutboxEvent(
            entity=entity.value,
            entity_id=key,
            operation=operation,
            version=version,
            created_at=datetime.now(UTC),
        )
    )
    await session.execute(
        update(m.Generation).where(m.Generation.id == 1).values(value=m.Generation.value + 1)
    )
