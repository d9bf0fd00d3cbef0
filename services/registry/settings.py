"""Settings of the registry, read from CROSSALERT_REGISTRY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.registry.credentials import Throttles


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
    device_ttl_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="How long a browser an officer logged in from stays trusted (its logins "
        "skip the account's failure throttle).",
    )
    throttles: Throttles = Field(
        default_factory=Throttles,
        description="Failed logins tolerated per address, account and device (JSON).",
    )
    hashing_threads: int = Field(
        default=1, ge=1, le=32, description="Threads hashing passwords, and as many for secrets."
    )
    hashing_queue: int = Field(
        default=8, ge=0, description="Checks waiting for a hashing thread before 503 answers."
    )
    issuer: str = Field(
        default="crossalert-registry",
        min_length=1,
        description="The `iss` claim of issued tokens, which every verifier checks.",
    )
