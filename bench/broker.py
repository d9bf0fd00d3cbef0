"""The servers a benchmark measures on: the broker ($CROSSALERT_BENCH_KAFKA=host:port, else a
local one) and PostgreSQL ($CROSSALERT_BENCH_POSTGRES=postgresql+asyncpg://…, else a local one).
"""

from __future__ import annotations

import os
from contextlib import ExitStack

from services.localnet import kafka, postgres

POSTGRES_PORT = 25432


def bench_broker(stack: ExitStack, name: str, ports: tuple[int, int]) -> str:
    """The bootstrap address; a local broker (state in .state/`name`) stops with `stack`."""
    bootstrap = os.environ.get("CROSSALERT_BENCH_KAFKA")
    if bootstrap:
        return bootstrap
    root = kafka.repo_root()
    broker = kafka.LocalBroker(root, root / ".state" / name, *ports)
    bootstrap = kafka.start(broker).bootstrap
    stack.callback(kafka.stop, broker)
    return bootstrap


def bench_postgres(stack: ExitStack) -> str:
    """The server's base URL; a local one (port 25432, .state/bench-postgres) stops with `stack`."""
    base = os.environ.get("CROSSALERT_BENCH_POSTGRES")
    if base:
        return base
    cluster = postgres.LocalPostgres(kafka.repo_root() / ".state" / "bench-postgres", POSTGRES_PORT)
    postgres.start(cluster)
    stack.callback(postgres.stop, cluster)
    return cluster.base_url
