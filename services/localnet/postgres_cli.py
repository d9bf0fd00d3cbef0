"""The `crossalert postgres` commands: the development PostgreSQL cluster on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from services.localnet import kafka, postgres
from services.localnet.errors import failures_reported

postgres_app = typer.Typer(
    help="The local PostgreSQL cluster: 127.0.0.1:5433, state in .state/postgres.",
    no_args_is_help=True,
)

# Soft wrap: a URL cut at the terminal's width could not be copied whole.
_console = Console(soft_wrap=True)

TimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for the server to accept connections.")
]


@postgres_app.command("start")
def postgres_start(timeout: TimeoutOption = postgres.START_TIMEOUT_S) -> None:
    """Start the development cluster (created on first use) unless it runs already."""
    with failures_reported():
        cluster = postgres.LocalPostgres.for_dev(kafka.repo_root())
        was_running = postgres.status(cluster).running
        state = postgres.start(cluster, timeout=timeout)
    verb = "was already running" if was_running else "started"
    _console.print(f"PostgreSQL {state.version} {verb} at {state.url} (pid {state.pid})")


@postgres_app.command("stop")
def postgres_stop() -> None:
    """Stop the development cluster if it runs."""
    with failures_reported():
        cluster = postgres.LocalPostgres.for_dev(kafka.repo_root())
        stopped = postgres.stop(cluster)
    verb = "stopped" if stopped else "was not running"
    _console.print(f"PostgreSQL at {cluster.base_url} {verb}")


@postgres_app.command("status")
def postgres_status() -> None:
    """Say whether the development cluster runs, with its pid, URL and version."""
    with failures_reported():
        state = postgres.status(postgres.LocalPostgres.for_dev(kafka.repo_root()))
    if state.version is None:
        _console.print(f"PostgreSQL at {state.url}: not created yet (`crossalert postgres start`)")
        return
    running = f"running (pid {state.pid})" if state.running else "stopped"
    _console.print(f"PostgreSQL {state.version} at {state.url}: {running}")
