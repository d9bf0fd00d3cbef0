"""The local PostgreSQL cluster: idempotent start, real SQL round trips, data kept on restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.database import create_engine
from services.localnet import postgres

metadata = MetaData()
alerts = Table(
    "alerts",
    metadata,
    Column("identifier", String(64), primary_key=True),
    Column("headline", String(200), nullable=False),
)


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def session_cluster(postgres_server: postgres.PostgresServer) -> postgres.LocalPostgres:
    """The local cluster behind `postgres_server`; skipped when the suite uses another server."""
    if postgres_server.cluster is None:
        pytest.skip(f"the suite uses the server at {postgres_server.base_url}, not a local one")
    return postgres_server.cluster


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[postgres.LocalPostgres]:
    """A cluster of this test's own, in a temporary folder, stopped and removed afterwards."""
    if os.geteuid() == 0:
        # pytest's temporary folders are closed to other users, among them `postgres`, which
        # runs the server for root: this folder is handed to it instead.
        state_dir = Path(tempfile.mkdtemp(prefix="crossalert-postgres-"))
    else:
        state_dir = tmp_path / "postgres"
    # A free port, not a fixed one, so that two sessions running this test do not collide.
    cluster = postgres.LocalPostgres(state_dir, free_port())
    try:
        yield cluster
    finally:
        postgres.stop(cluster)
        shutil.rmtree(state_dir, ignore_errors=True)


async def test_starting_a_running_cluster_keeps_it(session_cluster: postgres.LocalPostgres) -> None:
    before = postgres.status(session_cluster)

    again = await asyncio.to_thread(postgres.start, session_cluster)

    assert again.running
    assert again.pid == before.pid


def test_status_reports_the_running_cluster(session_cluster: postgres.LocalPostgres) -> None:
    state = postgres.status(session_cluster)

    assert state.running
    assert state.pid is not None
    assert state.url == "postgresql+asyncpg://crossalert@127.0.0.1:15432"
    assert state.version is not None
    assert state.version.isdigit()


async def test_a_fresh_database_answers_and_keeps_rows(postgres_database: str) -> None:
    engine = create_async_engine(postgres_database)
    try:
        async with engine.begin() as connection:
            version = await connection.scalar(text("select version()"))
            database = await connection.scalar(text("select current_database()"))
            tables = await connection.scalar(
                text("select count(*) from information_schema.tables where table_schema = 'public'")
            )
            await connection.execute(
                text("create table alerts (identifier text primary key, headline text not null)")
            )
            await connection.execute(
                text("insert into alerts values (:identifier, :headline)"),
                {"identifier": "BE-2024-0001", "headline": "Crue de la Meuse à Liège"},
            )
        async with engine.connect() as connection:
            rows = (await connection.execute(text("select * from alerts"))).all()
    finally:
        await engine.dispose()

    assert engine.dialect.driver == "asyncpg"
    assert str(version).startswith("PostgreSQL ")
    assert database == make_url(postgres_database).database
    assert tables == 0
    assert [tuple(row) for row in rows] == [("BE-2024-0001", "Crue de la Meuse à Liège")]


async def test_the_services_plan_each_statement_with_its_values(postgres_database: str) -> None:
    """A read by range on a growing table (the feed, `seq > :after`) must not run on the one
    generic plan PostgreSQL may keep for a prepared statement after five runs."""
    engine = create_engine(postgres_database)
    try:
        async with engine.connect() as connection:
            mode = await connection.scalar(text("show plan_cache_mode"))
    finally:
        await engine.dispose()

    assert mode == "force_custom_plan"


async def test_databases_are_created_and_dropped(postgres_server: postgres.PostgresServer) -> None:
    name = f"test_{os.getpid()}_{'0' * 12}"

    url = await postgres.create_database(postgres_server.base_url, name)
    listed = await postgres.list_databases(postgres_server.base_url)
    await postgres.drop_database(postgres_server.base_url, name)

    assert url == f"{postgres_server.base_url}/{name}"
    assert name in listed
    assert name not in await postgres.list_databases(postgres_server.base_url)


async def test_both_databases_take_a_table(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                insert(alerts),
                [
                    {"identifier": "NL-2024-0002", "headline": "Hoogwater Maas bij Maastricht"},
                    {"identifier": "DE-2024-0003", "headline": "Chemiebrand bei Aachen"},
                ],
            )
        async with engine.connect() as connection:
            result = await connection.execute(select(alerts.c.identifier).order_by("identifier"))
            identifiers = result.scalars().all()
    finally:
        await engine.dispose()

    assert identifiers == ["DE-2024-0003", "NL-2024-0002"]


@pytest.mark.postgres
async def test_stop_and_start_again_keeps_the_data(own_cluster: postgres.LocalPostgres) -> None:
    first = await asyncio.to_thread(postgres.start, own_cluster)
    url = postgres.database_url(own_cluster.base_url, "postgres")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(
                insert(alerts), {"identifier": "LU-2024-0004", "headline": "Inondation Sûre"}
            )
    finally:
        await engine.dispose()

    assert await asyncio.to_thread(postgres.stop, own_cluster)
    assert not postgres.status(own_cluster).running
    assert not await asyncio.to_thread(postgres.stop, own_cluster)

    second = await asyncio.to_thread(postgres.start, own_cluster)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            headlines = (await connection.execute(select(alerts.c.headline))).scalars().all()
    finally:
        await engine.dispose()

    assert second.running
    assert second.pid != first.pid
    assert headlines == ["Inondation Sûre"]


@pytest.mark.postgres
def test_a_taken_port_is_refused_clearly(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        cluster = postgres.LocalPostgres(tmp_path / "postgres", port)

        with pytest.raises(postgres.LocalPostgresError, match=f"127.0.0.1:{port} is already taken"):
            postgres.start(cluster)

    assert not (cluster.data_dir / "PG_VERSION").exists()


def test_missing_server_binaries_point_to_bootstrap(tmp_path: Path) -> None:
    cluster = postgres.LocalPostgres(tmp_path / "postgres", free_port(), bindir=tmp_path / "empty")

    with pytest.raises(postgres.LocalPostgresError, match=r"run scripts/bootstrap\.sh"):
        postgres.start(cluster)
