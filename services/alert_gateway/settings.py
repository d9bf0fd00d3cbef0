"""Settings of the alert gateway, read from CROSSALERT_GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import RegistryClientSettings


class GatewaySettings(RegistryClientSettings):
    """Where the gateway listens and whom it trusts."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_GATEWAY_")

    service_name: str = "alert_gateway"
    http_port: int = Field(default=8200, ge=1, le=65535)
    registry_client_id: str = Field(
        default="svc-alert-gateway",
        description="The gateway's API client at the registry: it asks whom an alert reached "
        "when another organisation acknowledges it or reads its state.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/alert_gateway.sqlite3",
        description="Where accepted alerts are remembered (identity, chain, Kafka position).",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    registry_fresh_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long the registry's answers (routing, indicators, templates) are "
        "trusted before they are asked again; while the registry is away, the last ones serve.",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description="Alerts one client may post per minute (burst included), counted across "
        "every gateway process on the same database.",
    )
