"""Alembic, written once: each service keeps its own migrations folder and metadata."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.database import create_engine


def alembic_config(folder: Path, url: str) -> Config:
    """Alembic's configuration for the migrations in `folder` and the database at `url`."""
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def migrate(engine: AsyncEngine, folder: Path) -> None:
    """Bring the database to the newest schema of `folder` (idempotent)."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config(folder, str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def run_env(metadata: MetaData) -> None:
    """The body of a service's migrations/env.py: run its migrations online or offline."""

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def with_own_engine() -> None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        async with engine.connect() as connection:
            await connection.run_sync(run)
        await engine.dispose()

    if context.is_offline_mode():
        url = context.config.get_main_option("sqlalchemy.url")
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    elif (given := context.config.attributes.get("connection")) is not None:
        # `migrate` above runs us inside its own connection and event loop.
        run(given)
    else:
        asyncio.run(with_own_engine())
