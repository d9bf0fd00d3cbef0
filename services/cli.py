"""The `crossalert` command line: the CAP contract tools and the local network."""

from __future__ import annotations

import typer

from services.cap_cli import cap_app
from services.localnet.cli import down, kafka_app, up

app = typer.Typer(
    name="crossalert",
    help="crossalert: the cross-border alert network (OASIS CAP 1.2 over Kafka).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(cap_app, name="cap")
app.add_typer(kafka_app, name="kafka")
app.command()(up)
app.command()(down)


def main() -> None:
    """Entry point of the `crossalert` console script."""
    app()
