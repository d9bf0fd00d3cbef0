"""`crossalert send FILE`: publish a CAP alert (JSON or XML) through the gateway as a client.

The file is validated here first, so that an invalid document is refused before anyone is
contacted. Then a token comes from the registry (client credentials) and the file goes to the
gateway as it is, with the Content-Type of its form. Exit codes: 0 answered (2xx), 1 refused
(the file, the registry or the gateway said no), 2 nobody answered (or nothing configured).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import CapValidationError
from schemas.cap_ingest import media_type_of
from schemas.identity import Scope
from services.cap_cli import read_alert

TOKEN_PATH = "/v1/oauth/token"  # noqa: S105  (a path, not a secret)
ALERTS_PATH = "/v1/alerts"


class SendSettings(BaseSettings):
    """Where the network is and who this client is: CROSSALERT_SEND_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_SEND_", extra="ignore", frozen=True)

    gateway_url: str = "http://127.0.0.1:8200"
    registry_url: str = "http://127.0.0.1:8100"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Longest wait for any one answer."
    )


class Refused(Exception):
    """A service answered with a refusal; the message is one `status code field: detail` line."""


def problem_line(response: httpx.Response) -> str:
    """`status code field: detail` from a problem answer (or what there is of one)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"{response.status_code} http_error: {response.text.strip()[:200] or 'no body'}"
    code = body.get("code") or body.get("error") or "http_error"
    field = f" {body['field']}" if body.get("field") else ""
    detail = body.get("detail") or body.get("error_description") or response.reason_phrase
    line = f"{response.status_code} {code}{field}: {detail}"
    if retry := response.headers.get("Retry-After"):
        line += f" (retry after {retry} s)"
    return line


def fetch_token(
    http: httpx.Client, settings: SendSettings, scope: Scope = Scope.ALERTS_PUBLISH
) -> str:
    """An access token with this scope, from the registry's client-credentials grant."""
    answer = http.post(
        settings.registry_url.rstrip("/") + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            "scope": scope.value,
        },
    )
    if answer.status_code != 200:
        raise Refused(problem_line(answer))
    return str(answer.json()["access_token"])


def post_alert(http: httpx.Client, settings: SendSettings, token: str, data: bytes) -> Any:
    """The gateway's JSON answer to the document; Refused when it is not 2xx."""
    answer = http.post(
        settings.gateway_url.rstrip("/") + ALERTS_PATH,
        content=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": media_type_of(data)},
    )
    if not answer.is_success:
        raise Refused(problem_line(answer))
    return answer.json()


GatewayOption = Annotated[
    str | None, typer.Option("--gateway", help="Gateway base URL (CROSSALERT_SEND_GATEWAY_URL).")
]
ClientIdOption = Annotated[
    str | None, typer.Option("--client-id", help="API client (CROSSALERT_SEND_CLIENT_ID).")
]
ClientSecretOption = Annotated[
    str | None,
    typer.Option(
        "--client-secret",
        help="Its secret; prefer CROSSALERT_SEND_CLIENT_SECRET, which no process list shows.",
    ),
]


def client_settings(
    gateway: str | None, client_id: str | None, client_secret: str | None
) -> SendSettings:
    """The settings with the command line's overrides; exit 2 when no client is configured."""
    overrides: dict[str, Any] = {
        "gateway_url": gateway,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    settings = SendSettings(**{k: v for k, v in overrides.items() if v is not None})
    if not settings.client_id or not settings.client_secret.get_secret_value():
        typer.echo(
            "error: no client configured; set CROSSALERT_SEND_CLIENT_ID and "
            "CROSSALERT_SEND_CLIENT_SECRET (or --client-id and --client-secret).",
            err=True,
        )
        raise typer.Exit(2)
    return settings


def answered(settings: SendSettings, exchange: Callable[[httpx.Client], Any]) -> Any:
    """What `exchange` got from the network; exit 1 on a refusal, 2 when nobody answered."""
    timeout = httpx.Timeout(settings.timeout_seconds, connect=min(5.0, settings.timeout_seconds))
    try:
        with httpx.Client(timeout=timeout) as http:
            return exchange(http)
    except Refused as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        typer.echo(f"error: no answer from {error.request.url}: {reason}", err=True)
        raise typer.Exit(2) from None


def send(
    file: Annotated[Path, typer.Argument(help="A CAP 1.2 alert, JSON or XML.")],
    gateway: GatewayOption = None,
    client_id: ClientIdOption = None,
    client_secret: ClientSecretOption = None,
) -> None:
    """Publish a CAP alert through the gateway as a configured API client; print the answer."""
    settings = client_settings(gateway, client_id, client_secret)
    try:
        read_alert(file)  # refuse an invalid document before contacting anyone
    except CapValidationError as error:
        typer.echo(f"INVALID {file}: {error}", err=True)
        raise typer.Exit(1) from None
    data = file.read_bytes()
    answer = answered(
        settings, lambda http: post_alert(http, settings, fetch_token(http, settings), data)
    )
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
