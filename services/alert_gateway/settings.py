"""Settings of the alert gateway, read from CROSSALERT_GATEWAY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Where the gateway listens and whom it trusts."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_GATEWAY_")

    service_name: str = "alert_gateway"
    http_port: int = Field(default=8200, ge=1, le=65535)
    registry_url: str = Field(
        default="http://127.0.0.1:8100", description="Base URL of the registry (tokens, JWKS)."
    )
    issuer: str = Field(default="crossalert-registry", description="Issuer of trusted tokens.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/alert_gateway.sqlite3",
        description="Where accepted alerts are remembered (identity, chain, Kafka position).",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Alerts one client may post per minute (burst included)."
    )
