"""`crossalert cap …`: validate and convert CAP 1.2 documents, for centres integrating with us."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from schemas import (
    MAX_CAP_BYTES,
    Alert,
    CapValidationError,
    parse_cap_json,
    parse_cap_xml,
    to_cap_json,
    to_cap_xml,
)

cap_app = typer.Typer(help="Validate and convert OASIS CAP 1.2 alerts (XML or JSON).")


class Format(StrEnum):
    """The two forms of a CAP alert."""

    JSON = "json"
    XML = "xml"


def is_json(document: bytes) -> bool:
    """Whether a CAP document is the JSON form (else XML), told by its first character."""
    return document.lstrip()[:1] in (b"{", b"[")


def read_alert(path: Path) -> Alert:
    """Read a CAP alert from a file, XML or JSON, told apart by its first character."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CAP_BYTES + 1)
    except OSError as exc:
        raise CapValidationError.single(
            "document", "unreadable", f"cannot read the file: {exc.strerror}."
        ) from None
    if is_json(data):
        return parse_cap_json(data)
    return parse_cap_xml(data)


@cap_app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="CAP 1.2 documents (XML or JSON).")],
) -> None:
    """Check CAP 1.2 documents; one line per file; exit 1 when any is invalid."""
    failed = 0
    for path in files:
        try:
            alert = read_alert(path)
        except CapValidationError as exc:
            failed += 1
            typer.echo(f"INVALID {path}: {exc}")
        else:
            typer.echo(f"valid   {path}: {alert.msg_type} {alert.sender},{alert.identifier}")
    raise typer.Exit(1 if failed else 0)


@cap_app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="A CAP 1.2 document (XML or JSON).")],
    to: Annotated[Format, typer.Option("--to", help="The form to print.")],
) -> None:
    """Print a CAP document converted to JSON or XML."""
    try:
        alert = read_alert(file)
    except CapValidationError as exc:
        typer.echo(f"INVALID {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    if to is Format.JSON:
        typer.echo(to_cap_json(alert))
    else:
        typer.echo(to_cap_xml(alert).decode(), nl=False)
