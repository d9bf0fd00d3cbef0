"""The `crossalert kafka`, `up` and `down` commands: the local network on this machine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from schemas.topics import all_topic_names
from services.common.kafka import create_topics
from services.localnet import kafka, process
from services.localnet.network import (
    RunningService,
    forget_network,
    read_network,
    write_network,
)

kafka_app = typer.Typer(
    help="The local Kafka broker: one KRaft node on 127.0.0.1:9092, state in .state/kafka.",
    no_args_is_help=True,
)

_console = Console()
_errors = Console(stderr=True)

TimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for the broker to serve requests.")
]


@kafka_app.command("start")
def kafka_start(timeout: TimeoutOption = kafka.START_TIMEOUT_S) -> None:
    """Start the development broker unless it runs already."""
    with _failures_reported():
        broker = kafka.LocalBroker.for_dev(kafka.repo_root())
        was_running = kafka.status(broker).running
        state = kafka.start(broker, timeout=timeout)
    verb = "was already running" if was_running else "started"
    _console.print(f"Kafka {state.version} {verb} on {state.bootstrap} (pid {state.pid})")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the development broker if it runs."""
    with _failures_reported():
        broker = kafka.LocalBroker.for_dev(kafka.repo_root())
        stopped = kafka.stop(broker)
    _console.print(f"Kafka on {broker.bootstrap} {'stopped' if stopped else 'was not running'}")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the development broker runs, with its pid, address and version."""
    with _failures_reported():
        state = kafka.status(kafka.LocalBroker.for_dev(kafka.repo_root()))
    running = f"running (pid {state.pid})" if state.running else "stopped"
    version = state.version or "not fetched yet"
    _console.print(f"Kafka {version} on {state.bootstrap}: {running}")


def up(timeout: TimeoutOption = kafka.START_TIMEOUT_S) -> None:
    """Start the local network and record it in .state/network.json."""
    with _failures_reported():
        root = kafka.repo_root()
        state = kafka.start(kafka.LocalBroker.for_dev(root), timeout=timeout)
        assert state.pid is not None  # start() raises unless the broker runs
        # Declared topics exist before any service subscribes, with the contract's partitions.
        asyncio.run(create_topics(state.bootstrap, all_topic_names()))
        services = [RunningService(name="kafka", address=state.bootstrap, pid=state.pid)]
        path = write_network(root, services)
    table = Table(title="crossalert local network", title_justify="left")
    for column in ("service", "address", "pid"):
        table.add_column(column)
    for service in services:
        table.add_row(service.name, service.address, str(service.pid))
    _console.print(table)
    _console.print(f"Recorded in {path.relative_to(root)}; `crossalert down` stops it all.")


def down() -> None:
    """Stop everything the local network runs and forget its record."""
    with _failures_reported():
        root = kafka.repo_root()
        broker = kafka.LocalBroker.for_dev(root)
        for service in reversed(read_network(root)):
            if service.name != "kafka":
                process.terminate(service.pid, timeout=kafka.STOP_TIMEOUT_S)
        # The broker goes last, and even when unrecorded: `crossalert kafka start` runs it too.
        kafka_stopped = kafka.stop(broker)
        forget_network(root)
    if kafka_stopped:
        _console.print("Stopped the local network.")
    else:
        _console.print("The local network was not running.")


@contextmanager
def _failures_reported() -> Iterator[None]:
    try:
        yield
    except kafka.LocalKafkaError as error:
        _errors.print(Text.assemble(("error: ", "bold red"), str(error)))
        if error.detail:
            _errors.print(Text(error.detail, style="dim"))
        raise typer.Exit(1) from None
