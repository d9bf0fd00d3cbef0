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
