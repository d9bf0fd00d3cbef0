"""Fixtures shared by the whole suite: a real Kafka broker and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.localnet import kafka, postgres, process

pytest_plugins = ["hang_watch"]

TEST_KAFKA_ENV = "CROSSALERT_TEST_KAFKA"
TEST_POSTGRES_ENV = "CROSSALERT_TEST_POSTGRES"
"""A server the suite uses instead of its own: postgresql+asyncpg://user[:password]@host:port."""

_TEST_DATABASE = re.compile(r"test_(\d+)_[0-9a-f]{12}")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `postgres` marker beside `kafka` (declared in pyproject.toml)."""
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use the broker `kafka` and those that use PostgreSQL `postgres`.

    So `-m "not kafka"` or `-m "not postgres"` leaves them out.
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "kafka_bootstrap" in fixtures:
            item.add_marker(pytest.mark.kafka)
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if "postgres_server" in fixtures or on_postgres:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker: $CROSSALERT_TEST_KAFKA, else the local test broker."""
    external = os.environ.get(TEST_KAFKA_ENV)
    if external:
        yield external
        return
    # Fresh: offsets committed by an earlier run would otherwise decide what a consumer group
    # sees. Borrowed: a session running beside this one keeps the broker until both are done.
    with kafka.borrowed(kafka.LocalBroker.for_tests(kafka.repo_root()), fresh=True) as state:
        yield state.bootstrap


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """A real PostgreSQL server: $CROSSALERT_TEST_POSTGRES, else the local test cluster."""
    external = os.environ.get(TEST_POSTGRES_ENV)
    if external:
        yield postgres.PostgresServer(external, None)
        return
    cluster = postgres.LocalPostgres.for_tests(kafka.repo_root())
    # Borrowed: a session running beside this one keeps the server until both are done.
    with postgres.borrowed(cluster):
        asyncio.run(_drop_abandoned_databases(cluster.base_url))
        yield postgres.PostgresServer(cluster.base_url, cluster)


@pytest.fixture
async def postgres_database(postgres_server: postgres.PostgresServer) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of this test's own: its SQLAlchemy async URL."""
    name = f"test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    url = await postgres.create_database(postgres_server.base_url, name)
    yield url
    await postgres.drop_database(postgres_server.base_url, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's SQLAlchemy async URL, once in a SQLite file and once in PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'registry.sqlite3'}"
    # Requested here, not as a parameter, so that a run of only the SQLite cases never
    # starts PostgreSQL.
    url: str = request.getfixturevalue("postgres_database")
    return url


async def _drop_abandoned_databases(base_url: str) -> None:
    # A session killed before its teardown leaves its databases behind; its pid tells them apart
    # from those of a session still running beside this one.
    for name in await postgres.list_databases(base_url):
        match = _TEST_DATABASE.fullmatch(name)
        if match and not process.is_alive(int(match.group(1))):
            await postgres.drop_database(base_url, name)
