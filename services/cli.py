"""The `crossalert` command line: the CAP contract tools and the local network."""

from __future__ import annotations

import asyncio
import contextlib
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

import schemas
from schemas.asyncapi import asyncapi_document
from schemas.jsonschema import json_schemas
from services.alert_gateway.observations_cli import observations_app
from services.alert_gateway.send_cli import send
from services.alert_gateway.settings import GatewaySettings
from services.cap_cli import cap_app
from services.common.settings import ServiceSettings
from services.evaluator.cli import thresholds_app
from services.evaluator.settings import EvaluatorSettings
from services.exercise.cli import exercise_app
from services.localnet import mailsink
from services.localnet.cli import down, kafka_app, up
from services.localnet.postgres_cli import postgres_app
from services.notifier.settings import NotifierSettings
from services.registry.cli import registry_app
from services.registry.settings import RegistrySettings

SCHEMA_DIR = Path(schemas.__file__).parent / "jsonschema"
ASYNCAPI_FILE = Path(schemas.__file__).parent / "asyncapi.json"

SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "registry": RegistrySettings,
    "alert_gateway": GatewaySettings,
    "notifier": NotifierSettings,
    "evaluator": EvaluatorSettings,
}
"""Each service's package name and its settings, whose env prefix configures it."""

GRACEFUL_SHUTDOWN_SECONDS = 10
KEEP_ALIVE_SECONDS = 75
"""How long an idle HTTP connection stays open. Longer than clients keep theirs (httpx: 5 s,
uvicorn's own default too): a server closing first races a request sent on the connection at
that moment, which then fails with a connection error instead of an answer."""

app = typer.Typer(
    name="crossalert",
    help="crossalert: the cross-border alert network (OASIS CAP 1.2 over Kafka).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cap_app, name="cap")
app.add_typer(kafka_app, name="kafka")
app.add_typer(registry_app, name="registry")
app.add_typer(postgres_app, name="postgres")
app.add_typer(thresholds_app, name="thresholds")
app.add_typer(observations_app, name="observations")
app.add_typer(exercise_app, name="exercise")
app.command()(up)
app.command()(down)
app.command("send")(send)


class Service(StrEnum):
    """The services `crossalert serve` runs."""

    REGISTRY = "registry"
    ALERT_GATEWAY = "alert_gateway"
    NOTIFIER = "notifier"
    EVALUATOR = "evaluator"


def ping_seconds(settings: ServiceSettings) -> float:
    """How often uvicorn pings a service's WebSockets, and how long it waits for the answer
    (only the notifier serves any: the consoles' feed; elsewhere uvicorn's default)."""
    return settings.console_ping_seconds if isinstance(settings, NotifierSettings) else 20.0


@app.command()
def serve(service: Annotated[Service, typer.Argument(help="The service to run.")]) -> None:
    """Run one service in the foreground, configured by its CROSSALERT_<SERVICE>_* variables."""
    settings = SERVICE_SETTINGS[service]()
    uvicorn.run(
        f"services.{service}.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # the app routes uvicorn's loggers through the service's renderer
        ws_max_size=settings.max_body_bytes,
        ws_ping_interval=ping_seconds(settings),
        ws_ping_timeout=ping_seconds(settings),
        forwarded_allow_ips=settings.trusted_proxies,
        # A console that stopped reading must not hold a restart: open connections get this
        # long to finish, then they are closed.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def render_schema(schema: dict[str, object]) -> str:
    """The committed text form of a JSON Schema document."""
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


@app.command("mail-sink")
def mail_sink(
    folder: Annotated[Path, typer.Option(help="Where each mail is kept as an .eml file.")] = Path(
        ".state/mail"
    ),
    port: Annotated[int, typer.Option(help="SMTP port on 127.0.0.1.")] = mailsink.DEV_PORT,
) -> None:
    """Run the local SMTP sink in the foreground: every mail it receives becomes a file."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(mailsink.serve_mail_sink(folder, mailsink.LOOPBACK, port))


@app.command("export-schemas")
def export_schemas(
    check: Annotated[
        bool, typer.Option("--check", help="Only report drift; exit 1 if any file differs.")
    ] = False,
) -> None:
    """Write the contract's JSON Schema files under schemas/jsonschema/, and the AsyncAPI
    document of its topics (schemas/asyncapi.json)."""
    documents = {SCHEMA_DIR / name: schema for name, schema in json_schemas().items()}
    documents[ASYNCAPI_FILE] = asyncapi_document()
    drifted = []
    for path, schema in documents.items():
        name = path.name
        text = render_schema(schema)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        drifted.append(name)
        if not check:
            path.write_text(text, encoding="utf-8")
    verb = "differ from the models" if check else "written"
    typer.echo(
        f"{len(drifted)} schema file(s) {verb}" + (f": {', '.join(drifted)}" if drifted else "")
    )
    raise typer.Exit(1 if check and drifted else 0)


def main() -> None:
    """Entry point of the `crossalert` console script."""
    app()


if __name__ == "__main__":
    main()
