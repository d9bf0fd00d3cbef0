"""The `crossalert kafka`, `up` and `down` commands: the local network on this machine."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from schemas.topics import all_topic_names
from services.common.kafka import create_topics
from services.localnet import kafka, mailsink, process
from services.localnet.errors import failures_reported
from services.localnet.network import (
    RunningService,
    forget_network,
    read_network,
    write_network,
)
from services.localnet.service import (
    LocalService,
    evaluator_service,
    feed_ingest_service,
    gateway_service,
    notifier_service,
    registry_service,
    start_service,
)
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED, read_seed

kafka_app = typer.Typer(
    help="The local Kafka broker: one KRaft node on 127.0.0.1:9092, state in .state/kafka.",
    no_args_is_help=True,
)

REGISTRY_PORT = 8100
GATEWAY_PORT = 8200
NOTIFIER_PORT = 8300
EVALUATOR_PORT = 8400
FEED_INGEST_PORT = 8500
MAIL_FOLDER = Path(".state") / "mail"

_console = Console()

TimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for the broker to serve requests.")
]


@kafka_app.command("start")
def kafka_start(timeout: TimeoutOption = kafka.START_TIMEOUT_S) -> None:
    """Start the development broker unless it runs already."""
    with failures_reported():
        broker = kafka.LocalBroker.for_dev(kafka.repo_root())
        was_running = kafka.status(broker).running
        state = kafka.start(broker, timeout=timeout)
    verb = "was already running" if was_running else "started"
    _console.print(f"Kafka {state.version} {verb} on {state.bootstrap} (pid {state.pid})")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the development broker if it runs."""
    with failures_reported():
        broker = kafka.LocalBroker.for_dev(kafka.repo_root())
        stopped = kafka.stop(broker)
    _console.print(f"Kafka on {broker.bootstrap} {'stopped' if stopped else 'was not running'}")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the development broker runs, with its pid, address and version."""
    with failures_reported():
        state = kafka.status(kafka.LocalBroker.for_dev(kafka.repo_root()))
    running = f"running (pid {state.pid})" if state.running else "stopped"
    version = state.version or "not fetched yet"
    _console.print(f"Kafka {version} on {state.bootstrap}: {running}")


BrokersOption = Annotated[
    int,
    typer.Option(
        "--brokers",
        help="Kafka nodes: 1 (default), or 3 for a KRaft cluster on ports 9192/9292/9392 "
        "whose topics are replicated three times (min.insync.replicas 2).",
    ),
]


def up(timeout: TimeoutOption = kafka.START_TIMEOUT_S, brokers: BrokersOption = 1) -> None:
    """Start the local network with demo data and record it in .state/network.json."""
    if brokers not in (1, kafka.CLUSTER_SIZE):
        raise typer.BadParameter(f"1 or {kafka.CLUSTER_SIZE} brokers", param_hint="--brokers")
    with failures_reported():
        root = kafka.repo_root()
        if brokers == 1:
            nodes = [kafka.start(kafka.LocalBroker.for_dev(root), timeout=timeout)]
            names = ["kafka"]
        else:
            nodes = kafka.start_cluster(kafka.LocalCluster.for_dev(root), timeout=timeout)
            names = [f"kafka-{i}" for i in range(1, len(nodes) + 1)]
        bootstrap = ",".join(node.bootstrap for node in nodes)
        # Declared topics exist before any service subscribes, with the contract's partitions
        # and the replication the cluster's size asks for.
        asyncio.run(create_topics(bootstrap, all_topic_names()))
        services = []
        for name, node in zip(names, nodes, strict=True):
            assert node.pid is not None  # start() raises unless the broker runs
            services.append(RunningService(name=name, address=node.bootstrap, pid=node.pid))
        registry = registry_service(root / ".state", bootstrap, REGISTRY_PORT)
        asyncio.run(seed_database(registry.env["CROSSALERT_REGISTRY_DATABASE_URL"], DEFAULT_SEED))
        services.append(_running(root, registry))
        gateway = gateway_service(root / ".state", bootstrap, GATEWAY_PORT, registry.url)
        services.append(_running(root, gateway))
        services.append(_mail_sink(root))
        notifier = notifier_service(
            root / ".state", bootstrap, NOTIFIER_PORT, registry.url, mailsink.DEV_PORT,
            gateway_url=gateway.url,
        )  # fmt: skip
        services.append(_running(root, notifier))
        evaluator = evaluator_service(
            root / ".state", bootstrap, EVALUATOR_PORT, registry.url, gateway.url
        )
        services.append(_running(root, evaluator))
        feeds = feed_ingest_service(
            root / ".state", bootstrap, FEED_INGEST_PORT, registry.url, gateway.url
        )
        services.append(_running(root, feeds))
        demo = demo_credentials(read_seed(DEFAULT_SEED))
        path = write_network(root, services, demo=demo)
    table = Table(title="crossalert local network", title_justify="left")
    for column in ("service", "address", "pid"):
        table.add_column(column)
    for service in services:
        table.add_row(service.name, service.address, str(service.pid))
    _console.print(table)
    _console.print(f"Registry API documentation: {registry.url}/docs")
    _console.print(f"Alert gateway: {gateway.url}/docs — publish with `crossalert send FILE`")
    _console.print(f"Duty-officer console: {notifier.url}/console")
    _console.print(
        f"Threshold evaluator: {evaluator.url}/readyz — agencies submit their figures to "
        f"{gateway.url}/v1/observations (JSON or CSV)"
    )
    _console.print(
        f"CAP feed ingest: {feeds.url}/readyz — register an external source's feed at "
        f"{registry.url}/v1/cap-feeds"
    )
    _console.print(f"Mails sent by the notifier: {root / MAIL_FOLDER}/*.eml")
    logins = Table(title="demo duty officers (console)", title_justify="left")
    for column in ("username", "password", "organisation"):
        logins.add_column(column)
    for user in demo["console_users"]:
        logins.add_row(user["username"], user["password"], user["organisation"])
    _console.print(logins)
    _console.print(
        "Demo API clients (OAuth2 client credentials at "
        f"{registry.url}/v1/oauth/token): "
        + ", ".join(f"{c['client_id']} / {c['secret']}" for c in demo["api_clients"][:4])
        + f", and {max(0, len(demo['api_clients']) - 4)} more in {path}."
    )
    _console.print(
        "See the network work: sign in as officer.liege, then play the Meuse flood exercise "
        "(two minutes):\n  .venv/bin/crossalert exercise run "
        "schemas/examples/exercise.meuse-flood.yaml --speed 120"
    )
    _console.print(f"Recorded in {path}; stop everything with `crossalert down`.")


def demo_credentials(seed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The seed's demo logins and client secrets, for the people trying the network."""
    return {
        "console_users": [
            {k: user[k] for k in ("username", "password", "organisation")}
            for user in seed.get("console_users", [])
        ],
        "api_clients": [
            {k: client[k] for k in ("client_id", "secret", "organisation")}
            for client in seed.get("api_clients", [])
        ],
    }


