"""The settings base every service builds on: environment variables, one prefix per service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings shared by every service; a subclass sets `env_prefix` (e.g. CROSSALERT_GATEWAY_)."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_", extra="ignore", frozen=True)

    service_name: str = Field(default="crossalert", description="Names this process in logs.")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    http_port: int = Field(default=8000, ge=1, le=65535)
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses (or *) whose X-Forwarded-For names the client: "
        "a reverse proxy, or the notifier passing officers' logins to the registry.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body (and WebSocket message) any route reads; 413 above.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: readable on a terminal, JSON lines otherwise."
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_send_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Longest wait for the broker to acknowledge a write."
    )


class RegistryClientSettings(ServiceSettings):
    """Settings of a service that trusts the registry's tokens and asks it as an API client."""

    registry_url: str = Field(
        default="http://127.0.0.1:8100", description="Base URL of the registry (tokens, JWKS)."
    )
    issuer: str = Field(default="crossalert-registry", description="Issuer of trusted tokens.")
    registry_client_id: str = Field(
        default="", description="This service's API client at the registry (routing:resolve)."
    )
    registry_client_secret: SecretStr = Field(
        default=SecretStr(""), description="Its secret; required to ask the registry for routing."
    )
    registry_timeout_seconds: float = Field(default=3.0, gt=0)


class PublisherSettings(RegistryClientSettings):
    """Settings of a worker that keeps its own database and publishes through the gateway as
    the organisations it acts for (the threshold evaluator, the feed ingest worker)."""

    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/worker.sqlite3",
        description="SQLAlchemy async URL: SQLite by default, postgresql+asyncpg:// in production.",
    )
    gateway_url: str = Field(
        default="http://127.0.0.1:8200", description="The alert gateway the alerts are sent to."
    )
    gateway_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest wait for the gateway to answer one alert."
    )
