"""The registry's database schema: its migrations, applied at start-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common import migrations

MIGRATIONS = Path(__file__).with_name("migrations")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the registry's database to the newest schema (idempotent)."""
    await migrations.migrate(engine, MIGRATIONS)
