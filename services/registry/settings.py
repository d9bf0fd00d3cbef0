"""Settings of the registry, read from CROSSALERT_REGISTRY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    """Where the registry listens, keeps its data and its token-signing key."""

    model_config = SettingsConfigDict(env_prefix="CROSSALERT_REGISTRY_")

    service_name: str = "registry"
    http_port: int = Field(default=8100, ge=1, le=65535)
    database_url: str = Field(
        default="sqlite+aiosqlite:///.state/registry.sqlite3",
        description="SQLAlchemy async URL: SQLite by default, postgresql+asyncpg:// in production.",
    )
    signing_key_file: Path = Field(
        default=Path(".state/registry-signing-key.pem"),
        description="Ed25519 private key (PEM) that signs access tokens; created when absent.",
    )
    token_ttl_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="Lifetime of an access token; short, since tokens are verified offline.",
    )
    session_ttl_seconds: int = Field(
        default=13 * 3600,
        ge=60,
        le=24 * 3600,
        description="How long a duty officer's login lasts (a shift and handover), renewing "
        "short access tokens meanwhile.",
    )
    issuer: str = Field(
        default="crossalert-registry",
        min_length=1,
        description="The `iss` claim of issued tokens, which every verifier checks.",
    )
