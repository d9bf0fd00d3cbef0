"""`crossalert cap …`: validate and convert CAP 1.2 documents, for centres integrating with us."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from schemas import MAX_CAP_BYTES, Alert, CapValidationError, to_cap_json, to_cap_xml
from schemas.cap_ingest import MAX_INGEST_BYTES, CapMode, IngestedAlert, is_json, read_cap

cap_app = typer.Typer(help="Validate and convert OASIS CAP 1.2 alerts (XML or JSON).")


class Format(StrEnum):
    """The two forms of a CAP alert."""

    JSON = "json"
    XML = "xml"


def read_alert(path: Path) -> Alert:
    """Read a CAP alert from a file, XML or JSON, told apart by its first character."""
    return read_document(path, CapMode.STRICT).alert


def read_document(path: Path, mode: CapMode, max_bytes: int | None = None) -> IngestedAlert:
    """Read a CAP document from a file, XML or JSON, in the mode given."""
    limit = max_bytes or (MAX_CAP_BYTES if mode is CapMode.STRICT else MAX_INGEST_BYTES)
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise CapValidationError.single(
            "document", "unreadable", f"cannot read the file: {exc.strerror}."
        ) from None
    return read_cap(data, json_form=is_json(data), mode=mode, max_bytes=limit)


def _documents(paths: list[Path]) -> list[Path]:
    """The files named, and the CAP documents (*.xml, *.json) of the folders named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".xml", ".json"))
        else:
            found.append(path)
    return found


@cap_app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="CAP documents (XML or JSON), or folders of them.")
    ],
    mode: Annotated[
        CapMode,
        typer.Option(
            help="strict: refuse any defect (what publishers send). ingest: repair or leave "
            "out what is defective and say so (documents from outside the network)."
        ),
    ] = CapMode.STRICT,
    max_bytes: Annotated[
        int | None,
        typer.Option(help="Largest document accepted (default 1 MiB strict, 5 MiB ingest)."),
    ] = None,
) -> None:
    """Check CAP documents: one line per document, then a summary; exit 1 when any is refused."""
    counts = {"valid": 0, "accepted": 0, "repaired": 0, "refused": 0}
    for path in _documents(paths):
        try:
            read = read_document(path, mode, max_bytes)
        except CapValidationError as exc:
            counts["refused"] += 1
            verdict = "INVALID" if mode is CapMode.STRICT else "refused"
            typer.echo(f"{verdict} {path}: {exc}")
            continue
        alert = read.alert
        what = f"{alert.msg_type} {alert.sender},{alert.identifier}"
        if mode is CapMode.STRICT:
            counts["valid"] += 1
            typer.echo(f"valid   {path}: {what}")
        elif read.warnings:
            counts["repaired"] += 1
            typer.echo(f"repaired {path}: {what}, {len(read.warnings)} warning(s)")
            for warning in read.warnings:
                typer.echo(
                    f"  {warning.action} {warning.field} ({warning.code}): {warning.message}"
                )
        else:
            counts["accepted"] += 1
            typer.echo(f"accepted {path}: {what}")
    total = sum(counts.values())
    if mode is CapMode.STRICT:
        typer.echo(f"{total} document(s): {counts['valid']} valid, {counts['refused']} invalid")
    else:
        typer.echo(
            f"{total} document(s): {counts['accepted']} accepted, {counts['repaired']} repaired, "
            f"{counts['refused']} refused"
        )
    raise typer.Exit(1 if counts["refused"] else 0)


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
