"""Duty officers' sessions: a refresh token per login, renewed at each use, ended at logout."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry import models as m


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(db: AsyncSession, *, username: str, ttl_seconds: int) -> str:
    """A new session for `username`, ending in `ttl_seconds`: its refresh token."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    db.add(
        m.ConsoleSession(
            username=username,
            token_digest=_digest(token),
            started_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return token


async def renew(db: AsyncSession, token: str) -> tuple[m.ConsoleSession, str, int] | None:
    """Trade a live session's refresh token for the next one; None if it is not live.

    Each token works once: a stolen one that was already used is worthless, and using a stolen
    one first locks the officer out at their next renewal, which they notice.
    """
    now = datetime.now(UTC)
    session = await _of(db, token)
    if session is None or session.ended_at is not None or session.expires_at <= now:
        return None
    fresh = secrets.token_urlsafe(32)
    session.token_digest = _digest(fresh)
    return session, fresh, int((session.expires_at - now).total_seconds())


async def end(db: AsyncSession, token: str) -> bool:
    """End the session of a refresh token (logout); False if there was none live."""
    session = await _of(db, token)
    if session is None or session.ended_at is not None:
        return False
    session.ended_at = datetime.now(UTC)
    return True


async def _of(db: AsyncSession, token: str) -> m.ConsoleSession | None:
    return await db.scalar(
        select(m.ConsoleSession).where(m.ConsoleSession.token_digest == _digest(token))
    )
