"""A real registry for tests: the app with its lifespan, a database, the test world loaded."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.engine import URL, make_url

from services.localnet import postgres
from services.registry.app import create_app
from services.registry.seed import load_seed, read_seed
from services.registry.settings import RegistrySettings

WORLD = Path(__file__).parent / "registry" / "world.yaml"
NO_KAFKA = "127.0.0.1:1"  # nothing listens there: the outbox keeps its events


@dataclass
class Registry:
    """A running registry app and an HTTP client talking to it."""

    app: FastAPI
    http: httpx.AsyncClient

    async def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        """An access token for an API client (client credentials grant)."""
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        if scope:
            form["scope"] = scope
        response = await self.http.post("/v1/oauth/token", data=form)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def auth(self, client_id: str, secret: str) -> dict[str, str]:
        """Authorization headers for an API client."""
        return {"Authorization": f"Bearer {await self.token(client_id, secret)}"}

    def from_address(self, address: str) -> httpx.AsyncClient:
        """An HTTP client whose requests come from `address` (close it after use)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://registry")


_SEEDED: dict[Path, Path] = {}
"""Seed file -> a SQLite database holding it, made once per test session and copied."""


@asynccontextmanager
async def running_registry(
    database_url: str,
    state: Path,
    *,
    kafka: str = NO_KAFKA,
    seed: Path | None = WORLD,
    **settings: Any,
) -> AsyncIterator[Registry]:
    """Start the registry app on `database_url`, load `seed`, and yield a client for it.

    `settings` are further registry settings (throttles, hashing limits).

    The seeded database is made once per seed and copied (a file on SQLite, a template on
    PostgreSQL): hashing the seed's secrets with argon2 takes seconds, and most tests only
    need the world to be there.
    """
    target = make_url(database_url)
    copied = False
    if seed is not None and target.get_backend_name() == "sqlite" and target.database:
        await _copy_seeded(seed, Path(target.database))
        copied = True
    elif seed is not None and target.get_backend_name() == "postgresql" and target.database:
        await _copy_seeded_postgres(seed, target)
        copied = True
    registry_settings = RegistrySettings(
        database_url=database_url,
        signing_key_file=state / "signing-key.pem",
        kafka_bootstrap_servers=kafka,
        log_format="json",
        **settings,
    )
    app = create_app(registry_settings)
    async with app.router.lifespan_context(app):
        if seed is not None and not copied:
            await load_seed(app.state.sessions, read_seed(seed))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
            yield Registry(app, http)


async def _copy_seeded(seed: Path, target: Path) -> None:
    template = _SEEDED.get(seed)
    if template is None:
        folder = Path(tempfile.mkdtemp(prefix="crossalert-seeded-"))
        template = folder / "registry.sqlite3"
        await _seed(f"sqlite+aiosqlite:///{template}", folder, seed)
        _SEEDED[seed] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    # SQLite's backup, not a file copy: what is still in the write-ahead log is copied too.
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)


_SEEDED_POSTGRES: dict[Path, str] = {}
"""Seed file -> a PostgreSQL database holding it, made once per test session and copied."""


async def _copy_seeded_postgres(seed: Path, target: URL) -> None:
    # The test's database was just created empty: it is made again as a copy of the seeded one.
    server = target.set(database="").render_as_string(hide_password=False)
    template = _SEEDED_POSTGRES.get(seed)
    if template is None:
        template = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        url = await postgres.create_database(server, template)
        folder = Path(tempfile.mkdtemp(prefix="crossalert-seeded-"))
        await _seed(url, folder, seed)
        _SEEDED_POSTGRES[seed] = template
    assert target.database is not None
    await postgres.drop_database(server, target.database)
    await postgres.create_database(server, target.database, template=template)


async def _seed(database_url: str, folder: Path, seed: Path) -> None:
    app = create_app(
        RegistrySettings(
            database_url=database_url,
            signing_key_file=folder / "signing-key.pem",
            kafka_bootstrap_servers=NO_KAFKA,
            log_format="json",
        )
    )
    # Leaving the lifespan disposes of the engine: nobody is connected to the copy's source.
    async with app.router.lifespan_context(app):
        await load_seed(app.state.sessions, read_seed(seed))


@asynccontextmanager
async def database_for(
    kind: str, server: postgres.PostgresServer, folder: Path
) -> AsyncIterator[str]:
    """A new empty database URL of `kind` (sqlite or postgresql), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'registry.sqlite3'}"
        return
    name = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(server.base_url, name)
    try:
        yield url
    finally:
        await postgres.drop_database(server.base_url, name)