def _mail_sink(root: Path) -> RunningService:
    """The local SMTP sink, started unless the last `up` left it running."""
    name = "mail-sink"
    for recorded in read_network(root):
        if recorded.name == name and process.is_alive(recorded.pid, marker=name):
            return recorded
    pid = process.spawn_detached(
        [sys.executable, "-m", "services.cli", name, "--folder", str(root / MAIL_FOLDER)],
        log_file=root / ".state" / f"{name}.log",
        cwd=root,
    )
    mailsink.wait_until_listening(mailsink.LOOPBACK, mailsink.DEV_PORT, pid=pid)
    return RunningService(
        name=name, address=f"smtp://{mailsink.LOOPBACK}:{mailsink.DEV_PORT}", pid=pid
    )


def _running(root: Path, service: LocalService) -> RunningService:
    """The service as recorded, started unless the last `up` left it running."""
    for recorded in read_network(root):
        if recorded.name == service.name and process.is_alive(recorded.pid, marker="serve"):
            return recorded
    return RunningService(name=service.name, address=service.url, pid=start_service(service))


def down() -> None:
    """Stop everything the local network runs and forget its record."""
    with failures_reported():
        root = kafka.repo_root()
        broker = kafka.LocalBroker.for_dev(root)
        for service in reversed(read_network(root)):
            if not service.name.startswith("kafka"):
                process.terminate(service.pid, timeout=kafka.STOP_TIMEOUT_S)
        # The brokers go last, and even when unrecorded: `crossalert kafka start` runs one too.
        kafka_stopped = kafka.stop(broker)
        kafka_stopped = kafka.stop_cluster(kafka.LocalCluster.for_dev(root)) or kafka_stopped
        forget_network(root)
    if kafka_stopped:
        _console.print("Stopped the local network.")
    else:
        _console.print("The local network was not running.")
