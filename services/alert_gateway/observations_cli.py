"""`crossalert observations send FILE`: submit an agency's figures (CSV or JSON) to the gateway.

The file goes as it is, with the Content-Type of its form (`.csv` as text/csv, anything else
as JSON), after a local read that refuses a file no one could read (not UTF-8, not JSON, no
rows) before anyone is contacted; the rows themselves are checked by the gateway, which names
every wrong row by line and field. `--status Exercise` (or Test) sends them to the exercise
twin, where only exercise alerts can come of them. Exit codes as `crossalert send`: 0 accepted,
1 refused, 2 nobody answered (or nothing configured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from schemas.cap import Status
from schemas.identity import Scope
from services.alert_gateway.send_cli import (
    ClientIdOption,
    ClientSecretOption,
    GatewayOption,
    Refused,
    SendSettings,
    answered,
    client_settings,
    fetch_token,
    problem_line,
)
from services.common.observation_rows import read_rows
from services.common.problems import ProblemError

OBSERVATIONS_PATH = "/v1/observations"
STATUSES = (Status.ACTUAL, Status.EXERCISE, Status.TEST)

observations_app = typer.Typer(
    help="Agencies' observations: submit figures for the threshold rules.", no_args_is_help=True
)


def media_type_of(file: Path) -> str:
    """text/csv for a .csv file, JSON otherwise."""
    return "text/csv" if file.suffix.lower() == ".csv" else "application/json"


def post_observations(
    http: httpx.Client, settings: SendSettings, token: str, data: bytes, media_type: str,
    status: Status,
) -> Any:  # fmt: skip
    """The gateway's JSON answer to the rows; Refused when it is not 2xx."""
    answer = http.post(
        settings.gateway_url.rstrip("/") + OBSERVATIONS_PATH,
        content=data,
        params={"status": status.value},
        headers={"Authorization": f"Bearer {token}", "Content-Type": media_type},
    )
    if not answer.is_success:
        raise Refused(problem_line(answer))
    return answer.json()


@observations_app.command("send")
def send(
    file: Annotated[Path, typer.Argument(help="Observations: a CSV export or JSON rows.")],
    status: Annotated[
        str, typer.Option("--status", help="Actual, or Exercise/Test for the exercise twin.")
    ] = Status.ACTUAL.value,
    gateway: GatewayOption = None,
    client_id: ClientIdOption = None,
    client_secret: ClientSecretOption = None,
) -> None:
    """Submit observations through the gateway as a configured agency client; print the answer."""
    traffic = next((s for s in STATUSES if s.value.lower() == status.lower()), None)
    if traffic is None:
        typer.echo(f"error: --status is one of {', '.join(STATUSES)}, not {status}.", err=True)
        raise typer.Exit(2)
    settings = client_settings(gateway, client_id, client_secret)
    try:
        data = file.read_bytes()
    except OSError as error:
        typer.echo(f"error: {file}: {error.strerror or error}", err=True)
        raise typer.Exit(2) from None
    media_type = media_type_of(file)
    try:
        read_rows(data, media_type)  # refuse an unreadable file before contacting anyone
    except ProblemError as problem:
        typer.echo(f"INVALID {file}: {problem.code}: {problem.detail}", err=True)
        raise typer.Exit(1) from None
    answer = answered(
        settings,
        lambda http: post_observations(
            http,
            settings,
            fetch_token(http, settings, Scope.OBSERVATIONS_SUBMIT),
            data,
            media_type,
            traffic,
        ),
    )
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
